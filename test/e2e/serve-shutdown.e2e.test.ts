// `daemonguard serve` with each feature that talks to a real kube-apiserver, stopped with SIGTERM the
// moment /readyz first answers 200, as a kubelet may during a rollout: each must shut down cleanly
// (exit 0, the "shut down" line), not end on the signal mid-start. The unit test in
// src/cli/serve-command.test.ts does the same for the features that need no cluster.
// Last, a replica holding the leader Lease is stopped after its apiserver stopped answering (SIGSTOP):
// the Lease release hangs, and the stop must still end within --shutdown-grace plus the margin
// (src/cli/serve-lifecycle.ts; SIGTERM during start-up is tested in src/cli/serve-lifecycle.test.ts).
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort, signalWhenFirstReady, startServe, stopAllServes } from '../support/serve-process.js';
import { TEST_POLICIES, temporaryDirectory, writeFiles, writeTestCertificates } from '../support/server-fixtures.js';
import { startCluster, type Cluster } from './cluster/cluster.js';
import { daemonSet, REPO_ROOT } from './deploy-tools.js';

const CRDS_DIR = path.join(REPO_ROOT, 'deploy/base/crds');
/** A native policy whose binding reads params (ConfigMaps), so --native-params-from-cluster has a kind to watch. */
const PARAMS_POLICY = path.join(REPO_ROOT, 'src', 'cli', 'testdata', 'native', 'policy.yaml');
const LEASE = 'daemonguard-status-writer';

describe('serve with cluster features, stopped by SIGTERM', { timeout: 600_000 }, () => {
  let cluster: Cluster;
  let work: string;

  before(async () => {
    cluster = await startCluster();
    await cluster.kubectl(['apply', '--server-side', '-k', CRDS_DIR]);
    await cluster.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/daemonsetpolicies.daemonguard.dev', 'crd/daemonsetpolicyexceptions.daemonguard.dev']);
    // Something for the audit to judge, so that with --audit-interval a leader has an audit to run.
    await cluster.kubectl(['create', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [daemonSet('agent', 'default', { privileged: true })] }) });
    work = await temporaryDirectory('daemonguard-serve-shutdown-e2e-');
    await writeTestCertificates(work);
    await writeFiles(work, { 'policies/all.yaml': TEST_POLICIES });
  });

  after(async () => {
    await stopAllServes();
    await cluster?.stop();
  });

  const cases: { name: string; args: string[] }[] = [
    { name: '--namespaces-from-cluster', args: ['--policies', 'policies', '--namespaces-from-cluster'] },
    { name: '--nodes-from-cluster', args: ['--policies', 'policies', '--namespaces-from-cluster', '--nodes-from-cluster'] },
    { name: '--native-params-from-cluster', args: ['--policies', PARAMS_POLICY, '--native-params-from-cluster'] },
    { name: '--policies-from-cluster', args: ['--policies-from-cluster', '--namespaces-from-cluster'] },
    { name: '--audit-interval', args: ['--policies', 'policies', '--namespaces-from-cluster', '--audit-interval', '1s'] },
    { name: '--audit-interval with --policies-from-cluster (the audit follows the status writer\'s Lease)', args: ['--policies-from-cluster', '--namespaces-from-cluster', '--audit-interval', '1s'] },
  ];
  for (const { name, args } of cases) {
    it(`${name}: shuts down cleanly, exits 0, and leaves the Lease to others`, async () => {
      const port = await freePort();
      const { served, exit } = await signalWhenFirstReady({
        args: [
          '--address', '127.0.0.1', '--port', String(port), '--tls-cert', 'tls.crt', '--tls-key', 'tls.key',
          '--leader-election-namespace', 'default', '--leader-election-identity', `replica-${port}`, '--lease-duration', '3s', ...args,
        ],
        cwd: work,
        readyz: { port },
        env: { KUBECONFIG: cluster.kubeconfigPath },
      });
      const messages = served.logLines().map((line) => line['msg']);
      assert.deepEqual(exit, { code: 0, signal: null }, `${served.stdout()}\n${served.stderr()}`);
      assert.ok(messages.includes('shut down'), messages.join('\n'));
      // A replica that won the Lease before the signal gives it up on the way out.
      const holder = await cluster.kubectl(['get', 'lease', LEASE, '-n', 'default', '-o', 'jsonpath={.spec.holderIdentity}'], { allowFailure: true });
      assert.notEqual(holder.stdout.trim(), `replica-${port}`, messages.join('\n'));
    });
  }

  // Last: the cluster is not usable while its apiserver is stopped.
  it('with the leader Lease held and the apiserver no longer answering: exits 0 within --shutdown-grace plus the margin, naming the Lease release it could not finish', async () => {
    const port = await freePort();
    // A lease duration of 60s gives each Lease call 40s (the renew deadline) before it times out on its
    // own: only the shutdown bound (2s + the margin) can end the stop before the 30s hang guard below.
    const served = await startServe({
      args: [
        '--address', '127.0.0.1', '--port', String(port), '--tls-cert', 'tls.crt', '--tls-key', 'tls.key', '--policies-from-cluster', '--namespaces-from-cluster',
        '--leader-election-namespace', 'default', '--leader-election-identity', `replica-${port}`, '--lease-duration', '60s', '--shutdown-grace', '2s',
      ],
      cwd: work,
      readyz: { port },
      env: { KUBECONFIG: cluster.kubeconfigPath },
    });
    await served.waitForLog((line) => line['msg'] === 'leading: this replica writes status', 60_000);
    process.kill(cluster.apiserverPid, 'SIGSTOP');
    try {
      // Only a hang guard: a server that does not exit by itself is killed, and its exit is then not 0.
      const exit = await served.stop({ signal: 'SIGTERM', graceMs: 30_000 });
      const log = served.stdout();
      assert.deepEqual(exit, { code: 0, signal: null }, log);
      const gaveUp = served.logLines().find((line) => typeof line['msg'] === 'string' && line['msg'].startsWith('shutdown did not finish within --shutdown-grace'));
      assert.ok(gaveUp, log);
      assert.deepEqual(gaveUp['unfinished'], ['cluster policy watches and the leader Lease'], log);
      assert.equal(gaveUp['graceMs'], 2_000);
      // The drain itself finished: what was cut short is the Lease release alone.
      assert.ok(served.logLines().some((line) => line['msg'] === 'shutting down: no new connections, finishing reviews in flight'), log);
    } finally {
      process.kill(cluster.apiserverPid, 'SIGCONT');
    }
  });
});
