// How many CEL cost units one evaluation of one policy may spend, scoped as the kube-apiserver scopes
// them (k8s.io/apiserver v0.37.2), so that a policy that fits in the cluster fits here and one that
// does not fits in neither:
//
// - pkg/apis/cel/config.go: PerCallLimit 1,000,000 per expression (EXPRESSION_COST_BUDGET, evaluate.ts),
//   RuntimeCELCostBudget 10,000,000 per policy evaluation, RuntimeCELCostBudgetMatchConditions
//   2,500,000 for a policy's matchConditions.
// - policy/validating/dispatcher.go calls the validator once per (policy, binding, param) with a fresh
//   RuntimeCELCostBudget; validator.go spends it on the validations, then what is left on the
//   messageExpressions, and gives the auditAnnotations a fresh RuntimeCELCostBudget of their own.
// - webhook/matchconditions/matcher.go: matchConditions spend RuntimeCELCostBudgetMatchConditions,
//   apart from the validations' budget.
// - policy/mutating/dispatcher.go: each mutation of a MutatingAdmissionPolicy gets a fresh
//   RuntimeCELCostBudget.
// - plugin/cel/activation.go: the budget is checked after each expression (a variable it read first
//   counts too); one over it fails the evaluation: "no further validation rules will be run".
//
// There is no budget for a whole admission request: the apiserver bounds it in time (the webhook's
// timeout), as daemonguard's review deadline does (see review.ts).
import { CostBudgetExceededError, DEFAULT_COST_BUDGET } from '../cel/cost.js';

/** RuntimeCELCostBudget: the units one evaluation of one policy may spend on its validations (or one mutation). */
export const POLICY_COST_BUDGET = 10_000_000;

/** RuntimeCELCostBudgetMatchConditions: the units a policy's matchConditions may spend together. */
export const MATCH_CONDITIONS_COST_BUDGET = 2_500_000;

/**
 * Whether `expressions` evaluations could spend more than `budget` together without one of them
 * failing: each spends at most an expression's limit (the variables it reads included: their meters
 * nest in its own), and one that goes over it fails, which fails a DaemonSetPolicy anyway. Ten
 * validations or two matchConditions cannot; the budget is armed only where they can.
 */
export function mayOverrun(expressions: number, budget: number): boolean {
  return expressions * DEFAULT_COST_BUDGET > budget;
}

/** True when `error` is a policy-wide budget (not an expression's own limit) running out. */
export function isPolicyBudgetError(error: unknown): error is CostBudgetExceededError {
  return error instanceof CostBudgetExceededError && (error.budget === POLICY_COST_BUDGET || error.budget === MATCH_CONDITIONS_COST_BUDGET);
}

/** What a policy that ran out of its budget reports: how far it got, and what to do about it. */
export function policyBudgetDetail(error: CostBudgetExceededError): string {
  const what = error.budget === MATCH_CONDITIONS_COST_BUDGET ? "the policy's matchConditions" : "the policy's expressions";
  return (
    `${what} spent ${error.spent.toLocaleString('en-US')} CEL cost units together, over the ${error.budget.toLocaleString('en-US')} ` +
    `one evaluation of a policy may spend (as in Kubernetes); no further expression of the policy was evaluated. ` +
    `Make its expressions cheaper (fewer nested loops over lists, shorter strings scanned) or split the policy in two`
  );
}
