// What the built-in library spends in Kubernetes' CEL cost units on a large DaemonSet, against the
// budgets the apiserver gives (src/engine/policy-budget.ts): the README's "each policy fits its own
// budget" and "only 25,000 containers take a policy past 1,000,000" (bench:policy-costs prints the figures).
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { EXPRESSION_COST_BUDGET } from '../../src/engine/evaluate.js';
import { POLICY_COST_BUDGET } from '../../src/engine/policy-budget.js';
import { loadPolicySet } from '../../src/policy/load-policies.js';
import type { PolicySet } from '../../src/policy/types.js';
import { costAlone, creating, wideDaemonSet } from '../support/large-daemonsets.js';
import { repoRoot } from '../support/library-paths.js';
import path from 'node:path';

describe('the built-in library on a large DaemonSet', () => {
  let library: PolicySet;
  before(async () => {
    library = await loadPolicySet([path.join(repoRoot(), 'policies')]);
  });

  it('150 containers of 100 env vars, 20 ports and 40 mounts: every policy spends under an expression\'s 1,000,000, the library under one policy\'s budget', () => {
    const admission = creating(wideDaemonSet('widest', 150, 100, 20, 40));
    const namespaceObject = { metadata: { name: 'monitoring', labels: { 'kubernetes.io/metadata.name': 'monitoring', 'pod-security.kubernetes.io/enforce': 'baseline' } } };
    let total = 0;
    let evaluated = 0;
    for (const phase of ['validate', 'mutate'] as const) {
      for (const policy of phase === 'validate' ? library.validatingPolicies : library.mutatingPolicies) {
        const { units, result } = costAlone(library, policy, phase, admission, namespaceObject);
        assert.notEqual(result, 'error', `${phase} ${policy.name}`);
        assert.ok(units < EXPRESSION_COST_BUDGET, `${phase} ${policy.name} spent ${units}`);
        if (result !== 'skip') evaluated++;
        total += units;
      }
    }
    assert.ok(evaluated >= 10, `only ${evaluated} policies applied`);
    assert.ok(total < POLICY_COST_BUDGET / 10, `the library spent ${total}`);
  });
});
