// npm run bench:memory — resident memory of `daemonguard serve` with the built-in policy library: at
// idle, then while it answers 100,000 reviews (--quick: 10,000), sampled every tenth of the way, and
// the live heap after each full garbage collection (node --trace-gc), which is what tells a leak from
// a heap that has simply not been collected yet.
//
// The reviews are a mix of /validate and /mutate, one in eight of them the large (~60 KB) payload,
// sent by the load generator in its own process over 10 keep-alive connections. Reported, not asserted.
// Each sample also splits the V8 heap by space (new, old, code, large objects: what the server's own
// /metrics reports), since the resident set is the heap's reserved pages, not its live objects.
//
// serve runs under the node flags it is deployed with: the image's ENTRYPOINT and the deployment's
// NODE_OPTIONS, and the image's environment (test/support/shipped-node-flags.ts reads them).
// `--plain-node` runs it as `node dist/cli/main.js serve` without them; `--node-flag <flag>` (repeatable)
// adds one after them, to compare V8 settings (node takes the last of a repeated flag; `--no-X` undoes
// the image's `--X`), and
// `--env KEY=VALUE` (repeatable; `KEY=` removes it) sets a variable. Also reported: serve's CPU time per
// review and the garbage collector's pauses, the price of a smaller heap, and the heap that loading the
// library holds (measured in this process).
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ensureDevCertificates } from '../src/certs/dev-certificates.js';
import { loadPolicySet } from '../src/policy/load-policies.js';
import { residentBytes } from '../test/support/serve-process.js';
import { callHttp } from '../test/support/server-fixtures.js';
import { imageEnvironment, shippedNodeFlags } from '../test/support/shipped-node-flags.js';
import { machineDescription, processCpuMicros, runLoad, sleep, startServe, type RunningServer, type TlsFiles } from './bench-processes.js';
import { BUILT_IN_POLICIES, NAMESPACES_YAML, reviewBodies } from './webhook-payloads.js';

const QUICK = process.argv.includes('--quick');
const countFlag = process.argv.indexOf('--reviews');
const TOTAL = countFlag > 0 ? Number(process.argv[countFlag + 1]) : QUICK ? 10_000 : 100_000;
const PLAIN_NODE = process.argv.includes('--plain-node');
const ADDED_NODE_FLAGS = process.argv.flatMap((arg, index) => (arg === '--node-flag' && process.argv[index + 1] !== undefined ? [process.argv[index + 1]!] : []));
const NODE_FLAGS = [...(PLAIN_NODE ? [] : shippedNodeFlags()), ...ADDED_NODE_FLAGS];
const ENVIRONMENT: NodeJS.ProcessEnv = PLAIN_NODE ? {} : imageEnvironment();
for (const [index, arg] of process.argv.entries()) {
  const setting = arg === '--env' ? process.argv[index + 1] : undefined;
  if (setting === undefined) continue;
  const equals = setting.indexOf('=');
  if (equals < 1) throw new Error(`--env takes KEY=VALUE, not ${setting}`);
  ENVIRONMENT[setting.slice(0, equals)] = setting.slice(equals + 1) === '' ? undefined : setting.slice(equals + 1);
}
const STEPS = 10;
const TARGET_MB = 100;

/** The V8 heap's spaces as /metrics reports them: the size V8 holds for each (not what is live in it). */
const SPACES = ['new', 'old', 'code', 'large_object'] as const;

interface HeapReport {
  used: number | undefined;
  /** nodejs_heap_space_size_total_bytes by space. */
  spaces: Partial<Record<(typeof SPACES)[number], number>>;
  external: number | undefined;
}

interface Sample {
  reviews: number;
  rss: number | undefined;
  heap: HeapReport;
}

const toMb = (bytes: number | undefined): string => (bytes === undefined ? 'n/a' : (bytes / 1024 / 1024).toFixed(1));

/** The heap figures of the server's own /metrics, on its probe port. */
async function heapReport(server: RunningServer): Promise<HeapReport> {
  const answer = server.probeUrl === undefined ? undefined : await callHttp(`${server.probeUrl}/metrics`).catch(() => undefined);
  const text = answer?.text ?? '';
  const gauge = (pattern: string): number | undefined => {
    const match = new RegExp(`^${pattern} (\\d+(?:\\.\\d+)?)`, 'm').exec(text);
    return match ? Number(match[1]) : undefined;
  };
  const spaces: HeapReport['spaces'] = {};
  for (const space of SPACES) spaces[space] = gauge(`nodejs_heap_space_size_total_bytes\\{space="${space}"\\}`);
  return { used: gauge('nodejs_heap_size_used_bytes'), spaces, external: gauge('nodejs_external_memory_bytes') };
}

interface GcPauses {
  scavenges: number;
  scavengeMs: number;
  fullGcs: number;
  fullGcMs: number;
  /** Each scavenge's pause, ms, in order: a review that arrives during a long one waits for all of it. */
  scavengePauses: number[];
  longestFullGcMs: number;
}

/** Collections after `sinceMs` and their pause times, from node --trace-gc lines. */
function gcPauses(log: string, sinceMs: number): GcPauses {
  const pauses: GcPauses = { scavenges: 0, scavengeMs: 0, fullGcs: 0, fullGcMs: 0, scavengePauses: [], longestFullGcMs: 0 };
  for (const match of log.matchAll(/^\[\d+:0x[0-9a-f]+\]\s+(\d+) ms: (Scavenge|Mark-Compact)\b[^\n]*? MB, ([\d.]+) \/ [\d.]+ ms/gm)) {
    if (Number(match[1]) <= sinceMs) continue;
    if (match[2] === 'Scavenge') {
      pauses.scavenges++;
      pauses.scavengeMs += Number(match[3]);
      pauses.scavengePauses.push(Number(match[3]));
    } else {
      pauses.fullGcs++;
      pauses.fullGcMs += Number(match[3]);
      pauses.longestFullGcMs = Math.max(pauses.longestFullGcMs, Number(match[3]));
    }
  }
  return pauses;
}

/** The heap left after each full (mark-compact) collection, from node --trace-gc lines: [ms since start, MB]. */
function liveHeapAfterFullGcs(log: string): [number, number][] {
  const points: [number, number][] = [];
  for (const match of log.matchAll(/^\[\d+:0x[0-9a-f]+\]\s+(\d+) ms: Mark-Compact(?: \([^)]*\))? [\d.]+ \([\d.]+\) -> ([\d.]+) \([\d.]+\) MB/gm)) {
    points.push([Number(match[1]), Number(match[2])]);
  }
  return points;
}

/**
 * The V8 heap that loading the library holds, measured in this process: heap used after full
 * collections, before and after loadPolicySet (its compiled programs, their generated functions
 * and the caches behind them, the CEL environments and the schema validator built on first use).
 */
async function libraryHeapBytes(): Promise<number> {
  setFlagsFromString('--expose-gc');
  const collect = runInNewContext('gc') as () => void;
  const heapUsed = (): number => {
    for (let i = 0; i < 3; i++) collect();
    return process.memoryUsage().heapUsed;
  };
  const before = heapUsed();
  const set = await loadPolicySet([BUILT_IN_POLICIES]);
  const held = heapUsed() - before;
  if (set.policies.length === 0) throw new Error('the library loaded no policies');
  return held;
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'daemonguard-memory-bench-'));
  let serve: RunningServer | undefined;
  try {
    const certs = await ensureDevCertificates(join(work, 'certs'));
    const tls: TlsFiles = { caFile: certs.caCertFile, certFile: certs.certFile, keyFile: certs.keyFile };
    const namespacesFile = join(work, 'namespaces.yaml');
    await writeFile(namespacesFile, NAMESPACES_YAML);
    const small = join(work, 'small.json');
    const large = join(work, 'large.json');
    await writeFile(small, JSON.stringify(reviewBodies('small', 64, 'memory')));
    await writeFile(large, JSON.stringify(reviewBodies('large', 8, 'memory')));
    const logFile = join(work, 'serve.log');
    // --trace-gc times its lines from the start of the process: keep the same clock.
    const spawnedAt = Date.now();
    serve = await startServe({ tls, policies: BUILT_IN_POLICIES, namespacesFile, logFile, nodeFlags: [...NODE_FLAGS, '--trace-gc'], env: ENVIRONMENT });

    await sleep(2_000);
    const samples: Sample[] = [{ reviews: 0, rss: residentBytes(serve.pid), heap: await heapReport(serve) }];
    // 14 small reviews for every 2 large ones, /validate and /mutate taking turns.
    const mix = [
      ...Array.from({ length: 7 }, () => [
        { path: '/validate', bodiesFile: small },
        { path: '/mutate', bodiesFile: small },
      ]).flat(),
      { path: '/validate', bodiesFile: large },
      { path: '/mutate', bodiesFile: large },
    ];
    let reviews = 0;
    let warmedUpAtMs = 0;
    let warmedUpCpu: number | undefined;
    for (let step = 1; step <= STEPS; step++) {
      const amount = Math.round((TOTAL * step) / STEPS) - reviews;
      const result = await runLoad({ url: serve.url, connections: 10, amount, maxSeconds: 600, mix });
      if (result.failed > 0) throw new Error(`${result.failed} reviews failed`);
      reviews += result.ok;
      if (step === 1) {
        warmedUpAtMs = Date.now() - spawnedAt;
        warmedUpCpu = processCpuMicros(serve.pid);
      }
      samples.push({ reviews, rss: residentBytes(serve.pid), heap: await heapReport(serve) });
      process.stderr.write(`${reviews.toLocaleString('en-US')} reviews, ${toMb(samples.at(-1)!.rss)} MB resident\n`);
    }
    const finalCpu = processCpuMicros(serve.pid);
    const afterWarmUpReviews = reviews - samples[1]!.reviews;
    await sleep(3_000);
    const settled: Sample = { reviews, rss: residentBytes(serve.pid), heap: await heapReport(serve) };
    await serve.stop();
    serve = undefined;

    const log = await readFile(logFile, 'utf8');
    const gcs = liveHeapAfterFullGcs(log);
    const pauses = gcPauses(log, warmedUpAtMs);
    // Full collections after the first tenth of the reviews (the warm-up).
    const afterWarmUp = gcs.filter(([ms]) => ms > warmedUpAtMs);

    const lines: string[] = [];
    lines.push(`Memory of daemonguard serve (built-in policy library), ${TOTAL.toLocaleString('en-US')} reviews: 7/8 small, 1/8 large, /validate and /mutate in turn`);
    lines.push('');
    lines.push(`machine: ${machineDescription()}`);
    const environment = Object.entries(ENVIRONMENT).map(([key, value]) => (value === undefined ? `${key} unset` : `${key}=${value}`));
    lines.push(
      `serve's node flags: ${NODE_FLAGS.length > 0 ? NODE_FLAGS.join(' ') : 'none'}; environment: ${environment.length > 0 ? environment.join(' ') : 'this process\'s'}` +
        (PLAIN_NODE ? ' (--plain-node)' : ' (the image\'s and the deployment\'s)'),
    );
    lines.push('');
    lines.push('| reviews | resident MB | V8 heap used MB | new space MB | old space MB | code space MB | large objects MB | external MB |');
    lines.push('|---:|---:|---:|---:|---:|---:|---:|---:|');
    const row = (label: string, sample: Sample): string =>
      `| ${label} | ${toMb(sample.rss)} | ${toMb(sample.heap.used)} | ${SPACES.map((space) => toMb(sample.heap.spaces[space])).join(' | ')} | ${toMb(sample.heap.external)} |`;
    for (const sample of samples) lines.push(row(sample.reviews.toLocaleString('en-US'), sample));
    lines.push(row(`${reviews.toLocaleString('en-US')} + 3 s idle`, settled));
    lines.push('');
    const idle = samples[0]!.rss;
    const warm = samples[1]!.rss;
    const last = samples.at(-1)!.rss;
    const peak = Math.max(...samples.map((sample) => sample.rss ?? 0), settled.rss ?? 0);
    if (afterWarmUp.length >= 2) {
      const [first, final] = [afterWarmUp[0]!, afterWarmUp.at(-1)!];
      lines.push(
        `live heap after full GCs (after warm-up): ${first[1].toFixed(1)} MB at ${(first[0] / 1000).toFixed(0)} s, ${final[1].toFixed(1)} MB at ${(final[0] / 1000).toFixed(0)} s ` +
          `(${afterWarmUp.length} full GCs; change ${(final[1] - first[1]).toFixed(1)} MB)`,
      );
    } else {
      lines.push(`live heap after full GCs: ${afterWarmUp.length} full GC(s) after warm-up, too few to compare`);
    }
    lines.push(
      `resident: ${toMb(idle)} MB idle, ${toMb(warm)} MB after warm-up (${samples[1]!.reviews.toLocaleString('en-US')} reviews), ${toMb(last)} MB after ` +
        `${reviews.toLocaleString('en-US')}, peak ${toMb(peak)} MB; growth after warm-up ${warm === undefined || last === undefined ? 'n/a' : `${toMb(last - warm)} MB`}`,
    );
    if (warmedUpCpu !== undefined && finalCpu !== undefined && afterWarmUpReviews > 0) {
      lines.push(
        `after warm-up (${afterWarmUpReviews.toLocaleString('en-US')} reviews): serve's CPU ${((finalCpu - warmedUpCpu) / afterWarmUpReviews).toFixed(0)} µs per review; ` +
          `${pauses.scavenges} scavenges (${pauses.scavengeMs.toFixed(0)} ms, ${((pauses.scavengeMs * 1000) / afterWarmUpReviews).toFixed(1)} µs per review), ` +
          `${pauses.fullGcs} full GCs (${pauses.fullGcMs.toFixed(0)} ms, ${((pauses.fullGcMs * 1000) / afterWarmUpReviews).toFixed(1)} µs per review)`,
      );
      if (pauses.scavengePauses.length > 0) {
        const sorted = [...pauses.scavengePauses].sort((x, y) => x - y);
        const at = (fraction: number): string => sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))]!.toFixed(1);
        lines.push(
          `GC pauses after warm-up: scavenges median ${at(0.5)} ms, p90 ${at(0.9)}, p99 ${at(0.99)}, longest ${sorted.at(-1)!.toFixed(1)}; ` +
            `longest full GC pause ${pauses.longestFullGcMs.toFixed(1)} ms`,
        );
      }
    }
    lines.push(`heap the library's load holds (loadPolicySet in this process, heap used after full GCs): ${toMb(await libraryHeapBytes())} MB`);
    const verdict = (bytes: number | undefined): string =>
      bytes === undefined || bytes === 0 ? 'n/a' : bytes <= TARGET_MB * 1024 * 1024 ? `met (${toMb(bytes)} MB)` : `missed by ${toMb(bytes - TARGET_MB * 1024 * 1024)} MB (${toMb(bytes)} MB)`;
    lines.push(`target ≤ ${TARGET_MB} MB resident: idle ${verdict(idle)}; under load ${verdict(peak)} at the peak`);
    console.log(lines.join('\n'));
  } finally {
    await serve?.stop();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
