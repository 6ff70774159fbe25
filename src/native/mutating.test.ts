import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { admissionRequest, daemonSet, writeTree } from '../../test/support/admission-fixtures.js';
import { review } from '../engine/review.js';
import type { JsonObject } from '../engine/types.js';
import { loadPolicySet, PolicyLoadError } from '../policy/load-policies.js';
import type { PolicySet } from '../policy/types.js';

const RULES = '[{apiGroups: [apps], apiVersions: [v1], resources: [daemonsets], operations: [CREATE, UPDATE]}]';

function mutatingPolicy(name: string, body: string, failurePolicy = 'Fail'): string {
  return `apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicy
metadata: {name: ${name}}
spec:
  failurePolicy: ${failurePolicy}
  matchConstraints: {resourceRules: ${RULES}}
${body}
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicyBinding
metadata: {name: ${name}-binding}
spec: {policyName: ${name}}
`;
}

async function load(...documents: string[]): Promise<PolicySet> {
  return loadPolicySet([await writeTree({ 'native.yaml': documents.join('---\n') })]);
}

async function problems(...documents: string[]): Promise<string> {
  try {
    await load(...documents);
  } catch (error) {
    assert.ok(error instanceof PolicyLoadError, String(error));
    return error.message;
  }
  assert.fail('expected load problems');
}

function mutate(set: PolicySet, object = daemonSet()) {
  return review(admissionRequest(object), set, { phase: 'mutate' });
}

const JSON_PATCH = (expression: string): string => `  reinvocationPolicy: Never\n  mutations:\n    - patchType: JSONPatch\n      jsonPatch: {expression: "${expression}"}`;

describe('MutatingAdmissionPolicy documents', () => {
  it('refuses what the apiserver refuses at admission of the policy, naming the field', async () => {
    const text = await problems(
      mutatingPolicy('no-reinvocation', "  mutations:\n    - patchType: JSONPatch\n      jsonPatch: {expression: \"[JSONPatch{op: 'remove', path: '/spec/x'}]\"}"),
      mutatingPolicy('mismatched', '  reinvocationPolicy: Never\n  mutations:\n    - patchType: ApplyConfiguration\n      jsonPatch: {expression: "[]"}'),
      mutatingPolicy('maps', JSON_PATCH("[{'op': 'remove', 'path': '/spec/x'}]")),
      mutatingPolicy('typo', "  reinvocationPolicy: Never\n  mutations:\n    - patchType: ApplyConfiguration\n      applyConfiguration: {expression: \"Object{spec: Object.spec{tempalte: Object.spec.template{}}}\"}"),
    );
    assert.match(text, /policy "no-reinvocation" spec: spec\.reinvocationPolicy is required/);
    assert.match(text, /policy "mismatched" spec\.mutations\[0\]\.jsonPatch: must not be set when patchType is ApplyConfiguration/);
    assert.match(text, /policy "mismatched" spec\.mutations\[0\]: applyConfiguration is required when patchType is ApplyConfiguration/);
    assert.match(text, /policy "maps" spec\.mutations\[0\]\.jsonPatch\.expression: must evaluate to list\(JSONPatch\) but got list\(map<string, string>\)/);
    assert.match(text, /native\.yaml:\d+:\d+: policy "typo" spec\.mutations\[0\]\.applyConfiguration\.expression: .*Object\.spec \(DaemonSetSpec\) has no field 'tempalte'/);
  });

  it('holds each patchType to its own field and result type, the other field refused', async () => {
    const text = await problems(
      mutatingPolicy('mismatched-json', "  reinvocationPolicy: Never\n  mutations:\n    - patchType: JSONPatch\n      applyConfiguration: {expression: \"Object{}\"}"),
      mutatingPolicy('not-object', "  reinvocationPolicy: Never\n  mutations:\n    - patchType: ApplyConfiguration\n      applyConfiguration: {expression: \"{'spec': 'x'}\"}"),
      mutatingPolicy('unknown-type', "  reinvocationPolicy: Never\n  mutations:\n    - patchType: StrategicMerge\n      jsonPatch: {expression: \"[]\"}"),
    );
    assert.match(text, /policy "mismatched-json" spec\.mutations\[0\]\.applyConfiguration: must not be set when patchType is JSONPatch/);
    assert.match(text, /policy "mismatched-json" spec\.mutations\[0\]: jsonPatch is required when patchType is JSONPatch/);
    assert.match(text, /policy "not-object" spec\.mutations\[0\]\.applyConfiguration\.expression: must evaluate to Object but got map\(string, string\) \(the apiserver refuses it\): return Object\{\.\.\.\}/);
    // The patchType enum comes from the same table: an unknown one stops at the document's shape, before any compile.
    assert.match(text, /policy "unknown-type" spec\.mutations\[0\]\.patchType: MutatingAdmissionPolicy: must be one of: ApplyConfiguration, JSONPatch \(found "StrategicMerge"\)/);
  });

  it('runs the mutations in order, each on the previous result, as RFC 6902 operations', async () => {
    const set = await load(
      mutatingPolicy(
        'two-steps',
        `  reinvocationPolicy: IfNeeded
  mutations:
    - patchType: ApplyConfiguration
      applyConfiguration: {expression: "Object{metadata: Object.metadata{labels: {'step': 'one'}}}"}
    - patchType: JSONPatch
      jsonPatch: {expression: "[JSONPatch{op: 'add', path: '/metadata/labels/seen', value: object.metadata.labels['step']}]"}`,
      ),
    );
    const decision = mutate(set);
    assert.deepEqual(decision.patch, [
      { op: 'add', path: '/metadata/labels/step', value: 'one' },
      { op: 'add', path: '/metadata/labels/seen', value: 'one' },
    ]);
    assert.deepEqual(decision.outcomes, [{ policy: 'two-steps/two-steps-binding', result: 'pass', patchOperations: 2 }]);
  });

  it('a failed test drops that mutation without error; replace of a missing member sets it', async () => {
    const set = await load(
      mutatingPolicy('tested', JSON_PATCH("[JSONPatch{op: 'test', path: '/spec/template/spec/containers/0/name', value: 'nope'}, JSONPatch{op: 'add', path: '/metadata/labels/x', value: 'y'}]")),
      mutatingPolicy('replaced', JSON_PATCH("[JSONPatch{op: 'replace', path: '/spec/template/spec/priorityClassName', value: 'system-node-critical'}]")),
    );
    const decision = mutate(set);
    assert.equal(decision.allowed, true);
    assert.deepEqual(decision.patch, [{ op: 'add', path: '/spec/template/spec/priorityClassName', value: 'system-node-critical' }]);
  });

  it('a failing mutation denies under Fail with the apiserver\'s words, and under Ignore lets the others apply', async () => {
    const failing = "[JSONPatch{op: 'remove', path: '/metadata/labels/missing'}]";
    const closed = mutate(await load(mutatingPolicy('closed', JSON_PATCH(failing))));
    assert.equal(closed.allowed, false);
    assert.match(closed.violations[0]!.message, /^policy 'closed' with binding 'closed-binding' denied request: JSON Patch: /);
    const open = mutate(
      await load(
        mutatingPolicy(
          'open',
          `${JSON_PATCH(failing)}\n    - patchType: ApplyConfiguration\n      applyConfiguration: {expression: "Object{metadata: Object.metadata{labels: {'after': 'applied'}}}"}`,
          'Ignore',
        ),
      ),
    );
    assert.equal(open.allowed, true);
    assert.deepEqual(open.violations, []);
    assert.deepEqual(open.patch, [{ op: 'add', path: '/metadata/labels/after', value: 'applied' }]);
  });

  it('a JSONPatch list must have the type list(JSONPatch), as the apiserver checks it; a variable keeps that type', async () => {
    const text = await problems(mutatingPolicy('mixed', JSON_PATCH("[JSONPatch{op: 'add', path: '/metadata/labels/a', value: 'b'}, dyn({'op': 'add'})]")));
    assert.match(text, /must evaluate to list\(JSONPatch\) but got list /);
    const set = await load(
      mutatingPolicy(
        'from-variable',
        `  variables: [{name: patches, expression: "[JSONPatch{op: 'add', path: '/metadata/labels/v', value: 'w'}]"}]\n${JSON_PATCH('variables.patches')}`,
      ),
    );
    assert.deepEqual(mutate(set).patch, [{ op: 'add', path: '/metadata/labels/v', value: 'w' }]);
  });

  it('skips a DaemonSet whose matchConditions are false', async () => {
    const set = await load(
      mutatingPolicy('conditional', `  matchConditions: [{name: opted-in, expression: "object.metadata.labels[?'mesh'].orValue('') == 'on'"}]\n${JSON_PATCH("[JSONPatch{op: 'add', path: '/metadata/labels/injected', value: 'yes'}]")}`),
    );
    assert.deepEqual(mutate(set).patch, []);
    const optedIn = daemonSet({ labels: { app: 'node-exporter', mesh: 'on' } });
    assert.deepEqual(mutate(set, optedIn).patch, [{ op: 'add', path: '/metadata/labels/injected', value: 'yes' }]);
    assert.equal(((optedIn.metadata as JsonObject).labels as JsonObject).injected, undefined, 'the input object is left untouched');
  });
});
