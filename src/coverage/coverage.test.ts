// Each rule of the DaemonSet controller on its own, with the reason a user reads. The whole
// computation is compared with the real controller in test/e2e/coverage.e2e.test.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { JsonObject } from '../common/vocabulary.js';
import { computeCoverage, coverageSummary, exclusionReasons } from './coverage.js';
import { podRequests } from './footprint.js';

function node(name: string, options: { labels?: Record<string, string>; taints?: JsonObject[]; allocatable?: Record<string, string>; unschedulable?: boolean } = {}): JsonObject {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/os': 'linux', 'kubernetes.io/hostname': name, ...options.labels } },
    spec: { ...(options.taints ? { taints: options.taints } : {}), ...(options.unschedulable ? { unschedulable: true } : {}) },
    status: { allocatable: options.allocatable ?? { cpu: '4', memory: '16Gi', pods: '110' } },
  };
}

function daemonSet(podSpec: JsonObject): JsonObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'agent', namespace: 'monitoring' },
    spec: { selector: { matchLabels: { app: 'agent' } }, template: { metadata: { labels: { app: 'agent' } }, spec: { containers: [{ name: 'agent', image: 'agent:1' }], ...podSpec } } },
  };
}

function reasons(podSpec: JsonObject, target: JsonObject): string[] {
  return exclusionReasons({ containers: [{ name: 'a', image: 'a' }], ...podSpec }, target);
}

const CONTROL_PLANE_TAINT = { key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' };

describe('coverage: nodeName', () => {
  it('a template nodeName runs the pod on that node only', () => {
    assert.deepEqual(reasons({ nodeName: 'a' }, node('a')), []);
    assert.deepEqual(reasons({ nodeName: 'a' }, node('b')), ['spec.template.spec.nodeName is a']);
  });
});

describe('coverage: nodeSelector', () => {
  it('says which label differs and what the node has', () => {
    assert.deepEqual(reasons({ nodeSelector: { 'kubernetes.io/os': 'windows' } }, node('a')), ['nodeSelector kubernetes.io/os=windows does not match (linux)']);
    assert.deepEqual(reasons({ nodeSelector: { 'kubernetes.io/os': 'linux' } }, node('a')), []);
  });

  it('a label the node lacks is "not set"; every differing pair is named', () => {
    assert.deepEqual(reasons({ nodeSelector: { gpu: 'true', 'kubernetes.io/os': 'windows' } }, node('a')), ['nodeSelector gpu=true does not match (not set), kubernetes.io/os=windows does not match (linux)']);
  });
});

function requiredAffinity(...terms: JsonObject[]): JsonObject {
  return { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } } } };
}

describe('coverage: required node affinity', () => {
  const gpuNode = node('g', { labels: { 'gpu-count': '4', zone: 'a' } });
  const plain = node('p');

  it('In, NotIn, Exists, DoesNotExist', () => {
    assert.deepEqual(reasons(requiredAffinity({ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a', 'b'] }] }), gpuNode), []);
    assert.deepEqual(reasons(requiredAffinity({ matchExpressions: [{ key: 'zone', operator: 'In', values: ['b'] }] }), gpuNode), ['required node affinity zone In [b] does not match (a)']);
    assert.deepEqual(reasons(requiredAffinity({ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }), gpuNode), ['required node affinity zone NotIn [a] does not match (a)']);
    // NotIn is true on a node without the label, as in labels.Requirement.
    assert.deepEqual(reasons(requiredAffinity({ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }), plain), []);
    assert.deepEqual(reasons(requiredAffinity({ matchExpressions: [{ key: 'zone', operator: 'Exists' }] }), plain), ['required node affinity zone Exists does not match (not set)']);
    assert.deepEqual(reasons(requiredAffinity({ matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' }] }), gpuNode), ['required node affinity zone DoesNotExist does not match (a)']);
  });

  it('Gt and Lt compare the label as an integer; a label that is not one never matches', () => {
    assert.deepEqual(reasons(requiredAffinity({ matchExpressions: [{ key: 'gpu-count', operator: 'Gt', values: ['2'] }] }), gpuNode), []);
    assert.deepEqual(reasons(requiredAffinity({ matchExpressions: [{ key: 'gpu-count', operator: 'Lt', values: ['4'] }] }), gpuNode), ['required node affinity gpu-count Lt 4 does not match (4)']);
    const odd = node('o', { labels: { 'gpu-count': 'four' } });
    assert.deepEqual(reasons(requiredAffinity({ matchExpressions: [{ key: 'gpu-count', operator: 'Gt', values: ['2'] }] }), odd), ['required node affinity gpu-count Gt 2 does not match (four, not an integer)']);
  });

  it('matchFields metadata.name selects nodes by name', () => {
    const byName = requiredAffinity({ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['g'] }] });
    assert.deepEqual(reasons(byName, gpuNode), []);
    assert.deepEqual(reasons(byName, plain), ['required node affinity metadata.name In [g] does not match (p)']);
    assert.deepEqual(reasons(requiredAffinity({ matchFields: [{ key: 'metadata.name', operator: 'NotIn', values: ['g'] }] }), gpuNode), ['required node affinity metadata.name NotIn [g] does not match (g)']);
  });

  it('terms are ORed, the requirements of a term ANDed', () => {
    const either = requiredAffinity({ matchExpressions: [{ key: 'zone', operator: 'In', values: ['b'] }] }, { matchExpressions: [{ key: 'gpu-count', operator: 'Exists' }, { key: 'zone', operator: 'In', values: ['a'] }] });
    assert.deepEqual(reasons(either, gpuNode), []);
    assert.deepEqual(reasons(either, plain), [
      'required node affinity: none of its 2 terms matches (term 1: zone In [b] does not match (not set); term 2: gpu-count Exists does not match (not set), zone In [a] does not match (not set))',
    ]);
  });

  it('an affinity whose terms are all empty matches no node; preferred terms never exclude', () => {
    assert.deepEqual(reasons(requiredAffinity({}), plain), ['required node affinity has no term with a requirement, so it matches no node']);
    const preferred = { affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 1, preference: { matchExpressions: [{ key: 'zone', operator: 'In', values: ['z'] }] } }] } } };
    assert.deepEqual(reasons(preferred, plain), []);
  });

  it('nodeSelector and affinity must both match', () => {
    const both = { nodeSelector: { zone: 'a' }, ...requiredAffinity({ matchExpressions: [{ key: 'gpu-count', operator: 'Exists' }] }) };
    assert.deepEqual(reasons(both, gpuNode), []);
    assert.equal(reasons(both, plain).length, 2);
  });
});

describe('coverage: taints and tolerations', () => {
  const controlPlane = node('cp', { taints: [CONTROL_PLANE_TAINT] });

  it('an untolerated NoSchedule or NoExecute taint excludes the node, named as key[=value]:effect', () => {
    assert.deepEqual(reasons({}, controlPlane), ['taint node-role.kubernetes.io/control-plane:NoSchedule not tolerated']);
    assert.deepEqual(reasons({}, node('d', { taints: [{ key: 'dedicated', value: 'db', effect: 'NoExecute' }, { key: 'gpu', effect: 'NoSchedule' }] })), ['taints dedicated=db:NoExecute, gpu:NoSchedule not tolerated']);
  });

  it('PreferNoSchedule never excludes', () => {
    assert.deepEqual(reasons({}, node('s', { taints: [{ key: 'spot', effect: 'PreferNoSchedule' }] })), []);
  });

  it('Exists, Equal, an empty key (every taint) and an empty effect (every effect)', () => {
    assert.deepEqual(reasons({ tolerations: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' }] }, controlPlane), []);
    assert.deepEqual(reasons({ tolerations: [{ operator: 'Exists' }] }, controlPlane), []);
    assert.deepEqual(reasons({ tolerations: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists' }] }, controlPlane), []);
    const dedicated = node('d', { taints: [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }] });
    assert.deepEqual(reasons({ tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'db', effect: 'NoSchedule' }] }, dedicated), []);
    assert.deepEqual(reasons({ tolerations: [{ key: 'dedicated', value: 'db' }] }, dedicated), [], 'no operator means Equal');
    assert.deepEqual(reasons({ tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'web' }] }, dedicated), ['taint dedicated=db:NoSchedule not tolerated']);
    assert.deepEqual(reasons({ tolerations: [{ key: 'dedicated', operator: 'Exists', effect: 'NoExecute' }] }, dedicated), ['taint dedicated=db:NoSchedule not tolerated'], 'the effect must match');
  });

  it('Lt and Gt tolerations match nothing: their feature gate is off in 1.37', () => {
    const numbered = node('n', { taints: [{ key: 'tier', value: '3', effect: 'NoSchedule' }] });
    assert.deepEqual(reasons({ tolerations: [{ key: 'tier', operator: 'Gt', value: '1', effect: 'NoSchedule' }] }, numbered), ['taint tier=3:NoSchedule not tolerated']);
  });

  it('the controller tolerates not-ready and unreachable (NoExecute) and the pressure and unschedulable taints (NoSchedule)', () => {
    for (const [key, effect] of [
      ['node.kubernetes.io/not-ready', 'NoExecute'],
      ['node.kubernetes.io/unreachable', 'NoExecute'],
      ['node.kubernetes.io/disk-pressure', 'NoSchedule'],
      ['node.kubernetes.io/memory-pressure', 'NoSchedule'],
      ['node.kubernetes.io/pid-pressure', 'NoSchedule'],
      ['node.kubernetes.io/unschedulable', 'NoSchedule'],
    ] as const) {
      assert.deepEqual(reasons({}, node('x', { taints: [{ key, effect }] })), [], key);
    }
    // Only those effects: not-ready with NoSchedule is a taint of its own.
    assert.deepEqual(reasons({}, node('x', { taints: [{ key: 'node.kubernetes.io/not-ready', effect: 'NoSchedule' }] })), ['taint node.kubernetes.io/not-ready:NoSchedule not tolerated']);
  });

  it('network-unavailable is tolerated for hostNetwork pods only', () => {
    const noNetwork = node('x', { taints: [{ key: 'node.kubernetes.io/network-unavailable', effect: 'NoSchedule' }] });
    assert.deepEqual(reasons({}, noNetwork), ['taint node.kubernetes.io/network-unavailable:NoSchedule not tolerated']);
    assert.deepEqual(reasons({ hostNetwork: true }, noNetwork), []);
  });

  it('an unschedulable (cordoned) node still gets a daemon pod: the controller reads only its taints', () => {
    assert.deepEqual(reasons({}, node('c', { unschedulable: true })), []);
    assert.deepEqual(reasons({}, node('c', { unschedulable: true, taints: [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }] })), []);
  });
});

describe('coverage: footprint', () => {
  it('sums containers and takes a limit for a missing request', () => {
    const requests = podRequests({ containers: [{ name: 'a', resources: { requests: { cpu: '100m', memory: '64Mi' } } }, { name: 'b', resources: { limits: { cpu: '250m', memory: '128Mi' } } }] });
    assert.equal(requests.get('cpu')?.toString(), '350m');
    assert.equal(requests.get('memory')?.toString(), '192Mi');
  });

  it('an init container larger than the containers sets the request; sidecars add to both', () => {
    const init = podRequests({ initContainers: [{ name: 'i', resources: { requests: { cpu: '1' } } }], containers: [{ name: 'a', resources: { requests: { cpu: '100m' } } }] });
    assert.equal(init.get('cpu')?.toString(), '1');
    // The sidecar (200m) runs beside the containers (300m in all) and beside the later init container (200m + 1 = 1200m).
    const sidecar = podRequests({
      initContainers: [{ name: 's', restartPolicy: 'Always', resources: { requests: { cpu: '200m' } } }, { name: 'i', resources: { requests: { cpu: '1' } } }],
      containers: [{ name: 'a', resources: { requests: { cpu: '100m' } } }],
    });
    assert.equal(sidecar.get('cpu')?.toString(), '1200m');
    // An init container before the sidecar does not run beside it.
    const before = podRequests({
      initContainers: [{ name: 'i', resources: { requests: { cpu: '1' } } }, { name: 's', restartPolicy: 'Always', resources: { requests: { cpu: '200m' } } }],
      containers: [{ name: 'a', resources: { requests: { cpu: '100m' } } }],
    });
    assert.equal(before.get('cpu')?.toString(), '1');
  });

  it('pod-level requests replace the computed ones; overhead is added', () => {
    const requests = podRequests({ resources: { requests: { cpu: '2' } }, overhead: { cpu: '250m', memory: '120Mi' }, containers: [{ name: 'a', resources: { requests: { cpu: '100m', memory: '1Gi' } } }] });
    assert.equal(requests.get('cpu')?.toString(), '2250m');
    assert.equal(requests.get('memory')?.toString(), '1144Mi');
  });

  it('the total is one pod × the scheduled nodes; nodes too small for one pod are unfit', () => {
    const ds = daemonSet({ containers: [{ name: 'a', image: 'a', resources: { requests: { cpu: '250m', memory: '1Gi' } } }] });
    const nodes = [node('a'), node('b'), node('tiny', { allocatable: { cpu: '200m', memory: '512Mi' } }), node('cp', { taints: [CONTROL_PLANE_TAINT] })];
    const coverage = computeCoverage(ds, nodes);
    assert.deepEqual(coverage.scheduled.map((n) => n.name), ['a', 'b', 'tiny']);
    assert.deepEqual(coverage.excluded.map((n) => [n.name, n.reason]), [['cp', 'taint node-role.kubernetes.io/control-plane:NoSchedule not tolerated']]);
    assert.equal(coverage.footprint.pod.cpu.toString(), '250m');
    assert.equal(coverage.footprint.total.cpu.toString(), '750m');
    assert.equal(coverage.footprint.total.memory.toString(), '3Gi');
    assert.deepEqual(coverage.unfit.map((n) => [n.name, n.reason]), [['tiny', 'one pod does not fit: cpu 250m requested, 200m allocatable, memory 1Gi requested, 512Mi allocatable']]);
    assert.equal(
      coverageSummary(coverage),
      "runs on 3 of 4 nodes; 1 excluded: 1× taint node-role.kubernetes.io/control-plane:NoSchedule not tolerated; 1 unfit (allocatable below one pod's requests); requests 750m CPU, 3Gi memory in all",
    );
  });

  it('no requests: a footprint of zero, and no node is unfit', () => {
    const coverage = computeCoverage(daemonSet({}), [node('a', { allocatable: {} })]);
    assert.equal(coverage.footprint.total.cpu.toString(), '0');
    assert.deepEqual(coverage.unfit, []);
  });
});
