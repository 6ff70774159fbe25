// Evaluates one compiled expression under the cost budget and turns every way it can fail into an
// EvaluationFailure that names the policy field, so failurePolicy can handle it uniformly.
import { DEFAULT_COST_BUDGET, evaluateWithCostBudget } from '../cel/cost.js';
import type { CelActivation } from '../cel/program.js';
import type { CompiledExpression } from '../policy/types.js';
import { isPolicyBudgetError, policyBudgetDetail } from './policy-budget.js';
import type { PlannedCheck } from './policy-plan.js';

/**
 * Cost units one expression may spend (roughly: list elements visited plus characters scanned).
 * A DaemonSet with a few dozen containers costs a few thousand; this leaves room for large objects
 * while stopping the quadratic expressions that 10,000 tolerations would otherwise turn into seconds.
 */
export const EXPRESSION_COST_BUDGET = DEFAULT_COST_BUDGET;

export class EvaluationFailure extends Error {
  constructor(
    readonly field: string,
    readonly detail: string,
  ) {
    super(`${field}: ${detail}`);
    this.name = 'EvaluationFailure';
  }
}

function describe(error: unknown): string {
  if (error instanceof EvaluationFailure) return error.message;
  if (error instanceof Error) {
    const summary = (error as Error & { summary?: string }).summary;
    return (summary ?? error.message).split('\n')[0] ?? error.message;
  }
  return String(error);
}

/**
 * The policy's budget ran out at this expression (policy-budget.ts). It ends the policy's evaluation,
 * whatever would otherwise absorb an expression's error (a messageExpression's fallback to the static
 * message), as in the apiserver.
 */
export class PolicyBudgetFailure extends EvaluationFailure {}

/** What evaluating `expression` threw, as the EvaluationFailure that names its field. */
function failureOf(error: unknown, expression: CompiledExpression): EvaluationFailure {
  // A failure inside a lazily evaluated variable already names the variable's field.
  if (error instanceof EvaluationFailure) return error;
  if (isPolicyBudgetError(error)) return new PolicyBudgetFailure(expression.field, policyBudgetDetail(error));
  return new EvaluationFailure(expression.field, describe(error));
}

function booleanOf(value: unknown, expression: CompiledExpression): boolean {
  if (typeof value !== 'boolean') {
    throw new EvaluationFailure(expression.field, `expected a bool, got ${value === null ? 'null' : typeof value}`);
  }
  return value;
}

export function evaluateExpression(expression: CompiledExpression, activation: CelActivation): unknown {
  try {
    return evaluateWithCostBudget(EXPRESSION_COST_BUDGET, expression.program, activation);
  } catch (error) {
    throw failureOf(error, expression);
  }
}

export function evaluateBoolean(expression: CompiledExpression, activation: CelActivation): boolean {
  return booleanOf(evaluateExpression(expression, activation), expression);
}

/** evaluateBoolean for a check of a policy's plan (the same value, errors and cost). */
export function evaluateCheckBoolean(check: PlannedCheck, activation: CelActivation): boolean {
  let value: unknown;
  try {
    value = evaluateWithCostBudget(EXPRESSION_COST_BUDGET, check.program, activation);
  } catch (error) {
    throw failureOf(error, check.expression);
  }
  return booleanOf(value, check.expression);
}
