// Large, realistic DaemonSets, defaulted as the apiserver defaults them, for what the built-in library
// spends on them (bench/policy-costs.ts, test/policies/library-cost.test.ts).
import { applyApiserverDefaults } from '../../src/apiserver/daemonset-defaults.js';
import { measureCost } from '../../src/cel/cost.js';
import { review } from '../../src/engine/review.js';
import type { AdmissionRequest, JsonObject, ReviewPhase } from '../../src/engine/types.js';
import type { CompiledPolicy, PolicySet } from '../../src/policy/types.js';

/** A DaemonSet of `containers` containers, each with `env` env vars, `ports` ports and `mounts` volume mounts. */
export function wideDaemonSet(name: string, containers: number, env: number, ports: number, mounts: number): JsonObject {
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
export function minimalContainers(count: number): JsonObject {
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

/** A CREATE of `object` by a deployment tool. */
export function creating(object: JsonObject): AdmissionRequest {
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

export interface PolicyCost {
  policy: string;
  phase: ReviewPhase;
  units: number;
  result: string;
}

/**
 * Units `policy` spends alone (a policy set of one: no variable shared with another policy) on
 * `admission` in `phase`, and its outcome.
 */
export function costAlone(set: PolicySet, policy: CompiledPolicy, phase: ReviewPhase, admission: AdmissionRequest, namespaceObject: JsonObject | null): PolicyCost {
  const alone: PolicySet = { ...set, validatingPolicies: phase === 'validate' ? [policy] : [], mutatingPolicies: phase === 'mutate' ? [policy] : [] };
  const { value, cost } = measureCost(Number.MAX_SAFE_INTEGER, () => review(admission, alone, { phase, namespaceObject }));
  return { policy: policy.name, phase, units: cost, result: value.outcomes[0]?.result ?? 'none' };
}
