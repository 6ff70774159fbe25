// `daemonguard serve --namespaces-from-cluster` with the service account and RBAC of deploy/base:
// the least privilege it grants (get/list/watch namespaces, nothing else) is enough for policies
// with a namespaceSelector to see the labels of every namespace, including changes made later.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startServe, type ServeProcess } from '../support/serve-process.js';
import { startCluster, type Cluster } from './cluster/cluster.js';
import { daemonguard, daemonSet, eventually, kustomizeBuild, parseObjects, REPO_ROOT } from './deploy-tools.js';

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
`;

describe('serve --namespaces-from-cluster with the RBAC of deploy/base', { timeout: 300_000 }, () => {
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
    // The namespace, service account and RBAC exactly as deploy/base renders them.
    const base = parseObjects(await kustomizeBuild(path.join(REPO_ROOT, 'deploy/base')));
    const rbac = base.filter((o) => ['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind));
    await cluster.kubectl(['apply', '--server-side', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: rbac }) });
    const token = (await cluster.kubectl(['create', 'token', 'daemonguard', '-n', 'daemonguard-system'])).stdout.trim();

    const work = await mkdtemp(path.join(os.tmpdir(), 'daemonguard-namespaces-e2e-'));
    const kubeconfig = path.join(work, 'kubeconfig');
    await writeFile(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'e2e', cluster: { server: cluster.server, 'certificate-authority-data': Buffer.from(cluster.caCertPem).toString('base64') } }],
        users: [{ name: 'daemonguard', user: { token } }],
        contexts: [{ name: 'daemonguard', context: { cluster: 'e2e', user: 'daemonguard' } }],
        'current-context': 'daemonguard',
      }),
      { mode: 0o600 },
    );
    await mkdir(path.join(work, 'policies'));
    await writeFile(path.join(work, 'policies', 'policies.yaml'), POLICIES);
    const certs = await daemonguard(['certs', '--dir', path.join(work, 'certs'), '--ip', '127.0.0.1']);
    assert.equal(certs.code, 0, certs.stderr);
    await cluster.kubectl(['create', 'namespace', 'locked']);
    await cluster.kubectl(['label', 'namespace', 'locked', 'team=locked']);
    await cluster.kubectl(['create', 'namespace', 'open']);

    server = await startServe({
      args: ['--address', '127.0.0.1', '--port', '0', '--tls-cert', 'certs/tls.crt', '--tls-key', 'certs/tls.key', '--policies', 'policies', '--namespaces-from-cluster'],
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

  it('grants the service account read access to namespaces and nothing else', async () => {
    const can = async (...args: string[]): Promise<string> =>
      (await cluster.kubectl(['auth', 'can-i', ...args, `--as=${SERVICE_ACCOUNT}`], { allowFailure: true })).stdout.trim();
    for (const verb of ['get', 'list', 'watch']) assert.equal(await can(verb, 'namespaces'), 'yes', verb);
    assert.equal(await can('update', 'namespaces'), 'no');
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
});
