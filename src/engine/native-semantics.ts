// How a Kubernetes-native policy (one CompiledPolicy per policy, binding and param: src/native/) is
// evaluated: with the kube-apiserver's semantics and words rather than daemonguard's, so that
// `daemonguard test` says what the cluster would say (k8s.io/apiserver v0.37.2,
// pkg/admission/plugin/policy/validating/{dispatcher,validator}.go and webhook/matchconditions).
//
// - matchConditions: any false skips the policy, even when another failed; errors then follow failurePolicy.
//   They are evaluated without `namespaceObject` (null), as the apiserver does.
// - An evaluation error is a decision like a failed validation (Fail) or nothing at all (Ignore: no
//   warning); as a decision it goes through the binding's validationActions.
// - A configuration error (params not found with Deny) denies under Fail whatever the actions.
// - Messages: Deny "ValidatingAdmissionPolicy 'p' with binding 'b' denied request: m", Warn
//   "Validation failed for ValidatingAdmissionPolicy 'p' with binding 'b': m", Audit the
//   validation.policy.admission.k8s.io/validation_failure annotation; auditAnnotations as "<policy>/<key>".
import { callWithCostBudget, CostBudgetExceededError, EvaluationDeadlineExceededError, withCostBudget } from '../cel/cost.js';
import type { CelActivation } from '../cel/program.js';
import type { CompiledExpression, CompiledPolicy, CompiledVariable, NativeOrigin } from '../policy/types.js';
import { PolicyActivation, type ActivationSemantics, type SharedValues } from './activation.js';
import { EXPRESSION_COST_BUDGET, PolicyBudgetFailure } from './evaluate.js';
import { isPolicyBudgetError, MATCH_CONDITIONS_COST_BUDGET, POLICY_COST_BUDGET } from './policy-budget.js';
import type { ValidationAction, Violation } from './types.js';

/** A value of the validation_failure audit annotation (ValidationFailureValue in the apiserver). */
export interface NativeValidationFailure {
  message: string;
  policy: string;
  binding: string;
  expressionIndex: number;
  validationActions: ValidationAction[];
}

export const VALIDATION_FAILURE_ANNOTATION = 'validation.policy.admission.k8s.io/validation_failure';
/** The apiserver keeps at most this many failures in the annotation, and cuts annotation values at 10 KiB. */
const MAX_VALIDATION_FAILURES = 50;
const MAX_AUDIT_ANNOTATION_VALUE_LENGTH = 10 * 1024;
/** celconfig.MaxEvaluatedMessageExpressionSizeBytes. */
const MAX_MESSAGE_EXPRESSION_BYTES = 5 * 1024;

/** What a native evaluation reports; DecisionBuilder implements it. */
export interface NativeSink {
  violations: Violation[];
  warnings: string[];
  nativeFailures: NativeValidationFailure[];
  /** auditAnnotations by `<policy>/<key>`, distinct values in order (joined with ", " as the apiserver does). */
  nativeAnnotations: Map<string, string[]>;
  outcome(policy: CompiledPolicy, result: 'pass' | 'fail' | 'skip' | 'error', message?: string): void;
}

/** An error as the apiserver words it for one expression. */
export class NativeEvaluationError extends Error {}

/** cel-js words a few runtime errors differently from cel-go; the common ones read as the apiserver's. */
function celGoWording(message: string): string {
  return message.replace(/^No such key: /, 'no such key: ');
}

/** cel-go's words for an expression stopped at its cost limit (interpreter.CostLimitExceeded). */
export const COST_LIMIT_EXCEEDED = 'operation cancelled: actual cost limit exceeded';

/**
 * The apiserver's words when a policy's expressions together spend more than its budget
 * (plugin/cel/activation.go); the evaluation stops there.
 */
export const OUT_OF_BUDGET = 'validation failed due to running out of cost budget, no further validation rules will be run';

/** A policy's budget (policy-budget.ts) ran out at an expression: what follows is not evaluated. */
export class NativeBudgetError extends NativeEvaluationError {
  constructor() {
    super(OUT_OF_BUDGET);
  }
}

/**
 * After an expression stopped at its own limit: whether the policy's budget is spent too, which the
 * apiserver checks first (it compares what the expression cost with what the budget has left). An
 * empty evaluation under a budget of its own finds out: on returning, it checks the enclosing budget.
 */
function policyBudgetSpent(): boolean {
  try {
    withCostBudget(0, () => undefined);
    return false;
  } catch (error) {
    return isPolicyBudgetError(error);
  }
}

export function errorText(error: unknown): string {
  if (error instanceof NativeEvaluationError) return error.message;
  if (error instanceof PolicyBudgetFailure || isPolicyBudgetError(error)) return OUT_OF_BUDGET;
  if (error instanceof CostBudgetExceededError) return COST_LIMIT_EXCEEDED;
  if (error instanceof Error) {
    const summary = (error as Error & { summary?: string }).summary;
    return celGoWording((summary ?? error.message).split('\n')[0] ?? error.message);
  }
  return String(error);
}

export function evaluate(expression: CompiledExpression, activation: CelActivation): unknown {
  try {
    return withCostBudget(EXPRESSION_COST_BUDGET, () => expression.program.evaluate(activation));
  } catch (error) {
    if (error instanceof NativeBudgetError || isPolicyBudgetError(error) || (error instanceof CostBudgetExceededError && policyBudgetSpent())) throw new NativeBudgetError();
    throw new NativeEvaluationError(`expression '${expression.program.source}' resulted in error: ${errorText(error)}`);
  }
}

/** A variable's failure as the apiserver words it: a composited variable's. */
function evaluateNativeVariable(variable: CompiledVariable, activation: CelActivation): unknown {
  try {
    return withCostBudget(EXPRESSION_COST_BUDGET, () => variable.program.evaluate(activation));
  } catch (error) {
    if (error instanceof NativeBudgetError || isPolicyBudgetError(error) || (error instanceof CostBudgetExceededError && policyBudgetSpent())) throw new NativeBudgetError();
    throw new NativeEvaluationError(`composited variable "${variable.name}" fails to evaluate: ${errorText(error)}`);
  }
}

/** Native policies get no `coverage`, and no variables computed at load or shared across policies. */
const NATIVE_SEMANTICS: ActivationSemantics = Object.freeze({ evaluateVariable: evaluateNativeVariable, sharesVariables: false, coverage: false, namespaceObject: true });
const NATIVE_CONDITION_SEMANTICS: ActivationSemantics = Object.freeze({ ...NATIVE_SEMANTICS, namespaceObject: false });

/**
 * The activation of one evaluation: variables lazy and memoized, failing as composited variables do.
 * Compiled code reads the review's JSON (`json`); the interpreter gets CEL values converted on first
 * read. Without `withNamespace` (matchConditions), `namespaceObject` is null in both views.
 */
export function nativeActivation(policy: CompiledPolicy, shared: SharedValues, withNamespace: boolean): CelActivation {
  return new PolicyActivation(shared, policy, withNamespace ? NATIVE_SEMANTICS : NATIVE_CONDITION_SEMANTICS);
}

function kindWord(origin: NativeOrigin): string {
  // The mutating plugin's errors are generic PolicyErrors: "policy 'p' with binding 'b' denied request: …".
  return origin.kind === 'MutatingAdmissionPolicy' ? 'policy' : origin.kind;
}

export function nativeDenialMessage(origin: NativeOrigin, message: string): string {
  return `${kindWord(origin)} '${origin.policy}' with binding '${origin.binding}' denied request: ${message}`;
}

export function nativeWarning(origin: NativeOrigin, message: string): string {
  return `Validation failed for ${kindWord(origin)} '${origin.policy}' with binding '${origin.binding}': ${message}`;
}

export interface NativeDecision {
  /** Index of the validation; -1 for an error of the policy as a whole. */
  index: number;
  message: string;
  reason: string;
  error: boolean;
}

/**
 * The text of a failed validation, chosen as the apiserver's validator chooses it: its
 * messageExpression's value (evaluated beforehand; undefined when it has none or it failed), else the
 * static message, else the expression.
 */
function validationMessage(policy: CompiledPolicy, index: number, evaluated: unknown): string {
  const validation = policy.validations.find((v) => v.index === index)!;
  let message = '';
  if (typeof evaluated === 'string') {
    message = evaluated.trim();
    if (Buffer.byteLength(message) > MAX_MESSAGE_EXPRESSION_BYTES || message.includes('\n')) message = '';
  }
  if (message === '' && validation.message) message = validation.message.trim();
  if (message === '') message = `failed expression: ${validation.expression.program.source.trim()}`;
  return message;
}

/** utilerrors.NewAggregate's wording: one error as is, several in brackets. */
export function aggregate(errors: readonly string[]): string {
  return errors.length === 1 ? errors[0]! : `[${errors.join(', ')}]`;
}

/** Records one denying decision through the binding's validationActions. */
export function settle(policy: CompiledPolicy, origin: NativeOrigin, decision: NativeDecision, sink: NativeSink): Violation {
  const actions = policy.validationActions;
  const violation: Violation = {
    policy: policy.name,
    validation: decision.index,
    message: actions.includes('Deny') ? nativeDenialMessage(origin, decision.message) : actions.includes('Warn') ? nativeWarning(origin, decision.message) : decision.message,
    reason: decision.reason === '' ? 'Invalid' : decision.reason,
    actions,
    native: true,
  };
  sink.violations.push(violation);
  if (actions.includes('Warn')) sink.warnings.push(nativeWarning(origin, decision.message));
  if (actions.includes('Audit')) {
    sink.nativeFailures.push({ message: decision.message, policy: origin.policy, binding: origin.binding, expressionIndex: Math.max(decision.index, 0), validationActions: [...actions] });
  }
  return violation;
}

/** A denial that does not go through validationActions (configuration errors, failed audit annotations). */
export function denyDirectly(policy: CompiledPolicy, origin: NativeOrigin, message: string, sink: NativeSink): Violation {
  const violation: Violation = { policy: policy.name, validation: -1, message: nativeDenialMessage(origin, message), reason: 'Invalid', actions: ['Deny'], native: true };
  sink.violations.push(violation);
  return violation;
}

/** The CEL type name cel-go gives a value, for the audit annotation type error. */
function celTypeName(value: unknown): string {
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'bigint') return 'int';
  if (typeof value === 'number') return 'double';
  if (Array.isArray(value)) return 'list';
  if (value instanceof Map || (typeof value === 'object' && value !== null)) return 'map';
  return typeof value;
}

/**
 * What a budget of its own finds (policy-budget.ts): `run` fills `into` under `budget` units. A
 * NativeBudgetError (the budget ran out) ends it; so does the deadline, which the expressions already
 * reported as their errors when the meter, on returning, says it passed.
 */
function spendBudget<S>(budget: number, run: (state: S, unused: undefined) => void, into: S): boolean {
  try {
    callWithCostBudget(budget, run, into, undefined);
    return true;
  } catch (error) {
    if (error instanceof NativeBudgetError || isPolicyBudgetError(error)) return false;
    if (error instanceof EvaluationDeadlineExceededError) return true;
    throw error;
  }
}

/** One expression's value, or its error in the apiserver's words. */
type Evaluated = { value: unknown; error?: undefined } | { value?: undefined; error: string };

/** A native evaluation in progress: the expressions of one phase and what they gave, in order. */
interface PhaseRun {
  expressions: readonly (CompiledExpression | undefined)[];
  activation: CelActivation;
  results: Evaluated[];
}

/** Evaluates every expression of the phase in order (as the apiserver's ForInput does); a spent budget ends it. */
function evaluatePhase(run: PhaseRun): void {
  for (const expression of run.expressions) {
    if (expression === undefined) {
      run.results.push({ value: undefined });
      continue;
    }
    try {
      run.results.push({ value: evaluate(expression, run.activation) });
    } catch (error) {
      if (error instanceof NativeBudgetError) throw error;
      run.results.push({ error: errorText(error) });
    }
  }
}

/** The phase's results under `budget` with an activation of its own (variables evaluated afresh), or undefined when the budget ran out. */
function runPhase(budget: number, expressions: readonly (CompiledExpression | undefined)[], activation: CelActivation): Evaluated[] | undefined {
  const run: PhaseRun = { expressions, activation, results: [] };
  if (!spendBudget(budget, evaluatePhase, run)) return undefined;
  return pastDeadline(run);
}

/** The results, each expression the deadline kept from being evaluated failing so. */
function pastDeadline(run: PhaseRun): Evaluated[] {
  while (run.results.length < run.expressions.length) run.results.push({ error: new EvaluationDeadlineExceededError().message });
  return run.results;
}

/**
 * Evaluates spec.matchConditions as the apiserver does: all of them, under their own budget; any false
 * skips the policy (recorded), errors (a spent budget among them) follow failurePolicy (skipped under
 * Ignore, settled as a failure under Fail). True when the policy applies.
 */
export function nativeMatchConditionsHold(policy: CompiledPolicy, origin: NativeOrigin, shared: SharedValues, sink: NativeSink): boolean {
  if (policy.matchConditions.length === 0) return true;
  const failClosed = policy.failurePolicy !== 'Ignore';
  // matchConditions see no namespaceObject in the apiserver.
  const results = runPhase(MATCH_CONDITIONS_COST_BUDGET, policy.matchConditions, nativeActivation(policy, shared, false));
  const conditionErrors: string[] = [];
  if (results === undefined) conditionErrors.push(OUT_OF_BUDGET);
  else {
    for (let i = 0; i < results.length; i++) {
      const { value, error } = results[i]!;
      const condition = policy.matchConditions[i]!;
      if (error !== undefined) conditionErrors.push(error);
      else if (value === false) {
        sink.outcome(policy, 'skip', `matchCondition "${condition.name}" is false`);
        return false;
      } else if (value !== true) conditionErrors.push(`expression '${condition.program.source}' resulted in error: no such overload`);
    }
  }
  if (conditionErrors.length === 0) return true;
  const message = aggregate(conditionErrors);
  if (!failClosed) {
    sink.outcome(policy, 'skip', `matchConditions failed and failurePolicy is Ignore: ${message}`);
    return false;
  }
  sink.outcome(policy, 'error', settle(policy, origin, { index: -1, message, reason: '', error: true }, sink).message);
  return false;
}

/** A policy whose budget ran out: one error for the whole policy, as the apiserver gives it. */
function outOfBudget(policy: CompiledPolicy, origin: NativeOrigin, sink: NativeSink): void {
  if (policy.failurePolicy === 'Ignore') sink.outcome(policy, 'pass', `ignored (failurePolicy Ignore): ${OUT_OF_BUDGET}`);
  else sink.outcome(policy, 'error', settle(policy, origin, { index: -1, message: OUT_OF_BUDGET, reason: '', error: true }, sink).message);
}

/**
 * Evaluates one native (policy, binding, param) after the engine's match (operations, namespace,
 * namespaceSelector) and the native resource rules have matched. Validate phase only. Budgets as in
 * the apiserver's validator (policy-budget.ts): the validations, then every messageExpression, share
 * one; the auditAnnotations have one of their own; each phase evaluates the variables it reads afresh.
 */
export function reviewNativeValidation(policy: CompiledPolicy, origin: NativeOrigin, shared: SharedValues, sink: NativeSink): void {
  const failClosed = policy.failurePolicy !== 'Ignore';
  if (origin.configurationError !== undefined) {
    const message = `failed to configure binding: ${origin.configurationError}`;
    if (!failClosed) {
      sink.outcome(policy, 'skip', `ignored (failurePolicy Ignore): ${message}`);
      return;
    }
    sink.outcome(policy, 'error', denyDirectly(policy, origin, message, sink).message);
    return;
  }

  if (!nativeMatchConditionsHold(policy, origin, shared, sink)) return;

  // The validations and then the messageExpressions, one budget for both.
  const run: PhaseRun = { expressions: policy.validations.map((v) => v.expression), activation: nativeActivation(policy, shared, true), results: [] };
  const messages: PhaseRun = {
    expressions: policy.validations.map((v) => v.messageExpression),
    activation: nativeActivation(policy, shared, true),
    results: [],
  };
  let messagesOutOfBudget = false;
  const validateThenWord = (state: PhaseRun): void => {
    evaluatePhase(state);
    if (messages.expressions.every((expression) => expression === undefined)) return;
    try {
      evaluatePhase(messages);
    } catch (error) {
      if (!(error instanceof NativeBudgetError)) throw error;
      messagesOutOfBudget = true;
    }
  };
  if (!spendBudget(POLICY_COST_BUDGET, validateThenWord, run) && !messagesOutOfBudget) {
    outOfBudget(policy, origin, sink);
    return;
  }
  const decisions: NativeDecision[] = [];
  /** Errors failurePolicy Ignore admitted: no trace in the answer, but the CLI's outcome says so. */
  const ignored: string[] = [];
  pastDeadline(run);
  for (let i = 0; i < policy.validations.length; i++) {
    const validation = policy.validations[i]!;
    const { value, error } = run.results[i]!;
    let failure = error;
    if (failure === undefined && typeof value !== 'boolean') failure = `expression '${validation.expression.program.source}' resulted in error: no such overload`;
    // The messageExpressions' budget ran out: every validation that had no error of its own fails so.
    if (failure === undefined && messagesOutOfBudget) failure = `failed messageExpression: ${OUT_OF_BUDGET}`;
    if (failure !== undefined) {
      if (failClosed) decisions.push({ index: validation.index, message: failure, reason: '', error: true });
      else ignored.push(failure);
      continue;
    }
    if (value === false) decisions.push({ index: validation.index, message: validationMessage(policy, validation.index, messages.results[i]?.value), reason: validation.reason, error: false });
  }

  // The auditAnnotations: a budget of their own; running out of it replaces every decision above.
  const annotations = runPhase(POLICY_COST_BUDGET, origin.auditAnnotations.map((a) => a.valueExpression), nativeActivation(policy, shared, true));
  if (annotations === undefined) {
    outOfBudget(policy, origin, sink);
    return;
  }
  const violations = decisions.map((decision) => settle(policy, origin, decision, sink));

  let annotationError: string | undefined;
  for (let i = 0; i < origin.auditAnnotations.length; i++) {
    const annotation = origin.auditAnnotations[i]!;
    const { value, error } = annotations[i]!;
    if (error !== undefined) {
      if (failClosed) {
        annotationError ??= error;
        violations.push(denyDirectly(policy, origin, error, sink));
      } else ignored.push(error);
      continue;
    }
    if (value === null) continue;
    if (typeof value !== 'string') {
      // Refused whatever the failurePolicy, as the apiserver does.
      const message = `valueExpression '${annotation.valueExpression.program.source}' resulted in unsupported return type: ${celTypeName(value)}. Return type must be either string or null.`;
      annotationError ??= message;
      violations.push(denyDirectly(policy, origin, message, sink));
      continue;
    }
    const trimmed = value.trim();
    if (trimmed === '') continue;
    const key = `${origin.policy}/${annotation.key}`;
    const values = sink.nativeAnnotations.get(key) ?? [];
    const capped = trimmed.slice(0, MAX_AUDIT_ANNOTATION_VALUE_LENGTH);
    if (!values.includes(capped)) values.push(capped);
    sink.nativeAnnotations.set(key, values);
  }

  const firstError = decisions.find((d) => d.error);
  if (violations.length === 0) sink.outcome(policy, 'pass', ignored.length > 0 ? `ignored (failurePolicy Ignore): ${ignored[0]}` : undefined);
  else if (firstError !== undefined || annotationError !== undefined) sink.outcome(policy, 'error', violations[0]!.message);
  else sink.outcome(policy, 'fail', violations[0]!.message);
}

/** The audit annotations the native policies of one review add, as the apiserver publishes them. */
export function nativeAuditAnnotations(sink: Pick<NativeSink, 'nativeFailures' | 'nativeAnnotations'>): Record<string, string> {
  const annotations: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [key, values] of sink.nativeAnnotations) annotations[key] = values.join(', ');
  if (sink.nativeFailures.length > 0) annotations[VALIDATION_FAILURE_ANNOTATION] = goJson(sink.nativeFailures.slice(0, MAX_VALIDATION_FAILURES));
  return annotations;
}

/** JSON as Go's encoding/json writes it: <, > and & escaped. */
function goJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');
}
