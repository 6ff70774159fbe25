// `daemonguard coverage` against the real DaemonSet controller of Kubernetes 1.37.2: a
// kube-controller-manager running only the daemonset controller, Node objects created through the
// API (no kubelet), and DaemonSets from every corner: the repository's examples and the library's
// suites, and generated cases for each rule (nodeName, nodeSelector, every affinity operator,
// matchFields, taints of each effect, the tolerations the controller adds, hostNetwork, cordoned
// and not-ready nodes, Windows nodes). Once the controller has created its pods, the nodes it chose
// (each pod's matchFields metadata.name, or nodeName) must be exactly the ones `daemonguard coverage`
// names for that DaemonSet, read from `kubectl get nodes -o yaml` of the same cluster.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isJsonObject, type JsonObject } from '../../src/common/vocabulary.js';
import { KubeApi, mapLimit, placeIn, repositoryDaemonSets, statusMessage } from './admission-support.js';
import { startCluster, type Cluster } from './cluster/cluster.js';
import { daemonguard } from './deploy-tools.js';

/** Fewer compared DaemonSets than this means cases were lost (the run printed how many it compared). */
const MINIMUM_COMPARED = 205;
const NAMESPACE = 'coverage';
const CONTROL_PLANE = 'node-role.kubernetes.io/control-plane';

interface NodeSpec {
  name: string;
  labels?: Record<string, string>;
  taints?: { key: string; value?: string; effect: string }[];
  unschedulable?: boolean;
  allocatable?: { cpu: string; memory: string };
  /** Keep the node.kubernetes.io/not-ready:NoSchedule taint the apiserver adds to a new node (TaintNodesByCondition). */
  notReady?: boolean;
}

const LINUX = { 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64' };

const NODES: NodeSpec[] = [
  { name: 'control-plane-1', labels: { ...LINUX, [CONTROL_PLANE]: '' }, taints: [{ key: CONTROL_PLANE, effect: 'NoSchedule' }] },
  { name: 'worker-1', labels: { ...LINUX, zone: 'a', rack: '3' } },
  { name: 'worker-2', labels: { ...LINUX, zone: 'b', rack: '12' } },
  { name: 'worker-arm-1', labels: { 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'arm64', zone: 'a', rack: 'r7' } },
  { name: 'windows-1', labels: { 'kubernetes.io/os': 'windows', 'kubernetes.io/arch': 'amd64', zone: 'b' }, taints: [{ key: 'os', value: 'windows', effect: 'NoSchedule' }] },
  { name: 'gpu-1', labels: { ...LINUX, accelerator: 'nvidia', 'gpu-count': '4' }, taints: [{ key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' }] },
  { name: 'db-1', labels: { ...LINUX, dedicated: 'db' }, taints: [{ key: 'dedicated', value: 'db', effect: 'NoExecute' }] },
  { name: 'spot-1', labels: { ...LINUX, zone: 'a' }, taints: [{ key: 'spot', value: 'true', effect: 'PreferNoSchedule' }] },
  { name: 'cordoned-1', labels: { ...LINUX, zone: 'b' }, unschedulable: true, taints: [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }] },
  { name: 'cordoned-2', labels: { ...LINUX }, unschedulable: true },
  { name: 'not-ready-1', labels: { ...LINUX }, notReady: true },
  { name: 'pressure-1', labels: { ...LINUX }, taints: [{ key: 'node.kubernetes.io/memory-pressure', effect: 'NoSchedule' }, { key: 'node.kubernetes.io/disk-pressure', effect: 'NoSchedule' }, { key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }] },
  { name: 'no-network-1', labels: { ...LINUX }, taints: [{ key: 'node.kubernetes.io/network-unavailable', effect: 'NoSchedule' }] },
  { name: 'small-1', labels: { ...LINUX, zone: 'c' }, allocatable: { cpu: '250m', memory: '256Mi' } },
];

function nodeObject(spec: NodeSpec): JsonObject {
  const allocatable = spec.allocatable ?? { cpu: '4', memory: '16Gi' };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: spec.name, labels: { 'kubernetes.io/hostname': spec.name, ...spec.labels } },
    spec: { ...(spec.taints ? { taints: spec.taints } : {}), ...(spec.unschedulable ? { unschedulable: true } : {}) },
    // A node may be created with its status (the kubelet registers that way); no kubelet keeps it current.
    status: { capacity: { ...allocatable, pods: '110' }, allocatable: { ...allocatable, pods: '110' } },
  };
}

function podSpec(extra: JsonObject = {}): JsonObject {
  return { containers: [{ name: 'agent', image: 'registry.example/agent:1.0', resources: { requests: { cpu: '100m', memory: '128Mi' } } }], ...extra };
}

function affinity(...terms: JsonObject[]): JsonObject {
  return { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } } } };
}

function expression(key: string, operator: string, values?: string[]): JsonObject {
  return { matchExpressions: [{ key, operator, ...(values ? { values } : {}) }] };
}

/** One generated DaemonSet per rule and per way around it. */
const GENERATED: [string, JsonObject][] = [
  ['plain', podSpec()],
  ['node-name', podSpec({ nodeName: 'worker-2' })],
  ['node-name-unknown', podSpec({ nodeName: 'no-such-node' })],
  ['selector-linux', podSpec({ nodeSelector: { 'kubernetes.io/os': 'linux' } })],
  ['selector-windows', podSpec({ nodeSelector: { 'kubernetes.io/os': 'windows' } })],
  ['selector-windows-tolerated', podSpec({ nodeSelector: { 'kubernetes.io/os': 'windows' }, tolerations: [{ key: 'os', operator: 'Equal', value: 'windows', effect: 'NoSchedule' }] })],
  ['selector-arm64', podSpec({ nodeSelector: { 'kubernetes.io/arch': 'arm64' } })],
  ['selector-two-labels', podSpec({ nodeSelector: { 'kubernetes.io/os': 'linux', zone: 'a' } })],
  ['selector-missing-label', podSpec({ nodeSelector: { team: 'payments' } })],
  ['affinity-in', podSpec(affinity(expression('zone', 'In', ['a', 'c'])))],
  ['affinity-not-in', podSpec(affinity(expression('zone', 'NotIn', ['a'])))],
  ['affinity-exists', podSpec(affinity(expression('zone', 'Exists')))],
  ['affinity-does-not-exist', podSpec(affinity(expression('zone', 'DoesNotExist')))],
  ['affinity-gt', podSpec(affinity(expression('rack', 'Gt', ['5'])))],
  ['affinity-lt', podSpec(affinity(expression('rack', 'Lt', ['5'])))],
  ['affinity-gt-gpus', podSpec({ ...affinity(expression('gpu-count', 'Gt', ['2'])), tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists' }] })],
  ['affinity-and', podSpec(affinity({ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a', 'b'] }, { key: 'kubernetes.io/arch', operator: 'In', values: ['amd64'] }] }))],
  ['affinity-or', podSpec(affinity(expression('zone', 'In', ['c']), expression('kubernetes.io/arch', 'In', ['arm64'])))],
  ['affinity-match-fields-in', podSpec(affinity({ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['worker-1'] }] }))],
  ['affinity-match-fields-not-in', podSpec(affinity({ matchFields: [{ key: 'metadata.name', operator: 'NotIn', values: ['worker-1'] }] }))],
  ['affinity-fields-and-labels', podSpec(affinity({ matchFields: [{ key: 'metadata.name', operator: 'NotIn', values: ['worker-2'] }], matchExpressions: [{ key: 'zone', operator: 'Exists' }] }))],
  ['affinity-with-selector', podSpec({ nodeSelector: { 'kubernetes.io/os': 'linux' }, ...affinity(expression('zone', 'In', ['b'])) })],
  ['affinity-preferred-only', podSpec({ affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 10, preference: expression('zone', 'In', ['z']) }] } } })],
  ['tolerate-control-plane', podSpec({ tolerations: [{ key: CONTROL_PLANE, operator: 'Exists', effect: 'NoSchedule' }] })],
  ['tolerate-control-plane-wrong-effect', podSpec({ tolerations: [{ key: CONTROL_PLANE, operator: 'Exists', effect: 'NoExecute' }] })],
  ['tolerate-everything', podSpec({ tolerations: [{ operator: 'Exists' }] })],
  ['tolerate-every-no-schedule', podSpec({ tolerations: [{ operator: 'Exists', effect: 'NoSchedule' }] })],
  ['tolerate-key-any-effect', podSpec({ tolerations: [{ key: 'dedicated', operator: 'Exists' }] })],
  ['tolerate-equal', podSpec({ tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'db', effect: 'NoExecute' }] })],
  ['tolerate-equal-wrong-value', podSpec({ tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'web', effect: 'NoExecute' }] })],
  ['tolerate-default-operator', podSpec({ tolerations: [{ key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' }] })],
  ['tolerate-not-ready', podSpec({ tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoSchedule' }] })],
  ['tolerate-for-seconds', podSpec({ tolerations: [{ key: 'dedicated', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 60 }] })],
  ['host-network', podSpec({ hostNetwork: true })],
  ['host-network-everywhere', podSpec({ hostNetwork: true, tolerations: [{ operator: 'Exists' }] })],
  ['gpu-agent', podSpec({ nodeSelector: { accelerator: 'nvidia' }, tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }] })],
  ['windows-agent', podSpec({ nodeSelector: { 'kubernetes.io/os': 'windows' }, tolerations: [{ key: 'os', operator: 'Exists' }] })],
  ['linux-everywhere', podSpec({ nodeSelector: { 'kubernetes.io/os': 'linux' }, tolerations: [{ operator: 'Exists' }] })],
  ['sidecar-and-init', podSpec({ initContainers: [{ name: 'init', image: 'registry.example/init:1', resources: { requests: { cpu: '1' } } }, { name: 'sidecar', image: 'registry.example/side:1', restartPolicy: 'Always' }] })],
];

function daemonSetObject(name: string, spec: JsonObject): JsonObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name, namespace: NAMESPACE },
    spec: { selector: { matchLabels: { case: name } }, template: { metadata: { labels: { case: name } }, spec } },
  };
}

/** A corpus DaemonSet under a name of our own, with a selector of its own (two cases must never adopt each other's pods). */
function asCase(object: JsonObject, name: string): JsonObject {
  const copy = placeIn(object, NAMESPACE, name);
  const spec = copy.spec as JsonObject;
  spec.selector = { matchLabels: { case: name } };
  const template = spec.template as JsonObject;
  const metadata = (isJsonObject(template.metadata) ? template.metadata : (template.metadata = {})) as JsonObject;
  metadata.labels = { ...(isJsonObject(metadata.labels) ? metadata.labels : {}), case: name };
  delete (copy.metadata as JsonObject).resourceVersion;
  delete (copy.metadata as JsonObject).uid;
  delete copy.status;
  return copy;
}

/** util.GetTargetNodeName: the node a daemon pod is meant for. */
function targetNode(pod: JsonObject): string | undefined {
  const spec = pod.spec as JsonObject;
  if (typeof spec.nodeName === 'string' && spec.nodeName !== '') return spec.nodeName;
  const terms = (((spec.affinity as JsonObject | undefined)?.nodeAffinity as JsonObject | undefined)?.requiredDuringSchedulingIgnoredDuringExecution as JsonObject | undefined)?.nodeSelectorTerms;
  for (const term of Array.isArray(terms) ? terms : []) {
    for (const field of ((term as JsonObject).matchFields as JsonObject[] | undefined) ?? []) {
      if (field.key === 'metadata.name' && field.operator === 'In' && Array.isArray(field.values) && field.values.length === 1) return String(field.values[0]);
    }
  }
  return undefined;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('coverage against the DaemonSet controller of kube-controller-manager', { timeout: 900_000 }, () => {
  let cluster: Cluster;
  let api: KubeApi;
  let work: string;
  const created: { name: string; origin: string }[] = [];
  const refused: string[] = [];

  before(async () => {
    cluster = await startCluster({ controllers: ['daemonset'], controllerManagerArgs: ['--kube-api-qps=200', '--kube-api-burst=400'] });
    api = new KubeApi(cluster);
    work = await mkdtemp(path.join(os.tmpdir(), 'daemonguard-coverage-e2e-'));

    for (const spec of NODES) {
      const answer = await api.request('POST', '/api/v1/nodes', nodeObject(spec));
      assert.equal(answer.status, 201, `creating node ${spec.name}: ${statusMessage(answer.body)}`);
      // The apiserver added node.kubernetes.io/not-ready:NoSchedule (the node lifecycle controller
      // would remove it once the kubelet reports Ready): put back the node's own taints.
      if (!spec.notReady) {
        const patched = await api.request('PATCH', `/api/v1/nodes/${spec.name}`, { spec: { taints: spec.taints ?? null } }, 'application/merge-patch+json');
        assert.equal(patched.status, 200, statusMessage(patched.body));
      }
    }
    assert.equal((await api.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } })).status, 201);
  });

  after(async () => {
    api?.close();
    await cluster?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('creates a pod on exactly the nodes `daemonguard coverage` names, for every case', async () => {
    const { daemonSets: corpus } = await repositoryDaemonSets();
    const cases: { name: string; origin: string; object: JsonObject }[] = [
      ...GENERATED.map(([name, spec]) => ({ name: `gen-${name}`, origin: `generated ${name}`, object: daemonSetObject(`gen-${name}`, spec) })),
      ...corpus.map((entry, index) => ({ name: `repo-${index}`, origin: entry.id, object: asCase(entry.object, `repo-${index}`) })),
    ];
    await mapLimit(cases, 4, async (entry) => {
      const answer = await api.createDaemonSet(NAMESPACE, entry.object);
      if (answer.status === 201) created.push({ name: entry.name, origin: entry.origin });
      // The suites hold a few DaemonSets the apiserver refuses on purpose (differential.e2e.test.ts
      // names them); only repository entries may be refused, and only as invalid.
      else if (answer.status === 422 && entry.name.startsWith('repo-')) refused.push(`${entry.origin}: ${statusMessage(answer.body)}`);
      else assert.fail(`creating ${entry.origin} failed (${answer.status}): ${statusMessage(answer.body)}`);
    });

    // What daemonguard says, from the nodes as the cluster holds them (the not-ready taint included).
    const nodesYaml = (await cluster.kubectl(['get', 'nodes', '-o', 'yaml'])).stdout;
    const daemonSetsYaml = (await cluster.kubectl(['get', 'daemonsets', '-n', NAMESPACE, '-o', 'yaml'])).stdout;
    await writeFile(path.join(work, 'nodes.yaml'), nodesYaml);
    await writeFile(path.join(work, 'daemonsets.yaml'), daemonSetsYaml);
    const run = await daemonguard(['coverage', '--nodes', path.join(work, 'nodes.yaml'), '-o', 'json', path.join(work, 'daemonsets.yaml')]);
    assert.equal(run.code, 0, run.stderr);
    const predicted = new Map<string, string[]>();
    for (const result of (JSON.parse(run.stdout) as { results: { name: string; nodes: { scheduled: string[] } }[] }).results) predicted.set(result.name, [...result.nodes.scheduled].sort());
    assert.equal(predicted.size, created.length, 'daemonguard coverage reports every created DaemonSet');

    // What the controller did: wait until every DaemonSet has as many pods as it wants, and its
    // status is for its current generation.
    let actual = new Map<string, string[]>();
    const deadline = Date.now() + 600_000;
    for (;;) {
      const [sets, pods] = await Promise.all([api.request('GET', `/apis/apps/v1/namespaces/${NAMESPACE}/daemonsets`), api.request('GET', `/api/v1/namespaces/${NAMESPACE}/pods`)]);
      const byOwner = new Map<string, string[]>();
      for (const pod of (pods.body as { items: JsonObject[] }).items) {
        const owner = ((pod.metadata as JsonObject).ownerReferences as JsonObject[] | undefined)?.find((o) => o.kind === 'DaemonSet');
        if (!owner) continue;
        const list = byOwner.get(String(owner.name)) ?? [];
        list.push(targetNode(pod) ?? '(no target node)');
        byOwner.set(String(owner.name), list);
      }
      const unsettled = (sets.body as { items: JsonObject[] }).items.filter((ds) => {
        const status = (ds.status ?? {}) as JsonObject;
        const name = String((ds.metadata as JsonObject).name);
        return status.observedGeneration !== (ds.metadata as JsonObject).generation || (byOwner.get(name) ?? []).length !== status.desiredNumberScheduled;
      });
      actual = new Map([...byOwner].map(([name, nodes]) => [name, nodes.sort()]));
      if (unsettled.length === 0) break;
      if (Date.now() > deadline) assert.fail(`the controller did not settle ${unsettled.length} DaemonSets in time: ${unsettled.map((ds) => (ds.metadata as JsonObject).name).join(', ')}`);
      await sleep(1000);
    }

    const disagreements: string[] = [];
    let withExclusions = 0;
    for (const { name, origin } of created) {
      const expected = predicted.get(name) ?? [];
      const got = actual.get(name) ?? [];
      if (expected.length < NODES.length) withExclusions++;
      if (JSON.stringify(expected) !== JSON.stringify(got)) disagreements.push(`${origin} (${name}): daemonguard ${JSON.stringify(expected)}, controller ${JSON.stringify(got)}`);
    }
    console.log(`coverage agreement: ${created.length - disagreements.length}/${created.length} DaemonSets on ${NODES.length} nodes (${GENERATED.length} generated, ${created.length - GENERATED.length} from the repository, ${withExclusions} leaving some node out); ${refused.length} refused by the apiserver`);
    for (const line of refused) console.log(`  refused: ${line}`);
    assert.deepEqual(disagreements, []);
    assert.ok(created.length >= MINIMUM_COMPARED, `only ${created.length} DaemonSets compared (at least ${MINIMUM_COMPARED} expected)`);

    // The table README.md shows, from these nodes.
    const example = daemonSetObject('log-shipper', podSpec({ nodeSelector: { 'kubernetes.io/os': 'linux' }, tolerations: [{ key: 'dedicated', operator: 'Exists' }], containers: [{ name: 'shipper', image: 'registry.example/shipper:2.1', resources: { requests: { cpu: '200m', memory: '300Mi' } } }] }));
    await writeFile(path.join(work, 'log-shipper.yaml'), JSON.stringify(example));
    const table = await daemonguard(['coverage', '--nodes', path.join(work, 'nodes.yaml'), path.join(work, 'log-shipper.yaml')]);
    assert.equal(table.code, 0, table.stderr);
    console.log(table.stdout.replaceAll(work + path.sep, ''));
  });
});
