// The budgets of a native ValidatingAdmissionPolicy's evaluation, scoped as the apiserver scopes them
// (policy-budget.ts), at their boundaries. Each search below costs ceil(hay / 10) * 1,000 units for
// contains() plus a few for the reads: 909,000-odd with a 9,090-character hay, 910,000-odd with 9,100.
// The native e2e (test/e2e/native-policies.e2e.test.ts) shows the apiserver gives the same answers.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildAdmissionRequest } from '../apiserver/admission-request.js';
import { parseSourceText } from '../common/yaml-documents.js';
import { compileNativeDocuments } from '../native/compile-native.js';
import { buildPolicySet } from '../policy/load-policies.js';
import { OUT_OF_BUDGET } from './native-semantics.js';
import { review } from './review.js';

const SEARCH = `"!object.metadata.annotations['hay'].contains(object.metadata.annotations['needle'])"`;

function searches(count: number): string {
  return Array.from({ length: count }, () => `    - {expression: ${SEARCH}}`).join('\n');
}

function policy(spec: string, failurePolicy = 'Fail'): string {
  return `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: searches}
spec:
  failurePolicy: ${failurePolicy}
  matchConstraints: {resourceRules: [{apiGroups: [apps], apiVersions: [v1], resources: [daemonsets], operations: [CREATE]}]}
${spec}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: searches-deny}
spec: {policyName: searches, validationActions: [Deny]}
`;
}

function decide(yaml: string, hayLength: number): ReturnType<typeof review> {
  const compiled = compileNativeDocuments(parseSourceText('native.yaml', yaml), []);
  assert.deepEqual(compiled.problems, []);
  const daemonSet = {
    apiVersion: 'apps/v1', kind: 'DaemonSet',
    metadata: { name: 'agent', namespace: 'default', labels: { app: 'a' }, annotations: { hay: 'x'.repeat(hayLength), needle: 'y'.repeat(10_000) } },
    spec: { selector: { matchLabels: { app: 'a' } }, template: { metadata: { labels: { app: 'a' } }, spec: { containers: [{ name: 'c', image: 'busybox:1.36' }] } } },
  };
  const request = buildAdmissionRequest(daemonSet, { operation: 'CREATE', namespace: 'default', oldObject: null });
  return review(request, buildPolicySet(compiled.policies, []), { phase: 'validate', namespaceObject: { metadata: { name: 'default', labels: {} } } });
}

const DENIED = "ValidatingAdmissionPolicy 'searches' with binding 'searches-deny' denied request: ";

describe('native policies: the budget of one policy evaluation, as the apiserver scopes it', () => {
  it('validations that together spend just under 10,000,000 units pass; just over, the policy fails as a whole in the apiserver\'s words', () => {
    const yaml = policy(`  validations:\n${searches(11)}`);
    assert.deepEqual(decide(yaml, 9_090).outcomes.map((o) => o.result), ['pass']);
    const over = decide(yaml, 9_100);
    assert.equal(over.allowed, false);
    assert.deepEqual(over.violations.map((v) => v.message), [`${DENIED}${OUT_OF_BUDGET}`]);
  });

  it('under failurePolicy Ignore, a policy over its budget admits without a trace in the answer', () => {
    const over = decide(policy(`  validations:\n${searches(11)}`, 'Ignore'), 9_100);
    assert.equal(over.allowed, true);
    assert.deepEqual([over.violations, over.warnings], [[], []]);
    assert.match(over.outcomes[0]!.message ?? '', /ignored \(failurePolicy Ignore\): validation failed due to running out of cost budget/);
  });

  it('every messageExpression spends from the same budget, a passing validation\'s too: over it, every validation fails "failed messageExpression"', () => {
    const yaml = policy(`  validations:\n${searches(10)}\n    - {expression: "true", messageExpression: "string(object.metadata.annotations['hay'].contains(object.metadata.annotations['needle']))"}`);
    assert.deepEqual(decide(yaml, 9_090).outcomes.map((o) => o.result), ['pass']);
    const over = decide(yaml, 9_100);
    assert.equal(over.violations.length, 11);
    assert.equal(over.violations[0]!.message, `${DENIED}failed messageExpression: ${OUT_OF_BUDGET}`);
  });

  it('auditAnnotations have a budget of their own; running out of it replaces the validations\' decisions', () => {
    const annotations = (count: number): string => Array.from({ length: count }, (_, i) => `    - {key: search-${i}, valueExpression: "string(${SEARCH.slice(1, -1)})"}`).join('\n');
    // 9,999,000-odd units of validations, then 9,999,000-odd of auditAnnotations: each budget holds.
    const fits = decide(policy(`  validations:\n${searches(11)}\n  auditAnnotations:\n${annotations(11)}`), 9_090);
    assert.deepEqual(fits.outcomes.map((o) => o.result), ['pass']);
    // A validation that fails, then auditAnnotations over their budget: one error for the policy.
    const over = decide(policy(`  validations:\n    - {expression: "false", message: always}\n  auditAnnotations:\n${annotations(11)}`), 9_100);
    assert.deepEqual(over.violations.map((v) => v.message), [`${DENIED}${OUT_OF_BUDGET}`]);
  });

  it('matchConditions spend 2,500,000 units at most, apart from the validations\'; over it, failurePolicy decides', () => {
    const conditions = (count: number): string => Array.from({ length: count }, (_, i) => `    - {name: search-${i}, expression: ${SEARCH}}`).join('\n');
    // Two conditions (1,818,000-odd) and eleven validations (9,999,000-odd): both fit.
    assert.deepEqual(decide(policy(`  matchConditions:\n${conditions(2)}\n  validations:\n${searches(11)}`), 9_090).outcomes.map((o) => o.result), ['pass']);
    // Three conditions: 2,727,000-odd, all of them evaluated though the first is false.
    const yaml = (failurePolicy: string): string => policy(`  matchConditions:\n    - {name: never, expression: "false"}\n${conditions(3)}\n  validations:\n    - {expression: "false"}`, failurePolicy);
    assert.deepEqual(decide(yaml('Fail'), 9_090).violations.map((v) => v.message), [`${DENIED}${OUT_OF_BUDGET}`]);
    assert.deepEqual(decide(yaml('Ignore'), 9_090).outcomes.map((o) => o.result), ['skip']);
  });
});
