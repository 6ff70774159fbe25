// An arithmetic-heavy micro-benchmark of compiled CEL: int comparisons and + - * / % over a
// DaemonSet's JSON numbers (ports, replicas-style counters), the work the number path of
// src/cel/codegen/int-numbers.ts does without BigInts. Prints the median CPU microseconds per
// evaluation of each expression, compiled and on the interpreter, and the checksum of the values
// (the same for both engines, or the benchmark stops).
//
// Run: npm run build:test && node build/bench/int-arithmetic-bench.js [--quick]
// For an A/B of a change, copy this file's build output next to an older build's bench/ and run
// both alternately: it only uses the engine's public entry points.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CelProgram } from '../src/cel/program.js';
import { policyActivation, sharedValues } from '../src/engine/activation.js';
import type { JsonObject } from '../src/engine/types.js';
import { loadPolicySet } from '../src/policy/load-policies.js';
import type { CompiledPolicy } from '../src/policy/types.js';
import { admissionRequest, daemonSet } from '../test/support/admission-fixtures.js';
import { measureCpuPerCall } from './cpu-time.js';

const QUICK = process.argv.includes('--quick');
const ROUNDS = QUICK ? 3 : 7;
const ROUND_MILLIS = QUICK ? 100 : 300;

const EXPRESSIONS = [
  // Port ranges and host ports, per port of every container.
  'object.spec.template.spec.containers.all(c, c.?ports.orValue([]).all(p, p.containerPort > 0 && p.containerPort < 65536 && (!has(p.hostPort) || p.hostPort == p.containerPort)))',
  // Counters with arithmetic on both sides.
  'object.spec.minReadySeconds * 2 + object.spec.revisionHistoryLimit * 30 <= object.spec.template.spec.terminationGracePeriodSeconds * 10 - 1',
  // Division and remainder per port (privileged ports, port blocks).
  'object.spec.template.spec.containers.all(c, c.?ports.orValue([]).all(p, p.containerPort / 1024 != 0 && (p.containerPort - 1) / 1000 * 1000 + (p.containerPort - 1) % 1000 + 1 == p.containerPort))',
  // Equality of computed ints.
  'object.spec.template.spec.containers.exists(c, c.?ports.orValue([]).exists(p, p.containerPort % 100 == object.spec.minReadySeconds + 43))',
];

function benchmarkObject(): JsonObject {
  const ports = (base: number) => Array.from({ length: 6 }, (_, i) => ({ name: `p${i}`, containerPort: base + i * 7, protocol: 'TCP' }));
  const object = daemonSet({
    podSpec: {
      terminationGracePeriodSeconds: 30,
      containers: [
        { name: 'agent', image: 'quay.io/prometheus/node-exporter:v1.8.2', ports: ports(9100) },
        { name: 'sidecar', image: 'ghcr.io/example/sidecar:v0.1.0', ports: ports(8080) },
        { name: 'proxy', image: 'ghcr.io/example/proxy:v2.0.0', ports: [...ports(3000), { containerPort: 53, hostPort: 53 }] },
      ],
    },
  });
  Object.assign(object['spec'] as JsonObject, { minReadySeconds: 10, revisionHistoryLimit: 5 });
  return object;
}

async function benchmarkPolicy(): Promise<CompiledPolicy> {
  const dir = await mkdtemp(join(tmpdir(), 'daemonguard-int-bench-'));
  const validations = EXPRESSIONS.map((expression) => `    - expression: ${JSON.stringify(expression)}\n`).join('');
  await writeFile(
    join(dir, 'ints.yaml'),
    `apiVersion: daemonguard.dev/v1alpha1\nkind: DaemonSetPolicy\nmetadata:\n  name: int-bench\nspec:\n  validations:\n${validations}`,
  );
  return (await loadPolicySet([dir])).policies[0]!;
}

/** Median CPU nanoseconds per call, after 300 ms of calls that also size the rounds. */
function measure(fn: () => void): number {
  return measureCpuPerCall(fn, { rounds: ROUNDS, roundMillis: ROUND_MILLIS, warmUpMillis: 300 });
}

const object = benchmarkObject();
const request = admissionRequest(object);
const policy = await benchmarkPolicy();
const list: CelProgram[] = policy.validations.map((v) => v.expression.program);
// A fresh activation per evaluation, as a review makes one (its conversion memo starts empty).
const activation = () => policyActivation(policy, sharedValues(request, object, null, null));

console.log('| expression | compiled µs | interpreted µs | value |');
console.log('|---|---:|---:|---|');
for (let i = 0; i < list.length; i++) {
  const program = list[i]!;
  const compiledValue = program.evaluate(activation());
  const interpretedValue = program.interpret(activation());
  if (compiledValue !== interpretedValue) throw new Error(`expression ${i}: compiled ${String(compiledValue)}, interpreted ${String(interpretedValue)}`);
  const compiled = measure(() => void program.evaluate(activation()));
  const interpreted = QUICK ? Number.NaN : measure(() => void program.interpret(activation()));
  console.log(`| ${i + 1} | ${(compiled / 1000).toFixed(3)} | ${(interpreted / 1000).toFixed(3)} | ${String(compiledValue)} |`);
}
