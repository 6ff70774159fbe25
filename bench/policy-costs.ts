// npm run bench:policy-costs — how many CEL cost units (Kubernetes' units, src/cel/node-costs.ts) each
// policy of the built-in library spends on large, realistic DaemonSets, in each phase, and how close
// that comes to the budget one policy evaluation may spend (src/engine/policy-budget.ts: Kubernetes'
// RuntimeCELCostBudget) and to the per-expression limit.
//
// Each policy is reviewed alone (a policy set of one), so that no variable value shared across
// policies is charged to another policy: the figure is what the policy costs by itself, as it would
// in the apiserver. Units are counts, not time: the figures are exact and the same on every machine.
import { decodeAdmissionReview } from '../src/admission/admission-review.js';
import { POLICY_COST_BUDGET } from '../src/engine/policy-budget.js';
import type { AdmissionRequest } from '../src/engine/types.js';
import { loadPolicySet } from '../src/policy/load-policies.js';
import { parseNamespaces } from '../src/server/namespace-catalog.js';
import { costAlone, creating, minimalContainers, wideDaemonSet } from '../test/support/large-daemonsets.js';
import { BUILT_IN_POLICIES, NAMESPACES_YAML, reviewTemplate } from './webhook-payloads.js';

function fromTemplate(payload: 'small' | 'large'): AdmissionRequest {
  const decoded = decodeAdmissionReview(reviewTemplate(payload));
  if (!decoded.ok) throw new Error(decoded.message);
  return decoded.request;
}

async function main(): Promise<void> {
  const set = await loadPolicySet([BUILT_IN_POLICIES]);
  const namespaces = parseNamespaces(NAMESPACES_YAML, 'namespaces');
  const cases: [string, AdmissionRequest][] = [
    ['small: node-exporter CREATE (~5 KB)', fromTemplate('small')],
    ['large: cilium UPDATE (~60 KB)', fromTemplate('large')],
    ['100 containers x 40 env, 8 ports, 20 mounts', creating(wideDaemonSet('wide', 100, 40, 8, 20))],
    ['150 containers x 100 env, 20 ports, 40 mounts', creating(wideDaemonSet('widest', 150, 100, 20, 40))],
    // The most containers etcd stores in one DaemonSet (25,107 of the smallest: src/server/read-body.ts).
    ['25,000 minimal containers', creating(minimalContainers(25_000))],
  ];
  console.log(`budget of one policy evaluation: ${POLICY_COST_BUDGET.toLocaleString('en-US')} units\n`);
  console.log('| DaemonSet | object JSON bytes | phase | library total | largest policy | units | errors |');
  console.log('|---|---:|---|---:|---|---:|---|');
  for (const [label, admission] of cases) {
    const bytes = JSON.stringify(admission.object).length;
    const namespaceObject = namespaces.get(admission.namespace ?? '') ?? null;
    for (const phase of ['validate', 'mutate'] as const) {
      const policies = phase === 'validate' ? set.validatingPolicies : set.mutatingPolicies;
      const costs = policies.map((policy) => costAlone(set, policy, phase, admission, namespaceObject));
      const total = costs.reduce((sum, c) => sum + c.units, 0);
      const largest = costs.reduce((a, b) => (b.units > a.units ? b : a));
      const errors = costs.filter((c) => c.result === 'error').map((c) => c.policy);
      console.log(`| ${label} | ${bytes.toLocaleString('en-US')} | ${phase} | ${total.toLocaleString('en-US')} | ${largest.policy} | ${largest.units.toLocaleString('en-US')} | ${errors.join(', ') || 'none'} |`);
      if (process.argv.includes('--all')) {
        for (const c of [...costs].sort((a, b) => b.units - a.units).slice(0, 8)) console.log(`|   | | | | ${c.policy} (${c.result}) | ${c.units.toLocaleString('en-US')} | |`);
      }
    }
  }
}

await main();
