// npm run bench:policy-costs — how many CEL cost units (Kubernetes' units, src/cel/node-costs.ts) each
// policy of the built-in library spends on large, realistic DaemonSets, in each phase, and how close
// that comes to the budget one policy evaluation may spend (src/engine/policy-budget.ts: Kubernetes'
// RuntimeCELCostBudget) and to the per-expression limit.
//
// Each policy is reviewed alone (a policy set of one), so that no variable value shared across
// policies is charged to another policy: the figure is what the policy costs by itself, as it would
// in the apiserver. Units are counts, not time: the figures are exact and the same on every machine.
import { decodeAdmissionReview } from '../src/admission/admission-review.js';
import { applyApiserverDefaults } from '../src/apiserver/daemonset-defaults.js';
import { measureCost } from '../src/cel/cost.js';
import { POLICY_COST_BUDGET } from '../src/engine/policy-budget.js';
import { review } from '../src/engine/review.js';
import type { AdmissionRequest, JsonObject, ReviewPhase } from '../src/engine/types.js';
import { loadPolicySet } from '../src/policy/load-policies.js';
import type { CompiledPolicy, PolicySet } from '../src/policy/types.js';
import { parseNamespaces } from '../src/server/namespace-catalog.js';
import { BUILT_IN_POLICIES, NAMESPACES_YAML, reviewTemplate } from './webhook-payloads.js';

const NO_LIMIT = Number.MAX_SAFE_INTEGER;

/** A DaemonSet of `containers` containers, each with `env` env vars, `ports` ports and `mounts` volume mounts. */
function wideDaemonSet(name: string, containers: number, env: number, ports: number, mounts: number): JsonObject {
  const volumes = Array.from({ length: mounts }, (_, v) => ({ name: `data-${v}`, configMap: { name: `config-${v}` } }));
  const manifest: JsonObject = {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name, namespace: 'monitoring', labels: { 'app.kubernetes.io/name': name } },
    spec: {
      selector: { matchLabels: { 'app.kubernetes.io/name': name } },
      template: {
        metadata: { labels: { 'app.kubernetes.io/name': name } },
        spec: {
          automountServiceAccountToken: false,
          securityContext: { runAsNonRoot: true, runAsUser: 65534 },
          volumes,
          containers: Array.from({ length: containers }, (_, c) => ({
            name: `agent-${c}`,
            image: `registry.example.com/agents/agent-${c}:v1.2.3@sha256:${'4'.repeat(64)}`,
            env: Array.from({ length: env }, (_, i) => ({ name: `AGENT_${c}_SETTING_${i}`, value: `value-${i}-${'x'.repeat(i % 13)}` })),
            ports: Array.from({ length: ports }, (_, p) => ({ name: `port-${p}`, containerPort: 10_000 + c * ports + p, protocol: 'TCP' })),
            volumeMounts: volumes.map((volume, v) => ({ name: volume.name, mountPath: `/data/${v}`, readOnly: true })),
            resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '64Mi' } },
            securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
          })),
        },
      },
    },
  };
  return applyApiserverDefaults(manifest, { namespace: 'monitoring' });
}

/** A DaemonSet of `count` containers with a name and an image only (what etcd stores the most of). */
function minimalContainers(count: number): JsonObject {
  const manifest: JsonObject = {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'most-containers', namespace: 'monitoring', labels: { app: 'most-containers' } },
    spec: {
      selector: { matchLabels: { app: 'most-containers' } },
      template: { metadata: { labels: { app: 'most-containers' } }, spec: { containers: Array.from({ length: count }, (_, c) => ({ name: `c${c}`, image: 'busybox:1.36' })) } },
    },
  };
  return applyApiserverDefaults(manifest, { namespace: 'monitoring' });
}

function request(object: JsonObject): AdmissionRequest {
  const metadata = object.metadata as JsonObject;
  return {
    uid: '00000000-0000-4000-8000-000000000001',
    kind: { group: 'apps', version: 'v1', kind: 'DaemonSet' },
    resource: { group: 'apps', version: 'v1', resource: 'daemonsets' },
    name: metadata.name as string,
    namespace: metadata.namespace as string,
    operation: 'CREATE',
    userInfo: { username: 'system:serviceaccount:argocd:argocd-application-controller', groups: ['system:authenticated'] },
    object,
    oldObject: null,
  };
}

function fromTemplate(payload: 'small' | 'large'): AdmissionRequest {
  const decoded = decodeAdmissionReview(reviewTemplate(payload));
  if (!decoded.ok) throw new Error(decoded.message);
  return decoded.request;
}

interface PolicyCost {
  policy: string;
  phase: ReviewPhase;
  units: number;
  result: string;
}

/** Units `policy` spends alone on `admission` in `phase`. */
function costOf(set: PolicySet, policy: CompiledPolicy, phase: ReviewPhase, admission: AdmissionRequest, namespaceObject: JsonObject | null): PolicyCost {
  const alone: PolicySet = { ...set, validatingPolicies: phase === 'validate' ? [policy] : [], mutatingPolicies: phase === 'mutate' ? [policy] : [] };
  const { value, cost } = measureCost(NO_LIMIT, () => review(admission, alone, { phase, namespaceObject }));
  return { policy: policy.name, phase, units: cost, result: value.outcomes[0]?.result ?? 'none' };
}

async function main(): Promise<void> {
  const set = await loadPolicySet([BUILT_IN_POLICIES]);
  const namespaces = parseNamespaces(NAMESPACES_YAML, 'namespaces');
  const cases: [string, AdmissionRequest][] = [
    ['small: node-exporter CREATE (~5 KB)', fromTemplate('small')],
    ['large: cilium UPDATE (~60 KB)', fromTemplate('large')],
    ['100 containers x 40 env, 8 ports, 20 mounts', request(wideDaemonSet('wide', 100, 40, 8, 20))],
    ['150 containers x 100 env, 20 ports, 40 mounts', request(wideDaemonSet('widest', 150, 100, 20, 40))],
    // The most containers etcd stores in one DaemonSet (25,107 of the smallest: src/server/read-body.ts).
    ['25,000 minimal containers', request(minimalContainers(25_000))],
  ];
  console.log(`budget of one policy evaluation: ${POLICY_COST_BUDGET.toLocaleString('en-US')} units\n`);
  console.log('| DaemonSet | JSON bytes | phase | library total | largest policy | units | errors |');
  console.log('|---|---:|---|---:|---|---:|---|');
  for (const [label, admission] of cases) {
    const bytes = JSON.stringify(admission.object).length;
    const namespaceObject = namespaces.get(admission.namespace ?? '') ?? null;
    for (const phase of ['validate', 'mutate'] as const) {
      const policies = phase === 'validate' ? set.validatingPolicies : set.mutatingPolicies;
      const costs = policies.map((policy) => costOf(set, policy, phase, admission, namespaceObject));
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
