// npm run bench:engine — microseconds per review for 1, 10, 100 and 1,000 policies, the cost per
// policy and its slope, and the ratio to a plain-JavaScript implementation of the same checks
// (the floor: what the checks cost without CEL, policies or the engine around them).
//
// Reported, never asserted: the machine is shared and noisy. Each size is measured in several
// rounds and the median is printed.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { review } from '../src/engine/review.js';
import type { AdmissionRequest, JsonObject } from '../src/engine/types.js';
import { loadPolicySet } from '../src/policy/load-policies.js';
import { admissionRequest, daemonSet } from '../src/testing/admission-fixtures.js';

const SIZES = process.argv.includes('--quick') ? [1, 10, 100] : [1, 10, 100, 1000];
const ROUNDS = 5;
const ROUND_MILLIS = process.argv.includes('--quick') ? 150 : 400;

/** Four realistic checks, each a policy in CEL and a function in plain JavaScript. */
const CHECKS = [
  {
    cel: "request.namespace in params.allowed || object.spec.template.spec.containers.all(c, !c.?securityContext.?privileged.orValue(false))",
    js: (o: DsShape, ns: string, allowed: string[]) => allowed.includes(ns) || o.spec.template.spec.containers.every((c) => !(c.securityContext?.privileged ?? false)),
  },
  {
    cel: "request.namespace in params.allowed || !object.spec.template.spec.?hostNetwork.orValue(false)",
    js: (o: DsShape, ns: string, allowed: string[]) => allowed.includes(ns) || !(o.spec.template.spec.hostNetwork ?? false),
  },
  {
    cel: "object.spec.template.spec.containers.all(c, c.image.contains(':') && !c.image.endsWith(':latest'))",
    js: (o: DsShape) => o.spec.template.spec.containers.every((c) => c.image.includes(':') && !c.image.endsWith(':latest')),
  },
  {
    cel: "object.spec.template.spec.containers.all(c, has(c.resources) && has(c.resources.requests) && 'memory' in c.resources.requests)",
    js: (o: DsShape) => o.spec.template.spec.containers.every((c) => c.resources?.requests !== undefined && 'memory' in c.resources.requests),
  },
];

interface ContainerShape {
  image: string;
  securityContext?: { privileged?: boolean };
  resources?: { requests?: Record<string, string> };
}
interface DsShape {
  spec: { template: { spec: { containers: ContainerShape[]; hostNetwork?: boolean } } };
}

function policyText(i: number): string {
  const check = CHECKS[i % CHECKS.length]!;
  return [
    'apiVersion: daemonguard.dev/v1alpha1',
    'kind: DaemonSetPolicy',
    'metadata:',
    `  name: bench-${i}`,
    'spec:',
    '  params:',
    '    allowed: [kube-system]',
    '  validations:',
    `    - expression: ${JSON.stringify(check.cel)}`,
    `      message: check ${i} failed`,
    '',
  ].join('\n');
}

function benchmarkObject(): JsonObject {
  return daemonSet({
    podSpec: {
      containers: [
        { name: 'agent', image: 'quay.io/prometheus/node-exporter:v1.8.2', resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '128Mi' } } },
        { name: 'reloader', image: 'ghcr.io/example/reloader:v0.1.0', resources: { requests: { cpu: '10m', memory: '16Mi' } } },
      ],
    },
  });
}

/** Median nanoseconds per call of `fn`, over ROUNDS rounds of about ROUND_MILLIS each. */
function measure(fn: () => void): number {
  const start = process.hrtime.bigint();
  let calls = 0;
  while (process.hrtime.bigint() - start < 50_000_000n) {
    fn();
    calls++;
  }
  const perRound = Math.max(1, Math.round((calls / 50) * ROUND_MILLIS));
  const samples: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < perRound; i++) fn();
    samples.push(Number(process.hrtime.bigint() - t0) / perRound);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)]!;
}

function slope(points: [number, number][]): number {
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const num = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const den = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return num / den;
}

async function main(): Promise<void> {
  const object = benchmarkObject();
  const request: AdmissionRequest = admissionRequest(object, { namespace: 'monitoring' });
  const rows: string[] = [];
  const points: [number, number][] = [];
  let sink = 0;
  for (const size of SIZES) {
    const dir = await mkdtemp(join(tmpdir(), 'daemonguard-bench-'));
    await Promise.all(Array.from({ length: size }, (_, i) => writeFile(join(dir, `p${String(i).padStart(4, '0')}.yaml`), policyText(i))));
    const loadStart = performance.now();
    const set = await loadPolicySet([dir]);
    const loadMillis = performance.now() - loadStart;
    const decision = review(request, set, { phase: 'validate' });
    if (!decision.allowed) throw new Error(`benchmark object should be allowed: ${JSON.stringify(decision.violations[0])}`);

    const engineNs = measure(() => {
      sink += review(request, set, { phase: 'validate' }).violations.length;
    });
    const typed = object as unknown as DsShape;
    const allowed = ['kube-system'];
    const plainNs = measure(() => {
      for (let i = 0; i < size; i++) if (!CHECKS[i % CHECKS.length]!.js(typed, 'monitoring', allowed)) sink++;
    });
    points.push([size, engineNs / 1000]);
    rows.push(
      `| ${size} | ${(engineNs / 1000).toFixed(1)} | ${(engineNs / 1000 / size).toFixed(2)} | ${(plainNs / 1000).toFixed(2)} | ${(engineNs / plainNs).toFixed(1)}× | ${loadMillis.toFixed(0)} ms |`,
    );
  }
  console.log(`Engine benchmark (node ${process.version}, ${ROUNDS} rounds, median; validate phase, 2-container DaemonSet)\n`);
  console.log('| policies | µs / review | µs / policy | plain JS µs | engine / plain JS | load time |');
  console.log('|---:|---:|---:|---:|---:|---:|');
  for (const row of rows) console.log(row);
  const flat = points.filter(([x]) => x >= 10);
  console.log(`\nslope (10 → ${SIZES.at(-1)} policies): ${slope(flat).toFixed(2)} µs per added policy`);
  if (sink < 0) console.log(sink);
}

await main();
