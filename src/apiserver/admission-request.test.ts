// The AdmissionRequest the CLI builds for a manifest, against what the kube-apiserver sends a webhook
// (checked against a real v1.37.2 apiserver by test/e2e/differential.e2e.test.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { JsonObject } from '../common/vocabulary.js';
import { buildAdmissionRequest, CREATE_WIPED_METADATA, unchangedUpdateRequest } from './admission-request.js';

const exported: JsonObject = {
  apiVersion: 'apps/v1',
  kind: 'DaemonSet',
  metadata: {
    name: 'agent',
    namespace: 'ops',
    uid: '5f0c3a1e-7a6b-4c2d-9e8f-0a1b2c3d4e5f',
    creationTimestamp: '2026-01-01T00:00:00Z',
    deletionTimestamp: '2026-01-02T00:00:00Z',
    deletionGracePeriodSeconds: 30,
    selfLink: '/apis/apps/v1/namespaces/ops/daemonsets/agent',
    generation: 7,
    labels: { app: 'agent' },
  },
  spec: {
    selector: { matchLabels: { app: 'agent' } },
    template: { metadata: { labels: { app: 'agent' } }, spec: { containers: [{ name: 'agent', image: 'registry.example/agent:1.0.0' }] } },
  },
  status: { numberReady: 3 },
};

const metadataOf = (object: JsonObject | null): JsonObject => (object?.metadata ?? {}) as JsonObject;

describe('buildAdmissionRequest', () => {
  it('clears the system fields of a new object, as the apiserver does before admission on CREATE', () => {
    const request = buildAdmissionRequest(exported, { operation: 'CREATE', namespace: 'ops' });
    const metadata = metadataOf(request.object);
    for (const key of CREATE_WIPED_METADATA) assert.equal(metadata[key], undefined, `metadata.${key}`);
    // Kept until the registry's PrepareForCreate, which runs after mutating admission.
    assert.equal(metadata.generation, 7);
    assert.equal((request.object?.status as JsonObject).numberReady, 3);
    assert.deepEqual(metadata.labels, { app: 'agent' });
    assert.equal((exported.metadata as JsonObject).uid, '5f0c3a1e-7a6b-4c2d-9e8f-0a1b2c3d4e5f', 'the manifest is not modified');
  });

  it('keeps them on UPDATE, where the object is the stored one', () => {
    const request = buildAdmissionRequest(exported, { operation: 'UPDATE', namespace: 'ops', oldObject: exported });
    assert.equal(metadataOf(request.object).uid, '5f0c3a1e-7a6b-4c2d-9e8f-0a1b2c3d4e5f');
    assert.equal(metadataOf(request.oldObject).uid, '5f0c3a1e-7a6b-4c2d-9e8f-0a1b2c3d4e5f');
  });
});

describe('unchangedUpdateRequest (what the audit judges)', () => {
  it('sends the stored object as object and oldObject, as it is: not defaulted again, system fields and status kept', () => {
    const stored = structuredClone(exported);
    const request = unchangedUpdateRequest(stored);
    assert.equal(request.operation, 'UPDATE');
    assert.equal(request.namespace, 'ops');
    assert.equal(request.name, 'agent');
    assert.deepEqual(request.object, exported, 'no default added (the template has no restartPolicy, the spec no updateStrategy)');
    assert.deepEqual(request.oldObject, exported);
    assert.deepEqual((request.options as JsonObject).kind, 'UpdateOptions');
  });
});
