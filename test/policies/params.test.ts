// Every policy is configured through its params: these tests change them (in a copy of the policy
// file) and check that the decision follows, on the same agents the suites use.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { describe, it } from 'node:test';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { reviewAdmission, type ReviewedAdmission } from '../../src/admission/pipeline.js';
import { buildAdmissionRequest } from '../../src/apiserver/admission-request.js';
import { namespaceObject } from '../../src/apiserver/namespace-object.js';
import { loadPoliciesForCli } from '../../src/cli/load-policy-set.js';
import { policyReports, type PolicyVerdict } from '../../src/cli/outcomes.js';
import type { JsonObject, Operation } from '../../src/engine/types.js';
import { POLICIES_DIR, SUITES_DIR } from '../support/library-paths.js';

/** A copy of a library policy file with some params of one policy replaced; returns its path. */
async function withParams(file: string, policy: string, params: JsonObject): Promise<string> {
  const documents = parseAllDocuments(await readFile(join(POLICIES_DIR, file), 'utf8')).map((d) => d.toJS() as JsonObject);
  const target = documents.find((d) => (d.metadata as JsonObject).name === policy);
  assert.ok(target, `${file} has no policy ${policy}`);
  const spec = target.spec as JsonObject;
  for (const key of Object.keys(params)) assert.ok(key in (spec.params as JsonObject), `${policy} has no param ${key}`);
  spec.params = { ...(spec.params as JsonObject), ...params };
  const path = join(await mkdtemp(join(tmpdir(), 'daemonguard-params-')), basename(file));
  await writeFile(path, documents.map((d) => stringify(d)).join('---\n'));
  return path;
}

async function resource(name: string): Promise<JsonObject> {
  return parse(await readFile(join(SUITES_DIR, 'resources', `${name}.yaml`), 'utf8')) as JsonObject;
}

async function reviewWith(policyFile: string, object: JsonObject, options: { namespace?: string; operation?: Operation } = {}): Promise<ReviewedAdmission & { verdicts: Record<string, PolicyVerdict> }> {
  const set = await loadPoliciesForCli([policyFile]);
  const namespace = options.namespace ?? String((object.metadata as JsonObject).namespace ?? 'default');
  const admission = await reviewAdmission(buildAdmissionRequest(object, { operation: options.operation ?? 'CREATE', namespace }), set, { namespaceObject: namespaceObject(namespace) });
  return { ...admission, verdicts: Object.fromEntries(policyReports(admission, set).map((r) => [r.policy, r.verdict])) };
}

const daemonSet = (name: string, namespace: string, podSpec: JsonObject, spec: JsonObject = {}, metadata: JsonObject = {}): JsonObject => ({
  apiVersion: 'apps/v1',
  kind: 'DaemonSet',
  metadata: { name, namespace, ...metadata },
  spec: { selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: podSpec }, ...spec },
});

const serverSideApplied = (fields: JsonObject = {}): JsonObject => ({
  managedFields: [{ manager: 'kubectl', operation: 'Apply', apiVersion: 'apps/v1', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:selector': {}, ...fields } } }],
});
const kubectlCreated = (): JsonObject => ({
  managedFields: [{ manager: 'kubectl-create', operation: 'Update', apiVersion: 'apps/v1', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:revisionHistoryLimit': {}, 'f:updateStrategy': { 'f:rollingUpdate': { 'f:maxUnavailable': {} } } } } }],
});

describe('policy params', () => {
  it('privileged-namespaces: allowedNamespaces', async () => {
    const calico = await resource('calico-node');
    const file = await withParams('security/privileged-namespaces.yaml', 'privileged-namespaces', { allowedNamespaces: ['kube-system', 'calico-system'] });
    assert.equal((await reviewWith(join(POLICIES_DIR, 'security/privileged-namespaces.yaml'), calico, { namespace: 'calico-system' })).allowed, false);
    assert.equal((await reviewWith(file, calico, { namespace: 'calico-system' })).allowed, true);
  });

  it('control-plane-tolerations: taintKeys', async () => {
    const etcd = daemonSet('etcd-backup', 'ops', { tolerations: [{ key: 'node-role.kubernetes.io/etcd', operator: 'Exists', effect: 'NoSchedule' }], containers: [{ name: 'backup', image: 'example.com/backup:1.0' }] });
    const file = await withParams('security/control-plane-tolerations.yaml', 'control-plane-tolerations', { taintKeys: ['node-role.kubernetes.io/control-plane', 'node-role.kubernetes.io/master', 'node-role.kubernetes.io/etcd'] });
    assert.equal((await reviewWith(join(POLICIES_DIR, 'security/control-plane-tolerations.yaml'), etcd)).allowed, true);
    const refused = await reviewWith(file, etcd);
    assert.equal(refused.allowed, false);
    assert.match(refused.violations[0]!.message, /toleration \{key: node-role.kubernetes.io\/etcd, operator: Exists, effect: NoSchedule\}/);
  });

  it('control-plane-tolerations: labelNamespaces', async () => {
    const nodeExporter = await resource('node-exporter');
    assert.equal((await reviewWith(join(POLICIES_DIR, 'security/control-plane-tolerations.yaml'), nodeExporter)).allowed, false);
    const file = await withParams('security/control-plane-tolerations.yaml', 'control-plane-tolerations', { labelNamespaces: ['kube-system', 'monitoring'] });
    assert.equal((await reviewWith(file, nodeExporter)).allowed, true);
  });

  it('host-namespaces and host-path: allowlisting monitoring admits node-exporter', async () => {
    const nodeExporter = await resource('node-exporter');
    const hostNamespaces = await withParams('security/host-namespaces.yaml', 'host-namespaces', { hostNetworkNamespaces: ['kube-system', 'monitoring'], hostPIDNamespaces: ['kube-system', 'monitoring'] });
    // A read-only mount of / exposes the node's credentials, sockets and devices: each list must name monitoring.
    const everyList = { credentialNamespaces: ['kube-system', 'monitoring'], runtimeSocketNamespaces: ['kube-system', 'monitoring'], serviceManagerNamespaces: ['kube-system', 'monitoring'], deviceNamespaces: ['kube-system', 'monitoring'] };
    const socketsOnly = await withParams('security/host-path.yaml', 'host-path', { runtimeSocketNamespaces: everyList.runtimeSocketNamespaces });
    const hostPath = await withParams('security/host-path.yaml', 'host-path', everyList);
    assert.equal((await reviewWith(hostNamespaces, nodeExporter)).allowed, true);
    const partly = await reviewWith(socketsOnly, nodeExporter);
    assert.equal(partly.allowed, false);
    assert.doesNotMatch(partly.violations[0]!.message, /runtime socket/);
    assert.match(partly.violations[0]!.message, /param credentialNamespaces.*param serviceManagerNamespaces.*param deviceNamespaces/);
    assert.equal((await reviewWith(hostPath, nodeExporter)).allowed, true);
  });

  it('host-path: each node-sensitive list has its own namespaces, and its own paths', async () => {
    const nvidia = await resource('nvidia-device-plugin');
    const policy = join(POLICIES_DIR, 'security/host-path.yaml');
    assert.equal((await reviewWith(policy, nvidia, { namespace: 'gpu' })).allowed, false);
    const gpu = await withParams('security/host-path.yaml', 'host-path', { kubeletStateNamespaces: ['kube-system', 'gpu'] });
    assert.equal((await reviewWith(gpu, nvidia, { namespace: 'gpu' })).allowed, true);
    const csi = await resource('ebs-csi-node');
    const storage = await withParams('security/host-path.yaml', 'host-path', { kubeletStateNamespaces: ['kube-system', 'storage'], credentialNamespaces: ['kube-system', 'storage'] });
    const devices = await reviewWith(storage, csi, { namespace: 'storage' });
    assert.equal(devices.allowed, false);
    assert.match(devices.violations[0]!.message, /^hostPath \/dev \(volume "device-dir"\) exposes host devices \(\/dev\), read-only or not: allowed only in namespaces kube-system \(param deviceNamespaces\)/);
    // A path added to a list: /var/lib/kubelet/plugins_registry read-only would otherwise be harmless.
    const registry = daemonSet('lister', 'team-a', { containers: [{ name: 'lister', image: 'example.com/lister:1.0', volumeMounts: [{ name: 'registry', mountPath: '/registry', readOnly: true }] }], volumes: [{ name: 'registry', hostPath: { path: '/var/lib/kubelet/plugins_registry' } }] });
    assert.equal((await reviewWith(policy, registry)).allowed, true);
    const base = parse(await readFile(policy, 'utf8')) as { spec: { params: { credentialPaths: string[] } } };
    const stricter = await withParams('security/host-path.yaml', 'host-path', { credentialPaths: [...base.spec.params.credentialPaths, '/var/lib/kubelet/plugins_registry'] });
    assert.match((await reviewWith(stricter, registry)).violations[0]!.message, /exposes node credentials \(\/var\/lib\/kubelet\/plugins_registry\)/);
  });

  it('host-path: allowedPaths without "/" refuses node-exporter\'s root mount; readOnlyPaths extends the read-only rule', async () => {
    const nodeExporter = await resource('node-exporter');
    const strict = await withParams('security/host-path.yaml', 'host-path', { allowedPaths: ['/proc', '/sys'], runtimeSocketNamespaces: ['monitoring'] });
    const outcome = await reviewWith(strict, nodeExporter);
    assert.equal(outcome.allowed, false);
    assert.match(outcome.violations[0]!.message, /hostPath \/ \(volume "root"\) is not under an allowed path; allowed: \/proc, \/sys/);
    const fluentBit = await resource('fluent-bit');
    const readOnlyLogs = await withParams('security/host-path.yaml', 'host-path', { readOnlyPaths: ['/', '/proc', '/sys', '/var/log'] });
    assert.match((await reviewWith(readOnlyLogs, fluentBit)).violations[0]!.message, /hostPath \/var\/log \(volume "varlog"\) is mounted writable by container "fluent-bit"/);
  });

  it('host-ports: allowedPorts', async () => {
    const statsd = daemonSet('metrics-agent', 'monitoring', { containers: [{ name: 'agent', image: 'example.com/agent:7.54.0', ports: [{ containerPort: 8125, hostPort: 8125, protocol: 'UDP' }] }] });
    const file = await withParams('security/host-ports.yaml', 'host-ports', { allowedPorts: [8125, 8126] });
    assert.equal((await reviewWith(join(POLICIES_DIR, 'security/host-ports.yaml'), statsd)).allowed, false);
    assert.equal((await reviewWith(file, statsd)).allowed, true);
  });

  it('capabilities: privilegedCapabilityNamespaces and allowedCapabilities', async () => {
    const flannel = await resource('flannel');
    const file = await withParams('security/capabilities.yaml', 'capabilities', { privilegedCapabilityNamespaces: ['kube-system', 'kube-flannel'] });
    assert.equal((await reviewWith(file, flannel)).allowed, true);
    const chrony = daemonSet('chrony', 'ops', { containers: [{ name: 'chrony', image: 'example.com/chrony:4.5', securityContext: { capabilities: { add: ['SYS_TIME'] } } }] });
    const base = parse(await readFile(join(POLICIES_DIR, 'security/capabilities.yaml'), 'utf8')) as { spec: { params: { allowedCapabilities: string[] } } };
    const withTime = await withParams('security/capabilities.yaml', 'capabilities', { allowedCapabilities: [...base.spec.params.allowedCapabilities, 'SYS_TIME'] });
    assert.equal((await reviewWith(join(POLICIES_DIR, 'security/capabilities.yaml'), chrony)).allowed, false);
    assert.equal((await reviewWith(withTime, chrony)).allowed, true);
  });

  it('capabilities: hostPathCapabilities', async () => {
    const shipper = daemonSet('log-shipper', 'logging', {
      containers: [{ name: 'shipper', image: 'example.com/shipper:2.0', securityContext: { capabilities: { add: ['DAC_READ_SEARCH'] } }, volumeMounts: [{ name: 'logs', mountPath: '/var/log', readOnly: true }] }],
      volumes: [{ name: 'logs', hostPath: { path: '/var/log' } }],
    });
    assert.equal((await reviewWith(join(POLICIES_DIR, 'security/capabilities.yaml'), shipper)).allowed, false);
    const none = await withParams('security/capabilities.yaml', 'capabilities', { hostPathCapabilities: [] });
    assert.equal((await reviewWith(none, shipper)).allowed, true);
  });

  it('privileged-namespaces: confinedSELinuxTypes', async () => {
    const cilium = await resource('cilium');
    const policy = join(POLICIES_DIR, 'security/privileged-namespaces.yaml');
    assert.equal((await reviewWith(policy, cilium, { namespace: 'cilium' })).allowed, false);
    const base = parse(await readFile(policy, 'utf8')) as { spec: { params: { confinedSELinuxTypes: string[] } } };
    const withSpc = await withParams('security/privileged-namespaces.yaml', 'privileged-namespaces', { confinedSELinuxTypes: [...base.spec.params.confinedSELinuxTypes, 'spc_t'] });
    assert.equal((await reviewWith(withSpc, cilium, { namespace: 'cilium' })).allowed, true);
  });

  it('image-references: allowedRegistries and requireDigest', async () => {
    const registries = await withParams('rollout/image-references.yaml', 'image-references', { allowedRegistries: ['registry.k8s.io', 'docker.io/calico'] });
    assert.equal((await reviewWith(registries, await resource('calico-node'))).verdicts['image-references'], 'pass');
    const fluentBit = await reviewWith(registries, await resource('fluent-bit'));
    assert.equal(fluentBit.verdicts['image-references'], 'warn');
    assert.ok(fluentBit.warnings.some((w) => w.includes('image cr.fluentbit.io/fluent/fluent-bit:3.0.7 is not from an allowed registry: registry.k8s.io, docker.io/calico')), fluentBit.warnings.join('\n'));
    const digest = await withParams('rollout/image-references.yaml', 'image-references', { requireDigest: true });
    assert.equal((await reviewWith(digest, await resource('cilium'))).verdicts['image-references'], 'pass');
    const calico = await reviewWith(digest, await resource('calico-node'));
    assert.ok(calico.warnings.some((w) => w.includes('container "calico-node" image docker.io/calico/node:v3.28.0') && w.includes('is not pinned by a digest')), calico.warnings.join('\n'));
  });

  it('image-references: floatingTags', async () => {
    const stable = daemonSet('agent', 'ops', { containers: [{ name: 'agent', image: 'example.com/agent:stable' }] });
    assert.equal((await reviewWith(join(POLICIES_DIR, 'rollout/image-references.yaml'), stable)).verdicts['image-references'], 'pass');
    const file = await withParams('rollout/image-references.yaml', 'image-references', { floatingTags: ['latest', 'stable'] });
    const outcome = await reviewWith(file, stable);
    assert.ok(outcome.warnings.includes('image-references: container "agent" image example.com/agent:stable uses :stable: pin a version'), outcome.warnings.join('\n'));
  });

  it('resources: requireCpuLimit and includeInitContainers', async () => {
    const cpuLimit = await withParams('rollout/resources.yaml', 'resources', { requireCpuLimit: true });
    const outcome = await reviewWith(cpuLimit, await resource('fluent-bit'));
    assert.ok(outcome.warnings.some((w) => w.includes('container "fluent-bit" has no cpu limit')), outcome.warnings.join('\n'));
    const agent = daemonSet('agent', 'ops', {
      initContainers: [{ name: 'init', image: 'busybox:1.36' }],
      containers: [{ name: 'agent', image: 'example.com/agent:1.0', resources: { requests: { cpu: '10m', memory: '10Mi' }, limits: { memory: '20Mi' } } }],
    });
    assert.equal((await reviewWith(join(POLICIES_DIR, 'rollout/resources.yaml'), agent)).verdicts.resources, 'warn');
    const noInit = await withParams('rollout/resources.yaml', 'resources', { includeInitContainers: false });
    assert.equal((await reviewWith(noInit, agent)).verdicts.resources, 'pass');
  });

  it('rollout-safety: maxUnavailableCountThreshold and maxUnavailablePercentThreshold', async () => {
    const with25 = daemonSet('cilium', 'kube-system', { containers: [{ name: 'agent', image: 'quay.io/cilium/cilium:v1.15.6' }] }, { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 25 } } });
    const with50 = daemonSet('cilium', 'kube-system', { containers: [{ name: 'agent', image: 'quay.io/cilium/cilium:v1.15.6' }] }, { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '50%' } } });
    const file = await withParams('rollout/rollout-safety.yaml', 'rollout-safety', { maxUnavailableCountThreshold: 50, maxUnavailablePercentThreshold: 50 });
    assert.equal((await reviewWith(join(POLICIES_DIR, 'rollout/rollout-safety.yaml'), with25)).allowed, false);
    assert.equal((await reviewWith(file, with25)).allowed, true);
    assert.equal((await reviewWith(join(POLICIES_DIR, 'rollout/rollout-safety.yaml'), with50)).allowed, true);
    assert.equal((await reviewWith(file, with50)).allowed, false);
  });

  it('default-rolling-update: maxUnavailable as a count, and defaultWhenUnknown', async () => {
    const count = await withParams('defaults/default-rolling-update.yaml', 'default-rolling-update', { maxUnavailable: 2 });
    const applied = daemonSet('fluent-bit', 'logging', { containers: [{ name: 'fluent-bit', image: 'cr.fluentbit.io/fluent/fluent-bit:3.0.7' }] }, {}, serverSideApplied());
    assert.deepEqual((await reviewWith(count, applied)).patch, [{ op: 'add', path: '/spec/updateStrategy/rollingUpdate/maxUnavailable', value: 2 }]);
    const created = daemonSet('fluent-bit', 'logging', { containers: [{ name: 'fluent-bit', image: 'cr.fluentbit.io/fluent/fluent-bit:3.0.7' }] }, {}, kubectlCreated());
    assert.deepEqual((await reviewWith(join(POLICIES_DIR, 'defaults/default-rolling-update.yaml'), created)).patch, []);
    const unknown = await withParams('defaults/default-rolling-update.yaml', 'default-rolling-update', { defaultWhenUnknown: true });
    assert.deepEqual((await reviewWith(unknown, created)).patch, [{ op: 'add', path: '/spec/updateStrategy/rollingUpdate/maxUnavailable', value: '10%' }]);
    // Only a value equal to the apiserver's default, and only on CREATE.
    const three = daemonSet('fluent-bit', 'logging', { containers: [{ name: 'fluent-bit', image: 'cr.fluentbit.io/fluent/fluent-bit:3.0.7' }] }, { updateStrategy: { rollingUpdate: { maxUnavailable: 3 } } }, kubectlCreated());
    assert.deepEqual((await reviewWith(unknown, three)).patch, []);
  });

  it('default-revision-history: revisionHistoryLimit and defaultWhenUnknown', async () => {
    const created = daemonSet('kube-proxy', 'kube-system', { containers: [{ name: 'kube-proxy', image: 'registry.k8s.io/kube-proxy:v1.30.2' }] }, {}, kubectlCreated());
    assert.deepEqual((await reviewWith(join(POLICIES_DIR, 'defaults/default-revision-history.yaml'), created)).patch, []);
    const file = await withParams('defaults/default-revision-history.yaml', 'default-revision-history', { revisionHistoryLimit: 3, defaultWhenUnknown: true });
    assert.deepEqual((await reviewWith(file, created)).patch, [{ op: 'add', path: '/spec/revisionHistoryLimit', value: 3 }]);
  });

  it('default-probes: healthPortWords', async () => {
    const agent = daemonSet('agent', 'ops', { containers: [{ name: 'agent', image: 'example.com/agent:1.0', ports: [{ name: 'status', containerPort: 8000 }] }] });
    assert.deepEqual((await reviewWith(join(POLICIES_DIR, 'defaults/default-probes.yaml'), agent)).patch, []);
    const file = await withParams('defaults/default-probes.yaml', 'default-probes', { healthPortWords: ['health', 'status'] });
    assert.deepEqual((await reviewWith(file, agent)).patch, [{ op: 'add', path: '/spec/template/spec/containers/0/readinessProbe', value: { tcpSocket: { port: 8000 } } }]);
  });

  it('default-probes: liveness copies the readiness handler with the liveness timing', async () => {
    const file = await withParams('defaults/default-probes.yaml', 'default-probes', { liveness: true });
    const csi = await resource('ebs-csi-node');
    const outcome = await reviewWith(file, csi);
    assert.deepEqual(outcome.patch, [{ op: 'add', path: '/spec/template/spec/containers/0/readinessProbe', value: { tcpSocket: { port: 9808 } } }]);
    const agent = daemonSet('agent', 'ops', { containers: [{ name: 'agent', image: 'example.com/agent:1.0', ports: [{ name: 'healthz', containerPort: 8000 }] }] });
    assert.deepEqual((await reviewWith(file, agent)).patch, [
      { op: 'add', path: '/spec/template/spec/containers/0/readinessProbe', value: { tcpSocket: { port: 8000 } } },
      { op: 'add', path: '/spec/template/spec/containers/0/livenessProbe', value: { tcpSocket: { port: 8000 }, periodSeconds: 20, failureThreshold: 6 } },
    ]);
    assert.deepEqual((await reviewWith(join(POLICIES_DIR, 'defaults/default-probes.yaml'), agent)).patch, [
      { op: 'add', path: '/spec/template/spec/containers/0/readinessProbe', value: { tcpSocket: { port: 8000 } } },
    ]);
  });
});
