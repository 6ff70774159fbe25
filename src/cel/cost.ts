// A runtime cost meter for CEL evaluation.
//
// cel-js has no cost tracking, so we keep our own: the engine arms a budget around one synchronous
// evaluation (`withCostBudget(limit, () => program(activation))`) and the evaluation charges it in
// Kubernetes' units, at the points cel-go's cost tracker does: the unit of every identifier, field
// selection, index and constant-time call, and the base cost of literals and of the comprehension
// macros' expansions (node-costs.ts: summed per straight-line region at load time, charged once per
// region), and every function whose price depends on its operands at the cost Kubernetes gives that
// call (library/call-costs.ts: string, list, regex, quantity, URL and IP functions, contains,
// startsWith, endsWith, `in` on a list, string and bytes orderings and conversions), string
// concatenation, list concatenation by the size of its result (library/allocations.ts), and `==` /
// `!=` by the size of the smaller operand (library/equality-cost.ts).
// Evaluation is synchronous, so a module-level meter is safe; when no budget is armed, charging is
// one predictable branch.

/**
 * A budget sized like Kubernetes' per-expression runtime limit (PerCallLimit): a DaemonSet-sized
 * policy spends a few hundred units; a 1,000 x 1,000 nested comprehension does not fit.
 */
export const DEFAULT_COST_BUDGET = 1_000_000;

export class CostBudgetExceededError extends Error {
  constructor(
    readonly budget: number,
    readonly spent: number,
  ) {
    super(
      `CEL cost budget exceeded: the expression was stopped after spending more than its budget of ` +
        `${budget} units (Kubernetes' CEL cost units)`,
    );
    this.name = 'CostBudgetExceededError';
  }
}

// The armed meter and the deadline: one module-wide record, not an object per evaluation (an
// evaluation arms one per expression, and the engine evaluates one per policy and more, so arming
// allocates nothing). One record of fields rather than module-level `let`s: V8 reads and writes a
// field of a constant object faster than a module variable (which it checks for initialisation on
// every access), and a review arms and disarms a meter per expression.
//
// Budgets nest (the engine arms one per expression inside the review's), and `spent` runs on across
// them: an inner budget starts where the outer one stands (`base`) and its units are simply the
// outer's too, so arming and disarming one rewrites no counter and no clock position, only the few
// fields that say which budget is armed (which `metered` keeps in locals while the inner one runs).
interface MeterState {
  armed: boolean;
  /** The armed budget's units. */
  limit: number;
  /** The value of `spent` when the armed budget was armed: it has spent `spent - base`. */
  base: number;
  /**
   * Units spent, counted on from the outermost armed budget's start. A charge that takes
   * `spent - base` past `limit` throws. (It can shrink: a call that costs less than the unit its node
   * paid up front takes the difference back.) Cost units are integers, so the sums are exact.
   */
  spent: number;
  /**
   * Set by the charge that took the armed budget past its limit: how an evaluation knows its budget ran out
   * even when CEL's error-absorbing operators swallowed that throw and a later charge took units back.
   */
  overran: boolean;
  /** The armed deadline in performance.now() milliseconds, or undefined. */
  deadlineAt: number | undefined;
  deadlinePassed: boolean;
  /** While a deadline is armed: the value of `spent` past which the clock is read again. */
  clockAt: number;
  /**
   * The value of `spent` past which a charge must look further (the budget's end, the next clock read, or
   * -Infinity once the budget or the deadline ran out; +Infinity while no budget is armed). Compiled
   * code charges a region by adding to `spent` and comparing with this alone (regionMeter).
   */
  threshold: number;
  /** What the last metered evaluation spent (read right after it returns). */
  lastSpent: number;
}

const meter: MeterState = {
  armed: false,
  limit: 0,
  base: 0,
  spent: 0,
  overran: false,
  deadlineAt: undefined,
  deadlinePassed: false,
  clockAt: 0,
  threshold: Number.POSITIVE_INFINITY,
  lastSpent: 0,
};

/**
 * Cost units are counts, not time: on a large object one unit can take microseconds, so a budget
 * alone does not keep a review inside its deadline. While a deadline is armed, the clock is read every CLOCK_CHECK_UNITS units charged (the engine
 * also reads it between policies, see deadlinePassedBeforePolicy); once it has passed, every further charge throws.
 */
export const CLOCK_CHECK_UNITS = 256;

/**
 * Between policies the engine reads the clock before the first policy of a review and every this many
 * after it (deadlinePassedBeforePolicy): policies that charge few units each still cannot run on
 * unchecked for more than this many, and a review of the built-in library reads the clock once or
 * twice there instead of before each of its 15 policies (a read costs about 60 ns warm, and several
 * times that when the request's I/O has left node's clock code out of the caches).
 */
export const POLICIES_PER_CLOCK_READ = 16;

export class EvaluationDeadlineExceededError extends Error {
  constructor() {
    super('evaluation deadline exceeded: the expression was stopped because the review ran out of time');
    this.name = 'EvaluationDeadlineExceededError';
  }
}

function updateThreshold(): void {
  if (!meter.armed) meter.threshold = Number.POSITIVE_INFINITY;
  else if (meter.overran || meter.deadlinePassed) meter.threshold = Number.NEGATIVE_INFINITY;
  else meter.threshold = meter.deadlineAt === undefined ? meter.base + meter.limit : Math.min(meter.base + meter.limit, meter.clockAt);
}

/** Charges `units` to the armed budget; a no-op when none is armed. Throws once the budget is spent. */
export function chargeCost(units: number): void {
  if (!meter.armed) return;
  meter.spent += units;
  if (meter.spent > meter.threshold) overThreshold();
}

/**
 * What a charge that took `spent` past `threshold` does: throws when the budget is spent or the
 * deadline passed (and keeps throwing at every later charge), else reads the clock if it is time.
 * Called by compiled code after it added a region's units to regionMeter.spent.
 */
export function overThreshold(): void {
  if (!meter.armed) return;
  const spent = meter.spent - meter.base;
  if (spent > meter.limit || meter.overran) {
    meter.overran = true;
    meter.threshold = Number.NEGATIVE_INFINITY;
    throw new CostBudgetExceededError(meter.limit, spent);
  }
  if (meter.deadlineAt !== undefined && (meter.deadlinePassed || meter.spent > meter.clockAt)) {
    meter.clockAt = meter.spent + CLOCK_CHECK_UNITS;
    if (!meter.deadlinePassed && performance.now() > meter.deadlineAt) meter.deadlinePassed = true;
    if (meter.deadlinePassed) {
      meter.threshold = Number.NEGATIVE_INFINITY;
      throw new EvaluationDeadlineExceededError();
    }
  }
  updateThreshold();
}

/**
 * For the engine, before it starts the policy at `index` (from 0) of a review run under an armed
 * deadline: whether the deadline has passed. True without a clock read once any evaluation saw it
 * pass (the meter's reads every CLOCK_CHECK_UNITS, or an earlier call); otherwise the clock is read
 * before every POLICIES_PER_CLOCK_READ-th policy only. A deadline seen passed here stays passed for
 * the rest of the review, as one the meter saw: later policies are not started and a metered
 * evaluation refuses to begin.
 */
export function deadlinePassedBeforePolicy(index: number): boolean {
  if (meter.deadlinePassed) return true;
  if (meter.deadlineAt === undefined || index % POLICIES_PER_CLOCK_READ !== 0 || performance.now() <= meter.deadlineAt) return false;
  meter.deadlinePassed = true;
  updateThreshold();
  return true;
}

/**
 * The meter as compiled code charges it (codegen/generator.ts): `if ((M.spent += n) > M.threshold)
 * overThreshold();`, one addition and one comparison per region instead of a call. Only `spent` is
 * written; a charge while no budget is armed is forgotten when the next budget arms.
 */
export const regionMeter: { spent: number; readonly threshold: number } = meter;

/**
 * Runs `evaluate` with a deadline (performance.now() milliseconds; undefined = none) for every metered
 * evaluation inside it: they throw EvaluationDeadlineExceededError once it has passed, even when CEL's
 * error-absorbing operators swallowed the first throw. Deadlines do not nest: the inner one replaces the outer.
 */
export function withEvaluationDeadline<T>(deadline: number | undefined, evaluate: () => T): T {
  return callWithEvaluationDeadline(deadline, call, evaluate, undefined);
}

/** withEvaluationDeadline for fn(a, b): the same deadline, without a closure per call. */
export function callWithEvaluationDeadline<A, B, T>(deadline: number | undefined, fn: (a: A, b: B) => T, a: A, b: B): T {
  // Nothing to arm or put back: while no deadline is armed, deadlinePassed is false and clockAt is not read.
  if (deadline === undefined && meter.deadlineAt === undefined) return fn(a, b);
  // The outer deadline's state in locals, not an object: the engine arms one per review.
  const outerDeadlineAt = meter.deadlineAt;
  const outerDeadlinePassed = meter.deadlinePassed;
  // The clock's next read, as units still to spend.
  const outerClockIn = meter.clockAt - meter.spent;
  meter.deadlineAt = deadline;
  meter.deadlinePassed = false;
  meter.clockAt = meter.spent + CLOCK_CHECK_UNITS;
  updateThreshold();
  try {
    return fn(a, b);
  } finally {
    meter.deadlineAt = outerDeadlineAt;
    meter.deadlinePassed = outerDeadlinePassed;
    meter.clockAt = meter.spent + outerClockIn;
    updateThreshold();
  }
}

export interface CostReport<T> {
  value: T;
  /** Units spent by the evaluation. */
  cost: number;
}

/**
 * Runs `evaluate` with a cost budget and reports what it spent. Budgets nest: an inner evaluation
 * also spends from the outer budget. Throws CostBudgetExceededError when the budget is exceeded, even
 * if CEL's error-absorbing operators (`||`, `&&`, `all`, `exists`) swallowed the first throw.
 */
export function measureCost<T>(limit: number, evaluate: () => T): CostReport<T> {
  const value = metered(limit, evaluate, undefined, call);
  return { value, cost: meter.lastSpent };
}

function call<T>(evaluate: () => T): T {
  return evaluate();
}


/** Something evaluated under a budget with evaluateWithCostBudget (a CEL program). */
export interface Evaluable<A, T> {
  evaluate(activation: A): T;
}

/**
 * measureCost's work, for fn(a, b) so that the engine's hot path allocates no closure per evaluation;
 * without `fn`, `a.evaluate(b)`: exported as evaluateWithCostBudget itself (the engine's call per
 * expression), so that no function sits between the engine and the program.
 *
 * This is the outermost budget, the engine's common case (an expression of a policy without a budget
 * of its own); a budget inside another is meteredNested's. Kept small (the rare paths in functions
 * of their own) so that V8 inlines it into the review's loop.
 */
function metered<A, B, T>(limit: number, a: A, b: B, fn?: (a: A, b: B) => T): T {
  // The record in a local: each read of the module's constant is a check for initialisation in the
  // bytecode, whose size decides whether V8 inlines this function.
  const m = meter;
  // No clock read here: it costs about as much as a small expression, and the engine reads the
  // clock between policies anyway; within an expression the clock is read every CLOCK_CHECK_UNITS.
  if (!(limit >= 0) || m.deadlinePassed) refuseToArm(limit);
  if (m.armed) return meteredNested(limit, a, b, fn);
  // `spent` holds whatever compiled code added while no budget was armed: the count starts again from
  // 0 and is put back after, the clock's next read as far away as it was (the clock is read every
  // CLOCK_CHECK_UNITS across evaluations, not from each one's start).
  const outerSpent = m.spent;
  m.clockAt -= outerSpent;
  m.spent = 0;
  m.armed = true;
  m.overran = false;
  m.limit = limit;
  m.base = 0;
  // updateThreshold() for what was just set: armed, not overrun, the deadline not passed (see above).
  m.threshold = m.deadlineAt === undefined ? limit : Math.min(limit, m.clockAt);
  let value: T;
  let spent: number;
  let overran: boolean;
  try {
    value = fn === undefined ? (a as unknown as Evaluable<B, T>).evaluate(b) : fn(a, b);
  } finally {
    spent = m.spent;
    overran = m.overran;
    // The other fields of a budget are not read while none is armed: only `armed` and the count go back
    // (and the threshold, updateThreshold's while none is armed).
    m.armed = false;
    m.clockAt += outerSpent - spent;
    m.spent = outerSpent;
    m.threshold = Number.POSITIVE_INFINITY;
  }
  if (spent > limit || overran || m.deadlinePassed || (typeof value === 'object' && value instanceof Promise)) {
    failAfterEvaluation(value, limit, spent, overran, undefined, 0);
  }
  m.lastSpent = spent;
  return value;
}

/**
 * metered inside an armed budget (a policy's budget around its expressions, a test's): the inner
 * budget starts where the outer one stands, and the outer one's fields wait in locals.
 */
function meteredNested<A, B, T>(limit: number, a: A, b: B, fn?: (a: A, b: B) => T): T {
  const m = meter;
  const outerLimit = m.limit;
  const outerBase = m.base;
  const outerOverran = m.overran;
  const outerThreshold = m.threshold;
  const start = m.spent;
  m.overran = false;
  m.limit = limit;
  m.base = start;
  m.threshold = m.deadlineAt === undefined ? start + limit : Math.min(start + limit, m.clockAt);
  let value: T;
  let spent: number;
  let overran: boolean;
  try {
    value = fn === undefined ? (a as unknown as Evaluable<B, T>).evaluate(b) : fn(a, b);
  } finally {
    spent = m.spent - start;
    overran = m.overran;
    m.overran = outerOverran;
    m.limit = outerLimit;
    m.base = outerBase;
    // What the inner budget spent counts in the outer one too: `spent` just runs on. Without a
    // deadline the outer threshold is what it was (nothing it depends on moved); with one, the
    // evaluation may have moved the clock's next read or found the deadline passed (updateThreshold
    // for the outer budget, written out).
    if (m.deadlineAt === undefined) m.threshold = outerThreshold;
    else m.threshold = outerOverran || m.deadlinePassed ? Number.NEGATIVE_INFINITY : Math.min(outerBase + outerLimit, m.clockAt);
  }
  if (spent > limit || overran || m.deadlinePassed || m.spent - outerBase > outerLimit || (typeof value === 'object' && value instanceof Promise)) {
    failAfterEvaluation(value, limit, spent, overran, outerLimit, m.spent - outerBase);
  }
  m.lastSpent = spent;
  return value;
}

/** Why metered cannot arm `limit`: it is not a budget, or the deadline has passed. */
function refuseToArm(limit: number): never {
  if (!(limit >= 0)) throw new RangeError(`cost budget must be a non-negative number, got ${limit}`);
  throw new EvaluationDeadlineExceededError();
}

/**
 * What metered throws after an evaluation that returned, in this order: a Promise is refused, the
 * evaluation's budget (spent past `limit`, or `overran`), the deadline, then the outer budget
 * (`outerLimit`, undefined when none is armed, which has spent `outerSpent`).
 */
function failAfterEvaluation(value: unknown, limit: number, spent: number, overran: boolean, outerLimit: number | undefined, outerSpent: number): never {
  if (typeof value === 'object' && value instanceof Promise) {
    throw new TypeError('CEL evaluation returned a Promise: the cost meter supports synchronous evaluation only');
  }
  if (spent > limit || overran) throw new CostBudgetExceededError(limit, spent);
  if (meter.deadlinePassed) throw new EvaluationDeadlineExceededError();
  if (outerLimit !== undefined && outerSpent > outerLimit) throw new CostBudgetExceededError(outerLimit, outerSpent);
  throw new Error('failAfterEvaluation called for an evaluation that did not fail');
}

/**
 * fn(a, b) under a budget of `limit` units, for an evaluation the caller can redo another way (the
 * lean tier, engine/lean-pass.ts): its value, where false means it did not answer. When it did not
 * (false, or a throw, which is rethrown), the units it charged are taken back from the budget around
 * it, so that redoing the work spends from that budget what it would have without this attempt. (The
 * clock's next read is not put off by the units taken back; a deadline it found passed stays passed.)
 */
export function answerWithinBudget<A, B, T>(limit: number, fn: (a: A, b: B) => T | false, a: A, b: B): T | false {
  const m = meter;
  const start = m.spent;
  let answer: T | false = false;
  try {
    answer = metered(limit, a, b, fn);
    return answer;
  } finally {
    // Outside any budget, metered put `spent` back itself.
    if (answer === false && m.armed) {
      m.spent = start;
      if (m.clockAt > start + CLOCK_CHECK_UNITS) m.clockAt = start + CLOCK_CHECK_UNITS;
      updateThreshold();
    }
  }
}

/** Runs `evaluate` under a cost budget of `limit` units and returns its value. */
export function withCostBudget<T>(limit: number, evaluate: () => T): T {
  return metered(limit, evaluate, undefined, call);
}

/** withCostBudget for fn(a, b): the same budget and errors, without a closure per call. */
export function callWithCostBudget<A, B, T>(limit: number, fn: (a: A, b: B) => T, a: A, b: B): T {
  return metered(limit, a, b, fn);
}

/** withCostBudget for `program.evaluate(activation)`: the same budget and errors, the program called directly. */
export const evaluateWithCostBudget: <A, T>(limit: number, program: Evaluable<A, T>, activation: A) => T = metered;

/** What the last evaluation under a budget spent, read right after it returned (the engine's record of a shared variable's cost). */
export function lastMeteredCost(): number {
  return meter.lastSpent;
}

/** True while a budget is armed (for tests and diagnostics). */
export function isCostBudgetArmed(): boolean {
  return meter.armed;
}
