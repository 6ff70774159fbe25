// One request through admission in the cluster's order: the mutating webhook answers, the apiserver
// applies its patch and decodes the object again (defaulting it), the validating webhook answers on
// that. `daemonguard test` and `verify` run it in process; the parity test runs the very same
// sequence against the HTTPS server, so the two can only differ in the webhooks themselves.
//
// Unlike the apiserver, which stops at the first webhook that denies, both webhooks always answer:
// a dry run should show every problem at once.

import { requestAfterMutation } from '../apiserver/after-mutation.js';
import { review } from '../engine/review.js';
import type { AdmissionRequest, AppliedException, ExpiredException, JsonObject, PatchOperation, PolicyOutcome, ReviewContext, ReviewPhase, Violation } from '../engine/types.js';
import type { PolicySet } from '../policy/types.js';
import { patchOfResponse, type AdmissionResponse } from './admission-response.js';
import { answerRequest, type ReviewedAnswer } from './webhook-answer.js';

/** Calls the webhook for `phase` with `request`: in process, or over HTTPS. */
export type CallWebhook<A extends { response: AdmissionResponse }> = (phase: ReviewPhase, request: AdmissionRequest) => A | Promise<A>;

export interface Admission<A extends { response: AdmissionResponse }> {
  /** What the mutating webhook was sent. */
  request: AdmissionRequest;
  mutation: A;
  /** What the validating webhook was sent: the object patched and decoded (so defaulted) again. */
  validationRequest: AdmissionRequest;
  validation: A;
  /** Neither webhook denied. */
  allowed: boolean;
  /** What the user is warned of: the mutating webhook's warnings, then the validating one's, each once (as the apiserver records them). */
  warnings: string[];
  /** The mutating webhook's patch, against the request's object. */
  patch: PatchOperation[];
  /** The object after admission, as it would be stored (null for DELETE). */
  admittedObject: JsonObject | null;
}

/** Runs `request` through the mutating then the validating webhook, with the apiserver's steps in between. */
export async function admit<A extends { response: AdmissionResponse }>(request: AdmissionRequest, callWebhook: CallWebhook<A>): Promise<Admission<A>> {
  const mutation = await callWebhook('mutate', request);
  const patch = patchOfResponse(mutation.response);
  const validationRequest = requestAfterMutation(request, patch);
  const validation = await callWebhook('validate', validationRequest);
  return {
    request,
    mutation,
    validationRequest,
    validation,
    allowed: mutation.response.allowed && validation.response.allowed,
    warnings: [...new Set([...(mutation.response.warnings ?? []), ...(validation.response.warnings ?? [])])],
    patch,
    admittedObject: validationRequest.object,
  };
}

/** An admission decided in process, with the engine's Decisions of both phases put together. */
export interface ReviewedAdmission extends Admission<ReviewedAnswer> {
  /** Both phases' violations, the mutating phase's first (a mutating policy that fails to evaluate can deny). */
  violations: Violation[];
  /** Both phases' per-policy outcomes, the mutating phase's first. */
  outcomes: PolicyOutcome[];
  /** The exceptions that applied in either phase, one per excepted policy, with what each excepted. */
  exceptions: AppliedException[];
  /** Expired exceptions that would have applied, one per policy. */
  expiredExceptions: ExpiredException[];
  /** Why the request was let through without evaluation, when it was (not a DaemonSet, a subresource). */
  notEvaluated?: string;
}

/** The context of both webhooks' reviews; the phase is the pipeline's to set. */
export type AdmissionContext = Omit<ReviewContext, 'phase'>;

/** The in-process webhooks: the engine on `policySet`, answered as the server answers. */
export function reviewingWebhooks(policySet: PolicySet, context: AdmissionContext = {}): CallWebhook<ReviewedAnswer> {
  return (phase, request) => answerRequest(request, (decided, reviewContext) => review(decided, policySet, reviewContext), { ...context, phase });
}

/** `request` through both webhooks of `policySet`, in process: what `daemonguard test` reports. */
export async function reviewAdmission(request: AdmissionRequest, policySet: PolicySet, context: AdmissionContext = {}): Promise<ReviewedAdmission> {
  const admission = await admit(request, reviewingWebhooks(policySet, context));
  const decisions = [admission.mutation.decision, admission.validation.decision];
  const reviewed: ReviewedAdmission = {
    ...admission,
    violations: decisions.flatMap((decision) => decision.violations),
    outcomes: decisions.flatMap((decision) => decision.outcomes),
    exceptions: mergeByPolicy(decisions.flatMap((decision) => decision.exceptions), (first, later) => ({ ...first, excepted: [...first.excepted, ...later.excepted] })),
    expiredExceptions: mergeByPolicy(decisions.flatMap((decision) => decision.expiredExceptions), (first) => first),
  };
  const notEvaluated = admission.validation.decision.notEvaluated;
  if (notEvaluated !== undefined) reviewed.notEvaluated = notEvaluated;
  return reviewed;
}

/** One entry per policy: a policy excepted in both phases (an error while mutating, a violation after) is one use. */
function mergeByPolicy<T extends { policy: string }>(entries: T[], merge: (first: T, later: T) => T): T[] {
  const byPolicy = new Map<string, T>();
  for (const entry of entries) {
    const first = byPolicy.get(entry.policy);
    byPolicy.set(entry.policy, first === undefined ? entry : merge(first, entry));
  }
  return [...byPolicy.values()];
}
