// Replays the AdmissionReview requests a real kube-apiserver sent a mutating webhook
// (test/policies/evidence/field-ownership.json, captured by scripts/capture-field-ownership.mjs)
// through default-rolling-update and default-revision-history: the policies must write their
// default exactly where the request shows the user did not choose the value.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { review } from '../../src/engine/review.js';
import type { AdmissionRequest, JsonObject, Operation } from '../../src/engine/types.js';
import { loadPolicySet } from '../../src/policy/load-policies.js';
import { EVIDENCE_FILE, POLICIES_DIR } from '../support/library-paths.js';

interface CapturedRequest {
  operation: Operation;
  namespace: string;
  name: string;
  userInfo: { username?: string };
  object: JsonObject;
  oldObject: JsonObject | null;
}

interface Evidence {
  $comment: string;
  steps: { label: string; command: string; requests: CapturedRequest[] }[];
}

/** Step label -> [maxUnavailable written by default-rolling-update, revisionHistoryLimit written by default-revision-history]. */
const EXPECTED: Record<string, [string | null, number | null]> = {
  // kubectl create: the Update manager owns every defaulted field; nothing tells, nothing is written.
  'kubectl create, maxUnavailable absent': [null, null],
  'kubectl create, maxUnavailable: 1 written': [null, null],
  // Client-side apply: the last-applied annotation is the manifest as written.
  'kubectl apply (client-side), absent': ['10%', 5],
  'kubectl apply (client-side), 3 written': [null, 5],
  // Server-side apply: the Apply manager owns what was applied, never a defaulted field.
  'kubectl apply --server-side, absent': ['10%', 5],
  'kubectl apply --server-side, 1 written': [null, 5],
  'kubectl apply --server-side again, absent (UPDATE)': ['10%', 5],
  // kubectl patch set maxUnavailable: the kubectl-patch Update manager owns it now.
  'kubectl patch maxUnavailable 2 on SSA object': [null, 5],
  'kubectl patch template annotation on create-absent (made by kubectl create)': [null, null],
  // The user removed maxUnavailable from the applied manifest: kubectl's three-way merge deleted it,
  // the apiserver defaulted it to 1 again, the new annotation has no key.
  'kubectl apply (client-side) again, csa-explicit without maxUnavailable (UPDATE)': ['10%', 5],
  'kubectl replace create-absent (PUT, absent)': [null, null],
  'kubectl apply --server-side, revisionHistoryLimit 3 written': ['10%', null],
  'kubectl apply (client-side), revisionHistoryLimit 3 written': ['10%', null],
  'kubectl create --dry-run=server, absent': [null, null],
};

function requestOf(captured: CapturedRequest): AdmissionRequest {
  const gvk = { group: 'apps', version: 'v1', kind: 'DaemonSet' };
  return {
    uid: 'replayed',
    kind: gvk,
    resource: { group: 'apps', version: 'v1', resource: 'daemonsets' },
    name: captured.name,
    namespace: captured.namespace,
    operation: captured.operation,
    userInfo: captured.userInfo,
    object: captured.object,
    oldObject: captured.oldObject,
  };
}

describe('field ownership as a real kube-apiserver reports it', async () => {
  const evidence = JSON.parse(await readFile(EVIDENCE_FILE, 'utf8')) as Evidence;
  const set = await loadPolicySet([join(POLICIES_DIR, 'defaults', 'default-rolling-update.yaml'), join(POLICIES_DIR, 'defaults', 'default-revision-history.yaml')]);

  it('covers every captured step', () => {
    assert.match(evidence.$comment, /kube-apiserver v1\.\d+/);
    assert.deepEqual(evidence.steps.map((s) => s.label).sort(), Object.keys(EXPECTED).sort());
  });

  it('has managedFields in the request on CREATE, before mutating admission', () => {
    for (const step of evidence.steps) {
      for (const request of step.requests) {
        const metadata = request.object.metadata as { managedFields?: unknown[] };
        assert.ok(Array.isArray(metadata.managedFields) && metadata.managedFields.length > 0, `${step.label}: no managedFields`);
      }
    }
  });

  for (const step of evidence.steps) {
    it(`${step.label} (${step.command})`, () => {
      assert.equal(step.requests.length, 1);
      const decision = review(requestOf(step.requests[0]!), set, { phase: 'mutate', namespaceObject: null });
      const [maxUnavailable, revisionHistoryLimit] = EXPECTED[step.label]!;
      const expected = [
        ...(maxUnavailable === null ? [] : [{ op: 'add', path: '/spec/updateStrategy/rollingUpdate/maxUnavailable', value: maxUnavailable }]),
        ...(revisionHistoryLimit === null ? [] : [{ op: 'add', path: '/spec/revisionHistoryLimit', value: revisionHistoryLimit }]),
      ];
      assert.deepEqual(decision.patch, expected);
      assert.deepEqual(decision.warnings, []);
    });
  }
});
