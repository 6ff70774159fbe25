// npm run bench:audit — does the background audit slow the webhook down?
//
// Starts a kube-apiserver and etcd (the end-to-end suite's binaries: test/e2e/cluster/build.sh),
// installs the OpenReports CRD (from its Go module, as the e2e does), stores DaemonSets with no webhook
// in the way, and runs `daemonguard serve` with the built-in library in two ways, taking turns (A B A B)
// because the machine is shared and noisy: without an audit, and with `--audit-interval 1s`, so that an
// audit of every stored DaemonSet is running or about to start during the whole measurement (with
// --variants, two more: the audit worker's duty cycle at 1 and at 0.25 instead of the default 0.5).
// Each is
// driven on /validate with small reviews over 10 keep-alive connections by the load generator in a
// process of its own. Reported: medians of requests/s, p50 and p99 per mode, the ratios audit / no audit
// taken within each round and then their median, and how many audits completed under load. Numbers are
// reported, never asserted.
//
//   npm run bench:audit [-- --quick] [--rounds N] [--seconds S] [--daemonsets N] [--variants]
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDevCertificates } from '../src/certs/dev-certificates.js';
import { startCluster, type Cluster } from '../test/e2e/cluster/cluster.js';
import { daemonSet } from '../test/e2e/deploy-tools.js';
import { goModuleDir } from '../test/support/go-modules.js';
import { startServe, type ServeProcess } from '../test/support/serve-process.js';
import { machineDescription, median, runLoad } from './bench-processes.js';
import type { LoadResult } from './load-client.js';
import { BUILT_IN_POLICIES, reviewBodies } from './webhook-payloads.js';

function flag(name: string): string | undefined {
  const index = process.argv.indexOf(`--${name}`);
  return index > 0 ? process.argv[index + 1] : undefined;
}

const QUICK = process.argv.includes('--quick');
const ROUNDS = Number(flag('rounds') ?? (QUICK ? 1 : 3));
const SECONDS = Number(flag('seconds') ?? (QUICK ? 5 : 15));
const DAEMONSETS = Number(flag('daemonsets') ?? (QUICK ? 200 : 1_000));
const NAMESPACES = 20;
const CREATE_CHUNK = 250;

/** A way to run the server: its name in the output and the flags it adds (none: no audit). */
interface Mode {
  name: string;
  auditArgs?: string[];
}
const NO_AUDIT: Mode = { name: 'no audit' };
// --variants adds the audit with the worker's duty cycle at 1 (no pauses) and at 0.25 (the default is 0.5).
const MODES: readonly Mode[] = [
  NO_AUDIT,
  { name: 'audit every 1s', auditArgs: [] },
  ...(process.argv.includes('--variants')
    ? [{ name: 'audit, duty 1', auditArgs: ['--audit-duty-cycle', '1'] }, { name: 'audit, duty 0.25', auditArgs: ['--audit-duty-cycle', '0.25'] }]
    : []),
];

interface Measurement {
  mode: Mode;
  load: LoadResult;
  auditsDuringLoad: number;
  /** The server's resident memory after the run (MiB): the informer cache and the worker are in it. */
  rssMiB: number;
  /** Median wall time of an audit under load, and of the worker's share of it (ms); NaN without audits. */
  auditMs: number;
  workerMs: number;
  /** How long the first audit took, before the load started (ms); NaN without audits. */
  idleAuditMs: number;
}

async function storeDaemonSets(cluster: Cluster): Promise<void> {
  for (let n = 0; n < NAMESPACES; n++) await cluster.kubectl(['create', 'namespace', `team-${n}`]);
  const objects = Array.from({ length: DAEMONSETS }, (_, i) => daemonSet(`agent-${i}`, `team-${i % NAMESPACES}`, { privileged: i % 7 === 0 }));
  for (let i = 0; i < objects.length; i += CREATE_CHUNK) {
    await cluster.kubectl(['create', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects.slice(i, i + CREATE_CHUNK) }), timeoutMs: 300_000 });
  }
}

async function startServer(mode: Mode, cluster: Cluster, tls: { certFile: string; keyFile: string }, identity: string): Promise<ServeProcess> {
  const args = ['--address', '127.0.0.1', '--port', '0', '--tls-cert', tls.certFile, '--tls-key', tls.keyFile, '--policies', BUILT_IN_POLICIES, '--namespaces-from-cluster'];
  if (mode.auditArgs !== undefined) args.push('--audit-interval', '1s', '--leader-election-namespace', 'default', '--leader-election-identity', identity, '--lease-duration', '3s', ...mode.auditArgs);
  const served = await startServe({ args, env: { KUBECONFIG: cluster.kubeconfigPath } });
  // Measure while audits run, not while the first one is still waiting for the Lease.
  if (mode.auditArgs !== undefined) await served.waitForLog((line) => line['msg'] === 'background audit done', 300_000);
  return served;
}

const auditsDone = (served: ServeProcess): number => served.logLines().filter((line) => line['msg'] === 'background audit done').length;

async function measure(mode: Mode, round: number, cluster: Cluster, tls: { certFile: string; keyFile: string }, bodiesFile: string): Promise<Measurement> {
  const served = await startServer(mode, cluster, tls, `bench-${round}`);
  try {
    const before = auditsDone(served);
    const load = await runLoad({ url: served.url, connections: 10, seconds: SECONDS, mix: [{ path: '/validate', bodiesFile }] });
    const metrics = await (await fetch(`${served.probeUrl}/metrics`)).text();
    const rss = Number(/\nprocess_resident_memory_bytes (\S+)\n/.exec(metrics)?.[1] ?? NaN);
    const all = served.logLines().filter((line) => line['msg'] === 'background audit done');
    const done = all.slice(before);
    return {
      mode,
      load,
      auditsDuringLoad: done.length,
      rssMiB: rss / 2 ** 20,
      auditMs: done.length === 0 ? NaN : median(done.map((line) => Number(line['durationMs']))),
      workerMs: done.length === 0 ? NaN : median(done.map((line) => Number(line['workerMs']))),
      idleAuditMs: all.length === 0 ? NaN : Number(all[0]!['durationMs']),
    };
  } finally {
    // A stopping leader empties the Lease, so the next round's server takes it at once.
    await served.stop();
  }
}

const format = (value: number, digits = 1): string => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'daemonguard-audit-bench-'));
  const cluster = await startCluster();
  try {
    const module = await goModuleDir('github.com/openreports/reports-api', 'v0.2.1');
    await cluster.kubectl(['apply', '-f', '-'], { input: await readFile(join(module, 'config/crd/openreports.io_reports.yaml'), 'utf8') });
    await cluster.kubectl(['wait', '--for=condition=Established', 'crd/reports.openreports.io', '--timeout=60s']);
    await storeDaemonSets(cluster);
    const certs = await ensureDevCertificates(join(work, 'certs'));
    const tls = { certFile: certs.certFile, keyFile: certs.keyFile };
    const bodiesFile = join(work, 'small.json');
    await writeFile(bodiesFile, JSON.stringify(reviewBodies('small', 2_000, 'audit-bench')));

    console.log(`daemonguard bench:audit — ${machineDescription()}`);
    console.log(`${DAEMONSETS} DaemonSets in ${NAMESPACES} namespaces; /validate, small reviews, 10 connections, ${SECONDS} s per run, ${ROUNDS} round(s)\n`);
    const rounds: Measurement[][] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const measured: Measurement[] = [];
      for (const mode of MODES) {
        const m = await measure(mode, round, cluster, tls, bodiesFile);
        measured.push(m);
        console.log(`round ${round + 1} ${mode.name.padEnd(24)} ${format(m.load.requestsPerSecond, 0).padStart(6)} req/s  p50 ${format(m.load.p50)} ms  p99 ${format(m.load.p99)} ms  failed ${m.load.failed}  audits done under load ${m.auditsDuringLoad} (median ${format(m.auditMs, 0)} ms, worker ${format(m.workerMs, 0)} ms; before the load ${format(m.idleAuditMs, 0)} ms)  RSS ${format(m.rssMiB, 0)} MiB`);
      }
      rounds.push(measured);
    }
    const of = (mode: Mode, pick: (m: Measurement) => number): number => median(rounds.map((r) => pick(r.find((m) => m.mode === mode)!)));
    const ratio = (mode: Mode, pick: (m: Measurement) => number): number => median(rounds.map((r) => pick(r.find((m) => m.mode === mode)!) / pick(r.find((m) => m.mode === NO_AUDIT)!)));
    console.log('\nmedians                     req/s      p50       p99   audits under load   RSS   audit before the load');
    for (const mode of MODES) {
      console.log(`${mode.name.padEnd(24)} ${format(of(mode, (m) => m.load.requestsPerSecond), 0).padStart(8)} ${format(of(mode, (m) => m.load.p50)).padStart(8)} ms ${format(of(mode, (m) => m.load.p99)).padStart(8)} ms   ${String(of(mode, (m) => m.auditsDuringLoad)).padStart(6)}   ${format(of(mode, (m) => m.rssMiB), 0).padStart(10)} MiB   ${format(of(mode, (m) => m.idleAuditMs) / 1000, 1).padStart(6)} s`);
    }
    console.log('');
    for (const mode of MODES.filter((m) => m !== NO_AUDIT)) {
      console.log(`${mode.name} / no audit (median of per-round ratios): req/s ×${format(ratio(mode, (m) => m.load.requestsPerSecond), 2)}, p50 ×${format(ratio(mode, (m) => m.load.p50), 2)}, p99 ×${format(ratio(mode, (m) => m.load.p99), 2)}`);
    }
  } finally {
    await cluster.stop();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
