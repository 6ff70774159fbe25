// review(): the one decision function behind the webhook, the CLI and the audit. Pure and synchronous:
// no I/O, and no clock but the optional deadline and `now` (read from the system only when the context
// gives none and an exception with an end date matches), so the same input always gets the same answer.
//
// Per policy, as Kubernetes' ValidatingAdmissionPolicy does it: match (operations, namespaces,
// selectors) -> matchConditions -> mutations (mutate phase) -> validations (validate phase).
// An evaluation error is settled by the policy's failurePolicy; a missed deadline likewise.
//
// Exceptions: a DaemonSetPolicyException in force for the policy and the DaemonSet takes whatever
// the policy would have reported — violations of every action, and evaluation errors under either
// failurePolicy — so it neither denies nor warns; the answer says the exception applied instead. The
// policy is still evaluated (an exception that no longer excepts anything shows as unused), and its
// mutations still apply: they are defaults, not denials. An expired exception excepts nothing and
// the answer says it expired.
import { callWithCostBudget, callWithEvaluationDeadline, deadlinePassedBeforePolicy, EvaluationDeadlineExceededError } from '../cel/cost.js';
import type { CompiledException, CompiledMutation, CompiledPolicy, CompiledValidation, NativeOrigin, PolicySet } from '../policy/types.js';
import { PolicyActivation, replaceSharedObject, sharedValues } from './activation.js';
import { EvaluationFailure, PolicyBudgetFailure, evaluateCheckBoolean, evaluateExpression } from './evaluate.js';
import { exceptionNotices, matchExceptions, type ExceptionMatch } from './exceptions.js';
import { runMutation, type MutationResult } from './mutate.js';
import { answerLean, type LeanAnswer, type LeanFailures } from './lean-pass.js';
import { reviewNativeMutation } from './native-mutation.js';
import { nativeAuditAnnotations, reviewNativeValidation, type NativeValidationFailure } from './native-semantics.js';
import { MATCH_CONDITIONS_COST_BUDGET, POLICY_COST_BUDGET } from './policy-budget.js';
import { operationBit, plansOf, type PolicyPlan } from './policy-plan.js';
import type {
  AdmissionRequest,
  AppliedException,
  Decision,
  ExpiredException,
  JsonObject,
  PatchOperation,
  PolicyOutcome,
  PolicyResult,
  ReviewContext,
  Violation,
} from './types.js';

const DAEMONSET_GROUP = 'apps';
const DAEMONSET_VERSION = 'v1';
const DAEMONSET_KIND = 'DaemonSet';

function notEvaluated(request: AdmissionRequest, reason: string): Decision {
  return {
    allowed: true,
    violations: [],
    warnings: [],
    auditAnnotations: {},
    patch: [],
    mutatedObject: request.object,
    outcomes: [],
    exceptions: [],
    expiredExceptions: [],
    notEvaluated: reason,
  };
}

function labelsOf(object: JsonObject | null): Record<string, string> | undefined {
  const metadata = object?.metadata;
  if (!metadata || typeof metadata !== 'object' || Array.isArray(metadata)) return undefined;
  const labels = (metadata as JsonObject).labels;
  return labels && typeof labels === 'object' && !Array.isArray(labels) ? (labels as Record<string, string>) : undefined;
}

/** Why the policy does not apply to this request, or undefined when it does (before matchConditions). */
function matchFailure(plan: PolicyPlan, operation: number, request: AdmissionRequest, context: ReviewContext): string | undefined {
  const { policy } = plan;
  if ((plan.operations & operation) === 0) return `operation ${request.operation} not matched`;
  if (!plan.allNamespaces && !policy.namespaceMatches(request.namespace ?? '')) return `namespace "${request.namespace ?? ''}" not matched`;
  if (plan.plain) return undefined;
  if (policy.objectSelector) {
    // As in Kubernetes: the selector matches if either the new or the old object matches.
    const matches = policy.objectSelector(labelsOf(request.object)) || (request.oldObject !== null && policy.objectSelector(labelsOf(request.oldObject)));
    if (!matches) return 'objectSelector not matched';
  }
  if (policy.namespaceSelector) {
    if (context.namespaceObject === undefined || context.namespaceObject === null) {
      throw new EvaluationFailure('spec.match.namespaceSelector', `the labels of namespace "${request.namespace ?? ''}" are not known`);
    }
    if (!policy.namespaceSelector(labelsOf(context.namespaceObject))) return 'namespaceSelector not matched';
  }
  return undefined;
}

const LINE_BREAK_OR_TAB = /[\r\n\t]/;

function oneLine(text: string): string {
  // Most messages are one line already: a test costs less than a global replace that finds nothing.
  return (LINE_BREAK_OR_TAB.test(text) ? text.replace(/[\r\n\t]+/g, ' ') : text).trim();
}

/** Accumulates a Decision while policies are evaluated, and holds what the review's loop works on. */
class DecisionBuilder {
  readonly violations: Violation[] = [];
  readonly warnings: string[] = [];
  readonly auditAnnotations: Record<string, string> = {};
  /**
   * One outcome per policy, in order. Sized for the phase's policies before the loop (reserveOutcomes)
   * and written by index: pushing a thousand outcomes one at a time grew and copied the array about
   * ten times per review.
   */
  #outcomes: Readonly<PolicyOutcome>[] = [];
  #outcomeCount = 0;
  readonly patch: PatchOperation[] = [];
  readonly exceptions: AppliedException[] = [];
  readonly expiredExceptions: ExpiredException[] = [];
  /** Native policies' Audit failures and audit annotations (see native-semantics.ts), made on first use: most reviews have none. */
  #nativeFailures: NativeValidationFailure[] | undefined;
  #nativeAnnotations: Map<string, string[]> | undefined;
  /** The exceptions matching the request for the policy being evaluated. */
  private exceptionMatch: ExceptionMatch | undefined;
  /** The object policies see: the request's, then each mutation's result in turn. */
  working: JsonObject | null;
  /** The activation the phase's policies are evaluated in (set by runPhase). */
  activation!: PolicyActivation;
  /** The review's clock for exceptions' end dates, read once and only when an exception has one (see review). */
  #now: (() => number) | undefined;
  #time: number | undefined;

  constructor(
    readonly request: AdmissionRequest,
    readonly context: ReviewContext,
  ) {
    this.working = request.object;
    this.#time = context.now;
  }

  get nativeFailures(): NativeValidationFailure[] {
    return (this.#nativeFailures ??= []);
  }

  get nativeAnnotations(): Map<string, string[]> {
    return (this.#nativeAnnotations ??= new Map());
  }

  /** True when a native policy recorded failures or audit annotations. */
  get hasNativeRecords(): boolean {
    return (this.#nativeAnnotations !== undefined && this.#nativeAnnotations.size > 0) || (this.#nativeFailures !== undefined && this.#nativeFailures.length > 0);
  }

  /** Room for `count` outcomes (the phase's policies; more still fit). */
  reserveOutcomes(count: number): void {
    if (this.#outcomeCount === 0) this.#outcomes = new Array<Readonly<PolicyOutcome>>(count);
  }

  /** The outcomes recorded, as the decision's list. */
  outcomes(): Readonly<PolicyOutcome>[] {
    if (this.#outcomes.length !== this.#outcomeCount) this.#outcomes.length = this.#outcomeCount;
    return this.#outcomes;
  }

  /** The time exceptions' `expires` are compared with: the context's, else the clock on first read. */
  get now(): () => number {
    return (this.#now ??= () => (this.#time ??= Date.now()));
  }

  /** Starts a policy: what it reports from now on is settled against `match`. */
  beginPolicy(match: ExceptionMatch | undefined): void {
    this.exceptionMatch = match;
  }

  violation(policy: CompiledPolicy, violation: Violation): void {
    const { active, expired } = this.exceptionMatch ?? {};
    if (active !== undefined) {
      this.except(active, policy, violation);
      return;
    }
    if (expired !== undefined) this.expired(expired, policy);
    this.violations.push(violation);
    if (violation.actions.includes('Warn')) this.warnings.push(`${policy.name}: ${violation.message}`);
    if (violation.actions.includes('Audit')) this.audit(policy.name, violation.message);
  }

  /** Settles an evaluation error (or a missed deadline) by the policy's failurePolicy. */
  failure(policy: CompiledPolicy, detail: string): void {
    const message = `could not be evaluated: ${oneLine(detail)}`;
    const asViolation: Violation = { policy: policy.name, validation: -1, message: `policy ${message}`, reason: 'InternalError', actions: policy.validationActions };
    if (this.exceptionMatch?.active !== undefined) {
      this.except(this.exceptionMatch.active, policy, asViolation);
    } else if (policy.failurePolicy === 'Ignore') {
      if (this.exceptionMatch?.expired !== undefined) this.expired(this.exceptionMatch.expired, policy);
      this.warnings.push(`${policy.name}: ignored because it ${message}`);
    } else {
      this.violation(policy, asViolation);
    }
  }

  outcome(policy: CompiledPolicy, result: PolicyResult, message?: string, patchOperations?: number): void {
    const outcome: PolicyOutcome = { policy: policy.name, result };
    if (message !== undefined) outcome.message = message;
    if (patchOperations) outcome.patchOperations = patchOperations;
    const applied = this.exceptionMatch?.active;
    if (applied !== undefined && this.exceptions.some((use) => use.policy === policy.name)) outcome.exception = applied.id;
    this.#outcomes[this.#outcomeCount++] = outcome;
  }

  /** A pass with nothing to add: the plan's shared outcome, unless an exception is in force (see outcome). */
  passed(plan: PolicyPlan): void {
    if (this.exceptionMatch?.active === undefined) this.#outcomes[this.#outcomeCount++] = plan.passed;
    else this.outcome(plan.policy, 'pass');
  }

  private audit(key: string, message: string): void {
    const previous = this.auditAnnotations[key];
    this.auditAnnotations[key] = previous ? `${previous}; ${message}` : message;
  }

  private except(exception: CompiledException, policy: CompiledPolicy, violation: Violation): void {
    let use = this.exceptions.find((applied) => applied.policy === policy.name);
    if (use === undefined) {
      use = { name: exception.name, namespace: exception.namespace, policy: policy.name, reason: exception.reason, excepted: [] };
      this.exceptions.push(use);
    }
    use.excepted.push(violation);
    // Policy names are DNS labels, so `exception.<policy>` never collides with a policy's own key.
    this.auditAnnotations[`exception.${policy.name}`] = `${exception.id} excepted: ${use.excepted.map((v) => v.message).join('; ')} (reason: ${oneLine(exception.reason)})`;
  }

  private expired(exception: CompiledException, policy: CompiledPolicy): void {
    if (this.expiredExceptions.some((use) => use.policy === policy.name)) return;
    const expires = exception.expires?.text ?? '';
    this.expiredExceptions.push({ name: exception.name, namespace: exception.namespace, policy: policy.name, expires });
    this.warnings.push(`exception ${exception.id} expired at ${expires}; it no longer applies to ${policy.name}`);
  }
}

/** The message of the failed validation `index` of `policy`, its messageExpression evaluated in `activation`. */
export function validationMessage(policy: CompiledPolicy, index: number, activation: PolicyActivation): string {
  const validation = policy.validations[index]!;
  let value: unknown;
  if (validation.messageExpression) {
    try {
      value = evaluateExpression(validation.messageExpression, activation);
    } catch (error) {
      // Kubernetes falls back to the static message when messageExpression fails; so do we. But a
      // messageExpression that spends the last of the policy's budget fails the policy, as there.
      if (error instanceof PolicyBudgetFailure) throw error;
    }
  }
  return messageOf(validation, value);
}

/** A failed validation's message: its messageExpression's value when that is a string with text, else the static message, else the expression. */
export function messageOf(validation: CompiledValidation, value: unknown): string {
  if (typeof value === 'string') {
    const line = oneLine(value);
    if (line !== '') return line;
  }
  if (validation.message) return oneLine(validation.message);
  return `failed expression: ${oneLine(validation.expression.program.source)}`;
}

/** Evaluates one policy for the context's phase and records what happened in `builder` (including its new working object). */
function reviewPolicy(plan: PolicyPlan, operation: number, activation: PolicyActivation, builder: DecisionBuilder): void {
  // Kept small, the rare paths in functions of their own, so that V8 can inline it into the loop.
  const { policy } = plan;
  try {
    const skip = matchFailure(plan, operation, builder.request, builder.context) ?? (plan.plain ? undefined : policy.native?.notMatched(builder.request));
    if (skip) {
      builder.outcome(policy, 'skip', skip);
      return;
    }
    if (!plan.plain && policy.native !== undefined) {
      reviewNative(policy, policy.native, activation, builder);
      return;
    }
    activation.begin(policy, plan.params, plan);
    // The lean function first where nothing of the exact code comes before it: it holds the
    // matchConditions, or there are none. Then it answers the whole policy; when it gives up, the exact
    // code runs everything from the start (and does not ask it again).
    const leanFirst = plan.leanFirst && builder.context.phase === 'validate';
    if (leanFirst && answeredLean(plan, activation, builder)) return;
    // Each under a budget of its own, as the apiserver gives them (policy-budget.ts).
    if (plan.matchConditions.length > 0 && !(plan.meterMatchConditions ? callWithCostBudget(MATCH_CONDITIONS_COST_BUDGET, matchConditionsHold, plan, builder) : matchConditionsHold(plan, builder))) return;
    if (builder.context.phase === 'mutate') runMutations(plan, builder);
    else if (leanFirst) validateExactly(plan, builder);
    else validateWithinBudget(plan, builder);
  } catch (error) {
    settleFailure(policy, error, builder);
  }
}

/**
 * reviewPolicy in the validate phase for a plan that matches by operation alone (plain, every
 * namespace, no matchConditions) and whose operation matched: the common case, without the tests
 * that cannot fail for it.
 */
function reviewValidations(plan: PolicyPlan, activation: PolicyActivation, builder: DecisionBuilder): void {
  activation.begin(plan.policy, plan.params, plan);
  // The lean function straight from here, outside the policy's budget: an answer it gives spent at
  // most one expression's budget, which the policy's holds ten times over (lean-pass.ts).
  try {
    if (plan.lean !== undefined && answeredLean(plan, activation, builder)) return;
    validateExactly(plan, builder);
  } catch (error) {
    settleFailure(plan.policy, error, builder);
  }
}

/** An evaluation error of `policy` (or a failure of the engine's own), settled by its failurePolicy. */
function settleFailure(policy: CompiledPolicy, error: unknown, builder: DecisionBuilder): void {
  // Not an expression's error (those are EvaluationFailures) but the policy's meter seeing, as the
  // policy's evaluation returned, that the deadline passed in a messageExpression whose failure the
  // static message stood in for: the policy's answer is recorded and stands.
  if (error instanceof EvaluationDeadlineExceededError) return;
  const detail = error instanceof EvaluationFailure ? error.message : `internal error: ${(error as Error).message}`;
  builder.failure(policy, detail);
  builder.outcome(policy, 'error', detail);
}

function reviewNative(policy: CompiledPolicy, native: NativeOrigin, activation: PolicyActivation, builder: DecisionBuilder): void {
  if (builder.context.phase === 'validate') {
    reviewNativeValidation(policy, native, activation.shared, builder);
  } else if (builder.working === null) {
    builder.outcome(policy, 'skip', 'no object to mutate');
  } else {
    builder.working = reviewNativeMutation(policy, native, activation.shared, builder.working, builder);
  }
}

/** True when every matchCondition holds; otherwise records the skip. */
function matchConditionsHold(plan: PolicyPlan, builder: DecisionBuilder): boolean {
  const { matchConditions } = plan;
  const { activation } = builder;
  for (let i = 0; i < matchConditions.length; i++) {
    if (!evaluateCheckBoolean(matchConditions[i]!, activation)) {
      skipByMatchCondition(plan, i, builder);
      return false;
    }
  }
  return true;
}

function skipByMatchCondition(plan: PolicyPlan, index: number, builder: DecisionBuilder): void {
  builder.outcome(plan.policy, 'skip', `matchCondition "${plan.policy.matchConditions[index]!.name}" is false`);
}

/** Asks the policy's lean function and records its answer; false when it gave up (nothing recorded). */
function answeredLean(plan: PolicyPlan, activation: PolicyActivation, builder: DecisionBuilder): boolean {
  const answer = answerLean(plan, activation);
  if (answer === false) return false;
  recordLeanAnswer(plan, answer, builder);
  return true;
}

function recordLeanAnswer(plan: PolicyPlan, answer: LeanAnswer, builder: DecisionBuilder): void {
  if (answer === true) builder.passed(plan);
  else if (typeof answer === 'number') skipByMatchCondition(plan, answer, builder);
  else recordLeanFailures(plan, answer, builder);
}

/** One mutation of the policy under the budget the apiserver gives each mutation (policy-budget.ts). */
function mutationWithinBudget(mutation: CompiledMutation, builder: DecisionBuilder): MutationResult {
  return callWithCostBudget(POLICY_COST_BUDGET, runMutationOnWorking, mutation, builder);
}

function runMutationOnWorking(mutation: CompiledMutation, builder: DecisionBuilder): MutationResult {
  return runMutation(mutation, builder.working!, builder.activation);
}

function runMutations(plan: PolicyPlan, builder: DecisionBuilder): void {
  const { policy } = plan;
  let working = builder.working;
  if (working === null) {
    builder.outcome(policy, 'skip', 'no object to mutate');
    return;
  }
  let count = 0;
  for (const mutation of policy.mutations) {
    const result = mutationWithinBudget(mutation, builder);
    if (result.operations.length > 0) {
      builder.patch.push(...result.operations);
      count += result.operations.length;
      working = result.object;
      builder.working = working;
    }
  }
  if (count === 0) builder.passed(plan);
  else builder.outcome(policy, 'pass', undefined, count);
}

/** runValidations, under the policy's budget when its expressions could spend more than it (PolicyPlan.meterValidations). */
function validateWithinBudget(plan: PolicyPlan, builder: DecisionBuilder): void {
  if (plan.meterValidations) callWithCostBudget(POLICY_COST_BUDGET, runValidations, plan, builder);
  else runValidations(plan, builder);
}

/** The validations on the exact code alone (the lean function, if any, was asked and gave up), under the policy's budget where it is armed. */
function validateExactly(plan: PolicyPlan, builder: DecisionBuilder): void {
  if (plan.meterValidations) callWithCostBudget(POLICY_COST_BUDGET, runExactValidations, plan, builder);
  else runExactValidations(plan, builder);
}

/** The lean tier (lean-pass.ts), then, if it gave up, the exact code: for a policy whose lean function comes after its matchConditions. */
function runValidations(plan: PolicyPlan, builder: DecisionBuilder): void {
  // Its answer is the exact code's, at the same cost.
  if (plan.lean !== undefined && answeredLean(plan, builder.activation, builder)) return;
  runExactValidations(plan, builder);
}

function runExactValidations(plan: PolicyPlan, builder: DecisionBuilder): void {
  const { validations } = plan;
  const { activation } = builder;
  let failed = 0;
  let firstMessage: string | undefined;
  for (let i = 0; i < validations.length; i++) {
    if (evaluateCheckBoolean(validations[i]!, activation)) continue;
    const message = recordViolation(plan.policy, i, activation, builder);
    firstMessage ??= message;
    failed++;
  }
  if (failed === 0) builder.passed(plan);
  else builder.outcome(plan.policy, 'fail', firstMessage);
}

/** The failed validations the lean tier found, with their messageExpressions' values, recorded as runValidations records them. */
function recordLeanFailures(plan: PolicyPlan, failures: LeanFailures, builder: DecisionBuilder): void {
  const { policy } = plan;
  let firstMessage: string | undefined;
  for (let i = 0; i < failures.length; i += 2) {
    const validation = policy.validations[failures[i] as number]!;
    const message = messageOf(validation, failures[i + 1]);
    builder.violation(policy, { policy: policy.name, validation: validation.index, message, reason: validation.reason, actions: policy.validationActions });
    firstMessage ??= message;
  }
  builder.outcome(policy, 'fail', firstMessage);
}

/** Records the failed validation `i` of `policy`; returns its message. */
function recordViolation(policy: CompiledPolicy, i: number, activation: PolicyActivation, builder: DecisionBuilder): string {
  const validation = policy.validations[i]!;
  const message = validationMessage(policy, validation.index, activation);
  builder.violation(policy, { policy: policy.name, validation: validation.index, message, reason: validation.reason, actions: policy.validationActions });
  return message;
}

/**
 * The decision's warnings, each once, the exceptions' notices last: should the apiserver cut warnings
 * (4096 characters in all), it cuts these first. Without exceptions and with at most one warning (most
 * reviews) there is nothing to merge or deduplicate, and the builder's list is the answer.
 */
function decisionWarnings(builder: DecisionBuilder): string[] {
  if (builder.exceptions.length === 0 && builder.warnings.length < 2) return builder.warnings;
  return [...new Set([...builder.warnings, ...exceptionNotices(builder.exceptions)])];
}

export function isDaemonSetRequest(request: AdmissionRequest): boolean {
  return request.kind.group === DAEMONSET_GROUP && request.kind.version === DAEMONSET_VERSION && request.kind.kind === DAEMONSET_KIND;
}

/** Runs the policies of the context's phase, in order, into `builder`. */
function runPhase(builder: DecisionBuilder, policySet: PolicySet): void {
  const { request, context } = builder;
  const mutate = context.phase === 'mutate';
  const policies = mutate ? policySet.mutatingPolicies : policySet.validatingPolicies;
  if (policies.length === 0) return;
  // Shared by every policy.
  const shared = sharedValues(request, builder.working, context.namespaceObject, context.nodes);
  const operation = operationBit(request.operation);
  const activation = new PolicyActivation(shared, policies[0]!);
  builder.activation = activation;
  const { deadline } = context;
  const plans = plansOf(policies, policySet);
  builder.reserveOutcomes(plans.length);
  for (let i = 0; i < plans.length; i++) {
    const plan = plans[i]!;
    const { policy } = plan;
    builder.beginPolicy(plan.exceptions === undefined ? undefined : matchExceptions(plan.exceptions, request, builder.now));
    if (deadline !== undefined && deadlinePassedBeforePolicy(i)) {
      builder.failure(policy, 'the evaluation deadline passed before this policy was evaluated');
      builder.outcome(policy, 'error', 'evaluation deadline passed');
      continue;
    }
    if (!mutate && plan.matchesByOperation && (plan.operations & operation) !== 0) {
      reviewValidations(plan, activation, builder);
      continue;
    }
    const before = builder.working;
    reviewPolicy(plan, operation, activation, builder);
    const working = builder.working;
    if (mutate && working !== before && working !== null) {
      // Later mutations see earlier ones, as with reinvocation in the cluster. Mutations copy only
      // the paths they write, so only those are converted again (if at all).
      replaceSharedObject(shared, working);
    }
  }
  activation.endPolicies();
}

/** runPhase with the context's deadline armed for every expression inside it. */
function runPhaseBeforeDeadline(builder: DecisionBuilder, policySet: PolicySet): void {
  callWithEvaluationDeadline(builder.context.deadline, runPhase, builder, policySet);
}

function denies(violations: readonly Violation[]): boolean {
  for (let i = 0; i < violations.length; i++) if (violations[i]!.actions.includes('Deny')) return true;
  return false;
}

/**
 * Decides one admission request. Phase `mutate` runs mutations only (the mutating webhook), `validate`
 * runs validations only (the validating webhook, which sees the already mutated object).
 */
export function review(request: AdmissionRequest, policySet: PolicySet, context: ReviewContext): Decision {
  if (!isDaemonSetRequest(request)) {
    const { group, version, kind } = request.kind;
    return notEvaluated(request, `not an apps/v1 DaemonSet (${group ? `${group}/` : ''}${version} ${kind})`);
  }
  if (request.subResource) return notEvaluated(request, `subresource "${request.subResource}" is not reviewed`);

  const builder = new DecisionBuilder(request, context);
  // Each policy spends from budgets of its own (policy-budget.ts), as in the apiserver, which has no
  // budget for a whole request: a budget across policies would fail a review the cluster admits
  // unless it were as large as the policies' budgets together, and then bound nothing they do not.
  // What bounds the review is its deadline, which reaches into each expression (the clock is read
  // every CLOCK_CHECK_UNITS units): many policies, or one on a huge object, cannot run past it.
  runPhaseBeforeDeadline(builder, policySet);

  return {
    allowed: !denies(builder.violations),
    violations: builder.violations,
    warnings: decisionWarnings(builder),
    // Most reviews have no native policy's annotations: the builder's own record is the answer then.
    auditAnnotations: builder.hasNativeRecords ? { ...builder.auditAnnotations, ...nativeAuditAnnotations(builder) } : builder.auditAnnotations,
    patch: builder.patch,
    mutatedObject: builder.working,
    outcomes: builder.outcomes(),
    exceptions: builder.exceptions,
    expiredExceptions: builder.expiredExceptions,
  };
}
