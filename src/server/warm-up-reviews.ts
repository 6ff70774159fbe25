// The AdmissionReviews a policy set is warmed up with before it serves (warm-up.ts): a few typical
// DaemonSets, one of them as large as a big CNI agent, defaulted as the apiserver defaults them, in
// CREATE, UPDATE and DELETE reviews, in namespaces of each Pod Security level. They exist to make V8 compile and specialise what a real
// review runs (the generated CEL functions, the engine's loops, the decoder and the answer's
// rendering), so they are varied rather than compliant: some pass the built-in library, some break it.

import { applyApiserverDefaults } from '../apiserver/daemonset-defaults.js';
import type { JsonObject } from '../engine/types.js';

/** The namespaces the sample reviews name, with the labels policies select on. */
export const WARM_UP_NAMESPACES: Readonly<Record<string, JsonObject>> = {
  'kube-system': namespace('kube-system', 'privileged'),
  observability: namespace('observability', 'baseline'),
  tenants: namespace('tenants', 'restricted'),
};

function namespace(name: string, level: string): JsonObject {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name, labels: { 'kubernetes.io/metadata.name': name, 'pod-security.kubernetes.io/enforce': level } },
  };
}

/** Two Nodes, for policies that read `coverage` (where the DaemonSet lands). */
export const WARM_UP_NODES: readonly JsonObject[] = [node('warm-up-worker', {}), node('warm-up-control-plane', { 'node-role.kubernetes.io/control-plane': '' })];

function node(name: string, labels: Record<string, string>): JsonObject {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', ...labels } },
    spec: name.includes('control-plane') ? { taints: [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }] } : {},
    status: { allocatable: { cpu: '4', memory: '16Gi', pods: '110' } },
  };
}

/** A log shipper that keeps to the Baseline level: no host namespaces, read-only hostPath, pinned image. */
function logShipper(): JsonObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'log-shipper', namespace: 'observability', labels: { 'app.kubernetes.io/name': 'log-shipper', 'app.kubernetes.io/version': '3.1.4' } },
    spec: {
      selector: { matchLabels: { 'app.kubernetes.io/name': 'log-shipper' } },
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '10%' } },
      template: {
        metadata: { labels: { 'app.kubernetes.io/name': 'log-shipper' }, annotations: { 'prometheus.io/scrape': 'true' } },
        spec: {
          serviceAccountName: 'log-shipper',
          priorityClassName: 'system-node-critical',
          tolerations: [{ operator: 'Exists', effect: 'NoSchedule' }],
          nodeSelector: { 'kubernetes.io/os': 'linux' },
          securityContext: { runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: 'RuntimeDefault' } },
          initContainers: [{ name: 'config', image: 'docker.io/library/busybox:1.36.1', command: ['sh', '-c', 'cp /defaults/* /config/'], volumeMounts: [{ name: 'config', mountPath: '/config' }] }],
          containers: [
            {
              name: 'shipper',
              image: 'cr.fluentbit.io/fluent/fluent-bit:3.1.4@sha256:5b0b4d4f2c3a1e8e4f0d2a9b7c6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e',
              args: ['--config=/config/fluent-bit.yaml'],
              ports: [{ name: 'metrics', containerPort: 2020 }],
              env: [
                { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
                { name: 'LOG_LEVEL', value: 'info' },
              ],
              resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } },
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
              livenessProbe: { httpGet: { path: '/', port: 2020 } },
              readinessProbe: { httpGet: { path: '/api/v1/health', port: 2020 } },
              volumeMounts: [
                { name: 'varlog', mountPath: '/var/log', readOnly: true },
                { name: 'config', mountPath: '/config', readOnly: true },
              ],
            },
          ],
          volumes: [
            { name: 'varlog', hostPath: { path: '/var/log', type: 'Directory' } },
            { name: 'config', emptyDir: {} },
          ],
        },
      },
    },
  };
}

/** A network agent of the kind kube-system runs: privileged, host network and PID, writable hostPaths, an unpinned image. */
function networkAgent(image: string): JsonObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'net-agent', namespace: 'kube-system', labels: { 'k8s-app': 'net-agent' }, annotations: { 'deprecated.daemonset.template.generation': '4' } },
    spec: {
      selector: { matchLabels: { 'k8s-app': 'net-agent' } },
      template: {
        metadata: { labels: { 'k8s-app': 'net-agent' } },
        spec: {
          hostNetwork: true,
          hostPID: true,
          dnsPolicy: 'ClusterFirstWithHostNet',
          serviceAccountName: 'net-agent',
          tolerations: [{ operator: 'Exists' }],
          affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/os', operator: 'In', values: ['linux'] }] }] } } },
          containers: [
            {
              name: 'agent',
              image,
              command: ['net-agent'],
              env: Array.from({ length: 40 }, (_, index) => ({ name: `AGENT_OPTION_${index}`, value: `value-${index}` })),
              securityContext: { privileged: true, capabilities: { add: ['NET_ADMIN', 'SYS_ADMIN'] } },
              volumeMounts: [
                { name: 'run', mountPath: '/var/run/net-agent' },
                { name: 'modules', mountPath: '/lib/modules', readOnly: true },
              ],
            },
            { name: 'monitor', image: 'registry.example.com/net-agent-monitor', ports: [{ containerPort: 9962, hostPort: 9962 }] },
          ],
          volumes: [
            { name: 'run', hostPath: { path: '/var/run/net-agent', type: 'DirectoryOrCreate' } },
            { name: 'modules', hostPath: { path: '/lib/modules' } },
          ],
        },
      },
    },
  };
}

/** A tenant's DaemonSet under the Restricted level, with a hostPath and a missing seccomp profile. */
function tenantAgent(): JsonObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'node-probe', namespace: 'tenants', labels: { app: 'node-probe', team: 'payments' } },
    spec: {
      selector: { matchLabels: { app: 'node-probe' } },
      template: {
        metadata: { labels: { app: 'node-probe' } },
        spec: {
          containers: [{ name: 'probe', image: 'ghcr.io/example/node-probe:latest', resources: { limits: { cpu: '100m' } }, volumeMounts: [{ name: 'proc', mountPath: '/host/proc' }] }],
          volumes: [{ name: 'proc', hostPath: { path: '/proc' } }],
        },
      },
    },
  };
}

/**
 * A CNI agent as large as the big ones get: init containers, two containers with dozens of environment
 * entries of every kind, a dozen hostPath volumes under /proc, /sys, /run, /var/run and the kubelet's
 * folders, many mounts. The other samples have a few of each; a real review of such an agent runs the
 * policies' loops many times over and takes branches they never do (a path below /proc/<pid>, a
 * message naming many volumes), and without this sample V8 met those first in a real review: the first
 * large /validate of a server cost 2–3 times the CPU of the next one.
 */
function cniAgent(version: string): JsonObject {
  const volumes: [name: string, path: string, type?: string][] = [
    ['cni-bin', '/opt/cni/bin', 'DirectoryOrCreate'],
    ['cni-conf', '/etc/cni/net.d', 'DirectoryOrCreate'],
    ['bpf', '/sys/fs/bpf', 'DirectoryOrCreate'],
    ['cgroup', '/run/cni-agent/cgroupv2', 'DirectoryOrCreate'],
    ['state', '/var/run/cni-agent', 'DirectoryOrCreate'],
    ['proc', '/proc', 'Directory'],
    ['init-ns', '/proc/1/ns'],
    ['proc-sys-net', '/proc/sys/net', 'Directory'],
    ['proc-sys-kernel', '/proc/sys/kernel', 'Directory'],
    ['xtables-lock', '/run/xtables.lock', 'FileOrCreate'],
    ['modules', '/lib/modules'],
    ['plugins', '/var/lib/kubelet/plugins/cni-agent', 'DirectoryOrCreate'],
  ];
  const mount = (name: string, mountPath: string, extra: JsonObject = {}): JsonObject => ({ name, mountPath, ...extra });
  const env: JsonObject[] = [
    { name: 'NODE_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'spec.nodeName' } } },
    { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } } },
    { name: 'MEMORY_LIMIT', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1' } } },
    { name: 'CLUSTER_NAME', valueFrom: { configMapKeyRef: { name: 'cni-agent-config', key: 'cluster-name', optional: true } } },
    { name: 'API_TOKEN', valueFrom: { secretKeyRef: { name: 'cni-agent-token', key: 'token' } } },
    ...Array.from({ length: 55 }, (_, index) => ({ name: `AGENT_FEATURE_${index}`, value: index % 3 === 0 ? 'true' : `setting-${index}` })),
  ];
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'cni-agent', namespace: 'kube-system', labels: { 'k8s-app': 'cni-agent', 'app.kubernetes.io/part-of': 'cni', 'app.kubernetes.io/version': version } },
    spec: {
      selector: { matchLabels: { 'k8s-app': 'cni-agent' } },
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 2 } },
      template: {
        metadata: { labels: { 'k8s-app': 'cni-agent' }, annotations: { 'container.apparmor.security.beta.kubernetes.io/agent': 'unconfined' } },
        spec: {
          hostNetwork: true,
          priorityClassName: 'system-node-critical',
          serviceAccountName: 'cni-agent',
          terminationGracePeriodSeconds: 1,
          tolerations: [{ operator: 'Exists' }],
          affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { 'k8s-app': 'cni-agent' } }, topologyKey: 'kubernetes.io/hostname' }] } },
          initContainers: [
            {
              name: 'mount-bpf',
              image: `quay.io/example/cni-agent:${version}`,
              command: ['sh', '-c', 'mount | grep /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf'],
              securityContext: { privileged: true },
              volumeMounts: [mount('bpf', '/sys/fs/bpf', { mountPropagation: 'Bidirectional' })],
            },
            {
              name: 'install-plugin',
              image: `quay.io/example/cni-agent:${version}`,
              command: ['/install-plugin.sh'],
              securityContext: { capabilities: { drop: ['ALL'] } },
              volumeMounts: [mount('cni-bin', '/host/opt/cni/bin'), mount('cni-conf', '/host/etc/cni/net.d')],
            },
          ],
          containers: [
            {
              name: 'agent',
              image: `quay.io/example/cni-agent:${version}@sha256:3f1a5c7e9b2d4f6a8c0e1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a`,
              command: ['cni-agent'],
              args: ['--config-dir=/tmp/config', '--enable-bpf-masquerade', '--routing-mode=native'],
              env,
              ports: [{ name: 'health', containerPort: 9879, hostPort: 9879, protocol: 'TCP' }, { name: 'metrics', containerPort: 9962, hostPort: 9962, protocol: 'TCP' }],
              startupProbe: { httpGet: { host: '127.0.0.1', path: '/healthz', port: 9879 }, failureThreshold: 105, periodSeconds: 2 },
              livenessProbe: { httpGet: { host: '127.0.0.1', path: '/healthz', port: 9879 }, timeoutSeconds: 5 },
              readinessProbe: { httpGet: { host: '127.0.0.1', path: '/healthz', port: 9879 }, timeoutSeconds: 5 },
              lifecycle: { preStop: { exec: { command: ['/cni-uninstall.sh'] } } },
              resources: { requests: { cpu: '100m', memory: '512Mi' }, limits: { memory: '2Gi' } },
              securityContext: {
                seLinuxOptions: { level: 's0', type: 'spc_t' },
                capabilities: { add: ['NET_ADMIN', 'NET_RAW', 'SYS_MODULE', 'SYS_ADMIN', 'SYS_RESOURCE', 'BPF', 'PERFMON'], drop: ['ALL'] },
              },
              volumeMounts: [
                mount('bpf', '/sys/fs/bpf', { mountPropagation: 'HostToContainer' }),
                mount('cgroup', '/run/cni-agent/cgroupv2'),
                mount('state', '/var/run/cni-agent'),
                mount('proc', '/host/proc', { readOnly: true }),
                mount('init-ns', '/host/proc/1/ns', { readOnly: true }),
                mount('proc-sys-net', '/host/proc/sys/net'),
                mount('proc-sys-kernel', '/host/proc/sys/kernel'),
                mount('xtables-lock', '/run/xtables.lock'),
                mount('modules', '/lib/modules', { readOnly: true }),
                mount('plugins', '/var/lib/kubelet/plugins/cni-agent', { subPath: 'sockets' }),
              ],
            },
            {
              name: 'monitor',
              image: `quay.io/example/cni-agent-monitor:${version}`,
              env: env.slice(0, 12),
              resources: { requests: { cpu: '10m', memory: '32Mi' } },
              volumeMounts: [mount('state', '/var/run/cni-agent', { readOnly: true })],
            },
          ],
          volumes: volumes.map(([name, path, type]): JsonObject => ({ name, hostPath: type === undefined ? { path } : { path, type } })),
        },
      },
    },
  };
}

/**
 * The manifest as admission sees it: defaulted, with a managedFields entry and, after a client-side
 * `kubectl apply`, the manifest again in an annotation; that makes the agent's UPDATE review long enough
 * (over 10 KB) to take the server's full structural measurement of the body, as large reviews do.
 */
function admitted(manifest: JsonObject, generation: number, clientSideApply = false): JsonObject {
  const object = applyApiserverDefaults(structuredClone(manifest));
  const metadata = object.metadata as JsonObject;
  if (clientSideApply) metadata.annotations = { ...(metadata.annotations as JsonObject | undefined), 'kubectl.kubernetes.io/last-applied-configuration': `${JSON.stringify(manifest)}\n` };
  metadata.uid = '00000000-0000-4000-8000-00000000da01';
  metadata.generation = generation;
  metadata.creationTimestamp = '2026-01-01T00:00:00Z';
  metadata.managedFields = [{ manager: 'kubectl', operation: 'Apply', apiVersion: 'apps/v1', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:template': {} } } }];
  return object;
}

function reviewOf(operation: 'CREATE' | 'UPDATE' | 'DELETE', index: number, object: JsonObject | null, oldObject: JsonObject | null): JsonObject {
  const subject = (object ?? oldObject)!.metadata as JsonObject;
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: `warm-up-${index}`,
      kind: { group: 'apps', version: 'v1', kind: 'DaemonSet' },
      resource: { group: 'apps', version: 'v1', resource: 'daemonsets' },
      requestKind: { group: 'apps', version: 'v1', kind: 'DaemonSet' },
      requestResource: { group: 'apps', version: 'v1', resource: 'daemonsets' },
      name: subject.name,
      namespace: subject.namespace,
      operation,
      userInfo: { username: 'system:serviceaccount:argocd:argocd-application-controller', uid: 'warm-up', groups: ['system:serviceaccounts', 'system:authenticated'] },
      object,
      oldObject,
      dryRun: false,
      options: operation === 'DELETE' ? { apiVersion: 'meta.k8s.io/v1', kind: 'DeleteOptions' } : { apiVersion: 'meta.k8s.io/v1', kind: operation === 'CREATE' ? 'CreateOptions' : 'UpdateOptions', fieldManager: 'kubectl' },
    },
  };
}

/**
 * The sample reviews as JSON bodies, as a client sends them: CREATE, UPDATE and DELETE, compliant and
 * not, in each namespace of WARM_UP_NAMESPACES. Made anew on each call (a few kilobytes).
 */
export function warmUpReviewBodies(): string[] {
  const shipper = admitted(logShipper(), 1);
  const agentOld = admitted(networkAgent('quay.io/example/net-agent:v1.15.0'), 3, true);
  const agentNew = admitted(networkAgent('quay.io/example/net-agent:v1.16.1'), 4, true);
  const tenant = admitted(tenantAgent(), 1);
  const cniOld = admitted(cniAgent('1.16.4'), 7, true);
  const cniNew = admitted(cniAgent('1.17.0'), 8, true);
  // The same agent where its hostPaths are not allowed: every one of them named in the messages.
  const cniElsewhere = admitted({ ...cniAgent('1.17.0'), metadata: { name: 'cni-agent', namespace: 'tenants', labels: { 'k8s-app': 'cni-agent' } } }, 1);
  return [
    reviewOf('CREATE', 1, shipper, null),
    reviewOf('UPDATE', 2, agentNew, agentOld),
    reviewOf('CREATE', 3, tenant, null),
    reviewOf('UPDATE', 4, shipper, admitted(logShipper(), 1)),
    reviewOf('DELETE', 5, null, tenant),
    reviewOf('UPDATE', 6, cniNew, cniOld),
    reviewOf('CREATE', 7, cniElsewhere, null),
  ].map((review) => JSON.stringify(review));
}
