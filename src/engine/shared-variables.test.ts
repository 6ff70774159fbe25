import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { admissionRequest, daemonSet, policyYaml, writeTree } from '../../test/support/admission-fixtures.js';
import { countSharedEvaluations } from '../../test/support/count-evaluations.js';
import { loadPolicySet } from '../policy/load-policies.js';
import { plansOf } from './policy-plan.js';
import { review } from './review.js';

/** The request-only variable the policies below share, and the check reading it. */
const SHARED = "object.metadata.name + '-shared'";

function validating(name: string, variables: Record<string, string>): string {
  const declared = Object.entries(variables)
    .map(([variable, expression]) => `  - name: ${variable}\n    expression: "${expression}"`)
    .join('\n');
  const first = Object.keys(variables)[0]!;
  return policyYaml(
    name,
    `
variables:
${declared}
validations:
  - expression: "variables.${first} == 'never'"
    messageExpression: "'${name} saw ' + variables.${first}"
`,
  );
}

describe('variables shared across a review’s policies', () => {
  it('evaluates a request-only expression that several policies declare once per review, each policy reading its value', async (t) => {
    const dir = await writeTree({
      '1.yaml': validating('first', { name: SHARED }),
      '2.yaml': validating('second', { other: "object.metadata.name + '-other'", name: SHARED }),
      '3.yaml': validating('third', { renamed: SHARED }),
    });
    const set = await loadPolicySet([dir]);
    const evaluations = countSharedEvaluations(t, set, SHARED);
    for (let round = 1; round <= 3; round++) {
      const decision = review(admissionRequest(daemonSet({ name: `ds${round}` })), set, { phase: 'validate' });
      assert.deepEqual(
        decision.violations.map((v) => v.message),
        [`first saw ds${round}-shared`, `second saw ds${round}-other`, `third saw ds${round}-shared`],
      );
      assert.equal(evaluations.count, round, 'one evaluation per review, whatever the variable is named');
    }
  });

  it('gives a memo slot only to expressions more than one variable of the list declares', async () => {
    const dir = await writeTree({
      '1.yaml': validating('first', { name: SHARED, alone: "object.metadata.name + '-alone'" }),
      '2.yaml': validating('second', { name: SHARED }),
      '3.yaml': validating('lone', { only: "object.metadata.name + '-lone'" }),
    });
    const set = await loadPolicySet([dir]);
    const plans = plansOf(set.validatingPolicies, set);
    assert.deepEqual(
      plans.map((plan) => [plan.policy.name, [...plan.sharedSlots], plan.sharedSlotCount]),
      [
        ['first', [0, -1], 1],
        ['second', [0], 1],
        ['lone', [], 1],
      ],
    );
  });

  it('evaluates it again for a policy that runs after a mutation changed the object', async (t) => {
    const dir = await writeTree({
      '1.yaml': policyYaml(
        'reads-before',
        `
variables:
  - name: annotations
    expression: "object.metadata.?annotations.orValue({}).size()"
mutations:
  - name: annotate
    when: "variables.annotations == 0"
    defaults:
      - path: /metadata/annotations
        value: {example.com/marked: "true"}
`,
      ),
      '2.yaml': policyYaml(
        'reads-after',
        `
variables:
  - name: annotations
    expression: "object.metadata.?annotations.orValue({}).size()"
mutations:
  - name: settle
    when: "variables.annotations == 1"
    defaults:
      - path: /spec/minReadySeconds
        value: 5
`,
      ),
    });
    const set = await loadPolicySet([dir]);
    const evaluations = countSharedEvaluations(t, set, 'object.metadata.?annotations.orValue({}).size()');
    const decision = review(admissionRequest(daemonSet({ name: 'ds' })), set, { phase: 'mutate' });
    assert.equal(evaluations.count, 2, 'the second policy sees the annotated object, not the first one’s value');
    assert.deepEqual(
      decision.patch.map((operation) => operation.path),
      ['/metadata/annotations', '/spec/minReadySeconds'],
    );
  });
});
