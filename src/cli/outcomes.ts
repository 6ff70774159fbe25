// One outcome per policy for one reviewed object, from the engine's per-phase outcomes: the words
// reports and `verify` expectations use (pass, deny, warn, audit, skip, error, mutate).
import type { ReviewedAdmission } from '../admission/pipeline.js';
import type { ValidationAction } from '../engine/types.js';
import type { PolicySet } from '../policy/types.js';

export type PolicyVerdict = 'pass' | 'deny' | 'warn' | 'audit' | 'skip' | 'error' | 'mutate' | 'except';
export const POLICY_VERDICTS: readonly PolicyVerdict[] = ['pass', 'deny', 'warn', 'audit', 'skip', 'error', 'mutate', 'except'];

export interface PolicyReport {
  policy: string;
  verdict: PolicyVerdict;
  /** Violation messages (for deny/warn/audit), the error or skip reason otherwise; for except, the exception and its reason. */
  messages: string[];
  patchOperations: number;
}

/** The action a violation is reported with: Deny if it denies, else Warn, else Audit. */
export function strongestAction(actions: readonly ValidationAction[]): ValidationAction {
  if (actions.includes('Deny')) return 'Deny';
  if (actions.includes('Warn')) return 'Warn';
  return 'Audit';
}

/**
 * Merges the mutate and validate outcomes of each policy: `except` if an exception took its violations
 * or errors, `skip` if skipped in every phase, `error` if
 * it errored, `deny`/`warn`/`audit` if a validation failed (strongest action wins), `mutate` if it
 * produced patch operations, else `pass`. Policies the engine never looked at (the request was not
 * evaluated) are `skip`.
 */
export function policyReports(admission: Pick<ReviewedAdmission, 'outcomes' | 'violations' | 'notEvaluated' | 'exceptions'>, policySet: PolicySet): PolicyReport[] {
  return policySet.policies.map((policy) => {
    const exception = admission.exceptions.find((use) => use.policy === policy.name);
    const outcomes = admission.outcomes.filter((o) => o.policy === policy.name);
    const violations = admission.violations.filter((v) => v.policy === policy.name);
    const patchOperations = outcomes.reduce((sum, o) => sum + (o.patchOperations ?? 0), 0);
    const reasons = outcomes.map((o) => o.message).filter((m): m is string => m !== undefined);
    let verdict: PolicyVerdict;
    let messages: string[] = [];
    if (exception !== undefined) {
      verdict = 'except';
      messages = [`exception ${exception.namespace}/${exception.name}: ${exception.reason}`, ...exception.excepted.map((v) => v.message)];
    } else if (outcomes.length === 0 || outcomes.every((o) => o.result === 'skip')) {
      verdict = 'skip';
      messages = outcomes.length === 0 && admission.notEvaluated ? [admission.notEvaluated] : reasons;
    } else if (outcomes.some((o) => o.result === 'error')) {
      verdict = 'error';
      messages = outcomes.filter((o) => o.result === 'error').map((o) => o.message ?? 'evaluation error');
    } else if (violations.length > 0) {
      const actions = violations.flatMap((v) => v.actions);
      verdict = strongestAction(actions).toLowerCase() as PolicyVerdict;
      messages = violations.map((v) => v.message);
    } else if (patchOperations > 0) {
      verdict = 'mutate';
    } else {
      verdict = 'pass';
    }
    return { policy: policy.name, verdict, messages, patchOperations };
  });
}
