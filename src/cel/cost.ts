// A runtime cost meter for CEL evaluation.
//
// cel-js has no cost tracking, so we keep our own: the engine arms a budget around one synchronous
// evaluation (`withCostBudget(limit, () => program(activation))`), and the places that can do
// unbounded work charge it: every comprehension iteration (the metered macros in
// library/comprehensions.ts), every function of the libraries at the cost Kubernetes gives that call
// (library/call-costs.ts: string, list, regex, quantity, URL and IP functions, contains, startsWith,
// endsWith, `in` on a list, string and bytes orderings and conversions), string concatenation and
// list and map literals as Kubernetes prices them, list concatenation by the size of its result
// (library/allocations.ts), and `==` / `!=` by the size of the smaller operand (library/equality-cost.ts).
// Not charged: the unit Kubernetes adds for each identifier and field selection, and for each
// constant-time call of CEL's standard library (arithmetic, size(), scalar orderings, conversions);
// comprehensions pay one unit per iteration instead.
// Evaluation is synchronous, so a module-level meter is safe; when no budget is armed, charging is
// one predictable branch.

/** The unit costs, so that the budget has a meaning one can reason about. */
export const COST = Object.freeze({
  /** One iteration of all / exists / exists_one / map / filter. */
  comprehensionIteration: 1,
  /** List elements copied per unit by list concatenation. */
  listElementsPerUnit: 1,
});

/**
 * A budget sized like Kubernetes' per-expression runtime limit. With the unit costs above a
 * DaemonSet-sized policy spends a few hundred units; a 1,000 x 1,000 nested comprehension does not fit.
 */
export const DEFAULT_COST_BUDGET = 1_000_000;

export class CostBudgetExceededError extends Error {
  constructor(
    readonly budget: number,
    readonly spent: number,
  ) {
    super(
      `CEL cost budget exceeded: the expression was stopped after spending more than its budget of ` +
        `${budget} units (comprehension iterations plus characters and list elements scanned)`,
    );
    this.name = 'CostBudgetExceededError';
  }
}

// The armed meter and the deadline: one module-wide record, not an object per evaluation (an
// evaluation arms one per expression, and the engine evaluates one per policy and more, so arming
// allocates nothing). `metered` keeps the outer meter's state in locals while an inner one is armed
// (budgets nest), and restores it after. One record of fields rather than module-level `let`s: V8
// reads and writes a field of a constant object faster than a module variable (which it checks for
// initialisation on every access), and a review arms and disarms a meter per expression.
interface MeterState {
  armed: boolean;
  limit: number;
  /**
   * Units spent under the armed budget. It only grows, and a charge that takes it past `limit`
   * throws, so `spent > limit` is also how an evaluation knows its budget ran out even when CEL's
   * error-absorbing operators swallowed that throw.
   */
  spent: number;
  /** The armed deadline in performance.now() milliseconds, or undefined. */
  deadlineAt: number | undefined;
  deadlinePassed: boolean;
  unitsSinceClock: number;
  /** What the last metered evaluation spent (read right after it returns). */
  lastSpent: number;
  /** How many budgets have armed so far, and the one armed now: each metered evaluation's own number. */
  evaluationsArmed: number;
  evaluation: number;
}

const meter: MeterState = {
  armed: false,
  limit: 0,
  spent: 0,
  deadlineAt: undefined,
  deadlinePassed: false,
  unitsSinceClock: 0,
  lastSpent: 0,
  evaluationsArmed: 0,
  evaluation: 0,
};

/**
 * Cost units are counts, not time: on a large object one unit can take microseconds, so a budget
 * alone does not keep a review inside its deadline. While a deadline is armed, the clock is read every CLOCK_CHECK_UNITS units charged (the engine
 * also reads it before each policy); once it has passed, every further charge throws.
 */
export const CLOCK_CHECK_UNITS = 256;

export class EvaluationDeadlineExceededError extends Error {
  constructor() {
    super('evaluation deadline exceeded: the expression was stopped because the review ran out of time');
    this.name = 'EvaluationDeadlineExceededError';
  }
}

function checkDeadline(): void {
  if (meter.deadlineAt === undefined) return;
  if (!meter.deadlinePassed && performance.now() > meter.deadlineAt) meter.deadlinePassed = true;
  if (meter.deadlinePassed) throw new EvaluationDeadlineExceededError();
}

/** Charges `units` to the armed budget; a no-op when none is armed. Throws once the budget is spent. */
export function chargeCost(units: number): void {
  if (!meter.armed) return;
  meter.spent += units;
  if (meter.spent > meter.limit) {
    throw new CostBudgetExceededError(meter.limit, meter.spent);
  }
  if (meter.deadlineAt !== undefined) {
    meter.unitsSinceClock += units;
    if (meter.unitsSinceClock >= CLOCK_CHECK_UNITS || meter.deadlinePassed) {
      meter.unitsSinceClock = 0;
      checkDeadline();
    }
  }
}

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
  // The outer deadline's state in locals, not an object: the engine arms one per review.
  const outerDeadlineAt = meter.deadlineAt;
  const outerDeadlinePassed = meter.deadlinePassed;
  const outerUnitsSinceClock = meter.unitsSinceClock;
  meter.deadlineAt = deadline;
  meter.deadlinePassed = false;
  meter.unitsSinceClock = 0;
  try {
    return fn(a, b);
  } finally {
    meter.deadlineAt = outerDeadlineAt;
    meter.deadlinePassed = outerDeadlinePassed;
    meter.unitsSinceClock = outerUnitsSinceClock;
  }
}

/** Charges for copying `length` list elements. */
export function chargeList(length: number): void {
  if (meter.armed) chargeCost(1 + Math.floor(length / COST.listElementsPerUnit));
}

/** Charges one comprehension iteration. Kept tiny: it runs once per element of every macro. */
export function chargeIteration(): void {
  if (meter.armed) chargeCost(COST.comprehensionIteration);
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
  const value = metered(limit, call, evaluate, undefined);
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
 * without `fn`, `a.evaluate(b)` (evaluateWithCostBudget): where metered is inlined, the test folds away
 * and the program is called without a function in between (a tenth of a small policy's review).
 */
function metered<A, B, T>(limit: number, fn: ((a: A, b: B) => T) | undefined, a: A, b: B): T {
  if (!(limit >= 0)) throw new RangeError(`cost budget must be a non-negative number, got ${limit}`);
  // No clock read here: it costs about as much as a small expression, and the engine reads the
  // clock before each policy anyway; within an expression the clock is read every CLOCK_CHECK_UNITS.
  if (meter.deadlinePassed) throw new EvaluationDeadlineExceededError();
  const outerArmed = meter.armed;
  const outerEvaluation = meter.evaluation;
  const outerLimit = meter.limit;
  const outerSpent = meter.spent;
  meter.armed = true;
  meter.evaluation = ++meter.evaluationsArmed;
  meter.limit = limit;
  meter.spent = 0;
  let value: T;
  let spent: number;
  try {
    value = fn === undefined ? (a as unknown as Evaluable<B, T>).evaluate(b) : fn(a, b);
  } finally {
    spent = meter.spent;
    meter.armed = outerArmed;
    meter.evaluation = outerEvaluation;
    meter.limit = outerLimit;
    // What an inner budget spends counts in the outer one too.
    meter.spent = outerArmed ? outerSpent + spent : outerSpent;
  }
  if (typeof value === 'object' && value instanceof Promise) {
    throw new TypeError('CEL evaluation returned a Promise: the cost meter supports synchronous evaluation only');
  }
  if (spent > limit) throw new CostBudgetExceededError(limit, spent);
  if (meter.deadlinePassed) throw new EvaluationDeadlineExceededError();
  if (outerArmed && meter.spent > outerLimit) throw new CostBudgetExceededError(outerLimit, meter.spent);
  meter.lastSpent = spent;
  return value;
}


/**
 * A number that identifies the metered evaluation running now (a fresh one each time a budget arms,
 * the outer one's again when an inner one ends), 0 when no budget is armed. For a charge made once per
 * evaluation whatever a process-wide cache already holds (compileRegex), so that an evaluation's cost
 * depends on its inputs alone, never on what the process evaluated before.
 */
export function currentEvaluation(): number {
  return meter.armed ? meter.evaluation : 0;
}

/** Runs `evaluate` under a cost budget of `limit` units and returns its value. */
export function withCostBudget<T>(limit: number, evaluate: () => T): T {
  return metered(limit, call, evaluate, undefined);
}

/** withCostBudget for fn(a, b): the same budget and errors, without a closure per call. */
export function callWithCostBudget<A, B, T>(limit: number, fn: (a: A, b: B) => T, a: A, b: B): T {
  return metered(limit, fn, a, b);
}

/** withCostBudget for `program.evaluate(activation)`: the same budget and errors, the program called directly. */
export function evaluateWithCostBudget<A, T>(limit: number, program: Evaluable<A, T>, activation: A): T {
  return metered<Evaluable<A, T>, A, T>(limit, undefined, program, activation);
}

/** True while a budget is armed (for tests and diagnostics). */
export function isCostBudgetArmed(): boolean {
  return meter.armed;
}
