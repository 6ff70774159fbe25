// npm run bench:memory — resident memory of `daemonguard serve` with the built-in policy library: at
// idle, then while it answers 100,000 reviews (--quick: 10,000), sampled every tenth of the way, and
// the live heap after each full garbage collection (node --trace-gc), which is what tells a leak from
// a heap that has simply not been collected yet.
//
// The reviews are a mix of /validate and /mutate, one in eight of them the large (~60 KB) payload,
// sent by the load generator in its own process over 10 keep-alive connections. Reported, not asserted.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDevCertificates } from '../src/certs/dev-certificates.js';
import { residentBytes } from '../test/support/serve-process.js';
import { callHttp } from '../test/support/server-fixtures.js';
import { machineDescription, runLoad, sleep, startServe, type RunningServer, type TlsFiles } from './bench-processes.js';
import { BUILT_IN_POLICIES, NAMESPACES_YAML, reviewBodies } from './webhook-payloads.js';

const QUICK = process.argv.includes('--quick');
const countFlag = process.argv.indexOf('--reviews');
const TOTAL = countFlag > 0 ? Number(process.argv[countFlag + 1]) : QUICK ? 10_000 : 100_000;
const STEPS = 10;
const TARGET_MB = 100;

interface Sample {
  reviews: number;
  rss: number | undefined;
  heapUsed: number | undefined;
}

const toMb = (bytes: number | undefined): string => (bytes === undefined ? 'n/a' : (bytes / 1024 / 1024).toFixed(1));

/** nodejs_heap_size_used_bytes from the server's own /metrics, on its probe port. */
async function heapUsed(server: RunningServer): Promise<number | undefined> {
  const answer = server.probeUrl === undefined ? undefined : await callHttp(`${server.probeUrl}/metrics`).catch(() => undefined);
  const match = answer === undefined ? null : /^nodejs_heap_size_used_bytes (\d+(?:\.\d+)?)/m.exec(answer.text);
  return match ? Number(match[1]) : undefined;
}

/** The heap left after each full (mark-compact) collection, from node --trace-gc lines: [ms since start, MB]. */
function liveHeapAfterFullGcs(log: string): [number, number][] {
  const points: [number, number][] = [];
  for (const match of log.matchAll(/^\[\d+:0x[0-9a-f]+\]\s+(\d+) ms: Mark-Compact(?: \([^)]*\))? [\d.]+ \([\d.]+\) -> ([\d.]+) \([\d.]+\) MB/gm)) {
    points.push([Number(match[1]), Number(match[2])]);
  }
  return points;
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
    serve = await startServe({ tls, policies: BUILT_IN_POLICIES, namespacesFile, logFile, nodeFlags: ['--trace-gc'] });

    await sleep(2_000);
    const samples: Sample[] = [{ reviews: 0, rss: residentBytes(serve.pid), heapUsed: await heapUsed(serve) }];
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
    for (let step = 1; step <= STEPS; step++) {
      const amount = Math.round((TOTAL * step) / STEPS) - reviews;
      const result = await runLoad({ url: serve.url, connections: 10, amount, maxSeconds: 600, mix });
      if (result.failed > 0) throw new Error(`${result.failed} reviews failed`);
      reviews += result.ok;
      if (step === 1) warmedUpAtMs = Date.now() - spawnedAt;
      samples.push({ reviews, rss: residentBytes(serve.pid), heapUsed: await heapUsed(serve) });
      process.stderr.write(`${reviews.toLocaleString('en-US')} reviews, ${toMb(samples.at(-1)!.rss)} MB resident\n`);
    }
    await sleep(3_000);
    const settled: Sample = { reviews, rss: residentBytes(serve.pid), heapUsed: await heapUsed(serve) };
    await serve.stop();
    serve = undefined;

    const gcs = liveHeapAfterFullGcs(await readFile(logFile, 'utf8'));
    // Full collections after the first tenth of the reviews (the warm-up).
    const afterWarmUp = gcs.filter(([ms]) => ms > warmedUpAtMs);

    const lines: string[] = [];
    lines.push(`Memory of daemonguard serve (built-in policy library), ${TOTAL.toLocaleString('en-US')} reviews: 7/8 small, 1/8 large, /validate and /mutate in turn`);
    lines.push('');
    lines.push(`machine: ${machineDescription()}`);
    lines.push('');
    lines.push('| reviews | resident MB | V8 heap used MB |');
    lines.push('|---:|---:|---:|');
    for (const sample of samples) lines.push(`| ${sample.reviews.toLocaleString('en-US')} | ${toMb(sample.rss)} | ${toMb(sample.heapUsed)} |`);
    lines.push(`| ${reviews.toLocaleString('en-US')} + 3 s idle | ${toMb(settled.rss)} | ${toMb(settled.heapUsed)} |`);
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
