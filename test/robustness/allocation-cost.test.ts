// Expressions that build values without bound (list and string concatenation doubling through 25
// variables) against the running `daemonguard serve`: they are charged as they allocate, so they stop
// at the cost budget and the policy follows its failurePolicy, with bounded memory, instead of
// running past the deadline and answering "allowed" because nothing had been charged (issue #20).
// The time each answer took is printed, not asserted (a shared machine makes wall-clock bounds flaky).
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { JsonObject } from '../../src/common/vocabulary.js';
import { residentBytes, startServe, stopAllServes, type ServeProcess } from '../support/serve-process.js';
import { admissionReview, callHttps, daemonSet, temporaryDirectory, writeFiles, writeTestCertificates, type TestCertificates } from '../support/server-fixtures.js';

const DOUBLINGS = 25;
/** Resident memory the server may reach while answering (it idles near 90 MB; 2^25 elements took 1.1 GB). */
const MAX_RSS = 400 * 1024 * 1024;

/** A policy whose variables double a value DOUBLINGS times, each `v + v`. */
function doublingPolicy(name: string, failurePolicy: 'Fail' | 'Ignore', seed: string): string {
  const variables = [`    - name: v0\n      expression: "${seed}"`];
  for (let i = 1; i <= DOUBLINGS; i++) variables.push(`    - name: v${i}\n      expression: "variables.v${i - 1} + variables.v${i - 1}"`);
  return `apiVersion: daemonguard.dev/v1alpha1
kind: DaemonSetPolicy
metadata:
  name: ${name}
spec:
  failurePolicy: ${failurePolicy}
  variables:
${variables.join('\n')}
  validations:
    - expression: "size(variables.v${DOUBLINGS}) > 0"
      message: "never reached with nothing charged"
`;
}

let server: ServeProcess;
let certificates: TestCertificates;

async function startWith(policies: string): Promise<ServeProcess> {
  const dir = await temporaryDirectory('daemonguard-allocation-');
  certificates = await writeTestCertificates(dir);
  await writeFiles(dir, { 'policies/doubling.yaml': policies });
  return startServe({
    args: ['--address', '127.0.0.1', '--port', '0', '--tls-cert', certificates.certFile, '--tls-key', certificates.keyFile, '--policies', path.join(dir, 'policies'), '--eval-deadline', '2s', '--log-level', 'info'],
  });
}

/** POSTs one review and samples the server's resident memory until the answer arrives. */
async function review(): Promise<{ response: JsonObject; ms: number; peakRss: number }> {
  let peakRss = residentBytes(server.pid) ?? 0;
  const timer = setInterval(() => (peakRss = Math.max(peakRss, residentBytes(server.pid) ?? 0)), 10);
  const started = performance.now();
  try {
    const answer = await callHttps(`${server.url}/validate`, { ca: certificates.ca.certPem, body: JSON.stringify(admissionReview('CREATE', daemonSet())) });
    assert.equal(answer.status, 200, answer.text);
    return { response: answer.json<{ response: JsonObject }>().response, ms: performance.now() - started, peakRss };
  } finally {
    clearInterval(timer);
  }
}

describe('expressions that allocate without bound', { timeout: 120_000 }, () => {
  before(async () => {
    server = await startWith(
      [
        doublingPolicy('doubling-list', 'Fail', "['a', 'b']"),
        doublingPolicy('doubling-string', 'Fail', "'ab'"),
        doublingPolicy('doubling-list-ignored', 'Ignore', '[1]'),
      ].join('---\n'),
    );
  });
  after(stopAllServes);

  it('stops 25 doublings of a list and of a string at the cost budget, by failurePolicy, in bounded memory', async () => {
    const { response, ms, peakRss } = await review();
    console.log(`25 doublings: answered in ${ms.toFixed(0)} ms, peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB`);
    assert.equal(response['allowed'], false);
    const message = (response['status'] as { message: string }).message;
    assert.match(message, /doubling-list: policy could not be evaluated: .*cost budget exceeded/);
    assert.match(message, /doubling-string: policy could not be evaluated: .*cost budget exceeded/);
    const warnings = (response['warnings'] as string[] | undefined) ?? [];
    assert.ok(warnings.some((w) => /^doubling-list-ignored: ignored because/.test(w)), JSON.stringify(warnings));
    assert.ok(peakRss < MAX_RSS, `peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB`);
  });

  it('answers the same way a second time (nothing cached an unfinished value)', async () => {
    const { response } = await review();
    assert.equal(response['allowed'], false);
    assert.match((response['status'] as { message: string }).message, /doubling-list: .*cost budget exceeded/);
  });
});
