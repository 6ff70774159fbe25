// End-to-end check of the test cluster itself: a real kube-apiserver and etcd come up, take a
// DaemonSet through @kubernetes/client-node and through kubectl, and default it the way the
// webhook will see it in production.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AppsV1Api, CoreV1Api, KubeConfig, type V1DaemonSet } from '@kubernetes/client-node';
import { DEFAULT_K8S_VERSION, startCluster, type Cluster } from './cluster/cluster.js';
import { daemonSet as agentDaemonSet } from './deploy-tools.js';

const NAMESPACE = 'daemonguard-e2e';

function daemonSet(name: string): V1DaemonSet {
  return agentDaemonSet(name, NAMESPACE) as V1DaemonSet;
}

function statusCode(err: unknown): number | undefined {
  return (err as { code?: number }).code;
}

describe('e2e cluster (kube-apiserver + etcd)', { timeout: 300_000 }, () => {
  let cluster: Cluster;
  let apps: AppsV1Api;
  let core: CoreV1Api;

  before(async () => {
    const started = Date.now();
    cluster = await startCluster();
    console.log(`cluster up at ${cluster.server} in ${Date.now() - started} ms`);
    const kc = new KubeConfig();
    kc.loadFromFile(cluster.kubeconfigPath);
    apps = kc.makeApiClient(AppsV1Api);
    core = kc.makeApiClient(CoreV1Api);
  });

  after(async () => {
    await cluster?.stop();
  });

  it('serves the API and knows apps/v1 daemonsets', async () => {
    const { stdout } = await cluster.kubectl(['api-resources', '--api-group=apps', '-o', 'name']);
    assert.match(stdout, /^daemonsets\.apps$/m);
    const version = await cluster.kubectl(['version', '-o', 'json']);
    const parsed = JSON.parse(version.stdout) as {
      clientVersion?: { gitVersion?: string };
      serverVersion?: { gitVersion?: string };
    };
    const expected = process.env.DAEMONGUARD_E2E_K8S_VERSION || DEFAULT_K8S_VERSION;
    assert.equal(parsed.serverVersion?.gitVersion, expected);
    assert.equal(parsed.clientVersion?.gitVersion, expected);
  });

  it('creates a namespace and a DaemonSet with client-node and reads it back', async () => {
    await core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
    const created = await apps.createNamespacedDaemonSet({ namespace: NAMESPACE, body: daemonSet('via-client') });
    assert.ok(created.metadata?.uid);
    const read = await apps.readNamespacedDaemonSet({ name: 'via-client', namespace: NAMESPACE });
    assert.equal(read.metadata?.uid, created.metadata?.uid);
    assert.equal(read.spec?.template.spec?.containers[0]?.image, 'registry.example/agent:1.0.0');
  });

  it('applies a DaemonSet with kubectl and reads it back both ways', async () => {
    const manifest = JSON.stringify(daemonSet('via-kubectl'));
    const applied = await cluster.kubectl(['apply', '-f', '-'], { input: manifest });
    assert.match(applied.stdout, /daemonset\.apps\/via-kubectl (created|configured)/);
    const got = await cluster.kubectl(['get', 'daemonset', 'via-kubectl', '-n', NAMESPACE, '-o', 'json']);
    const fromKubectl = JSON.parse(got.stdout) as V1DaemonSet;
    const fromClient = await apps.readNamespacedDaemonSet({ name: 'via-kubectl', namespace: NAMESPACE });
    assert.equal(fromKubectl.metadata?.uid, fromClient.metadata?.uid);
    const list = await apps.listNamespacedDaemonSet({ namespace: NAMESPACE });
    assert.deepEqual(list.items.map((d) => d.metadata?.name).sort(), ['via-client', 'via-kubectl']);
  });

  it('fills in the DaemonSet defaults on a server-side dry-run create, and stores nothing', async () => {
    const dry = await apps.createNamespacedDaemonSet({
      namespace: NAMESPACE,
      body: daemonSet('dry-run-only'),
      dryRun: 'All',
    });
    assert.equal(dry.spec?.updateStrategy?.type, 'RollingUpdate');
    assert.equal(dry.spec?.updateStrategy?.rollingUpdate?.maxUnavailable, 1);
    assert.equal(dry.spec?.revisionHistoryLimit, 10);
    assert.equal(dry.spec?.template.spec?.restartPolicy, 'Always');
    assert.equal(dry.spec?.template.spec?.containers[0]?.terminationMessagePolicy, 'File');
    await assert.rejects(
      apps.readNamespacedDaemonSet({ name: 'dry-run-only', namespace: NAMESPACE }),
      (err: unknown) => statusCode(err) === 404,
    );

    const viaKubectl = await cluster.kubectl(
      ['create', '--dry-run=server', '-o', 'json', '-f', '-'],
      { input: JSON.stringify(daemonSet('dry-run-kubectl')) },
    );
    const ds = JSON.parse(viaKubectl.stdout) as V1DaemonSet;
    assert.equal(ds.spec?.updateStrategy?.rollingUpdate?.maxUnavailable, 1);
    assert.equal(ds.spec?.revisionHistoryLimit, 10);
  });

  it('rejects an invalid DaemonSet with a 422', async () => {
    const bad = daemonSet('bad-selector');
    assert.ok(bad.spec);
    bad.spec.selector = { matchLabels: { app: 'something-else' } };
    await assert.rejects(
      apps.createNamespacedDaemonSet({ namespace: NAMESPACE, body: bad }),
      (err: unknown) => statusCode(err) === 422,
    );
  });
});
