// A MutatingAdmissionPolicy served by the webhook: `serve` loads it from the policy folder like any
// DaemonSetPolicy, and /mutate answers with the patch the apiserver's own plugin would have applied.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fastJsonPatch from 'fast-json-patch';
import request from 'supertest';
import { review } from '../engine/review.js';
import type { JsonObject } from '../engine/types.js';
import { loadPolicySet } from '../policy/load-policies.js';
import { createRequestListener } from './app.js';
import { createServerMetrics } from './metrics.js';
import { StaticPolicyStore } from './policy-store.js';
import { mutatingPolicy } from '../../test/support/native-policies.js';
import { admissionReview, captureLogger, daemonSet, decodePatch, temporaryDirectory, writeFiles } from '../../test/support/server-fixtures.js';

const POLICY = mutatingPolicy(
  'sidecar',
  `
  reinvocationPolicy: IfNeeded
  mutations:
    - patchType: ApplyConfiguration
      applyConfiguration:
        expression: >-
          Object{spec: Object.spec{template: Object.spec.template{spec: Object.spec.template.spec{
            containers: [Object.spec.template.spec.containers{name: 'proxy', image: 'mesh/proxy:1'}]}}}}
    - patchType: JSONPatch
      jsonPatch:
        expression: "[JSONPatch{op: 'test', path: '/metadata/name', value: object.metadata.name}, JSONPatch{op: 'replace', path: '/spec/minReadySeconds', value: 5}]"`,
);

describe('POST /mutate with a MutatingAdmissionPolicy', () => {
  it('answers with a patch the apiserver applies (no test operations), and no patch the second time', async () => {
    const dir = await temporaryDirectory();
    await writeFiles(dir, { 'native.yaml': POLICY });
    const listener = createRequestListener({
      policies: new StaticPolicyStore(await loadPolicySet([dir])),
      review,
      metrics: createServerMetrics({ defaultMetrics: false }),
      logger: captureLogger('info').logger,
      evalDeadlineMs: 2000,
    });
    const post = async (object: JsonObject) => (await request(listener).post('/mutate').set('Content-Type', 'application/json').send(JSON.stringify(admissionReview('CREATE', object))).expect(200)).body as { response: { allowed: boolean; patch?: string; patchType?: string } };
    const object = daemonSet();
    const first = await post(object);
    assert.equal(first.response.allowed, true);
    assert.equal(first.response.patchType, 'JSONPatch');
    const operations = decodePatch(first.response.patch!);
    assert.deepEqual(operations.map((op) => op.op), ['add', 'add']);
    const mutated = fastJsonPatch.applyPatch(structuredClone(object), operations as fastJsonPatch.Operation[], true, false).newDocument as JsonObject;
    const containers = (((mutated.spec as JsonObject).template as JsonObject).spec as JsonObject).containers as JsonObject[];
    assert.deepEqual(containers.at(-1), { name: 'proxy', image: 'mesh/proxy:1' });
    assert.equal((mutated.spec as JsonObject).minReadySeconds, 5);
    const second = await post(mutated);
    assert.equal(second.response.patch, undefined);
  });
});
