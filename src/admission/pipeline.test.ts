import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { admissionRequest, daemonSet, policyYaml, writeTree } from '../../test/support/admission-fixtures.js';
import type { AdmissionRequest, JsonObject, ReviewPhase } from '../engine/types.js';
import { loadPolicySet } from '../policy/load-policies.js';
import type { PolicySet } from '../policy/types.js';
import { patchedResponse } from './admission-response.js';
import { admit, reviewAdmission } from './pipeline.js';

async function policies(...documents: string[]): Promise<PolicySet> {
  const root = await writeTree(Object.fromEntries(documents.map((d, i) => [`p${i}.yaml`, d])));
  return loadPolicySet([root]);
}

const MAX_UNAVAILABLE = policyYaml(
  'default-max-unavailable',
  `
  mutations:
    - name: max-unavailable
      defaults:
        - path: /spec/updateStrategy/rollingUpdate/maxUnavailable
          value: "10%"
`,
);

const NEEDS_MAX_UNAVAILABLE = policyYaml(
  'rollout-safety',
  `
  validations:
    - expression: "object.spec.?updateStrategy.?rollingUpdate.?maxUnavailable.orValue('') != ''"
      message: maxUnavailable must be set
`,
);

const SIDECAR = policyYaml(
  'add-sidecar',
  `
  mutations:
    - name: sidecar
      jsonPatch:
        expression: "[{'op': 'add', 'path': '/spec/template/spec/containers/-', 'value': {'name': 'sidecar', 'image': 'example.com/sidecar:1.0'}}]"
`,
);

const SIDECAR_DEFAULTED = policyYaml(
  'sidecar-defaulted',
  `
  validations:
    - expression: "object.spec.template.spec.containers.all(c, c.?terminationMessagePath.orValue('') == '/dev/termination-log')"
      message: a container was not defaulted
`,
);

const WARNS_TWICE = policyYaml(
  'warned',
  `
  validationActions: [Warn]
  validations:
    - expression: "false"
      message: "resources should be set"
    - expression: "false"
      message: "resources  should be set"
`,
);

describe('admit: mutate, re-default, validate', () => {
  it('validations see the mutated object, as validating webhooks do in the cluster', async () => {
    const set = await policies(MAX_UNAVAILABLE, NEEDS_MAX_UNAVAILABLE);
    const admission = await reviewAdmission(admissionRequest(daemonSet()), set);
    assert.equal(admission.allowed, true);
    assert.ok(admission.patch.length > 0);
    assert.deepEqual(admission.outcomes.map((o) => `${o.policy}:${o.result}`), ['default-max-unavailable:pass', 'rollout-safety:pass']);
    const strategy = (admission.validationRequest.object?.spec as JsonObject).updateStrategy as JsonObject;
    assert.equal((strategy.rollingUpdate as JsonObject).maxUnavailable, '10%');
    // Without the mutating webhook's patch, the same object is refused.
    const unpatched = await reviewAdmission(admissionRequest(daemonSet()), await policies(NEEDS_MAX_UNAVAILABLE));
    assert.equal(unpatched.allowed, false);
  });

  it('decodes the patched object again, so what a mutation adds is defaulted before validation', async () => {
    const set = await policies(SIDECAR, SIDECAR_DEFAULTED);
    const admission = await reviewAdmission(admissionRequest(daemonSet()), set);
    assert.deepEqual(admission.violations, [], 'the added container got its terminationMessagePath');
    assert.equal(admission.admittedObject, admission.validationRequest.object);
    const containers = ((admission.admittedObject?.spec as JsonObject).template as JsonObject).spec as JsonObject;
    assert.deepEqual((containers.containers as JsonObject[]).map((c) => c.terminationMessagePolicy), ['File', 'File']);
  });

  it('gives the warnings once, cleaned up as the apiserver passes them on', async () => {
    const set = await policies(WARNS_TWICE);
    const admission = await reviewAdmission(admissionRequest(daemonSet()), set);
    assert.equal(admission.allowed, true);
    assert.deepEqual(admission.warnings, ['warned: resources should be set']);
    assert.equal(admission.violations.length, 2);
  });

  it('never modifies the request', async () => {
    const set = await policies(MAX_UNAVAILABLE, SIDECAR);
    const request = admissionRequest(daemonSet());
    const before = structuredClone(request);
    await reviewAdmission(request, set);
    assert.deepEqual(request, before);
  });

  it('runs any webhooks: the validating one is sent the object the mutating one patched', async () => {
    const seen: [ReviewPhase, AdmissionRequest][] = [];
    const admission = await admit(admissionRequest(daemonSet()), async (phase, request) => {
      seen.push([phase, request]);
      const patch = phase === 'mutate' ? [{ op: 'add' as const, path: '/metadata/annotations', value: { stamped: 'yes' } }] : [];
      return { response: { ...patchedResponse(request.uid, patch), warnings: [`${phase} says hello`] } };
    });
    assert.deepEqual(seen.map(([phase]) => phase), ['mutate', 'validate']);
    assert.equal(((seen[1]![1].object?.metadata as JsonObject).annotations as JsonObject).stamped, 'yes');
    assert.deepEqual(admission.warnings, ['mutate says hello', 'validate says hello']);
    assert.deepEqual(admission.patch, [{ op: 'add', path: '/metadata/annotations', value: { stamped: 'yes' } }]);
  });

  it('says that a patch the apiserver would refuse is a daemonguard bug', async () => {
    await assert.rejects(
      admit(admissionRequest(daemonSet()), (phase, request) => ({
        response: patchedResponse(request.uid, phase === 'mutate' ? [{ op: 'replace', path: '/metadata/nothing/here', value: 1 }] : []),
      })),
      /the kube-apiserver would refuse the mutating webhook's patch \(patch replace \/metadata\/nothing\/here does not apply: \/metadata\/nothing\/here does not exist\); please report this/,
    );
  });
});
