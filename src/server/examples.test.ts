// The requests in examples/ against the policies in policies/, as examples/README.md shows them:
// keeps the documented decisions true, checks that every patch applies and is idempotent, and sends
// each request the README shows an answer for to a running `daemonguard serve` (started as `npm start`
// starts it), comparing the answer with the README's, field for field.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import fastJsonPatch from 'fast-json-patch';
import request from 'supertest';
import { review } from '../engine/review.js';
import type { JsonObject } from '../engine/types.js';
import { loadPolicySet } from '../policy/load-policies.js';
import { createAdmissionApp } from './app.js';
import { createServerMetrics } from './metrics.js';
import { parseNamespaces } from './namespace-catalog.js';
import { StaticPolicyStore } from './policy-store.js';
import { callHttp, callHttps, captureLogger, decodePatch, temporaryDirectory } from '../../test/support/server-fixtures.js';
import { startServe, stopAllServes, type ServeProcess } from '../../test/support/serve-process.js';

const ROOT = new URL('../../../', import.meta.url);
const file = (name: string): string => fileURLToPath(new URL(name, ROOT));

interface Answer {
  apiVersion: string;
  response: { uid: string; allowed: boolean; status?: { code: number; message: string }; patchType?: string; patch?: string };
}

async function exampleApp(): Promise<ReturnType<typeof createAdmissionApp>> {
  const namespaces = parseNamespaces(await readFile(file('examples/namespaces.yaml'), 'utf8'), 'examples/namespaces.yaml');
  return createAdmissionApp({
    policies: new StaticPolicyStore(await loadPolicySet([file('policies')])),
    review,
    metrics: createServerMetrics({ defaultMetrics: false }),
    logger: captureLogger('silent').logger,
    evalDeadlineMs: 2000,
    namespaceObject: (name) => namespaces.get(name),
  });
}

async function send(app: Awaited<ReturnType<typeof exampleApp>>, path: string, body: JsonObject): Promise<Answer> {
  const answer = await request(app).post(path).set('Content-Type', 'application/json').send(JSON.stringify(body)).expect(200);
  return answer.body as Answer;
}

async function example(name: string): Promise<JsonObject> {
  return JSON.parse(await readFile(file(`examples/${name}`), 'utf8')) as JsonObject;
}

describe('examples/', () => {
  const expected: Record<string, { allowed: boolean; policies?: string[] }> = {
    'create-compliant.json': { allowed: true },
    'create-privileged.json': { allowed: false, policies: ['host-namespaces', 'privileged-namespaces', 'rollout-safety'] },
    'update.json': { allowed: false, policies: ['rollout-safety'] },
    'delete.json': { allowed: true },
    'create-kubectl-apply.json': { allowed: true },
  };

  for (const [name, outcome] of Object.entries(expected)) {
    it(`${name}: ${outcome.allowed ? 'allowed' : 'denied'} on /validate, and its /mutate patch applies once`, async () => {
      const app = await exampleApp();
      const body = await example(name);
      const validated = await send(app, '/validate', body);
      assert.equal(validated.response.uid, (body['request'] as JsonObject)['uid']);
      assert.equal(validated.response.allowed, outcome.allowed, validated.response.status?.message);
      assert.equal(validated.response.patch, undefined);
      for (const policy of outcome.policies ?? []) {
        assert.match(validated.response.status?.message ?? '', new RegExp(`(^|\\n)${policy}: `));
      }

      const mutated = await send(app, '/mutate', body);
      const object = (body['request'] as JsonObject)['object'] as JsonObject | null;
      if (mutated.response.patch === undefined) {
        assert.equal(mutated.response.patchType, undefined);
        return;
      }
      assert.ok(object !== null);
      assert.equal(mutated.response.patchType, 'JSONPatch');
      const patched = fastJsonPatch.applyPatch(structuredClone(object), decodePatch(mutated.response.patch) as fastJsonPatch.Operation[], true, false)
        .newDocument as JsonObject;
      // The mutated object, sent again (as on reinvocation), needs no further change.
      const again = structuredClone(body);
      (again['request'] as JsonObject)['object'] = patched;
      (again['request'] as JsonObject)['uid'] = 'reinvocation';
      const second = await send(app, '/mutate', again);
      assert.deepEqual(second.response, { uid: 'reinvocation', allowed: true });
    });
  }

  it('create-kubectl-apply.json is defaulted as the README shows', async () => {
    const app = await exampleApp();
    const body = await example('create-kubectl-apply.json');
    const answer = await send(app, '/mutate', body);
    const patched = fastJsonPatch.applyPatch(
      structuredClone((body['request'] as JsonObject)['object'] as JsonObject),
      decodePatch(answer.response.patch ?? '') as fastJsonPatch.Operation[],
      true,
      false,
    ).newDocument as { spec: { revisionHistoryLimit: number; updateStrategy: { rollingUpdate: { maxUnavailable: string | number } } } };
    assert.equal(patched.spec.updateStrategy.rollingUpdate.maxUnavailable, '10%');
    assert.equal(patched.spec.revisionHistoryLimit, 5);
  });
});

/** An answer examples/README.md shows: "`<file>` on `<endpoint>`: ..." and the next json block. */
interface DocumentedAnswer {
  file: string;
  endpoint: string;
  answer: unknown;
}

function documentedAnswers(readme: string): DocumentedAnswer[] {
  return [...readme.matchAll(/^`([\w-]+\.json)` on `(\/validate|\/mutate)`:[^]*?^```json\n([^]*?)^```$/gm)].map((match) => ({
    file: match[1]!,
    endpoint: match[2]!,
    answer: JSON.parse(match[3]!) as unknown,
  }));
}

describe('examples/README.md against a running daemonguard serve', () => {
  let readme: string;
  let served: ServeProcess;
  let ca: string;
  const post = async (endpoint: string, body: string): Promise<{ status: number; text: string }> => callHttps(`${served.url}${endpoint}`, { ca, body, agent: false });

  before(async () => {
    readme = await readFile(file('examples/README.md'), 'utf8');
    const certs = path.join(await temporaryDirectory('daemonguard-examples-'), 'certs');
    // As `npm start` runs it (package.json), on free ports.
    served = await startServe({
      args: ['--address', '127.0.0.1', '--port', '0', '--policies', file('policies'), '--namespaces', file('examples/namespaces.yaml'), '--certs-dir', certs],
    });
    ca = await readFile(path.join(certs, 'ca.crt'), 'utf8');
  });
  after(stopAllServes);

  it('every answer shown for an example file is the one the server sends', async () => {
    const documented = documentedAnswers(readme);
    assert.deepEqual(
      documented.map((entry) => `${entry.file} ${entry.endpoint}`),
      ['create-compliant.json /validate', 'create-privileged.json /validate', 'update.json /validate', 'delete.json /validate', 'create-kubectl-apply.json /mutate'],
      'the README shows these answers (update this list when it shows more)',
    );
    for (const { file: name, endpoint, answer } of documented) {
      const sent = await post(endpoint, await readFile(file(`examples/${name}`), 'utf8'));
      assert.equal(sent.status, 200, `${name} on ${endpoint}: ${sent.text}`);
      assert.deepEqual(JSON.parse(sent.text), answer, `examples/README.md shows another answer for ${name} on ${endpoint}`);
    }
  });

  it('the decoded patch is the patch of the /mutate answer', () => {
    const decoded = /^Decoded [^\n]*:\n\n```json\n(.*)\n```$/m.exec(readme);
    assert.ok(decoded, 'the README shows a decoded patch');
    const mutate = documentedAnswers(readme).find((entry) => entry.endpoint === '/mutate');
    const patch = (mutate?.answer as Answer | undefined)?.response.patch;
    assert.ok(patch !== undefined);
    assert.equal(Buffer.from(patch, 'base64').toString('utf8'), decoded[1]);
  });

  it('the error shown for a review without a uid is the one the server sends', async () => {
    const example = /^\$ curl [^\n]*\\\n\s+--data '([^']+)' \\\n\s+https:\/\/127\.0\.0\.1:8443(\/\w+)\n(\{[^\n]*\})$/m.exec(readme);
    assert.ok(example, 'the README shows a refused request');
    const sent = await post(example[2]!, example[1]!);
    assert.equal(sent.status, 400);
    assert.equal(sent.text, example[3]);
  });

  it('the decision log line shown is the one the server writes, but for time, pid, host and duration', async () => {
    const shown = /^(\{"level":30,[^\n]*"msg":"admission decision"\})$/m.exec(readme);
    assert.ok(shown, 'the README shows a decision log line');
    const documented = JSON.parse(shown[1]!) as Record<string, unknown>;
    const written = await served.waitForLog((line) => line['msg'] === 'admission decision' && line['uid'] === documented['uid'] && line['endpoint'] === documented['endpoint']);
    const varying = ['time', 'pid', 'hostname', 'durationMs'];
    assert.deepEqual(Object.keys(written), Object.keys(documented));
    const without = (line: Record<string, unknown>): Record<string, unknown> => Object.fromEntries(Object.entries(line).filter(([key]) => !varying.includes(key)));
    assert.deepEqual(without(written), without(documented));
  });

  it('the probes and metrics answer on the probe port as shown, and not on the HTTPS port', async () => {
    const probes = [...readme.matchAll(/^curl http:\/\/127\.0\.0\.1:8081(\/\w+)\s+# (.*)$/gm)];
    assert.deepEqual(probes.map((probe) => probe[1]), ['/healthz', '/readyz', '/metrics']);
    for (const [, endpoint, comment] of probes) {
      const answer = await callHttp(`${served.probeUrl}${endpoint!}`);
      assert.equal(answer.status, 200, endpoint);
      if (comment!.startsWith('ok')) assert.equal(answer.text, 'ok\n', endpoint);
      for (const metric of comment!.match(/daemonguard_\w+/g) ?? []) assert.match(answer.text, new RegExp(`^${metric}\\{`, 'm'), metric);
      assert.equal((await callHttps(`${served.url}${endpoint!}`, { ca, agent: false })).status, 404, `${endpoint!} on the HTTPS port`);
    }
  });
});
