// What review()'s per-policy loop needs to know about each policy that does not depend on the
// request, worked out once per policy list instead of once per policy per review: the operations as
// a bit mask, whether the namespace filter can be skipped, the exceptions naming the policy, the
// variables it shares with other policies, and the programs it evaluates.
//
// Why the programs are copied here: a policy's parts (its validations, each validation's expression,
// the expression's program) are objects of their own, spread over the heap wherever loading left
// them, and in a review of many policies the CPU profile's line ticks of the loop fell on those
// reads. A plan's parts are made together, one policy after another, so the loop reads the plan and
// the program and visits the policy's own objects only to report a failure.
import type { CelProgram } from '../cel/program.js';
import { ALL_NAMESPACES } from '../policy/selectors.js';
import type { CompiledException, CompiledExpression, CompiledPolicy, PolicySet } from '../policy/types.js';
import { MATCH_CONDITIONS_COST_BUDGET, mayOverrun, POLICY_COST_BUDGET } from './policy-budget.js';
import { leanCoversMatchConditions, leanPassOf, leanTallyOf, leanValueOf, type LeanPass } from './lean-pass.js';
import type { Operation, PolicyOutcome } from './types.js';

/** An expression the review evaluates, with its program at hand; the expression is read only to name a failure. */
export interface PlannedCheck {
  readonly program: CelProgram;
  readonly expression: CompiledExpression;
}

export interface PolicyPlan {
  readonly policy: CompiledPolicy;
  /** The operations the policy matches, as bits (see operationBit). */
  readonly operations: number;
  /** True when the policy matches every namespace, so its namespace filter need not be called. */
  readonly allNamespaces: boolean;
  /**
   * True when operations and namespaces are all there is to matching it (no selector) and it is not a
   * native policy: the common case, told apart from the others with one test per review.
   */
  readonly plain: boolean;
  /** Plain, every namespace and no matchConditions: nothing but the operation decides whether it applies (see reviewValidations). */
  readonly matchesByOperation: boolean;
  /** The policy's params (what `params` reads). */
  readonly params: unknown;
  /** The policy's matchConditions and validations' expressions, in order. */
  readonly matchConditions: readonly PlannedCheck[];
  readonly validations: readonly PlannedCheck[];
  /**
   * Whether the matchConditions, and the validations with their messageExpressions, could together
   * spend more than their budget (policy-budget.ts) and so are evaluated under it. When not, no meter
   * is armed for them: a review of a thousand small policies does not pay for a thousand.
   */
  readonly meterMatchConditions: boolean;
  readonly meterValidations: boolean;
  /** The exceptions naming the policy, in load order; undefined when none does (most policies). */
  readonly exceptions: readonly CompiledException[] | undefined;
  /**
   * Per variable of the policy (by index), the slot of the review's memo in which its value is shared
   * with the other policies of the list that declare the same request-only expression
   * (CompiledVariable.sharedKey), -1 where no other variable of the list has that key: a key only
   * one variable has would cost a memo write per review and never be read. Empty when the policy
   * shares no variable (most).
   */
  readonly sharedSlots: readonly number[];
  /** How many memo slots the list's policies share (the same for every plan of the list). */
  readonly sharedSlotCount: number;
  /**
   * The outcome of a pass with nothing to add (no message, patch or exception), the most common one:
   * shared by every review instead of made per review, and frozen so that no reader can change it.
   */
  readonly passed: Readonly<PolicyOutcome>;
  /**
   * The policy's lean function (lean-pass.ts), which review.ts asks before evaluating the validations
   * on the exact code; undefined where the policy has none (native, an expression without a lean
   * fragment, or a single validation reading no variable and no matchCondition). Policies of the same
   * shape share one.
   */
  readonly lean: LeanPass | undefined;
  /**
   * The lean function is asked before any exact code of the policy and outside its budgets (it holds
   * the matchConditions, or there are none); otherwise after the matchConditions, inside the policy's budget.
   */
  readonly leanFirst: boolean;
  /** The params as the lean function reads them (lean-pass.ts leanValueOf). */
  readonly leanParams: unknown;
  /** The slot its lean function's answers and give-ups are counted in (lean-pass.ts leanTallyOf: the policy name's); -1 without one. */
  readonly leanTally: number;
}

/** The bit of `operation` in PolicyPlan.operations; 0 for a name that is not an operation (which no policy matches). */
export function operationBit(operation: Operation): number {
  switch (operation) {
    case 'CREATE':
      return 1;
    case 'UPDATE':
      return 2;
    case 'DELETE':
      return 4;
    case 'CONNECT':
      return 8;
    default:
      return 0;
  }
}

/** Shared by every plan without match conditions (most). */
const NO_CHECKS: readonly PlannedCheck[] = Object.freeze([]);

function checksOf(expressions: readonly CompiledExpression[]): readonly PlannedCheck[] {
  return expressions.length === 0 ? NO_CHECKS : expressions.map((expression) => ({ program: expression.program, expression }));
}

/** A memo slot per key that more than one variable of `policies` declares. */
function sharedSlotsByKey(policies: readonly CompiledPolicy[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const policy of policies) {
    for (const variable of policy.variables) {
      if (variable.sharedKey !== undefined) counts.set(variable.sharedKey, (counts.get(variable.sharedKey) ?? 0) + 1);
    }
  }
  const slots = new Map<string, number>();
  for (const [key, count] of counts) if (count > 1) slots.set(key, slots.size);
  return slots;
}

/** Shared by every plan whose policy shares no variable (most). */
const NO_SHARED_SLOTS: readonly number[] = Object.freeze([]);

function sharedSlotsOf(policy: CompiledPolicy, slotsByKey: ReadonlyMap<string, number>): readonly number[] {
  const slots = policy.variables.map((variable) => (variable.sharedKey === undefined ? -1 : (slotsByKey.get(variable.sharedKey) ?? -1)));
  return slots.some((slot) => slot >= 0) ? slots : NO_SHARED_SLOTS;
}

function planOf(policy: CompiledPolicy, exceptionsByPolicy: PolicySet['exceptionsByPolicy'], slotsByKey: ReadonlyMap<string, number>): PolicyPlan {
  let operations = 0;
  for (const operation of policy.operations) operations |= operationBit(operation);
  const allNamespaces = policy.namespaceMatches === ALL_NAMESPACES;
  const plain = policy.native === undefined && policy.objectSelector === undefined && policy.namespaceSelector === undefined;
  const sharedSlots = sharedSlotsOf(policy, slotsByKey);
  const lean = leanPassOf(policy, sharedSlots);
  // The members a review reads of every plan first, in the order it reads them: V8 lays an object
  // literal's members out in its order, so that these share the plan's first cache lines (a review
  // of the library reads each plan once, mostly with the plan out of the caches).
  return {
    exceptions: exceptionsByPolicy.get(policy.name),
    matchesByOperation: plain && allNamespaces && policy.matchConditions.length === 0,
    operations,
    policy,
    params: policy.params,
    sharedSlots,
    sharedSlotCount: slotsByKey.size,
    lean,
    leanParams: leanValueOf(policy.params),
    leanTally: lean === undefined ? -1 : leanTallyOf(policy.name),
    passed: Object.freeze({ policy: policy.name, result: 'pass' }),
    leanFirst: lean !== undefined && (policy.matchConditions.length === 0 || leanCoversMatchConditions(lean)),
    meterValidations: mayOverrun(policy.validations.length + policy.validations.filter((v) => v.messageExpression !== undefined).length, POLICY_COST_BUDGET),
    validations: checksOf(policy.validations.map((validation) => validation.expression)),
    allNamespaces,
    plain,
    matchConditions: checksOf(policy.matchConditions),
    meterMatchConditions: mayOverrun(policy.matchConditions.length, MATCH_CONDITIONS_COST_BUDGET),
  };
}

interface CachedPlans {
  readonly exceptionsByPolicy: PolicySet['exceptionsByPolicy'];
  readonly plans: readonly PolicyPlan[];
}

/**
 * Plans by policy list. A policy set is never changed once loaded (reloading makes a new one), so a
 * list's plans hold for as long as the list lives; the exceptions are checked by identity because
 * two sets may share a list but not their exceptions.
 */
const cache = new WeakMap<readonly CompiledPolicy[], CachedPlans>();

/** The plans of `policies` (a list of `policySet`), in order. */
export function plansOf(policies: readonly CompiledPolicy[], policySet: PolicySet): readonly PolicyPlan[] {
  const { exceptionsByPolicy } = policySet;
  const cached = cache.get(policies);
  if (cached !== undefined && cached.exceptionsByPolicy === exceptionsByPolicy) return cached.plans;
  const slotsByKey = sharedSlotsByKey(policies);
  const plans = policies.map((policy) => planOf(policy, exceptionsByPolicy, slotsByKey));
  cache.set(policies, { exceptionsByPolicy, plans });
  return plans;
}
