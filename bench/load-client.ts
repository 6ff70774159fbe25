// The load generator of the webhook benchmarks, run as a process of its own so that it never shares
// an event loop with the server it measures. HTTPS keep-alive connections (autocannon), every one
// cycling through AdmissionReview bodies that differ only in their uid.
//
//   node build/bench/load-client.js '<LoadSpec as JSON>'
// Prints one line: a LoadResult as JSON. Bounded: it stops after `seconds`, or after `amount` requests
// or `maxSeconds`, whichever comes first.
import { readFileSync } from 'node:fs';
import autocannon, { type AutocannonRequest } from 'autocannon';

export interface LoadSpec {
  /** https://127.0.0.1:PORT */
  url: string;
  connections: number;
  /** Run for this many seconds... */
  seconds?: number;
  /** ...or until this many responses (then `maxSeconds` bounds the time). */
  amount?: number;
  maxSeconds?: number;
  /** Sent in turn: one endpoint and a JSON file holding an array of bodies for each. */
  mix: { path: string; bodiesFile: string }[];
}

export interface LoadResult {
  /** 200 answers counted. */
  ok: number;
  /** Any other answer, connection errors and timeouts. */
  failed: number;
  seconds: number;
  requestsPerSecond: number;
  /** Latencies of the 200 answers, milliseconds. */
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
}

function requestsOf(spec: LoadSpec): AutocannonRequest[] {
  const lists = spec.mix.map((entry) => ({ path: entry.path, bodies: JSON.parse(readFileSync(entry.bodiesFile, 'utf8')) as string[] }));
  const longest = Math.max(...lists.map((list) => list.bodies.length));
  const requests: AutocannonRequest[] = [];
  for (let i = 0; i < longest; i++) {
    for (const list of lists) {
      requests.push({
        method: 'POST',
        path: `${list.path}?timeout=10s`,
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: list.bodies[i % list.bodies.length]!,
      });
    }
  }
  return requests;
}

function run(spec: LoadSpec): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    let latencies = new Float64Array(1 << 16);
    let count = 0;
    let failed = 0;
    const options =
      spec.amount !== undefined
        ? { amount: spec.amount }
        : { duration: spec.seconds ?? 5 };
    const instance = autocannon(
      { url: spec.url, connections: spec.connections, timeout: 10, pipelining: 1, requests: requestsOf(spec), ...options },
      (error, result) => {
        clearTimeout(guard);
        if (error) {
          reject(error);
          return;
        }
        const sorted = latencies.subarray(0, count).sort();
        resolve({
          ok: count,
          failed: failed + result.errors + result.timeouts,
          seconds: result.duration,
          requestsPerSecond: count / result.duration,
          p50: percentile(sorted, 0.5),
          p90: percentile(sorted, 0.9),
          p99: percentile(sorted, 0.99),
          max: percentile(sorted, 1),
        });
      },
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode !== 200) {
        failed++;
        return;
      }
      if (count === latencies.length) {
        const grown = new Float64Array(latencies.length * 2);
        grown.set(latencies);
        latencies = grown;
      }
      latencies[count++] = responseTime;
    });
    // A run never outlives its bound, whatever the server does.
    const limitSeconds = spec.amount !== undefined ? (spec.maxSeconds ?? 300) : (spec.seconds ?? 5) + 30;
    const guard = setTimeout(() => instance.stop(), limitSeconds * 1000);
  });
}

const spec = JSON.parse(process.argv[2] ?? '{}') as LoadSpec;
run(spec).then(
  (result) => process.stdout.write(`${JSON.stringify(result)}\n`),
  (error: unknown) => {
    process.stderr.write(`load-client: ${(error as Error).message}\n`);
    process.exitCode = 1;
  },
);
