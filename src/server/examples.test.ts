// The requests in examples/ against the policies in policies/, as examples/README.md shows them:
// keeps the documented decisions true, and checks that every patch applies and is idempotent.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
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
import { captureLogger, decodePatch } from '../../test/support/server-fixtures.js';

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
