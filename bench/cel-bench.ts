// Micro-benchmarks for the CEL layer: (1) the cost of metering comprehensions, comparing our base
// environment with cel-js's own macros, with and without a budget armed; (2) RE2 through re2js
// against JavaScript's RegExp, on policy-style patterns and on a pattern that makes backtracking
// explode. Run: npm run build && node build/bench/cel-bench.js
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Environment } from '@marcbachmann/cel-js';
import { RE2JS } from 're2js';
import { newBaseEnvironment } from '../src/cel/base-environment.js';
import { withCostBudget } from '../src/cel/cost.js';

function measure(iterations: number, run: () => unknown): number {
  const started = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) run();
  return Number(process.hrtime.bigint() - started) / iterations;
}

function report(label: string, nanos: number): void {
  console.log(`${label.padEnd(58)} ${(nanos / 1000).toFixed(2).padStart(11)} µs/op`);
}

function timeIt(label: string, iterations: number, run: () => unknown): number {
  for (let i = 0; i < Math.min(200, iterations); i++) run(); // warm up
  const nanos = measure(iterations, run);
  report(label, nanos);
  return nanos;
}

const EXPRESSIONS = ['xs.all(x, x >= 0)', 'xs.exists(x, x < 0)', 'xs.exists_one(x, x == 5)', 'xs.map(x, x * 2)', 'xs.filter(x, x % 2 == 0)'];
const VARIANTS = ['cel-js built-in', 'metered, no budget', 'metered, budget armed'] as const;

/** One variant of one expression, in a fresh process so that JIT state from the others cannot leak in. */
function comprehensionVariant(variant: number, expressionIndex: number): number {
  const xs = Array.from({ length: 1_000 }, (_, i) => BigInt(i));
  const expression = EXPRESSIONS[expressionIndex]!;
  const env =
    variant === 0 ? new Environment({ enableOptionalTypes: true, homogeneousAggregateLiterals: false }) : newBaseEnvironment();
  env.registerVariable('xs', 'list<int>');
  const program = env.parse(expression);
  const run = variant === 2 ? () => withCostBudget(1_000_000, () => program({ xs })) : () => program({ xs });
  for (let i = 0; i < 2_000; i++) run();
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 5; round++) best = Math.min(best, measure(1_000, run));
  return best;
}

function comprehensionOverhead(): void {
  console.log('\n## Comprehensions over a list of 1,000 ints (best of 7 fresh processes, each best of 5 rounds: the machine is shared, so minima are the stable figure)\n');
  console.log(`| expression | ${VARIANTS.join(' | ')} | overhead unarmed | overhead armed |`);
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  const script = fileURLToPath(import.meta.url);
  for (let e = 0; e < EXPRESSIONS.length; e++) {
    const times = VARIANTS.map((_, v) =>
      Math.min(
        ...Array.from({ length: 7 }, () =>
          Number(execFileSync(process.execPath, [script, 'comprehension', String(v), String(e)], { encoding: 'utf8' }).trim()),
        ).filter((t) => Number.isFinite(t) && t > 0),
      ),
    );
    const [base = 1, off = 0, on = 0] = times;
    const pct = (t: number): string => `${(((t - base) / base) * 100).toFixed(1)}%`;
    console.log(`| \`${EXPRESSIONS[e]}\` | ${times.map((t) => `${(t / 1000).toFixed(1)} µs`).join(' | ')} | ${pct(off)} | ${pct(on)} |`);
  }
}

function regexComparison(): void {
  console.log('\n## Regex: re2js (RE2, linear) vs RegExp (backtracking)\n');
  const image = 'registry.example.com/platform/node-agent:v1.2.3@sha256:' + 'a'.repeat(64);
  const cases: Array<[string, string, string]> = [
    ['image allowlist', '^registry\\.example\\.com/[a-z0-9-/]+(:[\\w.-]+)?(@sha256:[a-f0-9]{64})?$', image],
    ['label value', '^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$', 'node-agent.v1'],
    ['DNS-1123 subdomain', '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$', 'kube-system.svc.cluster.local'],
  ];
  for (const [label, pattern, input] of cases) {
    const re2 = RE2JS.compile(pattern);
    const js = new RegExp(pattern);
    timeIt(`re2js  ${label}`, 20_000, () => re2.test(input));
    timeIt(`RegExp ${label}`, 20_000, () => js.test(input));
    timeIt(`re2js compile ${label}`, 2_000, () => RE2JS.compile(pattern));
  }
  const evil = `${'a'.repeat(28)}!`;
  timeIt('re2js  ^(a+)+$ on 28 a\'s and a !', 200, () => RE2JS.compile('^(a+)+$').test(evil));
  timeIt('RegExp ^(a+)+$ on 28 a\'s and a !', 1, () => /^(a+)+$/.test(evil));
}

if (process.argv[2] === 'comprehension') {
  console.log(comprehensionVariant(Number(process.argv[3]), Number(process.argv[4])));
} else {
  comprehensionOverhead();
  regexComparison();
}
