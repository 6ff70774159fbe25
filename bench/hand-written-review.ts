// The engine of `npm run bench`'s "serve, hand-written checks": serve's own code, whose review() decides
// with the library written by hand (bench/hand-written/) instead of evaluating the policies. Such a serve
// does everything serve does for a review (TLS, HTTP, the body's checks, JSON.parse, the answer, every
// policy's outcome in the metrics, the decision log line) and decides as fast as plain JavaScript
// checks can, inside the same process and its CPU caches. Its CPU time per request is therefore what
// serve would cost with an engine as fast as code written by hand: whether a throughput target is
// within reach of any engine inside this serve, measured rather than estimated from servers run apart.
//
// Only a benchmark can use it: it knows the built-in library's policies only (a policy without a twin
// stops it at its first review), reports every policy that does not fail as passed (the engine says
// `skip` where a policy does not apply: the same number of outcomes, other labels) and does not know
// which of a policy's validations failed (index 0; -1 for a policy that could not be evaluated, as the
// engine records it). The bench checks that its answers are the engine's, byte for byte. It never ships:
// serve loads it only through bench/hand-written-engine.ts, which the bench passes to node with --import.
import { isDaemonSetRequest, review as evaluate } from '../src/engine/review.js';
import type { CompiledPolicy, PolicySet } from '../src/policy/types.js';
import type { AdmissionRequest, Decision, JsonObject, PolicyOutcome, ReviewContext, Violation } from '../src/engine/types.js';
import { loadHandWrittenLibrary, mutateEach, reasonOf, type HandWrittenLibrary } from './hand-written/library.js';
import type { HandWrittenMutatingPolicy, HandWrittenReview, HandWrittenValidatingPolicy, HandWrittenViolation } from './hand-written/policy.js';

export * from '../src/engine/review.js';

/** The folder serve was given with --policies: the twins are built from the same files. */
function policiesFolder(argv: readonly string[]): string {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--policies' && argv[i + 1] !== undefined) return argv[i + 1]!;
    if (arg.startsWith('--policies=')) return arg.slice('--policies='.length);
  }
  throw new Error('the hand-written engine needs serve started with --policies DIR (the built-in library)');
}

/** The twins lined up with a policy set's phases, and the shared outcome of each policy that passes. */
interface Lineup {
  validating: readonly HandWrittenValidatingPolicy[];
  validatingPassed: readonly Readonly<PolicyOutcome>[];
  mutating: readonly HandWrittenMutatingPolicy[];
  mutatingPassed: readonly Readonly<PolicyOutcome>[];
}

/** The reason of a twin's violation that stands for the policy's evaluation failing (settled by failurePolicy Fail). */
const EVALUATION_FAILED = 'InternalError';

let library: HandWrittenLibrary | undefined;
const lineups = new WeakMap<PolicySet, Lineup>();

function twinsOf<T extends { name: string }>(policies: readonly CompiledPolicy[], twins: readonly T[], kind: string): T[] {
  const byName = new Map(twins.map((twin) => [twin.name, twin]));
  return policies.map((policy) => {
    const twin = byName.get(policy.name);
    if (twin === undefined) throw new Error(`the hand-written engine has no ${kind} twin for policy "${policy.name}"`);
    return twin;
  });
}

function lineupOf(policySet: PolicySet): Lineup {
  let lineup = lineups.get(policySet);
  if (lineup === undefined) {
    library ??= loadHandWrittenLibrary(policiesFolder(process.argv));
    const passed = (policies: readonly CompiledPolicy[]): Readonly<PolicyOutcome>[] => policies.map((policy) => Object.freeze({ policy: policy.name, result: 'pass' as const }));
    lineup = {
      validating: twinsOf(policySet.validatingPolicies, library.validating, 'validating'),
      validatingPassed: passed(policySet.validatingPolicies),
      mutating: twinsOf(policySet.mutatingPolicies, library.mutating, 'mutating'),
      mutatingPassed: passed(policySet.mutatingPolicies),
    };
    lineups.set(policySet, lineup);
  }
  return lineup;
}

function decision(fields: Pick<Decision, 'allowed' | 'violations' | 'warnings' | 'auditAnnotations' | 'patch' | 'mutatedObject' | 'outcomes'>): Decision {
  return { ...fields, exceptions: [], expiredExceptions: [] };
}

function validate(lineup: Lineup, library: HandWrittenLibrary, review: HandWrittenReview): Decision {
  const violations: Violation[] = [];
  const warnings: string[] = [];
  const auditAnnotations: Record<string, string> = {};
  const outcomes: Readonly<PolicyOutcome>[] = new Array(lineup.validating.length);
  let allowed = true;
  for (let i = 0; i < lineup.validating.length; i++) {
    const found = lineup.validating[i]!.validate(review);
    if (found.length === 0) {
      outcomes[i] = lineup.validatingPassed[i]!;
      continue;
    }
    for (const violation of found) {
      const { policy, message } = violation;
      const denies = violation.actions.includes('Deny');
      // A denial's status needs its reason; a twin names it only where the policy's validations differ
      // in reason and one of them denies (a Warn policy's reason appears in no answer).
      const reason = denies ? reasonOf(library, violation) : (violation.reason ?? library.reasons.get(policy) ?? '');
      violations.push({ policy, validation: reason === EVALUATION_FAILED ? -1 : 0, message, reason, actions: [...violation.actions] });
      if (denies) allowed = false;
      if (violation.actions.includes('Warn')) warnings.push(`${policy}: ${message}`);
      if (violation.actions.includes('Audit')) {
        const previous = auditAnnotations[policy];
        auditAnnotations[policy] = previous ? `${previous}; ${message}` : message;
      }
    }
    const [first] = found as [HandWrittenViolation];
    outcomes[i] = { policy: first.policy, result: first.reason === EVALUATION_FAILED ? 'error' : 'fail', message: first.message };
  }
  return decision({ allowed, violations, warnings, auditAnnotations, patch: [], mutatedObject: review.object, outcomes });
}

function mutate(lineup: Lineup, review: HandWrittenReview): Decision {
  const { patch, object, operationsByTwin } = mutateEach(lineup, review);
  const outcomes = operationsByTwin.map((count, i): Readonly<PolicyOutcome> =>
    count === 0 ? lineup.mutatingPassed[i]! : { policy: lineup.mutatingPassed[i]!.policy, result: 'pass', patchOperations: count },
  );
  return decision({ allowed: true, violations: [], warnings: [], auditAnnotations: {}, patch, mutatedObject: object, outcomes });
}

export function review(request: AdmissionRequest, policySet: PolicySet, context: ReviewContext): Decision {
  // What the engine lets through unevaluated (not a DaemonSet, a subresource) it answers itself, at once.
  if (!isDaemonSetRequest(request) || request.subResource) return evaluate(request, policySet, context);
  const lineup = lineupOf(policySet);
  const twinReview: HandWrittenReview = {
    operation: request.operation,
    object: request.object,
    oldObject: request.oldObject,
    namespace: request.namespace ?? '',
    namespaceObject: context.namespaceObject ?? null,
    request: request as unknown as JsonObject,
  };
  return context.phase === 'validate' ? validate(lineup, library!, twinReview) : mutate(lineup, twinReview);
}
