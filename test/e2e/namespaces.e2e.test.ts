// `daemonguard serve --namespaces-from-cluster --nodes-from-cluster` with the service account and
// RBAC of deploy/base: the least privilege it grants (get/list/watch namespaces and nodes, nothing
// else) is enough for policies with a namespaceSelector to see the labels of every namespace, and for
// policies that read `coverage` to see the nodes, including changes made later.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startServe, type ServeProcess } from '../support/serve-process.js';
import { startCluster, type Cluster } from './cluster/cluster.js';
import { daemonguard, daemonSet, eventually, kubeconfigAsDeployedServiceAccount } from './deploy-tools.js';

const SERVICE_ACCOUNT = 'system:serviceaccount:daemonguard-system:daemonguard';

const POLICIES = `apiVersion: daemonguard.dev/v1alpha1
kind: DaemonSetPolicy
metadata:
  name: locked-namespaces
spec:
  validationActions: [Deny]
  match:
    namespaceSelector:
      matchLabels:
        team: locked
  validations:
    - expression: "object.spec.template.spec.containers.all(c, !c.?securityContext.?privileged.orValue(false))"
      messageExpression: "'no privileged containers in namespace ' + namespaceObject.metadata.name"
      reason: Forbidden
---
apiVersion: daemonguard.dev/v1alpha1
kind: DaemonSetPolicy
metadata:
  name: no-gpu-nodes
spec:
  validationActions: [Deny]
  match:
    namespaces: [gpu-test]
  validations:
    - expression: "coverage != null && !coverage.scheduledNodes.exists(n, 'accelerator' in n.labels)"
      messageExpression: "coverage == null ? 'the nodes are not known' : 'lands on GPU nodes: ' + coverage.scheduledNodes.filter(n, 'accelerator' in n.labels).map(n, n.name).join(', ')"
      reason: Forbidden
`;

function node(name: string, labels: Record<string, string>): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name, labels } });
}

describe('serve --namespaces-from-cluster --nodes-from-cluster with the RBAC of deploy/base', { timeout: 300_000 }, () => {
  let cluster: Cluster;
  let server: ServeProcess;

  async function createPrivileged(namespace: string): Promise<{ code: number; stderr: string }> {
    return cluster.kubectl(['create', '--dry-run=server', '-f', '-'], {
      input: JSON.stringify(daemonSet(`agent-${Date.now()}`, namespace, { privileged: true })),
      allowFailure: true,
    });
  }

  before(async () => {
    cluster = await startCluster();
    const work = await mkdtemp(path.join(os.tmpdir(), 'daemonguard-namespaces-e2e-'));
    const kubeconfig = path.join(work, 'kubeconfig');
    await kubeconfigAsDeployedServiceAccount(cluster, kubeconfig, ['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding']);
    await mkdir(path.join(work, 'policies'));
    await writeFile(path.join(work, 'policies', 'policies.yaml'), POLICIES);
    const certs = await daemonguard(['certs', '--dir', path.join(work, 'certs'), '--ip', '127.0.0.1']);
    assert.equal(certs.code, 0, certs.stderr);
    await cluster.kubectl(['create', 'namespace', 'locked']);
    await cluster.kubectl(['label', 'namespace', 'locked', 'team=locked']);
    await cluster.kubectl(['create', 'namespace', 'open']);
    await cluster.kubectl(['create', 'namespace', 'gpu-test']);
    await cluster.kubectl(['create', '-f', '-'], { input: node('cpu-1', { 'kubernetes.io/os': 'linux' }) });

    server = await startServe({
      args: ['--address', '127.0.0.1', '--port', '0', '--tls-cert', 'certs/tls.crt', '--tls-key', 'certs/tls.key', '--policies', 'policies', '--namespaces-from-cluster', '--nodes-from-cluster'],
      cwd: work,
      env: { KUBECONFIG: kubeconfig },
    });
    const manifests = await daemonguard(['manifests', '--url', `https://127.0.0.1:${server.port}`, '--certs-dir', path.join(work, 'certs')]);
    assert.equal(manifests.code, 0, manifests.stderr);
    await cluster.kubectl(['apply', '--server-side', '-f', '-'], { input: manifests.stdout });
  });

  after(async () => {
    await server?.stop();
    await cluster?.stop();
  });

  it('grants the service account read access to namespaces and nodes and nothing else', async () => {
    const can = async (...args: string[]): Promise<string> =>
      (await cluster.kubectl(['auth', 'can-i', ...args, `--as=${SERVICE_ACCOUNT}`], { allowFailure: true })).stdout.trim();
    for (const verb of ['get', 'list', 'watch']) assert.equal(await can(verb, 'namespaces'), 'yes', verb);
    for (const verb of ['get', 'list', 'watch']) assert.equal(await can(verb, 'nodes'), 'yes', `${verb} nodes`);
    assert.equal(await can('update', 'namespaces'), 'no');
    assert.equal(await can('patch', 'nodes'), 'no');
    assert.equal(await can('list', 'secrets', '--all-namespaces'), 'no');
    assert.equal(await can('get', 'daemonsets', '-n', 'kube-system'), 'no');
  });

  it('sees the labels of namespaces that existed at start, and of those labelled or created later', async () => {
    let refused = '';
    await eventually('the webhook to refuse in the locked namespace', async () => {
      const result = await createPrivileged('locked');
      refused = result.stderr;
      return result.code !== 0;
    }, 30_000);
    assert.match(refused, /denied the request: .*no privileged containers in namespace locked/);
    assert.equal((await createPrivileged('open')).code, 0);

    await cluster.kubectl(['label', 'namespace', 'open', 'team=locked']);
    await eventually('the new label to be seen', async () => (await createPrivileged('open')).code !== 0);
    await cluster.kubectl(['label', 'namespace', 'open', 'team-']);
    await eventually('the removed label to be seen', async () => (await createPrivileged('open')).code === 0);

    await cluster.kubectl(['create', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'later', labels: { team: 'locked' } } }) });
    await eventually('a namespace created later to be seen', async () => (await createPrivileged('later')).code !== 0);
  });

  it('reads the nodes for coverage, including nodes added and removed later', async () => {
    const create = (): Promise<{ code: number; stderr: string }> =>
      cluster.kubectl(['create', '--dry-run=server', '-f', '-'], { input: JSON.stringify(daemonSet(`agent-${Date.now()}`, 'gpu-test')), allowFailure: true });
    // The apiserver's new-node taint (not-ready:NoSchedule) keeps daemon pods off a node: drop it, as
    // the node lifecycle controller would once the node is Ready.
    const untaint = (name: string): Promise<unknown> => cluster.kubectl(['taint', 'node', name, 'node.kubernetes.io/not-ready:NoSchedule-']);
    await untaint('cpu-1');
    await eventually('a DaemonSet that lands on no GPU node to be allowed', async () => (await create()).code === 0, 30_000);
    await cluster.kubectl(['create', '-f', '-'], { input: node('gpu-1', { 'kubernetes.io/os': 'linux', accelerator: 'nvidia' }) });
    await untaint('gpu-1');
    let refused = '';
    await eventually('the new GPU node to be seen', async () => {
      const result = await create();
      refused = result.stderr;
      return result.code !== 0;
    });
    assert.match(refused, /denied the request: no-gpu-nodes: lands on GPU nodes: gpu-1/);
    await cluster.kubectl(['delete', 'node', 'gpu-1']);
    await eventually('the deleted node to be forgotten', async () => (await create()).code === 0);
  });
});
