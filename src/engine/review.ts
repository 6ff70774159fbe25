// review(): the one decision function behind the webhook, the CLI and the audit. Pure and synchronous:
// no I/O, no clock except the optional deadline, so the same input always gets the same answer.
//
// Per policy, as Kubernetes' ValidatingAdmissionPolicy does it: match (operations, namespaces,
// selectors) -> matchConditions -> mutations (mutate phase) -> validations (validate phase).
// An evaluation error is settled by the policy's failurePolicy; a missed deadline likewise.
import { CostBudgetExceededError, EvaluationDeadlineExceededError, measureCost, withEvaluationDeadline } from '../cel/cost.js';
import { toCelValue, toCelValueReusing } from '../cel/values.js';
import type { CompiledPolicy, PolicySet } from '../policy/types.js';
import { policyActivation, replaceSharedObject, sharedValues, type SharedValues } from './activation.js';
import { EvaluationFailure, evaluateBoolean, evaluateExpression } from './evaluate.js';
import { runMutation } from './mutate.js';
import type {
  AdmissionRequest,
  Decision,
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

/** Cost units one review may spend across all its policies (see EXPRESSION_COST_BUDGET). */
export const REVIEW_COST_BUDGET = 5_000_000;

function notEvaluated(request: AdmissionRequest, reason: string): Decision {
  return {
    allowed: true,
    violations: [],
    warnings: [],
    auditAnnotations: {},
    patch: [],
    mutatedObject: request.object,
    outcomes: [],
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
function matchFailure(policy: CompiledPolicy, request: AdmissionRequest, context: ReviewContext): string | undefined {
  if (!policy.operations.has(request.operation)) return `operation ${request.operation} not matched`;
  if (!policy.namespaceMatches(request.namespace ?? '')) return `namespace "${request.namespace ?? ''}" not matched`;
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

function oneLine(text: string): string {
  return text.replace(/[\r\n\t]+/g, ' ').trim();
}

/** Accumulates a Decision while policies are evaluated. */
class DecisionBuilder {
  readonly violations: Violation[] = [];
  readonly warnings: string[] = [];
  readonly auditAnnotations: Record<string, string> = {};
  readonly outcomes: PolicyOutcome[] = [];
  readonly patch: PatchOperation[] = [];

  violation(policy: CompiledPolicy, violation: Violation): void {
    this.violations.push(violation);
    if (violation.actions.includes('Warn')) this.warnings.push(`${policy.name}: ${violation.message}`);
    if (violation.actions.includes('Audit')) {
      const previous = this.auditAnnotations[policy.name];
      this.auditAnnotations[policy.name] = previous ? `${previous}; ${violation.message}` : violation.message;
    }
  }

  /** Settles an evaluation error (or a missed deadline) by the policy's failurePolicy. */
  failure(policy: CompiledPolicy, detail: string): void {
    const message = `could not be evaluated: ${oneLine(detail)}`;
    if (policy.failurePolicy === 'Ignore') {
      this.warnings.push(`${policy.name}: ignored because it ${message}`);
    } else {
      this.violation(policy, { policy: policy.name, validation: -1, message: `policy ${message}`, reason: 'InternalError', actions: policy.validationActions });
    }
  }

  outcome(policy: CompiledPolicy, result: PolicyResult, message?: string, patchOperations?: number): void {
    const outcome: PolicyOutcome = { policy: policy.name, result };
    if (message !== undefined) outcome.message = message;
    if (patchOperations) outcome.patchOperations = patchOperations;
    this.outcomes.push(outcome);
  }
}

function validationMessage(policy: CompiledPolicy, index: number, activation: ReturnType<typeof policyActivation>): string {
  const validation = policy.validations[index]!;
  if (validation.messageExpression) {
    try {
      const value = evaluateExpression(validation.messageExpression, activation);
      if (typeof value === 'string' && value.trim() !== '') return oneLine(value);
    } catch {
      // Kubernetes falls back to the static message when messageExpression fails; so do we.
    }
  }
  if (validation.message) return oneLine(validation.message);
  return `failed expression: ${oneLine(validation.expression.program.source)}`;
}

/** Evaluates one policy for the context's phase and records what happened. Returns the new working object. */
function reviewPolicy(
  policy: CompiledPolicy,
  request: AdmissionRequest,
  context: ReviewContext,
  shared: SharedValues,
  working: JsonObject | null,
  builder: DecisionBuilder,
): JsonObject | null {
  try {
    const skip = matchFailure(policy, request, context);
    if (skip) {
      builder.outcome(policy, 'skip', skip);
      return working;
    }
    const activation = policyActivation(policy, shared);
    for (const condition of policy.matchConditions) {
      if (!evaluateBoolean(condition, activation)) {
        builder.outcome(policy, 'skip', `matchCondition "${condition.name}" is false`);
        return working;
      }
    }

    if (context.phase === 'mutate') {
      if (working === null) {
        builder.outcome(policy, 'skip', 'no object to mutate');
        return working;
      }
      let count = 0;
      for (const mutation of policy.mutations) {
        const result = runMutation(mutation, working, activation);
        if (result.operations.length > 0) {
          builder.patch.push(...result.operations);
          count += result.operations.length;
          working = result.object;
        }
      }
      builder.outcome(policy, 'pass', undefined, count);
      return working;
    }

    let failed = 0;
    let firstMessage: string | undefined;
    for (const validation of policy.validations) {
      if (evaluateBoolean(validation.expression, activation)) continue;
      const message = validationMessage(policy, validation.index, activation);
      firstMessage ??= message;
      failed++;
      builder.violation(policy, { policy: policy.name, validation: validation.index, message, reason: validation.reason, actions: policy.validationActions });
    }
    builder.outcome(policy, failed > 0 ? 'fail' : 'pass', firstMessage);
    return working;
  } catch (error) {
    const detail = error instanceof EvaluationFailure ? error.message : `internal error: ${(error as Error).message}`;
    builder.failure(policy, detail);
    builder.outcome(policy, 'error', detail);
    return working;
  }
}

export function isDaemonSetRequest(request: AdmissionRequest): boolean {
  return request.kind.group === DAEMONSET_GROUP && request.kind.version === DAEMONSET_VERSION && request.kind.kind === DAEMONSET_KIND;
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

  const builder = new DecisionBuilder();
  let working = request.object;
  const { phase } = context;
  const runPhase = (): void => {
    const policies = phase === 'mutate' ? policySet.mutatingPolicies : policySet.validatingPolicies;
    if (policies.length === 0) return;
    // Converted once and shared by every policy.
    const shared = sharedValues(request, working, context.namespaceObject, context.nodes);
    for (const policy of policies) {
      if (context.deadline !== undefined && performance.now() > context.deadline) {
        builder.failure(policy, 'the evaluation deadline passed before this policy was evaluated');
        builder.outcome(policy, 'error', 'evaluation deadline passed');
        continue;
      }
      const before = working;
      working = reviewPolicy(policy, request, context, shared, working, builder);
      if (phase === 'mutate' && working !== before && working !== null) {
        // Later mutations see earlier ones, as with reinvocation in the cluster. Mutations copy only
        // the paths they write, so only those are converted again.
        replaceSharedObject(shared, working, before === null ? toCelValue(working) : toCelValueReusing(working, before, shared.object));
      }
    }
  };
  try {
    // The review as a whole has a budget too: once it is spent, every further expression fails and
    // its policy is settled by failurePolicy, so many moderately expensive policies cannot add up.
    // The deadline also reaches into each expression: one policy on a huge object cannot run past it.
    measureCost(REVIEW_COST_BUDGET, () => withEvaluationDeadline(context.deadline, runPhase));
  } catch (error) {
    if (!(error instanceof CostBudgetExceededError) && !(error instanceof EvaluationDeadlineExceededError)) throw error;
  }

  return {
    allowed: !builder.violations.some((v) => v.actions.includes('Deny')),
    violations: builder.violations,
    warnings: [...new Set(builder.warnings)],
    auditAnnotations: builder.auditAnnotations,
    patch: builder.patch,
    mutatedObject: working,
    outcomes: builder.outcomes,
  };
}
