// Runs the library's PolicyTest suites (test/policies/**/*.test.yaml) with `daemonguard verify`'s
// own runner, one test per resource, then checks what verify does not: that every policy is seen
// both passing and failing (or mutating), and that every patch applies under the apiserver's JSON
// Patch rules (fast-json-patch with validation: a missing parent or path is an error).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fastJsonPatch from 'fast-json-patch';
import type { Operation as JsonPatchOperation } from 'fast-json-patch';
import { reviewAdmission } from '../../src/admission/pipeline.js';
import { DEFAULT_NAMESPACE, buildAdmissionRequest, manifestNamespace } from '../../src/apiserver/admission-request.js';
import { applyApiserverDefaults } from '../../src/apiserver/daemonset-defaults.js';
import { namespaceObjectOf } from '../../src/apiserver/namespace-object.js';
import { loadPoliciesForCli } from '../../src/cli/load-policy-set.js';
import { policyReports, type PolicyVerdict } from '../../src/cli/outcomes.js';
import { findSuites } from '../../src/cli/policy-test-suite.js';
import { runVerify } from '../../src/cli/verify-command.js';
import { listManifestFiles } from '../../src/common/yaml-documents.js';
import { SUITES_DIR, POLICIES_DIR } from '../support/library-paths.js';

const { applyPatch } = fastJsonPatch;

const report = await runVerify([SUITES_DIR], []);

describe('daemonguard verify test/policies', () => {
  for (const { suite, resources } of report.suites) {
    describe(suite.name, () => {
      for (const resource of resources) {
        it(resource.resource, () => {
          const detail = resource.mismatches.map((m) => `${m.check}: expected ${m.expected}, got ${m.actual}`).join('\n');
          assert.equal(resource.mismatches.length, 0, `${resource.where}\n${detail}`);
        });
      }
    });
  }
});

describe('what the suites prove about each policy', async () => {
  const suites = await findSuites([SUITES_DIR]);
  const library = await loadPoliciesForCli([POLICIES_DIR]);
  const seen = new Map<string, Set<PolicyVerdict>>(library.policies.map((p) => [p.name, new Set()]));
  const patched: { where: string; apply: () => Promise<void> }[] = [];

  for (const suite of suites) {
    const policySet = await loadPoliciesForCli([...new Set(await listManifestFiles(suite.policies))]);
    for (const resource of suite.resources) {
      const namespace = resource.namespace ?? manifestNamespace(resource.object ?? resource.oldObject) ?? DEFAULT_NAMESPACE;
      const options = { operation: resource.operation, namespace, oldObject: resource.oldObject, user: resource.user, groups: resource.groups };
      const request = buildAdmissionRequest(resource.object, options);
      const context = { namespaceObject: namespaceObjectOf(namespace, suite.namespaces[namespace]), nodes: suite.nodes };
      const admission = await reviewAdmission(request, policySet, context);
      for (const { policy, verdict } of policyReports(admission, policySet)) seen.get(policy)?.add(verdict);
      if (admission.patch.length === 0) continue;
      const where = `${suite.name} / ${resource.name}`;
      patched.push({
        where,
        apply: async () => {
          // validateOperation = true: fast-json-patch refuses what evanphx/json-patch refuses.
          const result = applyPatch(structuredClone(request.object), admission.patch as JsonPatchOperation[], true, false).newDocument;
          assert.deepEqual(result, admission.mutation.decision.mutatedObject, `${where}: the patch does not produce the engine's mutated object`);
          assert.deepEqual(applyApiserverDefaults(result!, { namespace }), admission.admittedObject, `${where}: the validating webhook did not see the patched object, defaulted`);
          const again = await reviewAdmission(buildAdmissionRequest(result!, options), policySet, context);
          assert.deepEqual(again.patch, [], `${where}: a second review patches again`);
        },
      });
    }
  }

  for (const policy of library.policies) {
    const verdicts = seen.get(policy.name)!;
    it(`${policy.name} is seen ${policy.validations.length > 0 ? 'passing and failing' : 'mutating and leaving alone'}`, () => {
      const list = [...verdicts].join(', ') || 'nothing';
      if (policy.validations.length > 0) {
        assert.ok(verdicts.has('pass'), `${policy.name} never passes in the suites (seen: ${list})`);
        assert.ok(verdicts.has('deny') || verdicts.has('warn'), `${policy.name} never fails in the suites (seen: ${list})`);
      }
      if (policy.mutations.length > 0) {
        assert.ok(verdicts.has('mutate'), `${policy.name} never mutates in the suites (seen: ${list})`);
        assert.ok(verdicts.has('pass') || verdicts.has('skip') || verdicts.has('warn'), `${policy.name} never leaves an object alone (seen: ${list})`);
      }
    });
  }

  it(`every patch (${patched.length}) applies with JSON Patch validation and is idempotent`, async () => {
    assert.ok(patched.length > 0);
    for (const entry of patched) await entry.apply();
  });
});
