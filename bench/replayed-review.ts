// The engine of `npm run bench`'s "serve, decisions replayed": serve's own code, but review() answers each
// review with the decision the engine made for the first review of the same object, without evaluating
// the policies again. Such a serve does everything serve does for a review (TLS, HTTP, the body's checks,
// JSON.parse, the decision log line, metrics for every policy's outcome, the answer with its warnings)
// except the evaluation, so its CPU time per request is the least any engine could reach inside this
// serve with this library's answers: the floor that the throughput target has to be met above.
//
// Only a benchmark can use it: a decision is replayed for any review of the same phase, operation,
// namespace and name, which is right only because the bench's reviews of one payload differ in their
// uid alone (the bench checks that the replayed answers are the engine's). It never ships: serve loads
// it only through bench/replay-decisions.ts, which the bench passes to node with --import.
import { review as evaluate } from '../src/engine/review.js';
import type { PolicySet } from '../src/policy/types.js';
import type { AdmissionRequest, Decision, ReviewContext } from '../src/engine/types.js';

export * from '../src/engine/review.js';

const decisionsBySet = new WeakMap<PolicySet, Map<string, Decision>>();

export function review(request: AdmissionRequest, policySet: PolicySet, context: ReviewContext): Decision {
  let decisions = decisionsBySet.get(policySet);
  if (decisions === undefined) {
    decisions = new Map();
    decisionsBySet.set(policySet, decisions);
  }
  const key = `${context.phase} ${request.operation} ${request.namespace ?? ''}/${request.name ?? ''}`;
  let decision = decisions.get(key);
  if (decision === undefined) {
    decision = evaluate(request, policySet, context);
    decisions.set(key, decision);
  }
  return decision;
}
