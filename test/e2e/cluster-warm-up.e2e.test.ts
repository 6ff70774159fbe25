// `serve --policies-from-cluster` warms up the sets it builds from DaemonSetPolicy objects before they
// serve, as it does for policy files (src/server/warm-up.ts): the first before /readyz says ready, and
// one rebuilt for a change of the objects before it replaces the one serving. Against a real
// kube-apiserver with the built-in library installed as objects. What a user relies on is asserted by
// signals that do not depend on the machine's speed: the warm-up counter already counts the set when
// /readyz first answers 200 or when a change is first enforced, and the warm-up's log line comes before
// the decision of the first review it serves. How much faster that review is goes to the test's
// diagnostics (and npm run bench:latency), not into an assertion.
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startServe, type LogLine, type ServeProcess } from '../support/serve-process.js';
import { admissionReview, callHttps, daemonSet } from '../support/server-fixtures.js';
import { startCluster, type Cluster } from './cluster/cluster.js';
import { daemonguard, eventually, kubeconfigAsDeployedServiceAccount, parseObjects, REPO_ROOT } from './deploy-tools.js';

const CRDS_DIR = path.join(REPO_ROOT, 'deploy/base/crds');
const NAMESPACE = 'daemonguard-system';
const WARMED_UP = 'policy set warmed up';
const CUT_SHORT = 'policy set warm-up stopped at --warm-up-budget';
const DECISION = 'admission decision';

/** A policy added after the start: the change whose set must be warmed up before it serves. */
const ADDED_POLICY = `apiVersion: daemonguard.dev/v1alpha1
kind: DaemonSetPolicy
metadata:
  name: reserved-name
spec:
  validationActions: [Deny]
  validations:
    - expression: "object.metadata.name != 'reserved'"
      message: the name reserved is reserved
`;

const isWarmUp = (line: LogLine): boolean => line['msg'] === WARMED_UP || String(line['msg']).startsWith(CUT_SHORT);

describe('serve --policies-from-cluster: warm-up', { timeout: 600_000 }, () => {
  let cluster: Cluster;
  let work: string;
  let ca: string;
  let libraryPolicies: number;
  const replicas: ServeProcess[] = [];

  function startReplica(identity: string, extra: readonly string[] = []): Promise<ServeProcess> {
    return startServe({
      args: [
        '--address', '127.0.0.1', '--port', '0', '--tls-cert', 'certs/tls.crt', '--tls-key', 'certs/tls.key',
        '--policies-from-cluster', '--namespaces-from-cluster', '--leader-election-identity', identity, '--lease-duration', '3s', ...extra,
      ],
      cwd: work,
      env: { KUBECONFIG: path.join(work, 'kubeconfig'), POD_NAMESPACE: NAMESPACE },
    }).then((replica) => {
      replicas.push(replica);
      return replica;
    });
  }

  /** /readyz asked as often as the machine allows: the test looks at the server the moment it is ready. */
  async function untilReady(replica: ServeProcess): Promise<void> {
    const deadline = Date.now() + 120_000;
    for (;;) {
      if ((await fetch(`${replica.probeUrl}/readyz`)).status === 200) return;
      if (Date.now() > deadline) assert.fail('the replica did not become ready within 120 s');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  async function warmUps(replica: ServeProcess): Promise<number> {
    const text = await (await fetch(`${replica.probeUrl}/metrics`)).text();
    return text
      .split('\n')
      .filter((line) => line.startsWith('daemonguard_policy_warm_ups_total{'))
      .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
  }

  /** Sends a DaemonSet named `name` to /validate; the answer's message ('' when allowed without one). */
  async function validate(replica: ServeProcess, uid: string, name: string): Promise<string> {
    const review = admissionReview('CREATE', daemonSet({ name, namespace: 'tenants' }), { uid });
    const answer = (await callHttps(`${replica.url}/validate`, { ca, body: JSON.stringify(review), agent: false })).json<{ response: { status?: { message: string } } }>();
    return answer.response.status?.message ?? '';
  }

  function indexOf(replica: ServeProcess, what: string, match: (line: LogLine) => boolean): number {
    const index = replica.logLines().findIndex(match);
    assert.ok(index >= 0, `the log has ${what}`);
    return index;
  }

  /**
   * Lets the work of a start settle (the informers' lists, the leader's status writes) before the first
   * review, as in a cluster where the first DaemonSet write comes long after the start: the review's
   * durationMs (in the diagnostics only) then measures the policy set, not the event loop's queue.
   */
  const quiet = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 3_000));

  async function decisionMs(replica: ServeProcess, uid: string): Promise<number> {
    return (await replica.waitForLog((line) => line['msg'] === DECISION && line['uid'] === uid))['durationMs'] as number;
  }

  before(async () => {
    cluster = await startCluster();
    work = await mkdtemp(path.join(os.tmpdir(), 'daemonguard-cluster-warm-up-e2e-'));
    await kubeconfigAsDeployedServiceAccount(cluster, path.join(work, 'kubeconfig'), ['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']);
    const certs = await daemonguard(['certs', '--dir', path.join(work, 'certs'), '--ip', '127.0.0.1']);
    assert.equal(certs.code, 0, certs.stderr);
    ca = await readFile(path.join(work, 'certs', 'ca.crt'), 'utf8');
    await cluster.kubectl(['apply', '--server-side', '-k', CRDS_DIR]);
    // The namespace the reviews name, so that the library's policies that select namespaces know its labels.
    await cluster.kubectl(['create', 'namespace', 'tenants']);
    await cluster.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/daemonsetpolicies.daemonguard.dev', 'crd/daemonsetpolicyexceptions.daemonguard.dev']);
    // The built-in library as objects, before any replica starts: the first set a replica builds holds all of it.
    const library = await daemonguard(['manifests', '--policies']);
    assert.equal(library.code, 0, library.stderr);
    await cluster.kubectl(['apply', '-f', '-'], { input: library.stdout });
    libraryPolicies = parseObjects(library.stdout).filter((object) => object.kind === 'DaemonSetPolicy').length;
    assert.ok(libraryPolicies >= 10, `the library has ${libraryPolicies} policies`);
  });

  after(async () => {
    for (const replica of replicas) await replica.stop();
    await cluster?.stop();
  });

  let warmFirstMs = Number.NaN;

  it('the first set is warmed up before /readyz says ready; a set rebuilt for a changed object is warmed up before it is enforced', async (t) => {
    const replica = await startReplica('replica-warm');
    await untilReady(replica);
    // Counted before the set became current(), which is what /readyz asks: no window in which the
    // server is ready with a cold set.
    assert.ok((await warmUps(replica)) >= 1, 'warmed up before ready');
    // The log is written in batches: the line may reach it a little after /readyz.
    const start = await replica.waitForLog((line) => isWarmUp(line) && line['trigger'] === 'start');
    assert.equal(start['policies'], libraryPolicies);
    assert.ok((start['reviews'] as number) > 0);
    await quiet();
    await validate(replica, 'warm-first', 'agent');
    warmFirstMs = await decisionMs(replica, 'warm-first');
    assert.ok(indexOf(replica, 'the start warm-up', (line) => isWarmUp(line) && line['trigger'] === 'start') < indexOf(replica, 'the first decision', (line) => line['uid'] === 'warm-first'));
    // The sample reviews left nothing in the decision log or the request counters.
    assert.deepEqual(replica.logLines().filter((line) => line['msg'] === DECISION).map((line) => line['uid']), ['warm-first']);

    const before = await warmUps(replica);
    await cluster.kubectl(['apply', '-f', '-'], { input: ADDED_POLICY });
    let attempt = 0;
    let enforcedBy = '';
    await eventually('the added policy to be enforced', async () => {
      const uid = `after-change-${++attempt}`;
      const message = await validate(replica, uid, 'reserved');
      if (message.includes('the name reserved is reserved')) enforcedBy = uid;
      return enforcedBy !== '';
    }, 60_000);
    assert.ok((await warmUps(replica)) >= before + 1, 'the rebuilt set was warmed up before it was enforced');
    // Lines reach the log in order: once the decision is there, whatever came before it is too.
    await decisionMs(replica, enforcedBy);
    const changed = indexOf(replica, 'the change’s warm-up', (line) => isWarmUp(line) && line['trigger'] === 'DaemonSetPolicy change' && line['policies'] === libraryPolicies + 1);
    assert.ok(changed < indexOf(replica, 'the decision that enforced the change', (line) => line['uid'] === enforcedBy));
    t.diagnostic(`first review after ready, warmed up: ${warmFirstMs} ms in the server`);
  });

  it('with --warm-up-budget 0 the cluster’s sets serve unwarmed, and /readyz still waits for the first one', async (t) => {
    const replica = await startReplica('replica-cold', ['--warm-up-budget', '0']);
    await untilReady(replica);
    assert.equal(await warmUps(replica), 0);
    await quiet();
    assert.match(await validate(replica, 'cold-first', 'reserved'), /the name reserved is reserved/);
    const coldFirstMs = await decisionMs(replica, 'cold-first');
    assert.equal(replica.logLines().filter(isWarmUp).length, 0);
    t.diagnostic(`first review after ready: ${coldFirstMs} ms unwarmed, ${warmFirstMs} ms warmed up (${(coldFirstMs / warmFirstMs).toFixed(1)}×)`);
  });
});
