// `daemonguard serve`'s warm-up (src/server/warm-up.ts) as a real subprocess with real files: it runs
// before the server is ready and before a reloaded set is swapped in, leaves no decision, metric or log
// line of a review behind, does not hold up a start or a reload for a policy that errors or a budget
// too short, and --warm-up-budget 0 turns it off. How much faster the first review gets is measured
// by npm run bench:latency, not asserted here.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { runCli } from '../../test/support/cli-process.js';
import { admissionReview, ALWAYS_ERRORING_POLICY, callHttp, callHttps, daemonSet, temporaryDirectory, TEST_POLICIES, writeFiles } from '../../test/support/server-fixtures.js';
import { LISTENING_MESSAGE, startServe, stopAllServes, type LogLine, type ServeProcess } from '../../test/support/serve-process.js';

after(stopAllServes);

const WARMED_UP = 'policy set warmed up';
const DECISION = 'admission decision';

const ADDED_POLICY = `apiVersion: daemonguard.dev/v1alpha1
kind: DaemonSetPolicy
metadata:
  name: added-later
spec:
  validations:
    - expression: "object.metadata.name != 'forbidden-name'"
      message: this name is taken
`;

function indexOf(lines: LogLine[], match: (line: LogLine) => boolean): number {
  const index = lines.findIndex(match);
  assert.ok(index >= 0, 'the log line is there');
  return index;
}

async function metricsText(served: ServeProcess): Promise<string> {
  return (await callHttp(`${served.probeUrl}/metrics`)).text;
}

/** Sample lines of a metric (`name{...} value`), leaving out its HELP and TYPE lines. */
function samples(text: string, metric: string): string[] {
  return text.split('\n').filter((line) => line.startsWith(`${metric}{`) || line.startsWith(`${metric} `));
}

describe('daemonguard serve: warm-up', () => {
  it('warms each set before it serves (before readiness, before a reload swaps it in) and leaves no review behind in logs or metrics', { timeout: 90_000 }, async () => {
    const dir = await temporaryDirectory('daemonguard-warm-up-');
    await writeFiles(dir, { 'policies/all.yaml': TEST_POLICIES, 'policies/errors.yaml': ALWAYS_ERRORING_POLICY });
    const served = await startServe({ args: ['--address', '127.0.0.1', '--port', '0', '--policies', 'policies'], cwd: dir });
    const ca = await readFile(path.join(dir, 'certs', 'ca.crt'), 'utf8');

    // The warm-up before the set was announced and the listener (and with it /readyz) came up.
    let lines = served.logLines();
    const warmed = indexOf(lines, (line) => line['msg'] === WARMED_UP && line['trigger'] === 'start');
    assert.ok(warmed < indexOf(lines, (line) => line['msg'] === 'policies loaded'));
    assert.ok(warmed < indexOf(lines, (line) => line['msg'] === LISTENING_MESSAGE));
    const report = lines[warmed]!;
    assert.equal(report['complete'], true);
    assert.equal(report['policies'], 7);
    assert.ok((report['reviews'] as number) > 0);
    // The policy that errors on every DaemonSet it validates errored in the warm-up, and the server started all the same.
    assert.ok((report['withErrors'] as number) > 0);
    assert.equal((await callHttp(`${served.probeUrl}/readyz`)).status, 200);

    // Nothing of the warm-up's reviews in the decision log or the metrics.
    assert.equal(lines.filter((line) => line['msg'] === DECISION).length, 0);
    let metrics = await metricsText(served);
    for (const metric of ['daemonguard_admission_requests_total', 'daemonguard_policy_evaluations_total', 'daemonguard_policy_evaluation_errors_total']) {
      assert.deepEqual(samples(metrics, metric), [], `${metric} counts no warm-up review`);
    }
    assert.deepEqual(samples(metrics, 'daemonguard_policy_warm_ups_total'), ['daemonguard_policy_warm_ups_total{outcome="complete"} 1'], 'the warm-up itself is counted');

    const validate = async (uid: string, name = 'node-agent'): Promise<{ allowed: boolean; status?: { message: string } }> => {
      const body = JSON.stringify(admissionReview('CREATE', daemonSet({ name, memoryLimit: '1Gi' }), { uid }));
      return (await callHttps(`${served.url}/validate`, { ca, body, agent: false })).json<{ response: { allowed: boolean; status?: { message: string } } }>().response;
    };
    await validate('first-real');
    await served.waitForLog((line) => line['msg'] === DECISION && line['uid'] === 'first-real');

    // A reload: warmed before the swap, again without a trace.
    await writeFiles(dir, { 'policies/added.yaml': ADDED_POLICY });
    await served.waitForLog((line) => line['msg'] === 'policies reloaded', 60_000);
    lines = served.logLines();
    const rewarmed = indexOf(lines, (line) => line['msg'] === WARMED_UP && line['trigger'] === 'file change');
    assert.ok(rewarmed > indexOf(lines, (line) => line['msg'] === 'reloading the policy files'));
    assert.ok(rewarmed < indexOf(lines, (line) => line['msg'] === 'policies reloaded'));
    assert.equal(lines[rewarmed]!['policies'], 8);
    assert.deepEqual(
      lines.filter((line) => line['msg'] === DECISION).map((line) => line['uid']),
      ['first-real'],
    );
    metrics = await metricsText(served);
    assert.deepEqual(
      samples(metrics, 'daemonguard_admission_requests_total').map((line) => line.split(' ').at(-1)),
      ['1'],
      'one real review counted, none of the warm-ups',
    );
    assert.deepEqual(samples(metrics, 'daemonguard_policy_warm_ups_total'), ['daemonguard_policy_warm_ups_total{outcome="complete"} 2']);
    assert.equal((await validate('after-reload', 'forbidden-name')).status?.message.includes('added-later: this name is taken'), true);
    assert.deepEqual(await served.stop(), { code: 0, signal: null });
  });

  it('a budget too short to finish stops the warm-up, logs it, and the server starts', { timeout: 60_000 }, async () => {
    const dir = await temporaryDirectory('daemonguard-warm-up-');
    await writeFiles(dir, { 'policies/all.yaml': TEST_POLICIES });
    const served = await startServe({ args: ['--address', '127.0.0.1', '--port', '0', '--policies', 'policies', '--warm-up-budget', '1ms'], cwd: dir });
    const stopped = served.logLines().find((line) => line['msg'] === 'policy set warm-up stopped at --warm-up-budget (1ms)');
    assert.ok(stopped, 'the cut-short warm-up is logged');
    assert.equal(stopped['complete'], false);
    assert.equal((await callHttp(`${served.probeUrl}/readyz`)).status, 200);
    assert.deepEqual(samples(await metricsText(served), 'daemonguard_policy_warm_ups_total'), ['daemonguard_policy_warm_ups_total{outcome="budget"} 1']);
    assert.deepEqual(await served.stop(), { code: 0, signal: null });
  });

  it('--warm-up-budget 0 (or DAEMONGUARD_WARM_UP_BUDGET=0) turns it off; a bad value is a usage error', { timeout: 60_000 }, async () => {
    const dir = await temporaryDirectory('daemonguard-warm-up-');
    await writeFiles(dir, { 'policies/all.yaml': TEST_POLICIES });
    for (const setting of [{ args: ['--warm-up-budget', '0'] }, { args: [], env: { DAEMONGUARD_WARM_UP_BUDGET: '0' } }]) {
      const served = await startServe({ args: ['--address', '127.0.0.1', '--port', '0', '--policies', 'policies', ...setting.args], cwd: dir, ...(setting.env ? { env: setting.env } : {}) });
      assert.ok(served.logLines().some((line) => line['msg'] === 'policies loaded'));
      assert.equal(served.logLines().filter((line) => String(line['msg']).startsWith('policy set warm')).length, 0, JSON.stringify(setting));
      assert.deepEqual(await served.stop(), { code: 0, signal: null });
    }
    const bad = await runCli(['serve', '--warm-up-budget', 'soon']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--warm-up-budget/);
    const help = await runCli(['serve', '--help']);
    for (const text of ['--warm-up-budget <duration>', 'DAEMONGUARD_WARM_UP_BUDGET', 'default: 2s', '0 = no warm-up']) assert.ok(help.stdout.includes(text), `--help mentions ${text}`);
  });
});
