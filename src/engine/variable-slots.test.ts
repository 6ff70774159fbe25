import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { admissionRequest, daemonSet, policyYaml, writeTree } from '../../test/support/admission-fixtures.js';
import { loadPolicySet } from '../policy/load-policies.js';
import { review } from './review.js';

/** A policy declaring `order` (each variable the object's name plus the variable's name and `tag`), and one check of `variables.b`. */
function policy(name: string, order: string[], tag: string): string {
  const variables = order.map((variable) => `  - name: ${variable}\n    expression: "object.metadata.name + '-${variable}${tag}'"`).join('\n');
  return policyYaml(
    name,
    `
variables:
${variables}
validations:
  - expression: "variables.b == 'never'"
    messageExpression: "'b is ' + variables.b"
`,
  );
}

describe('variable reads by slot', () => {
  it('reads each policy’s own variable when a shared program finds another variable at the slot it expects', async () => {
    // Both policies declare `b` as a string, so the check's program is shared; generated for one of
    // them, it expects `b` at one slot, where the other policy has `a` (or nothing).
    const dir = await writeTree({
      // Loaded in file order: the program is generated for the first, which has `b` at slot 1.
      '1.yaml': policy('b-second', ['a', 'b'], '1'),
      '2.yaml': policy('b-first', ['b', 'a'], '2'),
      '3.yaml': policy('b-only', ['b'], '3'),
      '4.yaml': policy('b-third', ['x', 'a', 'b'], '4'),
    });
    const set = await loadPolicySet([dir]);
    const programs = new Set(set.policies.map((p) => p.validations[0]!.expression.program));
    assert.equal(programs.size, 1, 'the check is one program shared by the four policies');
    for (let round = 0; round < 3; round++) {
      const decision = review(admissionRequest(daemonSet({ name: 'ds' })), set, { phase: 'validate' });
      const messages = Object.fromEntries(decision.violations.map((v) => [v.policy, v.message]));
      assert.deepEqual(messages, { 'b-second': 'b is ds-b1', 'b-first': 'b is ds-b2', 'b-only': 'b is ds-b3', 'b-third': 'b is ds-b4' });
    }
  });
});
