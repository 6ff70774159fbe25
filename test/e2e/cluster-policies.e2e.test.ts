// DaemonSetPolicy objects in a real kube-apiserver: the CRD of deploy/ installs and describes the kind
// (kubectl explain, malformed objects refused), and `daemonguard serve --policies-from-cluster`, with the
// service account and RBAC of deploy/base, enforces what is applied with kubectl, reports each object's
// state in its status, keeps the last good version of a policy that breaks, and keeps two replicas in
// step while one of them (the Lease holder) writes status.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadPolicySet } from '../../src/policy/load-policies.js';
import { startServe, type ServeProcess } from '../support/serve-process.js';
import { admissionReview, callHttps, daemonSet as reviewedDaemonSet } from '../support/server-fixtures.js';
import { startCluster, type Cluster } from './cluster/cluster.js';
import { daemonguard, daemonSet, eventually, kubeconfigAsDeployedServiceAccount, parseObjects, REPO_ROOT } from './deploy-tools.js';

const CRDS_DIR = path.join(REPO_ROOT, 'deploy/base/crds');
const NAMESPACE = 'daemonguard-system';
const LEASE = 'daemonguard-status-writer';
const SERVICE_ACCOUNT = `system:serviceaccount:${NAMESPACE}:daemonguard`;

/** A policy that denies privileged containers, with a message that tells its version apart. */
function privilegedPolicy(version: string, expression = 'variables.privileged.size() == 0'): string {
  return `apiVersion: daemonguard.dev/v1alpha1
kind: DaemonSetPolicy
metadata:
  name: no-privileged
spec:
  validationActions: [Deny]
  variables:
    - name: privileged
      expression: "object.spec.template.spec.containers.filter(c, c.?securityContext.?privileged.orValue(false))"
  validations:
    - expression: "${expression}"
      message: "privileged containers are not allowed (${version})"
      reason: Forbidden
`;
}

interface ReadyCondition {
  status: string;
  reason: string;
  message: string;
  observedGeneration: number;
}

interface PolicyObject {
  metadata: { generation: number };
  status?: { observedGeneration?: number; expressions?: number; conditions?: ({ type: string } & ReadyCondition)[] };
}

describe('DaemonSetPolicy objects with serve --policies-from-cluster', { timeout: 600_000 }, () => {
  let cluster: Cluster;
  let work: string;
  let ca: string;
  const replicas = new Map<string, ServeProcess>();

  async function startReplica(identity: string): Promise<ServeProcess> {
    const replica = await startServe({
      args: [
        '--address', '127.0.0.1', '--port', '0', '--tls-cert', 'certs/tls.crt', '--tls-key', 'certs/tls.key',
        '--policies-from-cluster', '--namespaces-from-cluster', '--leader-election-identity', identity, '--lease-duration', '3s',
      ],
      cwd: work,
      env: { KUBECONFIG: path.join(work, 'kubeconfig'), POD_NAMESPACE: NAMESPACE },
    });
    replicas.set(identity, replica);
    return replica;
  }

  async function readyz(replica: ServeProcess): Promise<{ status: number; text: string }> {
    const response = await fetch(`${replica.probeUrl}/readyz`);
    return { status: response.status, text: await response.text() };
  }

  /** The message a replica answers a privileged DaemonSet with, straight from its /validate (not through the apiserver). */
  async function verdict(replica: ServeProcess): Promise<string> {
    const review = admissionReview('CREATE', reviewedDaemonSet({ name: 'agent', privileged: true }));
    const answer = (await callHttps(`${replica.url}/validate`, { ca, body: JSON.stringify(review) })).json<{ response: { allowed: boolean; status?: { message: string } } }>();
    return answer.response.allowed ? 'allowed' : answer.response.status?.message ?? '';
  }

  async function policy(name: string): Promise<PolicyObject> {
    return JSON.parse((await cluster.kubectl(['get', 'daemonsetpolicy', name, '-o', 'json'])).stdout) as PolicyObject;
  }

  function ready(object: PolicyObject): ReadyCondition | undefined {
    return object.status?.conditions?.find((condition) => condition.type === 'Ready');
  }

  async function metric(replica: ServeProcess, name: string): Promise<number> {
    const text = await (await fetch(`${replica.probeUrl}/metrics`)).text();
    const line = text.split('\n').find((entry) => entry.startsWith(`${name} `) || entry.startsWith(`${name}{`) && entry.includes('result="ok"'));
    return line === undefined ? 0 : Number(line.split(' ').at(-1));
  }

  async function leaseHolder(): Promise<string | undefined> {
    const lease = await cluster.kubectl(['get', 'lease', LEASE, '-n', NAMESPACE, '-o', 'jsonpath={.spec.holderIdentity}'], { allowFailure: true });
    return lease.code === 0 ? lease.stdout.trim() : undefined;
  }

  before(async () => {
    cluster = await startCluster();
    work = await mkdtemp(path.join(os.tmpdir(), 'daemonguard-cluster-policies-e2e-'));
    // The namespace, service account and RBAC of deploy/base (the CRD comes later).
    await kubeconfigAsDeployedServiceAccount(cluster, path.join(work, 'kubeconfig'), ['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']);
    const certs = await daemonguard(['certs', '--dir', path.join(work, 'certs'), '--ip', '127.0.0.1']);
    assert.equal(certs.code, 0, certs.stderr);
    ca = await readFile(path.join(work, 'certs', 'ca.crt'), 'utf8');
  });

  after(async () => {
    for (const replica of replicas.values()) await replica.stop();
    await cluster?.stop();
  });

  it('a replica is not ready until it has listed the policies, and is once the CRD exists', async () => {
    const first = await startReplica('replica-a');
    const before = await readyz(first);
    assert.equal(before.status, 503, before.text);
    assert.match(before.text, /policies are not loaded/);
    const review = admissionReview('CREATE', reviewedDaemonSet({ name: 'agent' }));
    assert.equal((await callHttps(`${first.url}/validate`, { ca, body: JSON.stringify(review) })).status, 503);

    await cluster.kubectl(['apply', '--server-side', '-k', CRDS_DIR]);
    await cluster.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/daemonsetpolicies.daemonguard.dev', 'crd/daemonsetpolicyexceptions.daemonguard.dev']);
    await eventually('the replica to list the (empty) policies and be ready', async () => (await readyz(first)).status === 200, 30_000);
    assert.equal(await verdict(first), 'allowed');
  });

  it('the CRDs are structural and served: kubectl explain reads their fields', async () => {
    for (const name of ['daemonsetpolicies.daemonguard.dev', 'daemonsetpolicyexceptions.daemonguard.dev']) {
      const crd = JSON.parse((await cluster.kubectl(['get', 'crd', name, '-o', 'json'])).stdout) as {
        status: { conditions: { type: string; status: string }[] };
      };
      assert.equal(crd.status.conditions.find((c) => c.type === 'NonStructuralSchema'), undefined, name);
      assert.equal(crd.status.conditions.find((c) => c.type === 'Established')?.status, 'True', name);
    }
    const explained = (await cluster.kubectl(['explain', 'daemonsetpolicy.spec.validations'])).stdout;
    assert.match(explained, /messageExpression/);
    assert.match(explained, /A CEL expression that is true when the DaemonSet passes/);
    assert.match((await cluster.kubectl(['explain', 'dspx.spec.expires'])).stdout, /RFC 3339 time/);
  });

  it('the exception CRD accepts the example exceptions and refuses one without a reason', async () => {
    await cluster.kubectl(['create', 'namespace', 'calico-system']);
    const example = await readFile(path.join(REPO_ROOT, 'examples/exceptions/calico-system.yaml'), 'utf8');
    const applied = await cluster.kubectl(['apply', '--server-side', '--dry-run=server', '-f', '-'], { input: example });
    assert.match(applied.stdout, /daemonsetpolicyexception\.daemonguard\.dev\/\S+ serverside-applied/);
    const withoutReason = parseObjects(example).find((o) => o.kind === 'DaemonSetPolicyException')!;
    delete (withoutReason.spec as { reason?: string }).reason;
    const refused = await cluster.kubectl(['create', '--dry-run=server', '-f', '-'], { input: JSON.stringify(withoutReason), allowFailure: true });
    assert.match(refused.stderr, /spec\.reason: Required value/);
  });

  it('the CRD accepts every policy of the built-in library, unchanged', async () => {
    const library = await loadPolicySet([path.join(REPO_ROOT, 'policies')]);
    const files = await libraryFiles(path.join(REPO_ROOT, 'policies'));
    const result = await cluster.kubectl(['apply', '--server-side', '--dry-run=server', ...files.flatMap((file) => ['-f', file])]);
    const applied = result.stdout.trim().split('\n').map((line) => /^daemonsetpolicy\.daemonguard\.dev\/(\S+) serverside-applied/.exec(line)?.[1]);
    assert.deepEqual(applied.sort(), library.policies.map((p) => p.name).sort());
  });

  it('the CRD refuses malformed objects with the field at fault', async () => {
    const refused = await cluster.kubectl(['create', '--dry-run=server', '-f', '-'], {
      allowFailure: true,
      input: JSON.stringify({
        apiVersion: 'daemonguard.dev/v1alpha1',
        kind: 'DaemonSetPolicy',
        metadata: { name: 'Not_A_Label' },
        spec: { validationActions: ['Block'], validations: [{ message: 'no expression' }] },
      }),
    });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /metadata\.name/);
    assert.match(refused.stderr, /spec\.validationActions\[0\]: Unsupported value: "Block"/);
    assert.match(refused.stderr, /spec\.validations\[0\]\.expression: Required value/);
  });

  it('enforces a policy applied with kubectl, through the apiserver, and says so in its status', async () => {
    const [first] = replicas.values();
    const manifests = await daemonguard(['manifests', '--url', first!.url, '--certs-dir', path.join(work, 'certs')]);
    assert.equal(manifests.code, 0, manifests.stderr);
    await cluster.kubectl(['apply', '--server-side', '-f', '-'], { input: manifests.stdout });
    await cluster.kubectl(['create', 'namespace', 'agents']);

    await cluster.kubectl(['apply', '-f', '-'], { input: privilegedPolicy('v1') });
    let refusal = '';
    await eventually('the policy to be enforced through the apiserver', async () => {
      const result = await cluster.kubectl(['create', '--dry-run=server', '-f', '-'], { input: JSON.stringify(daemonSet('agent', 'agents', { privileged: true })), allowFailure: true });
      refusal = result.stderr;
      return result.code !== 0;
    }, 30_000);
    assert.match(refusal, /denied the request: .*privileged containers are not allowed \(v1\)/);

    await eventually('Ready=True in the status', async () => ready(await policy('no-privileged'))?.status === 'True', 30_000);
    const object = await policy('no-privileged');
    assert.equal(object.status?.observedGeneration, object.metadata.generation);
    assert.equal(object.status?.expressions, 2);
    assert.equal(ready(object)?.reason, 'Loaded');
    const table = (await cluster.kubectl(['get', 'dsp'])).stdout;
    // WOULD-DENY stays empty without a background audit.
    assert.match(table, /^NAME\s+ACTIONS\s+READY\s+WOULD-DENY\s+AGE\nno-privileged\s+\["Deny"\]\s+True\s+\d+s\n/);
  });

  it('a broken version shows Ready=False with its field, line and caret, and the previous version keeps enforcing', async () => {
    const [first] = replicas.values();
    await cluster.kubectl(['apply', '-f', '-'], { input: privilegedPolicy('v2', 'variables.privilegd.size() == 0') });
    const generation = (await policy('no-privileged')).metadata.generation;
    await eventually('Ready=False for the broken generation', async () => {
      const condition = ready(await policy('no-privileged'));
      return condition?.status === 'False' && condition.observedGeneration === generation;
    }, 30_000);
    const condition = ready(await policy('no-privileged'))!;
    assert.equal(condition.reason, 'LoadFailed');
    // The field path, the line in the object as daemonguard reads it (keys sorted, apiVersion is line 1,
    // the validation's expression line 9), and the CEL error's caret under the misspelt variable.
    assert.match(condition.message, /Generation 1 keeps being enforced/);
    assert.match(condition.message, /spec\.validations\[0\]\.expression \(line 9, column \d+\): unknown variable "privilegd"/);
    assert.match(condition.message, /variables\.privilegd\.size\(\) == 0\n\s*\^/);
    assert.match(await verdict(first!), /privileged containers are not allowed \(v1\)/);
    const result = await cluster.kubectl(['create', '--dry-run=server', '-f', '-'], { input: JSON.stringify(daemonSet('agent', 'agents', { privileged: true })), allowFailure: true });
    assert.match(result.stderr, /privileged containers are not allowed \(v1\)/);
  });

  it('two replicas serve the same version within seconds of an update, and only the Lease holder writes status', async () => {
    const second = await startReplica('replica-b');
    await eventually('the second replica to be ready', async () => (await readyz(second)).status === 200, 30_000);
    await cluster.kubectl(['apply', '-f', '-'], { input: privilegedPolicy('v3') });
    for (const [identity, replica] of replicas) {
      await eventually(`${identity} to enforce v3`, async () => /\(v3\)/.test(await verdict(replica)), 15_000);
    }
    await eventually('Ready=True again', async () => ready(await policy('no-privileged'))?.status === 'True', 15_000);

    const holder = await leaseHolder();
    assert.ok(holder !== undefined && replicas.has(holder), `Lease holder ${holder}`);
    for (const [identity, replica] of replicas) {
      const leading: boolean = identity === holder;
      assert.equal(await metric(replica, 'daemonguard_leader'), leading ? 1 : 0, identity);
      const writes = await metric(replica, 'daemonguard_status_writes_total');
      if (leading) assert.ok(writes >= 1, `${identity} wrote ${writes}`);
      else assert.equal(writes, 0, `${identity} is not the leader and must not write status`);
    }
    const managers = JSON.parse((await cluster.kubectl(['get', 'dsp', 'no-privileged', '--show-managed-fields', '-o', 'json'])).stdout) as {
      metadata: { managedFields: { manager: string; subresource?: string }[] };
    };
    assert.deepEqual(managers.metadata.managedFields.filter((entry) => entry.subresource === 'status').map((entry) => entry.manager), ['daemonguard']);
  });

  it('killing the leader moves the Lease, and the new leader writes status', async () => {
    const holder = (await leaseHolder())!;
    const leader = replicas.get(holder)!;
    const [otherIdentity, other] = [...replicas].find(([identity]) => identity !== holder) as [string, ServeProcess];
    await leader.stop({ signal: 'SIGKILL' });
    replicas.delete(holder);
    await eventually('the Lease to move to the other replica', async () => (await leaseHolder()) === otherIdentity, 30_000);
    await eventually('the new leader to say it leads', async () => (await metric(other, 'daemonguard_leader')) === 1, 15_000);

    await cluster.kubectl(['apply', '-f', '-'], { input: privilegedPolicy('v4', 'variables.privileged.size() = 0') });
    const generation = (await policy('no-privileged')).metadata.generation;
    await eventually('the new leader to report the broken generation', async () => {
      const condition = ready(await policy('no-privileged'));
      return condition?.status === 'False' && condition.observedGeneration === generation;
    }, 30_000);
    assert.ok((await metric(other, 'daemonguard_status_writes_total')) >= 1);
    assert.match(await verdict(other), /\(v3\)/);
  });

  it('installs the built-in library from `manifests --policies --params-from` in Warn: every policy Ready, privileged agents admitted with warnings', async () => {
    await cluster.kubectl(['delete', 'dsp', 'no-privileged']);
    // --params-from: each policy with params reads an optional ConfigMap, none of which exists yet.
    const library = await daemonguard(['manifests', '--policies', '--validation-actions', 'Warn', '--params-from']);
    assert.equal(library.code, 0, library.stderr);
    await cluster.kubectl(['apply', '-f', '-'], { input: library.stdout });
    const names = parseObjects(library.stdout).map((object) => (object.metadata as { name: string }).name);
    await eventually('every library policy to be Ready', async () => {
      const list = JSON.parse((await cluster.kubectl(['get', 'dsp', '-o', 'json'])).stdout) as { items: PolicyObject[] };
      return list.items.length === names.length && list.items.every((item) => ready(item)?.status === 'True');
    }, 60_000);
    const [replica] = replicas.values();
    assert.equal(await metric(replica!, 'daemonguard_policies_loaded'), names.length);
    // The webhooks called the first replica, which may be the one killed: point them at the survivor.
    const manifests = await daemonguard(['manifests', '--url', replica!.url, '--certs-dir', path.join(work, 'certs')]);
    await cluster.kubectl(['apply', '--server-side', '-f', '-'], { input: manifests.stdout });
    const created = await cluster.kubectl(['create', '--dry-run=server', '-f', '-'], { input: JSON.stringify(daemonSet('agent', 'agents', { privileged: true })) });
    assert.match(created.stderr, /Warning: .*privileged/);
  });

  it('an exception object lets exactly the named DaemonSet through in its namespace, not in another; an expired one does not', async () => {
    await cluster.kubectl(['apply', '-f', '-'], { input: privilegedPolicy('v5') });
    await cluster.kubectl(['create', 'namespace', 'ex-a']);
    await cluster.kubectl(['create', 'namespace', 'ex-b']);
    const exception = (name: string, namespace: string, policies: string[], expires: string): string =>
      JSON.stringify({
        apiVersion: 'daemonguard.dev/v1alpha1',
        kind: 'DaemonSetPolicyException',
        metadata: { name, namespace },
        spec: { policies, match: { names: ['calico-node'] }, reason: 'the CNI agent needs privileges; reviewed in NET-142', expires },
      });
    await cluster.kubectl(['apply', '-f', '-'], { input: exception('calico', 'ex-a', ['no-privileged'], '2099-01-01T00:00:00Z') });
    await cluster.kubectl(['apply', '-f', '-'], { input: exception('calico', 'ex-b', ['no-privileged'], '2020-01-01T00:00:00Z') });
    await cluster.kubectl(['apply', '-f', '-'], { input: exception('typo', 'ex-a', ['no-privilegd'], '2099-01-01T00:00:00Z') });
    const create = (name: string, namespace: string) =>
      cluster.kubectl(['create', '--dry-run=server', '-f', '-'], { input: JSON.stringify(daemonSet(name, namespace, { privileged: true })), allowFailure: true });

    let excepted = { code: 1, stderr: '' };
    await eventually('the exception to apply', async () => {
      excepted = await create('calico-node', 'ex-a');
      return excepted.code === 0;
    }, 30_000);
    assert.match(excepted.stderr, /Warning: exception ex-a\/calico applied to no-privileged/);
    const other = await create('other-agent', 'ex-a');
    assert.notEqual(other.code, 0);
    assert.match(other.stderr, /privileged containers are not allowed \(v5\)/);
    const expired = await create('calico-node', 'ex-b');
    assert.notEqual(expired.code, 0);
    assert.match(expired.stderr, /exception ex-b\/calico expired at 2020-01-01T00:00:00Z; it no longer applies to no-privileged/);
    const elsewhere = await create('calico-node', 'agents');
    assert.notEqual(elsewhere.code, 0);

    const condition = async (name: string, namespace: string): Promise<ReadyCondition | undefined> =>
      ready(JSON.parse((await cluster.kubectl(['get', 'dspx', name, '-n', namespace, '-o', 'json'])).stdout) as PolicyObject);
    await eventually('the exceptions’ status', async () => (await condition('calico', 'ex-a'))?.status === 'True' && (await condition('typo', 'ex-a'))?.status === 'False', 30_000);
    const typo = (await condition('typo', 'ex-a'))!;
    assert.equal(typo.reason, 'UnknownPolicy');
    assert.match(typo.message, /spec\.policies names "no-privilegd", which is not loaded .* It applies to no policy\./);
    assert.match((await cluster.kubectl(['get', 'dspx', '-n', 'ex-a'])).stdout, /^NAME\s+POLICIES\s+EXPIRES\s+READY\s+AGE\ncalico\s+\["no-privileged"\]\s+2099-01-01T00:00:00Z\s+True/);
  });

  it('spec.paramsFrom: a ConfigMap in daemonguard’s namespace configures a policy; a value that does not type-check keeps the last good one', async () => {
    const configMap = (registry: string): string => JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'registry-params', namespace: NAMESPACE }, data: { registry } });
    await cluster.kubectl(['apply', '-f', '-'], { input: configMap('other.example') });
    await cluster.kubectl(['apply', '-f', '-'], {
      input: `apiVersion: daemonguard.dev/v1alpha1
kind: DaemonSetPolicy
metadata:
  name: registry
spec:
  validationActions: [Deny]
  params:
    registry: registry.example
  paramsFrom:
    configMap: registry-params
  validations:
    - expression: "object.spec.template.spec.containers.all(c, c.image.startsWith(params.registry + '/'))"
      messageExpression: "'images must come from ' + params.registry"
`,
    });
    const create = () => cluster.kubectl(['create', '--dry-run=server', '-f', '-'], { input: JSON.stringify(daemonSet('agent', 'agents')), allowFailure: true });
    await eventually('the ConfigMap’s registry to be enforced', async () => /images must come from other\.example/.test((await create()).stderr), 30_000);
    await cluster.kubectl(['apply', '-f', '-'], { input: configMap('registry.example') });
    await eventually('the changed value to be enforced', async () => (await create()).code === 0, 30_000);
    await cluster.kubectl(['apply', '-f', '-'], { input: configMap('[1, 2]') });
    await eventually('Ready=False for a list where a string is needed', async () => ready(await policy('registry'))?.status === 'False', 30_000);
    assert.match(ready(await policy('registry'))!.message, /Generation 1 keeps being enforced\.\nspec\.validations\[0\]\.(expression|messageExpression)/);
    assert.equal((await create()).code, 0, 'registry.example still allowed');
  });

  it('grants the service account no more than it needs', async () => {
    const can = async (...args: string[]): Promise<string> =>
      (await cluster.kubectl(['auth', 'can-i', ...args, `--as=${SERVICE_ACCOUNT}`], { allowFailure: true })).stdout.trim();
    for (const resource of ['daemonsetpolicies.daemonguard.dev', 'daemonsetpolicyexceptions.daemonguard.dev']) {
      for (const verb of ['get', 'list', 'watch']) assert.equal(await can(verb, resource, '--all-namespaces'), 'yes', `${verb} ${resource}`);
      assert.equal(await can('patch', resource, '--subresource=status', '--all-namespaces'), 'yes', resource);
    }
    assert.equal(await can('create', 'daemonsetpolicyexceptions.daemonguard.dev', '-n', 'ex-a'), 'no');
    assert.equal(await can('update', 'daemonsetpolicies.daemonguard.dev'), 'no');
    assert.equal(await can('delete', 'daemonsetpolicies.daemonguard.dev'), 'no');
    assert.equal(await can('update', 'leases', '-n', NAMESPACE), 'yes');
    assert.equal(await can('update', 'leases', '-n', 'kube-system'), 'no');
    assert.equal(await can('list', 'configmaps', '-n', NAMESPACE), 'yes');
    assert.equal(await can('list', 'configmaps', '-n', 'kube-system'), 'no');
    assert.equal(await can('list', 'daemonsets', '--all-namespaces'), 'no', 'only the audit component grants that');
  });

  it('with deploy/components/audit and --audit-interval, a Warn policy’s status shows how many DaemonSets Deny would refuse (kubectl get dsp: WOULD-DENY), and an exception changes it', async () => {
    // Two of three DaemonSets lack the owner label the Warn policy asks for; created before the policy.
    await cluster.kubectl(['create', 'namespace', 'impact']);
    const owned = daemonSet('agent-c', 'impact');
    owned.metadata.labels = { ...owned.metadata.labels, owner: 'team-c' };
    await cluster.kubectl(['create', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [daemonSet('agent-b', 'impact'), daemonSet('agent-a', 'impact'), owned] }) });
    await cluster.kubectl(['apply', '-f', '-'], {
      input: `apiVersion: daemonguard.dev/v1alpha1
kind: DaemonSetPolicy
metadata:
  name: owner-label
spec:
  validationActions: [Warn]
  match:
    namespaceSelector:
      matchLabels:
        kubernetes.io/metadata.name: impact
  validations:
    - expression: "has(object.metadata.labels) && 'owner' in object.metadata.labels"
      message: no owner label
`,
    });
    // The audit's RBAC exactly as the component grants it, and one replica that audits (it takes the Lease the others release).
    await cluster.kubectl(['apply', '--server-side', '-f', path.join(REPO_ROOT, 'deploy/components/audit/rbac.yaml')]);
    for (const [identity, replica] of replicas) {
      await replica.stop();
      replicas.delete(identity);
    }
    const auditing = await startServe({
      args: [
        '--address', '127.0.0.1', '--port', '0', '--tls-cert', 'certs/tls.crt', '--tls-key', 'certs/tls.key', '--policies-from-cluster', '--namespaces-from-cluster',
        '--leader-election-identity', 'replica-audit', '--lease-duration', '3s', '--audit-interval', '1h',
      ],
      cwd: work,
      env: { KUBECONFIG: path.join(work, 'kubeconfig'), POD_NAMESPACE: NAMESPACE },
    });
    replicas.set('replica-audit', auditing);
    type WithImpact = PolicyObject & { status?: { impact?: { wouldDeny: number; wouldWarn: number; sample: string[] } } };
    let impact: NonNullable<NonNullable<WithImpact['status']>['impact']> | undefined;
    await eventually('the policy’s status.impact', async () => (impact = ((await policy('owner-label')) as WithImpact).status?.impact) !== undefined, 60_000).catch((error: Error) => {
      // What the replica said is what tells a missing permission from a slow audit.
      const complaints = auditing.logLines().filter((line) => Number(line.level) >= 40).map((line) => JSON.stringify(line));
      throw new Error(`${error.message}; the auditing replica logged:\n${complaints.join('\n')}`);
    });
    assert.deepEqual(impact, { wouldDeny: 2, wouldWarn: 2, sample: ['impact/agent-a', 'impact/agent-b'] });
    const table = (await cluster.kubectl(['get', 'dsp', 'owner-label'])).stdout.split('\n');
    const column = table[0]!.split(/\s+/).indexOf('WOULD-DENY');
    assert.ok(column > 0, table[0]);
    assert.equal(table[1]!.split(/\s+/)[column], '2');
    // As deploy/README.md shows it.
    const printed = (await cluster.kubectl(['get', 'dsp', 'owner-label', '-o', 'jsonpath={.status.impact}'])).stdout;
    assert.deepEqual(JSON.parse(printed), impact);

    // An exception is a change too: the next audit (the interval is an hour away) takes agent-a out.
    await cluster.kubectl(['apply', '-f', '-'], {
      input: `apiVersion: daemonguard.dev/v1alpha1
kind: DaemonSetPolicyException
metadata:
  name: agent-a-owner
  namespace: impact
spec:
  policies: [owner-label]
  match:
    names: [agent-a]
  reason: agent-a is being handed over to a new team
`,
    });
    await eventually('the impact without agent-a', async () => ((await policy('owner-label')) as WithImpact).status?.impact?.wouldDeny === 1, 60_000);
    assert.deepEqual(((await policy('owner-label')) as WithImpact).status?.impact, { wouldDeny: 1, wouldWarn: 1, sample: ['impact/agent-b'] });
  });
});

async function libraryFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  const files = entries.filter((e) => e.isFile() && /\.ya?ml$/.test(e.name)).map((e) => path.join(e.parentPath, e.name));
  const policies: string[] = [];
  for (const file of files) if (/kind: DaemonSetPolicy/.test(await readFile(file, 'utf8'))) policies.push(file);
  return policies.sort();
}
