// npm run bench:latency -- --cluster [--rounds R]: the rare-review question for `serve
// --policies-from-cluster`, against a real kube-apiserver and etcd (the e2e binaries:
// DAEMONGUARD_E2E_BIN, or test/e2e/cluster/build.sh's cache), with the built-in library installed as
// DaemonSetPolicy objects. For `serve` with its warm-up and with `--warm-up-budget 0`, servers taking
// turns, a fresh server per round:
//
//   first:        the first /validate (small) after /readyz 200, 3 s after it (the informers' lists and
//                 the leader's status writes over, as when the first DaemonSet write comes long after a
//                 start);
//   after change: one of the objects changed (an annotation: a new rendering, so the set is rebuilt),
//                 the change served ("cluster policy updated" logged, and the warm-up's line where there
//                 is one), then the next /validate (small) 1.5 s later.
//
// Each on a new connection; the server's part is its decision line's durationMs. Medians (worst).
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ensureDevCertificates } from '../src/certs/dev-certificates.js';
import { startCluster } from '../test/e2e/cluster/cluster.js';
import { daemonguard, parseObjects, REPO_ROOT } from '../test/e2e/deploy-tools.js';
import { freePort, startServe, type ServeProcess } from '../test/support/serve-process.js';
import { httpsRequest, machineDescription, median, sleep } from './bench-processes.js';
import { NAMESPACES_YAML, reviewBodies } from './webhook-payloads.js';

const NAMESPACE = 'daemonguard-system';
const QUIET_MS = 3_000;
const SPACING_MS = 1_500;

interface Variant {
  name: string;
  args: string[];
  warms: boolean;
}

const VARIANTS: Variant[] = [
  { name: 'daemonguard', args: [], warms: true },
  { name: '--warm-up-budget 0', args: ['--warm-up-budget', '0'], warms: false },
];

async function countLines(logFile: string, match: (line: string) => boolean): Promise<number> {
  return (await readFile(logFile, 'utf8')).split('\n').filter(match).length;
}

async function waitForLines(logFile: string, match: (line: string) => boolean, count: number, what: string): Promise<void> {
  const deadline = performance.now() + 60_000;
  while ((await countLines(logFile, match)) < count) {
    if (performance.now() > deadline) throw new Error(`no ${what} in ${logFile} within 60 s`);
    await sleep(20);
  }
}

/** The decision line's durationMs for `uid`, waiting for the batched log to reach the file. */
async function serverMs(logFile: string, uid: string): Promise<number> {
  const deadline = performance.now() + 5_000;
  while (performance.now() < deadline) {
    const line = (await readFile(logFile, 'utf8')).split('\n').find((entry) => entry.includes(`"uid":"${uid}"`) && entry.includes('"msg":"admission decision"'));
    const match = line === undefined ? null : /"durationMs":([\d.]+)/.exec(line);
    if (match) return Number(match[1]);
    await sleep(20);
  }
  throw new Error(`no decision line for ${uid} in ${logFile}`);
}

let uids = 0;
async function validate(server: ServeProcess, caFile: string, logFile: string): Promise<number> {
  const [body] = reviewBodies('small', 1, `cluster-latency-${process.pid}-${++uids}`);
  const uid = (JSON.parse(body!) as { request: { uid: string } }).request.uid;
  const answer = await httpsRequest(`${server.url}/validate?timeout=10s`, 'POST', body, caFile);
  if (answer.status !== 200 || !answer.body.includes(uid)) throw new Error(`/validate: HTTP ${answer.status}: ${answer.body.slice(0, 200)}`);
  return serverMs(logFile, uid);
}

const fmt = (values: number[]): string => `${median(values).toFixed(2)} (${Math.max(...values).toFixed(2)})`;

export async function clusterLatency(rounds: number): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'daemonguard-latency-cluster-'));
  const cluster = await startCluster();
  let running: ServeProcess | undefined;
  try {
    await cluster.kubectl(['apply', '--server-side', '-k', join(REPO_ROOT, 'deploy/base/crds')]);
    await cluster.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/daemonsetpolicies.daemonguard.dev', 'crd/daemonsetpolicyexceptions.daemonguard.dev']);
    await cluster.kubectl(['create', 'namespace', NAMESPACE]);
    await cluster.kubectl(['apply', '-f', '-'], { input: NAMESPACES_YAML });
    const library = await daemonguard(['manifests', '--policies']);
    if (library.code !== 0) throw new Error(`daemonguard manifests --policies: ${library.stderr}`);
    await cluster.kubectl(['apply', '-f', '-'], { input: library.stdout });
    const policies = parseObjects(library.stdout).filter((object) => object.kind === 'DaemonSetPolicy');
    const changed = (policies[0]!.metadata as { name: string }).name;
    const certs = await ensureDevCertificates(join(work, 'certs'));

    const first = new Map<string, number[]>();
    const afterChange = new Map<string, number[]>();
    const warmUps = new Map<string, string[]>();
    let index = 0;
    for (let round = 0; round < rounds; round++) {
      for (const variant of VARIANTS) {
        const logFile = join(work, `serve-${++index}.log`);
        await writeFile(logFile, '');
        const port = await freePort();
        running = await startServe({
          args: [
            '--address', '127.0.0.1', '--port', String(port), '--tls-cert', certs.certFile, '--tls-key', certs.keyFile,
            '--policies-from-cluster', '--namespaces-from-cluster', '--leader-election-identity', `latency-${index}`, ...variant.args,
          ],
          env: { KUBECONFIG: cluster.kubeconfigPath, POD_NAMESPACE: NAMESPACE },
          logFile,
          readyz: { port },
        });
        await sleep(QUIET_MS);
        first.set(variant.name, [...(first.get(variant.name) ?? []), await validate(running, certs.caCertFile, logFile)]);

        const isUpdate = (line: string): boolean => line.includes('"msg":"cluster policy updated"');
        const isWarmUp = (line: string): boolean => line.includes('"msg":"policy set warm') && line.includes('"trigger":"DaemonSetPolicy change"');
        const [updates, warmed] = [await countLines(logFile, isUpdate), await countLines(logFile, isWarmUp)];
        await cluster.kubectl(['annotate', '--overwrite', 'daemonsetpolicy', changed, `bench.daemonguard.dev/change=${index}`]);
        await waitForLines(logFile, isUpdate, updates + 1, '"cluster policy updated" line');
        if (variant.warms) await waitForLines(logFile, isWarmUp, warmed + 1, 'warm-up line for the change');
        await sleep(SPACING_MS);
        afterChange.set(variant.name, [...(afterChange.get(variant.name) ?? []), await validate(running, certs.caCertFile, logFile)]);
        const lines = (await readFile(logFile, 'utf8')).split('\n').filter((line) => line.includes('"msg":"policy set warm'));
        const described = lines.map((line) => `${/"trigger":"([^"]+)"/.exec(line)?.[1]} ${/"durationMs":(\d+)/.exec(line)?.[1]} ms`);
        warmUps.set(variant.name, [...(warmUps.get(variant.name) ?? []), ...described]);
        await running.stop();
        running = undefined;
      }
      process.stderr.write(`cluster round ${round + 1}/${rounds}\n`);
    }

    const [warm, cold] = VARIANTS.map((variant) => variant.name) as [string, string];
    const lines = [
      `Rare-review latency with --policies-from-cluster (the built-in library as ${policies.length} DaemonSetPolicy objects in a real kube-apiserver)`,
      '',
      `machine: ${machineDescription()}`,
      `method: ${rounds} fresh server(s) per variant, servers taking turns; /validate small on a new connection; ms in the server (durationMs), median (worst)`,
      '',
      `| case | ${warm} | ${cold} | ${cold} / ${warm} |`,
      '|---|---|---|---|',
      `| first after ready (${QUIET_MS / 1000} s after /readyz 200) | ${fmt(first.get(warm)!)} | ${fmt(first.get(cold)!)} | ${(median(first.get(cold)!) / median(first.get(warm)!)).toFixed(1)}× |`,
      `| first after a changed object is served | ${fmt(afterChange.get(warm)!)} | ${fmt(afterChange.get(cold)!)} | ${(median(afterChange.get(cold)!) / median(afterChange.get(warm)!)).toFixed(1)}× |`,
      '',
      `warm-ups, ${warm}: ${(warmUps.get(warm) ?? []).join('; ')}`,
    ];
    console.log(lines.join('\n'));
  } finally {
    await running?.stop();
    await cluster.stop();
    await rm(work, { recursive: true, force: true });
  }
}
