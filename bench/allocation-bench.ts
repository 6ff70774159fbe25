// npm run bench:allocation — bytes of heap allocated per review by serve's request handler, in process.
//
// How often the young generation is collected under load follows the garbage each review makes, so
// this is the figure to watch when working on scavenges; unlike latency on a shared machine it does
// not move with the load. The handler is the one serve runs (createRequestListener with the built-in
// library, serve's metrics and its batched log, written to /dev/null), given each review as a request
// stream whose body arrives in one chunk, ten at a time, as ten connections send them. Bytes are the
// growth of the heap over 200 small (30 large) reviews with no garbage collection in between (the young generation is
// made large enough: the npm script starts node with 64 MB semi-spaces), best of several windows.
// TLS, HTTP parsing and the socket are left out: they are the same for the floor (npm run bench),
// whose parse of the body is reported beside it as what any server of reviews must allocate.
//
//   npm run bench:allocation [-- --sites N]   (also the N largest allocation sites, sampled by V8's
//                                              heap profiler, garbage included)
import { openSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Session } from 'node:inspector/promises';
import { PerformanceObserver } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { getHeapStatistics } from 'node:v8';
import { pino } from 'pino';
import { parseAllDocuments } from 'yaml';
import type { JsonObject } from '../src/common/vocabulary.js';
import { review } from '../src/engine/review.js';
import { loadPolicySet } from '../src/policy/load-policies.js';
import { createRequestListener } from '../src/server/app.js';
import { BatchedLogDestination, isoTimeOncePerMillisecond } from '../src/server/log-destination.js';
import { createServerMetrics } from '../src/server/metrics.js';
import { StaticPolicyStore } from '../src/server/policy-store.js';
import { BUILT_IN_POLICIES, NAMESPACES_YAML, reviewBodies, type PayloadName } from './webhook-payloads.js';

const sitesIndex = process.argv.indexOf('--sites');
const SITES = sitesIndex > 0 ? Number(process.argv[sitesIndex + 1]) : 0;
const CONCURRENT = 10;
const WINDOWS = 6;
/** Reviews per window and before the first (the JIT settles); a large review allocates about ten times a small one. */
const WINDOW: Record<PayloadName, number> = { small: 200, large: 30 };
const WARMUP: Record<PayloadName, number> = { small: 10_000, large: 2_000 };

const policySet = await loadPolicySet([BUILT_IN_POLICIES]);
const namespaces = new Map<string, JsonObject>();
for (const document of parseAllDocuments(NAMESPACES_YAML)) {
  for (const item of ((document.toJSON() as { items: JsonObject[] }).items ?? []) as { metadata: { name: string } }[]) namespaces.set(item.metadata.name, item as unknown as JsonObject);
}
const destination = new BatchedLogDestination(openSync('/dev/null', 'w'));
const listener = createRequestListener({
  policies: new StaticPolicyStore(policySet),
  review,
  metrics: createServerMetrics(),
  logger: pino({ level: 'info', timestamp: isoTimeOncePerMillisecond }, destination),
  evalDeadlineMs: 10_000,
  namespaceObject: (name) => namespaces.get(name),
});

/** One review through the handler; resolves when it has answered 200. */
function send(path: string, body: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = Object.assign(new Readable({ read() {} }), {
      method: 'POST',
      url: `${path}?timeout=10s`,
      headers: { 'content-type': 'application/json', 'content-length': String(body.length) },
    });
    let status = 0;
    const response = {
      headersSent: false,
      setHeader() {},
      writeHead(code: number) {
        status = code;
        this.headersSent = true;
      },
      end(payload: string) {
        if (status === 200) resolve();
        else reject(new Error(`${path}: HTTP ${status}: ${payload}`));
      },
      destroy() {},
    };
    listener(request as unknown as IncomingMessage, response as unknown as ServerResponse);
    request.push(body);
    request.push(null);
  });
}

async function run(path: string, bodies: readonly Buffer[], count: number): Promise<void> {
  let next = 0;
  for (let done = 0; done < count; done += CONCURRENT) {
    await Promise.all(Array.from({ length: CONCURRENT }, () => send(path, bodies[next++ % bodies.length]!)));
  }
}

let collections = 0;
new PerformanceObserver((list) => (collections += list.getEntries().length)).observe({ entryTypes: ['gc'] });

/** Bytes allocated per call of `work(count)`, the least over windows without a collection; undefined if every window had one. */
async function bytesPer(reviews: number, work: (count: number) => Promise<unknown> | unknown): Promise<number | undefined> {
  let least: number | undefined;
  for (let window = 0; window < WINDOWS; window++) {
    // Let the collections pending from before finish and be observed first.
    await new Promise((resolve) => setTimeout(resolve, 20));
    const before = collections;
    const used = getHeapStatistics().used_heap_size;
    await work(reviews);
    const grown = getHeapStatistics().used_heap_size - used;
    await new Promise((resolve) => setTimeout(resolve, 20));
    if (collections === before) least = Math.min(least ?? Infinity, grown / reviews);
  }
  return least;
}

const kb = (bytes: number | undefined): string => (bytes === undefined ? 'n/a (a collection in every window: start node with --max-semi-space-size=64 --min-semi-space-size=64)' : `${(bytes / 1024).toFixed(1)} KB`);
const lines: string[] = ['Heap allocated per review by serve\'s handler (in process, the built-in library), and by the parse any server of reviews does', ''];
lines.push('| endpoint | payload | handler, KB per review | of which the body\'s parse (toString + JSON.parse) |');
lines.push('|---|---|---:|---:|');
for (const payload of ['small', 'large'] as const satisfies readonly PayloadName[]) {
  const bodies = reviewBodies(payload, 16, 'allocation').map((text) => Buffer.from(text));
  let kept: unknown;
  const parse = await bytesPer(WINDOW[payload], (count) => {
    for (let i = 0; i < count; i++) kept = JSON.parse(bodies[i % bodies.length]!.toString('utf8'));
  });
  void kept;
  for (const path of ['/validate', '/mutate']) {
    await run(path, bodies, WARMUP[payload]);
    const handler = await bytesPer(WINDOW[payload], (count) => run(path, bodies, count));
    lines.push(`| ${path} | ${payload} | ${kb(handler)} | ${kb(parse)} |`);
  }
}

if (SITES > 0) {
  // Sampled allocations by the function that made them, collected garbage included, over small /validate reviews.
  const session = new Session();
  session.connect();
  const bodies = reviewBodies('small', 16, 'sites').map((text) => Buffer.from(text));
  const count = 3_000;
  await session.post('HeapProfiler.startSampling', { samplingInterval: 256, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  await run('/validate', bodies, count);
  const { profile } = await session.post('HeapProfiler.stopSampling');
  session.disconnect();
  const bySite = new Map<string, number>();
  const visit = (node: (typeof profile)['head']): void => {
    const frame = node.callFrame;
    const site = `${frame.functionName || '(anonymous)'} ${frame.url.replace(/^.*\/(build|node_modules)\//, '') || '(generated or native)'}:${frame.lineNumber + 1}`;
    if (node.selfSize > 0) bySite.set(site, (bySite.get(site) ?? 0) + node.selfSize);
    for (const child of node.children) visit(child);
  };
  visit(profile.head);
  lines.push('', `the ${SITES} largest allocation sites of small /validate reviews (sampled, bytes per review; a function inlined into another counts as that one):`, '');
  for (const [site, bytes] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, SITES)) lines.push(`${(bytes / count).toFixed(0).padStart(8)}  ${site}`);
}

destination.flushSync();
console.log(lines.join('\n'));
process.exit(0);
