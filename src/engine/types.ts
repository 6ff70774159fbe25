// The vocabulary shared by every door into the engine (webhook, CLI, audit).
// Kept free of imports from server/, cli/, admission/ and apiserver/ so the engine stays below them.

import type { JsonObject, JsonValue, Operation, ValidationAction } from '../common/vocabulary.js';

export type { FailurePolicy, JsonObject, JsonPrimitive, JsonValue, Operation, ValidationAction } from '../common/vocabulary.js';
export { OPERATIONS, isJsonObject } from '../common/vocabulary.js';

export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

export interface GroupVersionResource {
  group: string;
  version: string;
  resource: string;
}

export interface UserInfo {
  username?: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

/** The `request` of an AdmissionReview (admission.k8s.io/v1), after decoding and checking. */
export interface AdmissionRequest {
  uid: string;
  kind: GroupVersionKind;
  resource: GroupVersionResource;
  subResource?: string;
  requestKind?: GroupVersionKind;
  requestResource?: GroupVersionResource;
  requestSubResource?: string;
  name?: string;
  namespace?: string;
  operation: Operation;
  userInfo: UserInfo;
  object: JsonObject | null;
  oldObject: JsonObject | null;
  dryRun?: boolean;
  options?: JsonObject | null;
}

/**
 * Which webhook to answer as: the mutating one (mutations only) or the validating one (validations
 * only, on the object the apiserver made of the mutating webhook's patch). Running both in the
 * cluster's order needs the apiserver's re-defaulting in between: see admission/pipeline.ts.
 */
export type ReviewPhase = 'mutate' | 'validate';

export interface ReviewContext {
  phase: ReviewPhase;
  /** The request's namespace as a Namespace object, when known (for namespaceSelector and `namespaceObject`). */
  namespaceObject?: JsonObject | null;
  /** The cluster's Node objects, when known: policies read where the DaemonSet lands as `coverage` (null without them). */
  nodes?: readonly JsonObject[] | null;
  /**
   * Absolute deadline in `performance.now()` milliseconds. Policies not yet evaluated when it passes
   * are settled by their failurePolicy, so an answer always arrives in time.
   */
  deadline?: number;
  /**
   * The time exceptions' `expires` are compared with, in milliseconds since the epoch; default: the
   * clock when the review starts. Given by tests (and anything replaying a review) to be deterministic.
   */
  now?: number;
}

export interface Violation {
  policy: string;
  /** Index of the validation in the policy's `validations`; -1 when the policy as a whole failed (evaluation error). */
  validation: number;
  message: string;
  /** Kubernetes StatusReason, e.g. Forbidden, Invalid. */
  reason: string;
  actions: ValidationAction[];
  /** Set for a native policy's violation: `message` is already worded as the apiserver words it (naming policy and binding). */
  native?: true;
}

export type PolicyResult = 'pass' | 'fail' | 'skip' | 'error';

export interface PolicyOutcome {
  policy: string;
  result: PolicyResult;
  /** Why a policy was skipped or errored; the first violation's message when it failed. */
  message?: string;
  /** Number of patch operations this policy's mutations contributed. */
  patchOperations?: number;
  /** The exception (namespace/name) that excepted this policy's violations or evaluation error. */
  exception?: string;
}

/** A DaemonSetPolicyException that matched the request for one of its policies. */
export interface ExceptionUse {
  name: string;
  namespace: string;
  policy: string;
}

/** An exception that applied: the policy failed (or could not be evaluated) and the exception let the request through it. */
export interface AppliedException extends ExceptionUse {
  reason: string;
  /** What the policy would have reported without the exception (validation -1: an evaluation error). */
  excepted: Violation[];
}

/** An exception that would have applied but had expired, so the policy's violations stood. */
export interface ExpiredException extends ExceptionUse {
  expires: string;
}

export interface PatchOperation {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  value?: JsonValue;
  from?: string;
}

export interface Decision {
  allowed: boolean;
  violations: Violation[];
  /**
   * What the user is warned of: `<policy>: <message>` per Warn violation and per policy ignored after
   * an error; `exception <namespace>/<name> applied to <policy>`; expired exceptions that would have applied.
   */
  warnings: string[];
  /**
   * Per policy with Audit violations, their messages (keys are policy names; the answer makes them
   * acceptable); per excepted policy, `exception.<policy>`: the exception, what it excepted and why.
   */
  auditAnnotations: Record<string, string>;
  /** RFC 6902 operations against the request's object; empty when nothing changes. */
  patch: PatchOperation[];
  /** The object after mutation (the request's object when nothing changed); null when the request had none. */
  mutatedObject: JsonObject | null;
  /** One per policy of the phase, in order. Read-only: a plain pass is one object shared by every review. */
  outcomes: Readonly<PolicyOutcome>[];
  /** Exceptions that applied, one per excepted policy. */
  exceptions: AppliedException[];
  /** Expired exceptions that would have applied. */
  expiredExceptions: ExpiredException[];
  /** Set when the request was let through without evaluation, with the reason (not a DaemonSet, DELETE, …). */
  notEvaluated?: string;
}
