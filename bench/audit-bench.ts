// npm run bench:audit — does the background audit slow the webhook down?
//
// Starts a kube-apiserver and etcd (the end-to-end suite's binaries: test/e2e/cluster/build.sh),
// installs the OpenReports CRD (from its Go module, as the e2e does), stores DaemonSets with no webhook
// in the way, and runs `daemonguard serve` with the built-in library in two ways, taking turns (A B A B)
// because the machine is shared and noisy: without an audit, and with `--audit-interval 1s`, so that an
// audit of every stored DaemonSet is running or about to start during the whole measurement. Each is
// driven on /validate with small reviews over 10 keep-alive connections by the load generator in a
// process of its own. Reported: medians of requests/s, p50 and p99 per mode, the ratios audit / no audit
// taken within each round and then their median, and how many audits completed under load. Numbers are
// reported, never asserted.
//
//   npm run bench:audit [-- --quick] [--rounds N] [--seconds S] [--daemonsets N]
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

type Mode = 'no audit' | 'audit every 1s';
const MODES: readonly Mode[] = ['no audit', 'audit every 1s'];

interface Measurement {
  mode: Mode;
  load: LoadResult;
  auditsDuringLoad: number;
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
  if (mode === 'audit every 1s') args.push('--audit-interval', '1s', '--leader-election-namespace', 'default', '--leader-election-identity', identity, '--lease-duration', '3s');
  const served = await startServe({ args, env: { KUBECONFIG: cluster.kubeconfigPath } });
  // Measure while audits run, not while the first one is still waiting for the Lease.
  if (mode === 'audit every 1s') await served.waitForLog((line) => line['msg'] === 'background audit done', 300_000);
  return served;
}

const auditsDone = (served: ServeProcess): number => served.logLines().filter((line) => line['msg'] === 'background audit done').length;

async function measure(mode: Mode, round: number, cluster: Cluster, tls: { certFile: string; keyFile: string }, bodiesFile: string): Promise<Measurement> {
  const served = await startServer(mode, cluster, tls, `bench-${round}`);
  try {
    const before = auditsDone(served);
    const load = await runLoad({ url: served.url, connections: 10, seconds: SECONDS, mix: [{ path: '/validate', bodiesFile }] });
    return { mode, load, auditsDuringLoad: auditsDone(served) - before };
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
        console.log(`round ${round + 1} ${mode.padEnd(15)} ${format(m.load.requestsPerSecond, 0).padStart(6)} req/s  p50 ${format(m.load.p50)} ms  p99 ${format(m.load.p99)} ms  failed ${m.load.failed}  audits done under load ${m.auditsDuringLoad}`);
      }
      rounds.push(measured);
    }
    const of = (mode: Mode, pick: (m: Measurement) => number): number => median(rounds.map((r) => pick(r.find((m) => m.mode === mode)!)));
    const ratio = (pick: (m: Measurement) => number): number => median(rounds.map((r) => pick(r[1]!) / pick(r[0]!)));
    console.log('\nmedians            req/s      p50       p99   audits under load');
    for (const mode of MODES) {
      console.log(`${mode.padEnd(15)} ${format(of(mode, (m) => m.load.requestsPerSecond), 0).padStart(8)} ${format(of(mode, (m) => m.load.p50)).padStart(8)} ms ${format(of(mode, (m) => m.load.p99)).padStart(8)} ms   ${of(mode, (m) => m.auditsDuringLoad)}`);
    }
    console.log(`\naudit / no audit (median of per-round ratios): req/s ×${format(ratio((m) => m.load.requestsPerSecond), 2)}, p50 ×${format(ratio((m) => m.load.p50), 2)}, p99 ×${format(ratio((m) => m.load.p99), 2)}`);
  } finally {
    await cluster.stop();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
