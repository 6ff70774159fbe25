// How much generated code the built-in library's reviews run: the size of each compiled CEL
// expression's generated JavaScript (per policy, per expression, and for the programs the webhook
// benchmark's small review actually calls), the machine code TurboFan makes of those functions,
// and the review's time when other work evicts the CPU caches between two reviews.
//
// Why: inside `serve` a review runs each of its generated functions once, and the request's TLS and
// HTTP work evict them between two requests, so what a review costs there follows how much code it
// runs more than how fast that code is in a hot loop (docs/performance.md, "What the profiles show").
//
//   node build/bench/code-size.js                  sizes (and --verbose: every expression)
//   node build/bench/code-size.js --machine-code   also TurboFan's code size after 30,000 reviews (a child
//                                                  process with --print-opt-code)
//   node build/bench/code-size.js --cold           also the review's median time touching 0, 1 and 4 MB between reviews,
//                                                  the same with every expression's and lean function's value replayed
//                                                  (what the engine costs around its generated code), and per policy,
//                                                  the median time of its lean function (src/engine/lean-pass.ts) and
//                                                  its expressions in a review with 4 MB written between reviews
//                                                  and without (which policies a cold review pays for), beside the
//                                                  policy's hand-written twin (bench/hand-written/) timed the same way
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { decodeAdmissionReview } from '../src/admission/admission-review.js';
import type { CelActivation, CelProgram } from '../src/cel/program.js';
import { PolicyActivation } from '../src/engine/activation.js';
import type { LeanPass } from '../src/engine/lean-pass.js';
import { plansOf, type PolicyPlan } from '../src/engine/policy-plan.js';
import { review } from '../src/engine/review.js';
import type { AdmissionRequest, ReviewPhase } from '../src/engine/types.js';
import { loadPolicySet } from '../src/policy/load-policies.js';
import type { CompiledExpression, CompiledPolicy } from '../src/policy/types.js';
import { parseNamespaces } from '../src/server/namespace-catalog.js';
import { median } from './bench-processes.js';
import { twinReviewOf, type ReviewShape } from './hand-written/answer.js';
import { handWrittenCostByPolicy, type TwinCost } from './hand-written/cost-by-policy.js';
import { loadHandWrittenLibrary } from './hand-written/library.js';
import { BUILT_IN_POLICIES, NAMESPACES_YAML, reviewTemplate } from './webhook-payloads.js';

/** The name every generated function has (src/cel/codegen/emitter.ts), which --print-opt-code filters on. */
const GENERATED_NAME = 'compiledCel';

/** The expressions of a policy the engine calls itself; its variables run inside them, on first read. */
function topLevelExpressionsOf(policy: CompiledPolicy): CompiledExpression[] {
  return [
    ...policy.matchConditions,
    ...policy.validations.flatMap((v) => [v.expression, ...(v.messageExpression ? [v.messageExpression] : [])]),
    ...(policy.native?.auditAnnotations ?? []).map((a) => a.valueExpression),
    ...policy.mutations.flatMap((m) => [
      ...(m.when ? [m.when] : []),
      ...(m.jsonPatch ? [m.jsonPatch] : []),
      ...(m.applyConfiguration ? [m.applyConfiguration] : []),
      ...(m.defaults ?? []).flatMap((d) => (d.valueExpression ? [d.valueExpression] : [])),
    ]),
  ];
}

/** Every expression of a policy that runs against a review's activation. */
function expressionsOf(policy: CompiledPolicy): CompiledExpression[] {
  return [...policy.variables, ...topLevelExpressionsOf(policy)];
}

/** The generated function's source text (V8 keeps it for lazy compilation); 0 when interpreted. */
function generatedSize(program: CelProgram): number {
  return program.notCompiled === undefined ? program.evaluate.toString().length : 0;
}

const set = await loadPolicySet([BUILT_IN_POLICIES]);
const namespaces = parseNamespaces(NAMESPACES_YAML, 'namespaces');
const args = process.argv.slice(2);
/** The small review's text: parsed afresh for each review, as a server gets it. */
const SMALL_REVIEW_TEXT = JSON.stringify(reviewTemplate('small'));

function parsedSmallRequest(): AdmissionRequest {
  const decoded = decodeAdmissionReview(JSON.parse(SMALL_REVIEW_TEXT));
  if (!decoded.ok) throw new Error(decoded.message);
  return decoded.request;
}

/** The Namespace object the server knows for the small review's namespace (its labels decide namespaceSelectors). */
const SMALL_NAMESPACE_OBJECT = namespaces.get(parsedSmallRequest().namespace ?? '') ?? null;

type Evaluate = CelProgram['evaluate'];

/**
 * Replaces the evaluate of each program with what `wrap` makes of it (given the original) while `body`
 * runs, and puts the originals back after.
 */
function withProgramsWrapped<T>(programs: Iterable<CelProgram>, wrap: (original: Evaluate, program: CelProgram) => Evaluate, body: () => T): T {
  const originals = new Map<CelProgram, Evaluate>();
  for (const program of programs) {
    const original = program.evaluate;
    originals.set(program, original);
    (program as { evaluate: Evaluate }).evaluate = wrap(original, program);
  }
  try {
    return body();
  } finally {
    for (const [program, original] of originals) (program as { evaluate: Evaluate }).evaluate = original;
  }
}

/**
 * Replaces each lean function of the library's plans (src/engine/lean-pass.ts: the passing case of a
 * policy's validations, asked before its expressions) with what `wrap` makes of it while `body` runs,
 * and puts the originals back after.
 */
function withLeanWrapped<T>(wrap: (original: LeanPass, policy: string) => LeanPass, body: () => T): T {
  const originals = new Map<PolicyPlan, LeanPass>();
  for (const plan of [...plansOf(set.validatingPolicies, set), ...plansOf(set.mutatingPolicies, set)]) {
    if (plan.lean === undefined) continue;
    originals.set(plan, plan.lean);
    (plan as { lean: LeanPass }).lean = wrap(plan.lean, plan.policy.name);
  }
  try {
    return body();
  } finally {
    for (const [plan, original] of originals) (plan as { lean: LeanPass }).lean = original;
  }
}

/** Every program of the library's policies (a program two policies share, once). */
function allPrograms(): Set<CelProgram> {
  return new Set(set.policies.flatMap((p) => expressionsOf(p).map((e) => e.program)));
}

/** The programs one review calls, found by wrapping each program's evaluate for one review. */
function programsRun(phase: ReviewPhase): Set<CelProgram> {
  const request = parsedSmallRequest();
  const run = new Set<CelProgram>();
  const wrap = (original: Evaluate, program: CelProgram): Evaluate => (activation) => {
    run.add(program);
    return original(activation);
  };
  withProgramsWrapped(allPrograms(), wrap, () => review(request, set, { phase, namespaceObject: SMALL_NAMESPACE_OBJECT }));
  return run;
}

function kb(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KB`;
}

/**
 * Runs the small review in `phase` `times` times (to get its functions optimized), each parsed afresh:
 * V8 optimizes for the shapes JSON.parse gives, which a review built by code does not have.
 */
function warm(phase: ReviewPhase, times: number): number {
  const context = { phase, namespaceObject: SMALL_NAMESPACE_OBJECT };
  let sink = 0;
  for (let i = 0; i < times; i++) sink += review(parsedSmallRequest(), set, context).outcomes.length;
  return sink;
}

/** Reviews before the machine code is counted or the reviews timed: V8 has optimized the review's functions by then. */
const WARM_UP_REVIEWS = 30_000;
/** Reviews of each kind (warm, cold) per phase for the per-policy table. */
const COLD_POLICY_REVIEWS = 2000;

/**
 * TurboFan's code for the generated functions after warming the small review: a child process
 * with --print-opt-code filtered to them, each function's last optimized code counted once.
 */
function machineCode(phase: ReviewPhase): { functions: number; bytes: number } {
  const child = spawnSync(
    process.execPath,
    ['--print-opt-code', `--print-opt-code-filter=${GENERATED_NAME}`, fileURLToPath(import.meta.url), '--warm-only', phase],
    { encoding: 'utf8', maxBuffer: 1 << 30 },
  );
  if (child.status !== 0) throw new Error(`the warm-up child failed: ${child.stderr}`);
  // Each optimized code object: "source_position = N" (the function's position in its script, unique
  // per generated function since each has a script of its own only with the same text) ... "Instructions (size = N)".
  const sizes = new Map<string, number>();
  let current: string | undefined;
  let counter = 0;
  for (const line of child.stdout.split('\n')) {
    if (line.startsWith('--- Optimized code ---')) current = `code${counter++}`;
    const address = /^address = (0x[0-9a-f]+)/.exec(line);
    if (address && current !== undefined) current = address[1]!;
    const size = /^Instructions \(size = (\d+)\)/.exec(line);
    if (size && current !== undefined) {
      sizes.set(current, Number(size[1]));
      current = undefined;
    }
  }
  return { functions: sizes.size, bytes: [...sizes.values()].reduce((a, b) => a + b, 0) };
}

/** Median wall time of the small review with `touchBytes` of memory written between two reviews. */
function coldReview(phase: ReviewPhase, touchBytes: number, reviews: number): number {
  const buffer = new Uint8Array(Math.max(1, touchBytes));
  const times: number[] = [];
  let sink = 0;
  for (let i = 0; i < reviews; i++) {
    // A freshly parsed review each time, as the server gets one.
    const request = parsedSmallRequest();
    if (touchBytes > 0) touch(buffer, i);
    const t0 = process.hrtime.bigint();
    sink += review(request, set, { phase, namespaceObject: SMALL_NAMESPACE_OBJECT }).outcomes.length;
    times.push(Number(process.hrtime.bigint() - t0));
  }
  if (sink < 0) console.log(sink);
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]! / 1000;
}

interface PolicyColdCost {
  policy: string;
  /** Median number of top-level expressions the policy evaluates in a review. */
  calls: number;
  /** Median µs of its expressions in a review right after another. */
  warm: number;
  /** Median µs of its expressions in a review after 4 MB were written. */
  cold: number;
}

/** Writes every 64th byte of `buffer` (one store per cache line): evicts the caches as a request's TLS and HTTP work does. */
function touch(buffer: Uint8Array, round: number): void {
  for (let j = 0; j < buffer.length; j += 64) buffer[j] = (buffer[j]! + round) & 0xff;
}

const COLD_TOUCH_BYTES = 4 << 20;

/**
 * Per policy, the time of its lean function and its top-level expressions in the small review, after another review (warm)
 * and after 4 MB were written (cold), alternating, medians over `reviews` of each: which policies a
 * review that finds its code out of the caches pays for. Each program's evaluate is wrapped (and put
 * back after) to read the clock around it; a program two policies share (pod-security baseline and
 * restricted share most of theirs) is charged to the policy the engine is evaluating, which its
 * activation names. A variable runs inside the first expression that reads it (a variable the
 * library's policies share, once per review: in the first policy that reads it), so it is charged
 * there. Returns the policies that ran any expression, the medians of the per-review totals, and of
 * the whole review() with the clocks in place (their reads are in the rows: about 0.1 µs a call).
 */
function coldCostByPolicy(
  phase: ReviewPhase,
  reviews: number,
): { policies: PolicyColdCost[]; total: { warm: number; cold: number }; review: { warm: number; cold: number } } {
  const owners = new Map<CelProgram, Set<string>>();
  for (const policy of set.policies) {
    for (const expression of topLevelExpressionsOf(policy)) {
      const names = owners.get(expression.program) ?? new Set<string>();
      names.add(policy.name);
      owners.set(expression.program, names);
    }
  }
  /** The review being timed: nanoseconds and calls per policy; undefined while warming up. */
  let current: Map<string, { ns: number; calls: number }> | undefined;
  /** Adds one timed call of `ns` nanoseconds to `name`'s entry of the review being timed. */
  const record = (name: string, ns: number): void => {
    if (current === undefined) return;
    const entry = current.get(name);
    if (entry === undefined) current.set(name, { ns, calls: 1 });
    else {
      entry.ns += ns;
      entry.calls++;
    }
  };
  const timed = (original: Evaluate, program: CelProgram): Evaluate => {
    const names = owners.get(program)!;
    const sole = names.size === 1 ? [...names][0]! : `(shared by ${[...names].join(', ')})`;
    return (activation: CelActivation) => {
      const t0 = process.hrtime.bigint();
      try {
        return original(activation);
      } finally {
        record(activation instanceof PolicyActivation ? activation.policy.name : sole, Number(process.hrtime.bigint() - t0));
      }
    };
  };
  const timedLean = (original: LeanPass, policy: string): LeanPass => {
    return (json, activation, params) => {
      const t0 = process.hrtime.bigint();
      try {
        return original(json, activation, params);
      } finally {
        record(policy, Number(process.hrtime.bigint() - t0));
      }
    };
  };
  return withLeanWrapped(timedLean, () => withProgramsWrapped(owners.keys(), timed, () => {
    // Warmed with the wrappers in place, so that what is timed is optimized code.
    warm(phase, WARM_UP_REVIEWS);
    const buffer = new Uint8Array(COLD_TOUCH_BYTES);
    const samples = { warm: new Map<string, number[]>(), cold: new Map<string, number[]>() };
    const calls = new Map<string, number[]>();
    const totals = { warm: [] as number[], cold: [] as number[] };
    const whole = { warm: [] as number[], cold: [] as number[] };
    let sink = 0;
    for (let i = 0; i < reviews; i++) {
      for (const mode of ['warm', 'cold'] as const) {
        // A freshly parsed review each time, as the server gets one.
        const request = parsedSmallRequest();
        if (mode === 'cold') touch(buffer, i);
        current = new Map();
        const t0 = process.hrtime.bigint();
        sink += review(request, set, { phase, namespaceObject: SMALL_NAMESPACE_OBJECT }).outcomes.length;
        whole[mode].push(Number(process.hrtime.bigint() - t0) / 1000);
        let total = 0;
        for (const [name, { ns, calls: n }] of current) {
          const list = samples[mode].get(name) ?? [];
          list.push(ns / 1000);
          samples[mode].set(name, list);
          total += ns / 1000;
          if (mode === 'cold') {
            const counts = calls.get(name) ?? [];
            counts.push(n);
            calls.set(name, counts);
          }
        }
        totals[mode].push(total);
        current = undefined;
      }
    }
    if (sink < 0) console.log(sink);
    const policies = [...samples.cold.keys()].map((policy) => ({
      policy,
      calls: median(calls.get(policy)!),
      warm: median(samples.warm.get(policy) ?? []),
      cold: median(samples.cold.get(policy)!),
    }));
    policies.sort((a, b) => b.cold - a.cold);
    return {
      policies,
      total: { warm: median(totals.warm), cold: median(totals.cold) },
      review: { warm: median(whole.warm), cold: median(whole.cold) },
    };
  }));
}

/**
 * coldReview with every program and lean function answering the value it computed in its first call (each call after
 * the first costs a function call and nothing else): what the engine itself costs around its
 * generated code (matching, the activation, variables' bookkeeping, budgets, outcomes, the decision),
 * warm and after `touchBytes` were written. The reviews are the same but for the parse, so the values
 * replayed are the decision's own (checked: the same outcomes as the engine's).
 */
function reviewWithValuesReplayed(phase: ReviewPhase, touchBytes: number, reviews: number): number {
  const request = parsedSmallRequest();
  const context = { phase, namespaceObject: SMALL_NAMESPACE_OBJECT };
  const expected = JSON.stringify(review(request, set, context).outcomes);
  const replay = (original: Evaluate): Evaluate => {
    let answered = false;
    let value: unknown;
    return (activation) => {
      if (!answered) {
        value = original(activation);
        answered = true;
      }
      return value;
    };
  };
  const replayLean = (original: LeanPass): LeanPass => {
    let answered = false;
    let value: ReturnType<LeanPass> = true;
    return (json, activation, params) => {
      if (!answered) {
        value = original(json, activation, params);
        answered = true;
      }
      return value;
    };
  };
  return withLeanWrapped(replayLean, () => withProgramsWrapped(allPrograms(), replay, () => {
    const replayed = JSON.stringify(review(request, set, context).outcomes);
    if (replayed !== expected) throw new Error(`replayed values gave other outcomes: ${replayed} instead of ${expected}`);
    warm(phase, WARM_UP_REVIEWS / 10);
    return coldReview(phase, touchBytes, reviews);
  }));
}

if (args[0] === '--warm-only') {
  warm(args[1] as ReviewPhase, WARM_UP_REVIEWS);
  process.exit(0);
}

const verbose = args.includes('--verbose');
const distinct = new Map<CelProgram, number>();
console.log('| policy | expressions | compiled | generated source |');
console.log('|---|---:|---:|---:|');
for (const policy of set.policies) {
  const expressions = expressionsOf(policy);
  let bytes = 0;
  for (const expression of expressions) {
    const size = generatedSize(expression.program);
    bytes += size;
    distinct.set(expression.program, size);
  }
  const compiled = expressions.filter((e) => e.program.notCompiled === undefined).length;
  console.log(`| ${policy.name} | ${expressions.length} | ${compiled} | ${kb(bytes)} |`);
  if (verbose) {
    for (const expression of expressions) {
      const source = expression.program.source.replace(/\s+/g, ' ');
      console.log(`|   ${expression.field} | ${source.length} chars of CEL | | ${generatedSize(expression.program)} B |`);
    }
  }
}
const total = [...distinct.values()].reduce((a, b) => a + b, 0);
console.log(`\n${distinct.size} distinct programs, ${kb(total)} of generated source (${(total / distinct.size).toFixed(0)} B each on average)`);
for (const phase of ['validate', 'mutate'] as ReviewPhase[]) {
  const run = programsRun(phase);
  const bytes = [...run].reduce((sum, program) => sum + generatedSize(program), 0);
  console.log(`small /${phase} review: ${run.size} programs run, ${kb(bytes)} of generated source`);
}
if (args.includes('--machine-code')) {
  for (const phase of ['validate', 'mutate'] as ReviewPhase[]) {
    const code = machineCode(phase);
    console.log(`small /${phase} review after ${WARM_UP_REVIEWS} reviews: ${code.functions} optimized generated functions, ${kb(code.bytes)} of TurboFan code`);
  }
}
if (args.includes('--cold')) {
  const touchRows = [0, 1, 4] as const;
  for (const phase of ['validate', 'mutate'] as ReviewPhase[]) {
    warm(phase, WARM_UP_REVIEWS);
    const row = touchRows.map((mb) => `${mb} MB: ${coldReview(phase, mb << 20, 3000).toFixed(1)} µs`);
    console.log(`small /${phase} review, median, touching between reviews: ${row.join(', ')}`);
    const replayed = touchRows.map((mb) => `${mb} MB: ${reviewWithValuesReplayed(phase, mb << 20, 3000).toFixed(1)} µs`);
    console.log(`  the same with every expression's value replayed (the engine around its generated code): ${replayed.join(', ')}`);
  }
  const library = loadHandWrittenLibrary(BUILT_IN_POLICIES);
  const buffer = new Uint8Array(COLD_TOUCH_BYTES);
  const twinReview = () => twinReviewOf(JSON.parse(SMALL_REVIEW_TEXT) as ReviewShape, namespaces);
  for (const phase of ['validate', 'mutate'] as ReviewPhase[]) {
    const { policies, total, review: whole } = coldCostByPolicy(phase, COLD_POLICY_REVIEWS);
    const twins = handWrittenCostByPolicy(library, { phase, review: twinReview, evict: (round) => touch(buffer, round), reviews: COLD_POLICY_REVIEWS });
    console.log(`\nsmall /${phase} review per policy: its lean function and its top-level expressions (variables inside them), median µs over ${COLD_POLICY_REVIEWS} reviews each, alternating; beside it, the policy's hand-written twin timed the same way (its whole check, matching included):`);
    console.log('| policy | calls (lean function, expressions) | warm µs | cold µs (4 MB written before) | cold − warm µs | twin warm µs | twin cold µs | cold, engine / twin |');
    console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
    const twinCells = (twin: TwinCost | undefined, cold: number): string =>
      twin === undefined ? '| | | |' : `| ${twin.warm.toFixed(2)} | ${twin.cold.toFixed(2)} | ${(cold / twin.cold).toFixed(1)}× |`;
    for (const row of policies) {
      console.log(`| ${row.policy} | ${row.calls} | ${row.warm.toFixed(1)} | ${row.cold.toFixed(1)} | ${(row.cold - row.warm).toFixed(1)} ${twinCells(twins.byPolicy.get(row.policy), row.cold)}`);
    }
    const sum = (pick: (row: PolicyColdCost) => number): number => policies.reduce((acc, row) => acc + pick(row), 0);
    console.log(
      `| total, sum of the rows | ${sum((r) => r.calls)} | ${sum((r) => r.warm).toFixed(1)} | ${sum((r) => r.cold).toFixed(1)} | ${(sum((r) => r.cold) - sum((r) => r.warm)).toFixed(1)} | | | |`,
    );
    console.log(
      `| total, median of the reviews' sums (twins: all ${twins.byPolicy.size} of the phase) | | ${total.warm.toFixed(1)} | ${total.cold.toFixed(1)} | ${(total.cold - total.warm).toFixed(1)} ${twinCells(twins.total, total.cold)}`,
    );
    console.log(`| the whole review(), clocks included | | ${whole.warm.toFixed(1)} | ${whole.cold.toFixed(1)} | ${(whole.cold - whole.warm).toFixed(1)} | | | |`);
  }
}
