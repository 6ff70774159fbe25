// npm run bench:cluster-memory — resident memory of `daemonguard serve` as deployed (deploy/base: the
// built-in library, --namespaces-from-cluster --nodes-from-cluster, the image's node flags and
// environment) against a real kube-apiserver (the e2e suite's binaries), beside the same server
// reading its namespaces from a file: what the cluster features cost. Sampled at idle (3 s after
// /readyz) and after 4,000 small reviews; the live heap is /metrics' nodejs_heap_size_used_bytes.
//
// `--cli <path/to/cli/main.js>` (repeatable) measures other builds too, in turns A B A B in one run
// (keep a copy of an older build/ to compare): on a shared machine only such ratios mean anything.
// `--rounds <n>` (default 2). Reported, not asserted.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDevCertificates } from '../src/certs/dev-certificates.js';
import { startCluster } from '../test/e2e/cluster/cluster.js';
import { CLI_BIN } from '../test/support/cli-process.js';
import { residentBytes, startServe } from '../test/support/serve-process.js';
import { imageEnvironment, shippedNodeFlags } from '../test/support/shipped-node-flags.js';
import { machineDescription, median, runLoad, sleep } from './bench-processes.js';
import { BUILT_IN_POLICIES, NAMESPACES_YAML, reviewBodies } from './webhook-payloads.js';

const flagValues = (name: string): string[] => process.argv.flatMap((arg, index) => (arg === name && process.argv[index + 1] !== undefined ? [process.argv[index + 1]!] : []));
const CLIS = [CLI_BIN, ...flagValues('--cli')];
const ROUNDS = Number(flagValues('--rounds')[0] ?? 2);
const REVIEWS = 4_000;

type Mode = 'namespaces file' | 'cluster (as deployed)';
const MODES: readonly Mode[] = ['namespaces file', 'cluster (as deployed)'];

interface Sample {
  idleRss: number;
  idleHeap: number;
  loadedRss: number;
  loadedHeap: number;
}

const toMb = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);

async function heapUsed(probeUrl: string): Promise<number> {
  const text = await (await fetch(`${probeUrl}/metrics`)).text();
  return Number(/^nodejs_heap_size_used_bytes (\S+)$/m.exec(text)?.[1] ?? NaN);
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'daemonguard-cluster-memory-'));
  const cluster = await startCluster();
  try {
    const certs = await ensureDevCertificates(join(work, 'certs'));
    const namespacesFile = join(work, 'namespaces.yaml');
    await writeFile(namespacesFile, NAMESPACES_YAML);
    const bodiesFile = join(work, 'small.json');
    await writeFile(bodiesFile, JSON.stringify(reviewBodies('small', 2_000, 'cluster-memory')));
    const common = ['--address', '127.0.0.1', '--port', '0', '--tls-cert', certs.certFile, '--tls-key', certs.keyFile, '--policies', BUILT_IN_POLICIES, '--eval-deadline=2s', '--shutdown-grace=20s'];
    const modeArgs: Record<Mode, string[]> = {
      'namespaces file': ['--namespaces', namespacesFile],
      'cluster (as deployed)': ['--namespaces-from-cluster', '--nodes-from-cluster'],
    };

    console.log(`daemonguard bench:cluster-memory — ${machineDescription()}`);
    console.log(`serve with node ${shippedNodeFlags().join(' ')}; ${ROUNDS} round(s), builds in turn\n`);
    const samples = new Map<string, Sample[]>();
    for (let round = 0; round < ROUNDS; round++) {
      for (const cli of CLIS) {
        for (const mode of MODES) {
          const served = await startServe({ cli, nodeFlags: shippedNodeFlags(), env: { ...imageEnvironment(), KUBECONFIG: cluster.kubeconfigPath }, args: [...common, ...modeArgs[mode]] });
          try {
            await sleep(3_000);
            const idleRss = residentBytes(served.pid) ?? NaN;
            const idleHeap = await heapUsed(served.probeUrl);
            const load = await runLoad({ url: served.url, connections: 10, amount: REVIEWS, maxSeconds: 120, mix: [{ path: '/validate', bodiesFile }] });
            if (load.failed > 0) throw new Error(`${load.failed} reviews failed (${cli}, ${mode})`);
            const sample = { idleRss, idleHeap, loadedRss: residentBytes(served.pid) ?? NaN, loadedHeap: await heapUsed(served.probeUrl) };
            const key = `${cli}\t${mode}`;
            samples.set(key, [...(samples.get(key) ?? []), sample]);
            console.log(`round ${round + 1} ${cli} ${mode}: idle ${toMb(sample.idleRss)} MB resident (heap ${toMb(sample.idleHeap)}), after ${REVIEWS} reviews ${toMb(sample.loadedRss)} MB (heap ${toMb(sample.loadedHeap)})`);
          } finally {
            await served.stop();
          }
        }
      }
    }
    console.log('\nmedians (MB)             idle resident  idle heap  loaded resident  loaded heap');
    for (const [key, runs] of samples) {
      const [cli, mode] = key.split('\t');
      const m = (pick: (sample: Sample) => number): string => toMb(median(runs.map(pick))).padStart(10);
      console.log(`${cli}\n  ${mode!.padEnd(24)} ${m((s) => s.idleRss)} ${m((s) => s.idleHeap)} ${m((s) => s.loadedRss)} ${m((s) => s.loadedHeap)}`);
    }
  } finally {
    await cluster.stop();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
