// The lean tier of a policy's validations: one generated function per policy that evaluates them on
// the common case of a review, from the lean fragments of its expressions (cel/codegen/lean-generator.ts),
// and gives up on anything else. review.ts asks it first. It answers "every validation holds" or
// "these failed, with these messageExpression values"; when it gives up instead (a value the
// fragments do not expect, an error, a construct they do not write, the budget or the deadline), the
// policy runs on the exact code from the start, as if the lean function had never run: the meter's
// count is put back, the policy's variables are unread again, and the review's memo of shared
// variables is as the exact code expects it (PolicyActivation.abandonLeanAttempt).
//
// Why per policy and not per expression: on a review that passes, the exact code's cost is mostly
// the number and the generality of its functions (one per expression and per variable, each with
// its prologue, its budget armed, its variables read through the activation); the same checks
// written by hand in one function per policy run several times faster (docs/performance.md, "The lean tier").
// Here the policy's validations are blocks of one function, its variables locals, under one budget.
//
// What stays exact (test/policies/lean-vs-exact.test.ts, against the exact code on the library, the
// README's examples and edge policies, real and fuzzed DaemonSets): an answer is the exact code's,
// with the same messages and the same cost. The budget: the lean function runs under one
// expression's budget (1,000,000 units): if everything the policy spends fits in it, each
// expression's spend (variables included) and the policy's total fit in theirs too; past it, the
// lean function gives up and the exact code meets its budgets where it always did. Shared variables
// (PolicyPlan.sharedSlots) go through the review's memo as the exact code's reads do (a hit costs
// nothing; the first reader pays): one whose exact value is held as its lean value is (JSON, a
// string, a bool, a list of strings) is evaluated by its lean fragment into the memo, any other is
// read through the activation, as are variables without a lean fragment;
// constant variables are their values at load, as the activation reads them.
import { EvaluationError } from '@marcbachmann/cel-js';
import { BAIL, LEAN_HELPERS, LEAN_METER, type LeanFragment } from '../cel/codegen/lean-generator.js';
import { answerWithinBudget, CostBudgetExceededError, EvaluationDeadlineExceededError } from '../cel/cost.js';
import type { CelProgram, JsonInputs } from '../cel/program.js';
import { constantsWritten, constantToken } from '../cel/codegen/emitter.js';
import { BoundedCache } from '../common/bounded-cache.js';
import type { CompiledPolicy } from '../policy/types.js';
import type { PolicyActivation } from './activation.js';
import type { PolicyPlan } from './policy-plan.js';
import { EvaluationFailure, EXPRESSION_COST_BUDGET } from './evaluate.js';

/**
 * A policy's lean function (of the review's JSON, the activation, and the params as leanValueOf
 * makes them): true when every validation is true; the failed ones (LeanFailures) when
 * it evaluated them all; where it holds the policy's matchConditions too (leanCoversMatchConditions),
 * the index of the first one that is false (LeanSkip), before any validation; a throw when the exact
 * code must decide.
 */
export type LeanPass = (json: JsonInputs, activation: PolicyActivation, params: unknown) => LeanAnswer;

/** The failed validations, in order, each as its index and its messageExpression's value (undefined without one), one after the other. */
export type LeanFailures = unknown[];

/** The index of the policy's first matchCondition that is false: the policy does not apply. */
export type LeanSkip = number;

export type LeanAnswer = true | LeanFailures | LeanSkip;

/** How often one policy's lean function answered, and gave up (the exact code then decided). */
export interface LeanTally {
  answered: number;
  gaveUp: number;
}

/**
 * By policy name, since the process started: every plan of a policy of that name counts in the same
 * slot (PolicyPlan.leanTally), so that a reload keeps counting where the set before left off. Bounded
 * by the names ever loaded. serve exports them (daemonguard_policy_fast_path_total).
 *
 * The counts of all policies in one array, two per slot (answered, gave up), rather than an object per
 * policy: a review of the library counts for each of its policies, mostly with the counters out of the
 * CPU caches, and adjacent counters share cache lines where objects lay wherever the heap put them.
 */
const tallySlots = new Map<string, number>();
const tallyCounts = { counts: new Float64Array(64) };

/** The slot that counts the lean answers and give-ups of the policy named `policy`. */
export function leanTallyOf(policy: string): number {
  let slot = tallySlots.get(policy);
  if (slot === undefined) {
    slot = tallySlots.size;
    tallySlots.set(policy, slot);
    if (2 * slot + 2 > tallyCounts.counts.length) {
      const grown = new Float64Array(2 * tallyCounts.counts.length);
      grown.set(tallyCounts.counts);
      tallyCounts.counts = grown;
    }
  }
  return slot;
}

/** Every policy's tally, in the order the policies were first planned with a lean function. */
export function leanTallies(): ReadonlyMap<string, Readonly<LeanTally>> {
  const { counts } = tallyCounts;
  const tallies = new Map<string, LeanTally>();
  for (const [policy, slot] of tallySlots) tallies.set(policy, { answered: counts[2 * slot]!, gaveUp: counts[2 * slot + 1]! });
  return tallies;
}

/**
 * How often the lean tier answered (passed or failed the policy) and gave up, all policies together
 * (the tallies' sums), and the last error it did not expect (a bug in a fragment).
 */
export const leanStatistics = {
  get answered(): number {
    let sum = 0;
    for (const tally of leanTallies().values()) sum += tally.answered;
    return sum;
  },
  get gaveUp(): number {
    let sum = 0;
    for (const tally of leanTallies().values()) sum += tally.gaveUp;
    return sum;
  },
  unexpected: undefined as unknown,
};

/** A validation's fragments: its expression's, and its messageExpression's (none: undefined; one without a fragment: null). */
interface LeanValidation {
  readonly check: LeanFragment;
  readonly message: LeanFragment | null | undefined;
}

/** How a variable's read is written in the assembled function. */
type VariableRead =
  | { kind: 'constant'; value: unknown }
  | { kind: 'activation'; slot: number }
  | { kind: 'lean'; slot: number; fragment: LeanFragment }
  | { kind: 'shared'; slot: number; sharedSlot: number; fragment: LeanFragment };

/**
 * The policy's lean function, or undefined when it has none: a native policy, no validations, an
 * expression without a lean fragment, a single validation reading no variable (and no matchCondition).
 * It holds the policy's matchConditions too when each has a lean fragment (they read no variable: they
 * are compiled before the variables are declared), so that a review of the policy that matches or
 * not runs no exact code at all; otherwise the exact code runs them first, as it always did.
 */
export function leanPassOf(policy: CompiledPolicy, sharedSlots: readonly number[]): LeanPass | undefined {
  if (policy.native !== undefined || policy.validations.length === 0) return undefined;
  const fragments = policy.matchConditions.map((condition) => condition.program.lean);
  const conditions = fragments.every((fragment): fragment is LeanFragment => fragment !== undefined && fragment.variables.length === 0) ? fragments : [];
  const validations: LeanValidation[] = [];
  for (const validation of policy.validations) {
    const fragment = validation.expression.program.lean;
    if (fragment === undefined) return undefined;
    // A messageExpression without a lean fragment: the validation's failure goes to the exact code.
    const message = validation.messageExpression === undefined ? undefined : (validation.messageExpression.program.lean ?? null);
    validations.push({ check: fragment, message });
  }
  const reads = new Map<string, VariableRead>();
  const pending = validations.flatMap(({ check, message }) => [...check.variables, ...(message?.variables ?? [])]);
  while (pending.length > 0) {
    const name = pending.pop()!;
    if (reads.has(name)) continue;
    const slot = policy.variables.findIndex((variable) => variable.name === name);
    if (slot < 0) return undefined;
    const variable = policy.variables[slot]!;
    const fragment = variable.program.lean;
    let read: VariableRead;
    const sharedSlot = sharedSlots[slot] ?? -1;
    if (variable.constant !== undefined) read = { kind: 'constant', value: variable.constant.value };
    else if (fragment === undefined) read = { kind: 'activation', slot };
    // A shared variable whose exact value is what its lean value is (JSON, or a string, a bool, a list
    // of strings): the lean function evaluates it into the review's memo, where the exact code of any
    // later policy finds it (shared ones read no variable and no params: compile-policy.ts sharedKey).
    else if (sharedSlot >= 0) read = sameInBothTiers(variable.program) ? { kind: 'shared', slot, sharedSlot, fragment } : { kind: 'activation', slot };
    else {
      read = { kind: 'lean', slot, fragment };
      pending.push(...fragment.variables);
    }
    reads.set(name, read);
  }
  // One validation, no variable and no matchCondition: the exact code is one generated function
  // already, and the attempt around a lean one would cost more than it saves (bench:engine's policies).
  if (validations.length === 1 && reads.size === 0 && conditions.length === 0) return undefined;
  // Policies of the same shape (the same programs, variables read the same way: a thousand policies
  // made from a few templates) share one function, as they share their programs.
  const key = shapeKey(conditions, validations, reads);
  const cached = key === undefined ? undefined : sharedPasses.get(key);
  if (cached !== undefined) return cached;
  const pass = assemble(conditions, validations, reads);
  if (conditions.length > 0) coveringMatchConditions.add(pass);
  if (key !== undefined) sharedPasses.set(key, pass);
  return pass;
}

/** Whether the program's exact value is held as its lean value is: JSON, or of a type both tiers hold as JavaScript's own (no ints, no maps). */
function sameInBothTiers(program: CelProgram): boolean {
  return program.jsonResult === true || SAME_IN_BOTH_TIERS.has(program.resultType);
}

const SAME_IN_BOTH_TIERS: ReadonlySet<string> = new Set(['string', 'bool', 'list<string>']);

/** The lean functions that hold their policy's matchConditions. */
const coveringMatchConditions = new WeakSet<LeanPass>();

/** Whether `pass` answers its policy's matchConditions too (LeanSkip), so that review.ts asks it before them. */
export function leanCoversMatchConditions(pass: LeanPass): boolean {
  return coveringMatchConditions.has(pass);
}

/**
 * Lean functions by shape (shapeKey), bounded. An unchanged policy reloaded keeps its programs (their
 * caches), so its shape and function; each changed one adds an entry, and a lean function is larger
 * than a program (up to a few hundred KB of source for the library's largest), hence a quarter of
 * the program caches' bound.
 */
const sharedPasses = new BoundedCache<LeanPass>(1024);

/** A number per fragment (a fragment belongs to one program, which policies of the same expression and declarations share). */
const fragmentIds = new WeakMap<LeanFragment, number>();
let nextFragmentId = 0;

function fragmentId(fragment: LeanFragment): number {
  let id = fragmentIds.get(fragment);
  if (id === undefined) fragmentIds.set(fragment, (id = nextFragmentId++));
  return id;
}

/** What a lean function is made of, as a key: undefined when a constant variable's value has no stable text (never for params-made values). */
function shapeKey(conditions: readonly LeanFragment[], validations: readonly LeanValidation[], reads: ReadonlyMap<string, VariableRead>): string | undefined {
  const parts: unknown[] = [conditions.map(fragmentId)];
  for (const { check, message } of validations) parts.push([fragmentId(check), message === undefined ? -1 : message === null ? -2 : fragmentId(message)]);
  for (const [name, read] of [...reads].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (read.kind === 'lean') parts.push([name, 'lean', read.slot, fragmentId(read.fragment)]);
    else if (read.kind === 'shared') parts.push([name, 'shared', read.slot, read.sharedSlot, fragmentId(read.fragment)]);
    else if (read.kind === 'activation') parts.push([name, 'activation', read.slot]);
    else {
      const text = stableText(read.value);
      if (text === undefined) return undefined;
      parts.push([name, 'constant', text]);
    }
  }
  return JSON.stringify(parts);
}

/** A CEL value made from params as text that tells its kind (ints from doubles, null-prototype maps); undefined for anything else. */
function stableText(value: unknown): string | undefined {
  switch (typeof value) {
    case 'bigint':
      return `${value}n`;
    case 'number':
      return `${value}d`;
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'object': {
      if (value === null) return 'null';
      const members = Array.isArray(value) ? value.map((element) => [stableText(element)]) : Object.getPrototypeOf(value) === null ? Object.entries(value).map(([k, v]) => [k, stableText(v)]) : undefined;
      if (members === undefined || members.some((member) => member[member.length - 1] === undefined)) return undefined;
      return `${Array.isArray(value) ? 'list' : 'map'}${JSON.stringify(members)}`;
    }
    default:
      return undefined;
  }
}

/**
 * Params (CEL values, made at load) as the lean tier reads values (PolicyPlan.leanParams): ints as numbers where they are
 * safe integers, maps as JSON objects are (Object's prototype: the lean code's map test passes at its
 * first comparison, where a null-prototype map costs a call each time the policy reads params; a key
 * the prototype has is read as an own member only, lean-generator.ts `member`). A map with a
 * `__proto__` key stays a null-prototype map, which holds it as a member. Anything else stays as it
 * is, where a lean operation meeting it gives up.
 */
export function leanValueOf(value: unknown): unknown {
  if (typeof value === 'bigint') return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
  if (Array.isArray(value)) return value.map(leanValueOf);
  if (typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === null) {
    const keys = Object.keys(value);
    const out = (keys.includes('__proto__') ? Object.create(null) : {}) as Record<string, unknown>;
    for (const key of keys) out[key] = leanValueOf((value as Record<string, unknown>)[key]);
    return out;
  }
  return value;
}

/**
 * The assembled function's text and constants. A variable that a validation reads unconditionally
 * (a line at the top of its expression's code, not inside a branch or a loop), or that such a
 * variable reads so, is evaluated first thing, in declaration order: the exact code evaluates it in
 * this policy whatever the values (or gives up first, which throws all of this away), so only the
 * moment changes, and with it nothing the exact code can see (engine/activation.ts: a shared variable
 * the lean function evaluated and the exact code did not read is evaluated again by the next policy
 * that reads it). Any other variable is evaluated where a fragment needs it (its `$V<name>$` line),
 * guarded by a flag, so that it runs once and only if reached: its code inline at each such place,
 * or, when it is long (VARIABLE_FUNCTION_LIMIT), eager or not, called in a function of its own; an
 * activation read is a line anyway.
 */
class Assembly {
  readonly constants: unknown[] = [];
  readonly plainFields = new Set<string>();
  /** Per variable: its locals' prefix, and how it is read. */
  readonly variables = new Map<string, { prefix: string; read: VariableRead }>();
  /** The functions of long variables (of J, A and P), declared beside the lean function. */
  readonly closures: string[] = [];
  /** The lean variables evaluated first thing, and those of them evaluated so far while the function is written. */
  readonly eager = new Set<string>();
  readonly evaluated = new Set<string>();
  fragments = 0;

  constructor(reads: ReadonlyMap<string, VariableRead>, validations: readonly LeanValidation[]) {
    let index = 0;
    for (const [name, read] of reads) this.variables.set(name, { prefix: `v${index++}`, read });
    const markEager = (name: string): void => {
      const variable = this.variables.get(name);
      if (variable === undefined || variable.read.kind !== 'lean' || this.eager.has(name)) return;
      this.eager.add(name);
      unconditionalReads(variable.read.fragment).forEach(markEager);
    };
    for (const { check } of validations) unconditionalReads(check).forEach(markEager);
  }

  constant(value: unknown): string {
    this.constants.push(value);
    return constantToken(this.constants.length - 1);
  }

  /** The variable's value, once its line ran. */
  value(name: string): string {
    return `${this.variables.get(name)!.prefix}_value`;
  }

  /** What a `$V<name>$` line becomes: the variable's evaluation, guarded by its flag (nothing where it is surely done). */
  evaluation(name: string): string {
    const { prefix, read } = this.variables.get(name)!;
    if (read.kind === 'constant' || this.evaluated.has(name)) return '';
    if (read.kind === 'activation') {
      // The activation's read: the review's memo, the exact code's value and cost.
      return `if (${prefix}_done !== true) { ${prefix}_value = A.variable(${this.constant(name)}, ${read.slot}); ${prefix}_done = true; }`;
    }
    if (read.kind === 'shared') {
      // The memo's value when an earlier policy evaluated it (free, as the exact code reads it), else
      // evaluated here and put there with what it cost (the attempt's record, should it give up).
      const sharedSlot = this.constant(read.sharedSlot);
      const spent = `${prefix}_spent`;
      return [
        `if (${prefix}_done !== true) {`,
        `${prefix}_value = A.sharedValue(${sharedSlot});`,
        `if (${prefix}_value === undefined) {`,
        `const ${spent} = M.spent;`,
        ...this.computation(prefix, read.fragment),
        `A.rememberSharedValue(${sharedSlot}, ${prefix}_value, M.spent - ${spent});`,
        '}',
        `${prefix}_done = true;`,
        '}',
      ].join('\n');
    }
    return [`if (${prefix}_done !== true) {`, ...this.computation(prefix, read.fragment), `${prefix}_done = true;`, '}'].join('\n');
  }

  /** The lines that leave the variable's value in `<prefix>_value`: its code here, or a call of its function when it is long. */
  private computation(prefix: string, fragment: LeanFragment): string[] {
    if (fragment.source.length > VARIABLE_FUNCTION_LIMIT) {
      if (!this.closures.some((line) => line.startsWith(`var ${prefix} = `))) {
        const placed = this.place(fragment);
        this.closures.push(`var ${prefix} = (J, A, P) => {\n${placed.declarations}\n${placed.source}\nreturn ${placed.result};\n};`);
      }
      return [`${prefix}_value = ${prefix}(J, A, P);`];
    }
    const placed = this.place(fragment);
    return [placed.declarations, placed.source, `${prefix}_value = ${placed.result};`];
  }

  /** The eager variables' evaluations, in declaration order (each the first thing that needs another evaluates that one first). */
  eagerEvaluations(): string[] {
    const order = [...this.eager].sort((a, b) => slotOf(this.variables.get(a)!.read) - slotOf(this.variables.get(b)!.read));
    return order.map((name) => {
      const text = this.evaluation(name);
      this.evaluated.add(name);
      return text;
    });
  }

  /** A fragment's statements with its tokens renamed and its variables' lines written, and its result's source. */
  place(fragment: LeanFragment): { declarations: string; source: string; result: string } {
    const f = this.fragments++;
    const base = this.constants.length;
    this.constants.push(...fragment.constants);
    for (const field of fragment.plainFields) this.plainFields.add(field);
    const rename = (text: string) =>
      text
        .replace(/^\s*\$V([A-Za-z_][A-Za-z0-9_]*)\$$/gm, (_, name: string) => this.evaluation(name))
        .replace(/\$v([A-Za-z_][A-Za-z0-9_]*)\$/g, (_, name: string) => this.value(name))
        .replace(/\$t(\d+)/g, `f${f}t$1`)
        .replace(/\$l(\d+)/g, `f${f}L$1`)
        .replace(/\$c(\d+)/g, (_, n: string) => constantToken(base + Number(n)));
    const temporaries = Array.from({ length: fragment.temporaries }, (_, i) => `f${f}t${i}`);
    return { declarations: temporaries.length > 0 ? `let ${temporaries.join(', ')};` : '', source: rename(fragment.source), result: rename(fragment.result) };
  }
}

/**
 * A variable whose code is longer than this is a function of its own, needed in one place or several
 * (shorter ones are written out where needed), so that no lean function is one huge body: TurboFan's
 * scratch memory for optimising a function grows with its size, and what it took for the largest
 * (pod-security-baseline's, 98 KB of source in one body) stayed in the malloc heap: serve's resident
 * memory under load peaked at 102.6–121.0 MB in `bench:memory`, 91.6–93.4 with this limit.
 */
const VARIABLE_FUNCTION_LIMIT = 4000;

/** The variables a fragment reads on every evaluation: `$V<name>$` lines at its top level (not indented: in no branch or loop). */
function unconditionalReads(fragment: LeanFragment): string[] {
  return [...fragment.source.matchAll(/^\$V([A-Za-z_][A-Za-z0-9_]*)\$$/gm)].map((match) => match[1]!);
}

function slotOf(read: VariableRead): number {
  return read.kind === 'constant' ? -1 : read.slot;
}

function assemble(conditions: readonly LeanFragment[], validations: readonly LeanValidation[], reads: ReadonlyMap<string, VariableRead>): LeanPass {
  const assembly = new Assembly(reads, validations);
  // The matchConditions first, before the eager variables: where one is false the exact code evaluates
  // nothing else, so nothing else may be charged.
  const matching: string[] = [];
  conditions.forEach((condition, index) => {
    const placed = assembly.place(condition);
    matching.push('{', placed.declarations, placed.source, `if (${placed.result} !== true) {`, `if (${placed.result} !== false) throw BAIL;`, `return ${index};`, '}', '}');
  });
  const eager = assembly.eagerEvaluations();
  const body: string[] = [];
  validations.forEach(({ check, message }, index) => {
    const placed = assembly.place(check);
    body.push('{', placed.declarations, placed.source, `if (${placed.result} !== true) {`, `if (${placed.result} !== false) throw BAIL;`);
    // A failure: its messageExpression's value right after, as the exact code evaluates it.
    if (message === null) body.push('throw BAIL;');
    else if (message === undefined) body.push(`(failures ??= []).push(${index}, undefined);`);
    else {
      const text = assembly.place(message);
      body.push('{', text.declarations, text.source, `(failures ??= []).push(${index}, ${text.result});`, '}');
    }
    body.push('}', '}');
  });
  // The variables' flags and values: locals; or, where some variables are functions of their own,
  // beside those functions, made once with the lean function rather than as closures on every call
  // (which allocated them each time), the flags cleared on entry. A value then stays until the next
  // call (a part of the last review reviewed by the policy, at most).
  const hoisted = assembly.closures.length > 0;
  const state: string[] = [];
  const clearFlags: string[] = [];
  for (const { prefix, read } of assembly.variables.values()) {
    if (read.kind === 'constant') state.push(`var ${prefix}_value = ${assembly.constant(read.value)};`);
    else {
      state.push(`var ${prefix}_done = false, ${prefix}_value;`);
      if (hoisted) clearFlags.push(`${prefix}_done = false;`);
    }
  }
  // The names read as plain properties: nobody may have added them to Object.prototype (see lean-generator.ts).
  const fields = [...assembly.plainFields];
  const entry = fields.length === 0 ? [] : [`if (${fields.map((field) => `OP.${field} !== undefined`).join(' || ')}) throw BAIL;`];
  const helpers = Object.keys(LEAN_HELPERS).map((name) => `${name} = H.${name}`);
  // Constants as literals where they can be (codegen/emitter.ts literalOf: part of the machine code,
  // not loads from the closure's context, which a review whose code is out of the CPU caches pays
  // for in misses of their own), the rest bound to `K<index>`.
  const code = constantsWritten(
    [
      ...(hoisted ? [...state, ...assembly.closures] : []),
      `return function leanPass(J, A, P) {`,
      ...entry,
      'let failures;',
      ...(hoisted ? clearFlags : state),
      ...matching,
      ...eager,
      ...body,
      `return failures === undefined ? true : failures;`,
      `};`,
    ].join('\n'),
    assembly.constants,
    'K',
  );
  const bound = code.bound.map((i) => `K${i} = K[${i}]`);
  const source = [`'use strict';`, `var ${[...bound, ...helpers, 'M = L.M', 'over = L.over'].join(', ')};`, code.text].join('\n');
  const pass = instantiate(source, assembly.constants);
  leanSources.set(pass, source);
  return pass;
}

/** Each lean function's source, for tests and for reading what the tier made of a policy. */
const leanSources = new WeakMap<LeanPass, string>();

export function leanSourceOf(pass: LeanPass): string | undefined {
  return leanSources.get(pass);
}

function instantiate(source: string, constants: readonly unknown[]): LeanPass {
  const factory = new Function('K', 'H', 'L', 'BAIL', 'OP', source) as (
    k: readonly unknown[],
    h: typeof LEAN_HELPERS,
    l: typeof LEAN_METER,
    bail: typeof BAIL,
    op: object,
  ) => LeanPass;
  return factory(constants, LEAN_HELPERS, LEAN_METER, BAIL, Object.prototype);
}

/** The lean function's call as answerWithinBudget runs it. */
function runLean(plan: LeanPlan, activation: PolicyActivation): LeanAnswer {
  return plan.lean!(activation.json, activation, plan.leanParams);
}

/** What answerLean reads of a policy's plan. */
type LeanPlan = Pick<PolicyPlan, 'lean' | 'leanParams' | 'leanTally' | 'sharedSlots' | 'sharedSlotCount'>;

/**
 * Whether `error` is one of the ways the lean tier is expected to stop: giving up, the budget, the
 * deadline, or a CEL error of what it called (a shared variable's evaluation, a library function).
 * Anything else is a fault of a lean function (recorded for the tests; the exact code still decides).
 */
function expectedStop(error: unknown): boolean {
  return (
    error === BAIL ||
    error instanceof CostBudgetExceededError ||
    error instanceof EvaluationDeadlineExceededError ||
    error instanceof EvaluationFailure ||
    error instanceof EvaluationError
  );
}

/**
 * Runs the policy's lean function (the activation begun for the policy). True: every validation is
 * true; LeanFailures: the failed validations with their messages' values; LeanSkip: a matchCondition
 * is false (only from a function that holds them); each at the cost the exact code would have
 * charged. False: the exact code decides, finding the meter as it was and the policy's variables
 * unread; a shared variable the lean function evaluated stays in the review's memo, and the exact
 * code's first read of it is charged what it cost (PolicyActivation.abandonLeanAttempt), so that it
 * is neither evaluated twice nor paid twice.
 */
export function answerLean(plan: LeanPlan, activation: PolicyActivation): LeanAnswer | false {
  activation.beginLeanAttempt();
  let answer: LeanAnswer | false;
  try {
    answer = answerWithinBudget(EXPRESSION_COST_BUDGET, runLean, plan, activation);
  } catch (error) {
    if (!expectedStop(error)) leanStatistics.unexpected = error;
    answer = false;
  }
  if (answer !== false) {
    activation.endLeanAttempt();
    tallyCounts.counts[2 * plan.leanTally]!++;
    return answer;
  }
  tallyCounts.counts[2 * plan.leanTally + 1]!++;
  activation.abandonLeanAttempt(plan);
  return false;
}
