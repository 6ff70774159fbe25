// `daemonguard audit` against a real kube-apiserver: DaemonSets created while no webhook is there,
// then audited live (in pages smaller than the cluster, so limit/continue is exercised), from a
// `kubectl get ds,ns -A -o yaml` dump (the same results), and written as OpenReports Reports that
// the published OpenReports CRD (github.com/openreports/reports-api v0.2.1, read from its Go module)
// accepts and `kubectl get reports -A` returns.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli, type CliRun } from '../support/cli-process.js';
import { goModuleDir } from '../support/go-modules.js';
import { startServe, type ServeProcess } from '../support/serve-process.js';
import { temporaryDirectory, writeFiles, writeTestCertificates } from '../support/server-fixtures.js';
import { startCluster, type Cluster } from './cluster/cluster.js';
import { daemonSet, eventually, REPO_ROOT } from './deploy-tools.js';

const POLICIES = path.join(REPO_ROOT, 'src/cli/testdata/audit/current-policies.yaml');
const OPENREPORTS_MODULE = 'github.com/openreports/reports-api';
const OPENREPORTS_VERSION = 'v0.2.1';
/** More DaemonSets in one namespace than a page holds, so the live audit needs several list calls. */
const PAGE_SIZE = 7;
const DEV_DAEMONSETS = 17;

interface AuditJson {
  results: { file: string; name: string; namespace: string; allowed: boolean; violations: { policy: string; message: string; action: string }[]; warnings: string[]; nodes: number | null }[];
  summary: { total: number; denied: number; warned: number };
  missingNamespaces: string[];
}

interface ReportObject {
  metadata: { name: string; namespace: string };
  source: string;
  summary: Record<'pass' | 'fail' | 'warn' | 'error' | 'skip', number>;
  results: { policy: string; result: string; message?: string; resources: { kind: string; name: string; namespace: string }[] }[];
}

describe('daemonguard audit against a real kube-apiserver', { timeout: 600_000 }, () => {
  let cluster: Cluster;
  let live: CliRun;

  const audit = (args: string[], input?: string): Promise<CliRun> => runCli(['audit', '-p', POLICIES, ...args], { input, timeoutMs: 120_000 });

  before(async () => {
    cluster = await startCluster();
    await cluster.kubectl(['create', 'namespace', 'prod']);
    await cluster.kubectl(['label', 'namespace', 'prod', 'env=prod']);
    await cluster.kubectl(['create', 'namespace', 'dev']);
    const labelled = (object: ReturnType<typeof daemonSet>): ReturnType<typeof daemonSet> => ({ ...object, metadata: { ...object.metadata, labels: { ...object.metadata.labels, team: 'platform' } } });
    const objects = [
      labelled(daemonSet('kube-proxy', 'kube-system', { privileged: true })),
      labelled(daemonSet('privileged-agent', 'prod', { privileged: true })),
      labelled(daemonSet('exporter', 'prod')),
      ...Array.from({ length: DEV_DAEMONSETS }, (_, index) => daemonSet(`agent-${String(index).padStart(2, '0')}`, 'dev')),
    ];
    // No webhook is registered: everything is stored as written (and defaulted by the apiserver).
    await cluster.kubectl(['create', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }) });
    // No controller runs here, so the status a DaemonSet controller would write is set by hand.
    const status = { status: { desiredNumberScheduled: 3, currentNumberScheduled: 3, numberMisscheduled: 0, numberReady: 3 } };
    await cluster.kubectl(['patch', 'daemonset', 'exporter', '-n', 'prod', '--subresource=status', '--type=merge', '-p', JSON.stringify(status)]);
    live = await audit(['--kubeconfig', cluster.kubeconfigPath, '--page-size', String(PAGE_SIZE), '-o', 'json']);
  });

  let server: ServeProcess | undefined;
  after(async () => {
    await server?.stop();
    await cluster?.stop();
  });

  it('lists every DaemonSet through several pages and reports the expected failures (exit 1)', () => {
    assert.equal(live.code, 1, live.stderr);
    const report = JSON.parse(live.stdout) as AuditJson;
    const names = report.results.map((r) => `${r.namespace}/${r.name}`);
    assert.equal(names.length, 3 + DEV_DAEMONSETS);
    assert.equal(new Set(names).size, names.length, 'no DaemonSet twice across pages');
    const byName = new Map(report.results.map((r) => [`${r.namespace}/${r.name}`, r]));
    assert.deepEqual(byName.get('prod/privileged-agent')!.violations.map((v) => [v.policy, v.action]), [['no-privileged', 'Deny'], ['prod-limits', 'Deny']]);
    assert.deepEqual(byName.get('prod/exporter')!.violations, [{ policy: 'prod-limits', message: 'every container in a production namespace needs resource limits', action: 'Deny', reason: 'Invalid' }]);
    assert.equal(byName.get('prod/exporter')!.nodes, 3);
    assert.equal(byName.get('kube-system/kube-proxy')!.allowed, true, 'kube-system is excluded from no-privileged');
    for (let index = 0; index < DEV_DAEMONSETS; index++) {
      const agent = byName.get(`dev/agent-${String(index).padStart(2, '0')}`)!;
      assert.equal(agent.allowed, true);
      assert.deepEqual(agent.warnings, ['team-label: no team label']);
      assert.equal(agent.nodes, 0, 'the apiserver defaults the status counters to 0');
    }
    assert.deepEqual(report.summary, { total: 3 + DEV_DAEMONSETS, allowed: 1 + DEV_DAEMONSETS, denied: 2, warned: DEV_DAEMONSETS, skipped: 0 });
    assert.deepEqual(report.missingNamespaces, []);
  });

  it('gives the same results from a `kubectl get ds,ns -A -o yaml` dump as live', async () => {
    const dump = await cluster.kubectl(['get', 'ds,ns', '-A', '-o', 'yaml']);
    const offline = await audit(['--input', '-', '-o', 'json'], dump.stdout);
    assert.equal(offline.code, live.code, offline.stderr);
    const withoutFile = (run: CliRun): unknown => {
      const report = JSON.parse(run.stdout) as AuditJson;
      return { ...report, results: report.results.map(({ file: _file, ...rest }) => rest).sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`)) };
    };
    assert.deepEqual(withoutFile(offline), withoutFile(live));
  });

  it('names the context it cannot find (exit 2)', async () => {
    const run = await audit(['--kubeconfig', cluster.kubeconfigPath, '--context', 'nowhere']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /--context nowhere: the kubeconfig has no such context/);
  });

  it('writes Reports the published OpenReports CRD accepts, which `kubectl get reports -A` returns with their summaries', async () => {
    const module = await goModuleDir(OPENREPORTS_MODULE, OPENREPORTS_VERSION);
    const crd = await readFile(path.join(module, 'config/crd/openreports.io_reports.yaml'), 'utf8');
    await cluster.kubectl(['apply', '-f', '-'], { input: crd });
    await cluster.kubectl(['wait', '--for=condition=Established', 'crd/reports.openreports.io', '--timeout=60s']);

    const reports = await audit(['--kubeconfig', cluster.kubeconfigPath, '-o', 'openreports', '-q']);
    assert.equal(reports.code, 1, reports.stderr);
    assert.equal(reports.stderr, '', '--quiet: nothing on stderr');
    // Validated against the CRD's schema by the apiserver: an unknown or mistyped field is refused.
    const applied = await cluster.kubectl(['apply', '--validate=strict', '-f', '-'], { input: reports.stdout });
    assert.match(applied.stdout, /report\.openreports\.io\/daemonguard-audit created/);

    const listed = JSON.parse((await cluster.kubectl(['get', 'reports', '-A', '-o', 'json'])).stdout) as { items: ReportObject[] };
    assert.deepEqual(listed.items.map((r) => `${r.metadata.namespace}/${r.metadata.name}`).sort(), ['dev/daemonguard-audit', 'kube-system/daemonguard-audit', 'prod/daemonguard-audit']);
    for (const report of listed.items) {
      assert.equal(report.source, 'daemonguard');
      const counted = { pass: 0, fail: 0, warn: 0, error: 0, skip: 0 };
      for (const result of report.results) counted[result.result as keyof typeof counted]++;
      assert.deepEqual(report.summary, counted, `${report.metadata.namespace}: the summary counts the results as stored`);
    }
    const prod = listed.items.find((r) => r.metadata.namespace === 'prod')!;
    assert.deepEqual(prod.summary, { pass: 3, fail: 3, warn: 0, error: 0, skip: 0 });
    const dev = listed.items.find((r) => r.metadata.namespace === 'dev')!;
    assert.deepEqual(dev.summary, { pass: DEV_DAEMONSETS, fail: 0, warn: DEV_DAEMONSETS, error: 0, skip: DEV_DAEMONSETS });
    const wide = await cluster.kubectl(['get', 'reports', '-n', 'prod']);
    assert.match(wide.stdout, /daemonguard-audit +3 +3 +0 +0 +0 /, 'the CRD\'s printer columns show the summary');
  });

  it('serve --audit-interval keeps one Report per namespace current: written at start, updated after a policy change, removed with the last DaemonSet', async () => {
    const work = await temporaryDirectory('daemonguard-audit-e2e-');
    const certs = await writeTestCertificates(work);
    const policyText = await readFile(POLICIES, 'utf8');
    await writeFiles(work, { 'policies/policies.yaml': policyText });
    server = await startServe({
      args: ['--address', '127.0.0.1', '--port', '0', '--tls-cert', certs.certFile, '--tls-key', certs.keyFile, '--policies', path.join(work, 'policies'), '--namespaces-from-cluster', '--watch-interval', '500ms', '--audit-interval', '1h', '--leader-election-namespace', 'default'],
      env: { KUBECONFIG: cluster.kubeconfigPath },
    });
    const reports = async (): Promise<Map<string, ReportObject>> => {
      const listed = JSON.parse((await cluster.kubectl(['get', 'reports', '-A', '-o', 'json'])).stdout) as { items: ReportObject[] };
      return new Map(listed.items.map((r) => [r.metadata.namespace, r]));
    };
    const isDigested = (report: ReportObject | undefined): boolean => (report?.metadata as { annotations?: Record<string, string> } | undefined)?.annotations?.['daemonguard.dev/content-digest'] !== undefined;
    // The Reports the previous test applied carry no digest: the server's first audit replaces them.
    await server.waitForLog((line) => line.msg === 'background audit done', 60_000);
    const first = await reports();
    assert.deepEqual([...first.keys()].sort(), ['dev', 'kube-system', 'prod']);
    for (const report of first.values()) assert.ok(isDigested(report), `${report.metadata.namespace}: written by the server`);
    assert.deepEqual(first.get('dev')!.summary, { pass: DEV_DAEMONSETS, fail: 0, warn: DEV_DAEMONSETS, error: 0, skip: DEV_DAEMONSETS });

    // team-label from Warn to Deny, and kube-system's only DaemonSet gone: the next audit follows both.
    await cluster.kubectl(['delete', 'daemonset', 'kube-proxy', '-n', 'kube-system']);
    await writeFile(path.join(work, 'policies/policies.yaml'), policyText.replace('validationActions: [Warn]', 'validationActions: [Deny]'));
    await eventually('the Reports after the policy change', async () => {
      const now = await reports();
      return !now.has('kube-system') && now.get('dev')?.summary.fail === DEV_DAEMONSETS;
    }, 60_000);
    const after = await reports();
    const dev = after.get('dev')!;
    // prod's DaemonSets carry a team label: its Report's content is the same, so it was not written again.
    assert.equal((after.get('prod')!.metadata as { resourceVersion?: string }).resourceVersion, (first.get('prod')!.metadata as { resourceVersion?: string }).resourceVersion);
    // The audits after the first: the deletion (seen by the DaemonSet watch) and the policy change may
    // land in one audit or two, and a reload seen twice may add one that finds nothing to write; in all,
    // dev's Report was updated once, kube-system's deleted once, nothing created.
    // serve writes its log in batches (at least every 100 ms): the audit's line may follow the Reports it wrote.
    const outcomes = (): Record<string, number>[] =>
      server!.logLines().filter((line) => line.msg === 'background audit done').slice(1).map((line) => line.reports as Record<string, number>);
    const total = (field: string): number => outcomes().reduce((sum, outcome) => sum + (outcome[field] ?? 0), 0);
    await eventually('the log lines of the audits after the policy change', async () => total('updated') >= 1 && total('deleted') >= 1, 10_000).catch(() => undefined);
    assert.deepEqual({ created: total('created'), updated: total('updated'), deleted: total('deleted') }, { created: 0, updated: 1, deleted: 1 }, JSON.stringify(outcomes()));
    assert.deepEqual(dev.summary, { pass: DEV_DAEMONSETS, fail: DEV_DAEMONSETS, warn: 0, error: 0, skip: DEV_DAEMONSETS });
    assert.ok(dev.results.filter((r) => r.result === 'fail').every((r) => r.policy === 'team-label' && r.message === 'no team label'));

    // /metrics is on the plain-HTTP probe port.
    const metrics = await (await fetch(`${server.probeUrl}/metrics`)).text();
    assert.match(metrics, new RegExp(`\\ndaemonguard_audit_results\\{policy="team-label",namespace="dev",result="fail"\\} ${DEV_DAEMONSETS}\\n`));
    assert.match(metrics, /\ndaemonguard_audit_last_completed_timestamp_seconds [1-9]/);
  });

  it('with two replicas only the Lease holder audits and writes Reports; killing it moves the writing to the other', async () => {
    await server?.stop();
    server = undefined;
    const work = await temporaryDirectory('daemonguard-audit-leader-e2e-');
    const certs = await writeTestCertificates(work);
    const replicas = new Map<string, ServeProcess>();
    const start = async (identity: string): Promise<void> => {
      replicas.set(identity, await startServe({
        args: [
          '--address', '127.0.0.1', '--port', '0', '--tls-cert', certs.certFile, '--tls-key', certs.keyFile, '--policies', POLICIES, '--namespaces-from-cluster',
          '--audit-interval', '1s', '--leader-election-namespace', 'default', '--leader-election-identity', identity, '--lease-duration', '3s',
        ],
        env: { KUBECONFIG: cluster.kubeconfigPath },
      }));
    };
    const audits = (identity: string): number => replicas.get(identity)!.logLines().filter((line) => line.msg === 'background audit done').length;
    const holder = async (): Promise<string> => (await cluster.kubectl(['get', 'lease', 'daemonguard-status-writer', '-n', 'default', '-o', 'jsonpath={.spec.holderIdentity}'], { allowFailure: true })).stdout.trim();
    const leaderGauge = async (identity: string): Promise<string | undefined> => {
      const text = await (await fetch(`${replicas.get(identity)!.probeUrl}/metrics`)).text();
      return /\ndaemonguard_leader (\d)\n/.exec(text)?.[1];
    };
    try {
      await Promise.all([start('replica-a'), start('replica-b')]);
      let leader = '';
      await eventually('one replica to hold the Lease', async () => replicas.has((leader = await holder())), 30_000);
      const [follower] = [...replicas.keys()].filter((identity) => identity !== leader) as [string];
      // Several audit intervals pass on the leader; the other replica stays silent all along.
      await eventually(`${leader} to audit three times`, async () => audits(leader) >= 3, 60_000);
      assert.equal(audits(follower), 0, `${follower} does not hold the Lease and must not write Reports`);
      assert.equal(await leaderGauge(leader), '1');
      assert.equal(await leaderGauge(follower), '0');

      // Reports gone and the leader killed (no Lease release): the other replica takes over after the
      // lease duration and writes them again.
      await replicas.get(leader)!.stop({ signal: 'SIGKILL' });
      await cluster.kubectl(['delete', 'reports', '-A', '--all']);
      await eventually(`${follower} to take the Lease over`, async () => (await holder()) === follower, 30_000);
      await eventually(`${follower} to write the Reports`, async () => {
        const listed = JSON.parse((await cluster.kubectl(['get', 'reports', '-A', '-o', 'json'])).stdout) as { items: ReportObject[] };
        return listed.items.length === 2;
      }, 60_000);
      // The audit's log line may follow the Reports it wrote (serve writes its log in batches).
      const outcomes = (): { created: number }[] =>
        replicas.get(follower)!.logLines().filter((line) => line.msg === 'background audit done').map((line) => line.reports as { created: number });
      await eventually(`${follower}'s log line of the audit that wrote them`, async () => outcomes().some((outcome) => outcome.created === 2), 10_000).catch(() => undefined);
      assert.ok(outcomes().some((outcome) => outcome.created === 2), JSON.stringify(outcomes()));
      assert.equal(await leaderGauge(follower), '1');
    } finally {
      for (const replica of replicas.values()) await replica.stop();
    }
  });
});
