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
import { CostBudgetExceededError, withCostBudget } from '../cel/cost.js';
import type { CelActivation } from '../cel/program.js';
import type { CompiledExpression, CompiledPolicy, CompiledVariable, NativeOrigin } from '../policy/types.js';
import { PolicyActivation, type ActivationSemantics, type SharedValues } from './activation.js';
import { EXPRESSION_COST_BUDGET } from './evaluate.js';
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

export function errorText(error: unknown): string {
  if (error instanceof NativeEvaluationError) return error.message;
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
    throw new NativeEvaluationError(`expression '${expression.program.source}' resulted in error: ${errorText(error)}`);
  }
}

/** A variable's failure as the apiserver words it: a composited variable's. */
function evaluateNativeVariable(variable: CompiledVariable, activation: CelActivation): unknown {
  try {
    return withCostBudget(EXPRESSION_COST_BUDGET, () => variable.program.evaluate(activation));
  } catch (error) {
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

/** The text of a failed validation, chosen as the apiserver's validator chooses it. */
function validationMessage(policy: CompiledPolicy, index: number, activation: CelActivation): string {
  const validation = policy.validations.find((v) => v.index === index)!;
  let message = '';
  if (validation.messageExpression) {
    try {
      const value = evaluate(validation.messageExpression, activation);
      if (typeof value === 'string') {
        message = value.trim();
        if (Buffer.byteLength(message) > MAX_MESSAGE_EXPRESSION_BYTES || message.includes('\n')) message = '';
      }
    } catch {
      // The apiserver logs the error and falls back to the static message.
    }
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
 * Evaluates spec.matchConditions as the apiserver does: any false skips the policy (recorded), errors
 * follow failurePolicy (skipped under Ignore, settled as a failure under Fail). True when the policy applies.
 */
export function nativeMatchConditionsHold(policy: CompiledPolicy, origin: NativeOrigin, shared: SharedValues, sink: NativeSink): boolean {
  const failClosed = policy.failurePolicy !== 'Ignore';
  // matchConditions see no namespaceObject in the apiserver.
  const conditionActivation = nativeActivation(policy, shared, false);
  const conditionErrors: string[] = [];
  for (const condition of policy.matchConditions) {
    try {
      const value = evaluate(condition, conditionActivation);
      if (value === false) {
        sink.outcome(policy, 'skip', `matchCondition "${condition.name}" is false`);
        return false;
      }
      if (value !== true) conditionErrors.push(`expression '${condition.program.source}' resulted in error: no such overload`);
    } catch (error) {
      conditionErrors.push(errorText(error));
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

/**
 * Evaluates one native (policy, binding, param) after the engine's match (operations, namespace,
 * namespaceSelector) and the native resource rules have matched. Validate phase only.
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

  const activation = nativeActivation(policy, shared, true);
  const decisions: NativeDecision[] = [];
  /** Errors failurePolicy Ignore admitted: no trace in the answer, but the CLI's outcome says so. */
  const ignored: string[] = [];
  for (const validation of policy.validations) {
    let passed: boolean;
    try {
      const value = evaluate(validation.expression, activation);
      if (typeof value !== 'boolean') throw new NativeEvaluationError(`expression '${validation.expression.program.source}' resulted in error: no such overload`);
      passed = value;
    } catch (error) {
      if (failClosed) decisions.push({ index: validation.index, message: errorText(error), reason: '', error: true });
      else ignored.push(errorText(error));
      continue;
    }
    if (!passed) decisions.push({ index: validation.index, message: validationMessage(policy, validation.index, activation), reason: validation.reason, error: false });
  }
  const violations = decisions.map((decision) => settle(policy, origin, decision, sink));

  let annotationError: string | undefined;
  for (const annotation of origin.auditAnnotations) {
    let value: unknown;
    try {
      value = evaluate(annotation.valueExpression, activation);
    } catch (error) {
      if (failClosed) {
        annotationError ??= errorText(error);
        violations.push(denyDirectly(policy, origin, errorText(error), sink));
      } else ignored.push(errorText(error));
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
