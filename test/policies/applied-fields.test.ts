// appliedFieldsEntry against what a real kube-apiserver recorded for `kubectl apply --server-side`,
// and the CLI flow it is proposed for: a plain manifest, given the entry before defaulting, gets
// the library's defaults exactly where the user wrote nothing.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { reviewAdmission } from '../../src/admission/pipeline.js';
import { buildAdmissionRequest } from '../../src/apiserver/admission-request.js';
import { appliedFieldsEntry, withAppliedFields } from '../../src/apiserver/applied-fields.js';
import { namespaceObject } from '../../src/apiserver/namespace-object.js';
import { loadPoliciesForCli } from '../../src/cli/load-policy-set.js';
import type { JsonObject } from '../../src/common/vocabulary.js';
import { EVIDENCE_FILE, POLICIES_DIR, SUITES_DIR } from '../support/library-paths.js';

interface Evidence {
  steps: { label: string; command: string; input: JsonObject | null; requests: { object: JsonObject }[] }[];
}

describe('appliedFieldsEntry', () => {
  it('equals the field sets a real kube-apiserver recorded for server-side apply on CREATE', async () => {
    const evidence = JSON.parse(await readFile(EVIDENCE_FILE, 'utf8')) as Evidence;
    const applied = evidence.steps.filter((s) => s.command.includes('--server-side') && s.input && !s.label.includes('UPDATE'));
    assert.ok(applied.length >= 3);
    for (const step of applied) {
      const recorded = (step.requests[0]!.object.metadata as { managedFields: JsonObject[] }).managedFields.find((m) => m.operation === 'Apply');
      assert.deepEqual(appliedFieldsEntry(step.input!).fieldsV1, recorded!.fieldsV1, step.label);
    }
  });

  it('leaves a manifest that already carries managedFields or the last-applied annotation alone', () => {
    const withFields = { metadata: { name: 'x', managedFields: [] } };
    const withAnnotation = { metadata: { name: 'x', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}' } } };
    assert.equal(withAppliedFields(withFields), withFields);
    assert.equal(withAppliedFields(withAnnotation), withAnnotation);
  });

  it('lets the defaults policies default a plain manifest where the user wrote nothing', async () => {
    const set = await loadPoliciesForCli([join(POLICIES_DIR, 'defaults', 'default-rolling-update.yaml'), join(POLICIES_DIR, 'defaults', 'default-revision-history.yaml')]);
    const review = async (manifest: JsonObject) => (await reviewAdmission(buildAdmissionRequest(withAppliedFields(manifest), { operation: 'CREATE', namespace: 'logging' }), set, { namespaceObject: namespaceObject('logging') })).patch;
    const fluentBit = parse(await readFile(join(SUITES_DIR, 'resources', 'fluent-bit.yaml'), 'utf8')) as JsonObject;
    assert.deepEqual(await review(fluentBit), [
      { op: 'add', path: '/spec/updateStrategy/rollingUpdate/maxUnavailable', value: '10%' },
      { op: 'add', path: '/spec/revisionHistoryLimit', value: 5 },
    ]);
    const calico = parse(await readFile(join(SUITES_DIR, 'resources', 'calico-node.yaml'), 'utf8')) as JsonObject;
    assert.deepEqual(await review(calico), [{ op: 'add', path: '/spec/revisionHistoryLimit', value: 5 }], 'calico-node writes maxUnavailable: 1 itself');
  });
});
