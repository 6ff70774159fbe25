// The AdmissionReview answer of the hand-written webhook (server.ts), worded as `daemonguard serve`
// words its own (src/admission/admission-response.ts responseFromDecision, webhook-answer.ts): allowed,
// the denial's status (403, the first denying violation's reason, one line per policy), the warnings
// (`<policy>: <message>`, cleaned as the apiserver needs them), audit annotations, and on /mutate the
// patch, base64 of the JSON array. Kept apart from the server so that the tests can hold it to the
// engine's answers in-process, on many reviews.
import { sanitizeWarnings } from '../../src/admission/warnings.js';
import type { JsonObject, Operation } from '../../src/common/vocabulary.js';
import type { PatchOperation } from '../../src/engine/types.js';
import { mutateAll, reasonOf, validateAll, type HandWrittenLibrary } from './library.js';
import type { HandWrittenReview, HandWrittenViolation } from './policy.js';

/** The fields of an AdmissionReview the answer needs. */
export interface ReviewShape {
  apiVersion: string;
  request: {
    uid: string;
    kind?: { group?: string; version?: string; kind?: string };
    subResource?: string;
    operation: Operation;
    namespace?: string;
    object?: JsonObject | null;
    oldObject?: JsonObject | null;
  } & JsonObject;
}

interface Response {
  uid: string;
  allowed: boolean;
  status?: { code: number; reason: string; message: string };
  warnings?: string[];
  auditAnnotations?: Record<string, string>;
  patchType?: 'JSONPatch';
  patch?: string;
}

/** What `daemonguard serve` answers to the violations (src/admission/admission-response.ts responseFromDecision). */
function validatingResponse(library: HandWrittenLibrary, uid: string, violations: readonly HandWrittenViolation[]): Response {
  const response: Response = { uid, allowed: true };
  if (violations.length === 0) return response;
  let denial: string[] | undefined;
  let reason: string | undefined;
  let warnings: string[] | undefined;
  let audit: Map<string, string> | undefined;
  for (const violation of violations) {
    const line = `${violation.policy}: ${violation.message}`;
    if (violation.actions.includes('Deny')) {
      const message = violation.message.trim();
      const denialLine = message === '' ? `${violation.policy}: denied` : `${violation.policy}: ${message}`;
      denial ??= [];
      if (!denial.includes(denialLine)) denial.push(denialLine);
      if (reason === undefined) {
        const why = reasonOf(library, violation);
        if (why !== '') reason = why;
      }
    }
    if (violation.actions.includes('Warn')) (warnings ??= []).push(line);
    if (violation.actions.includes('Audit')) {
      audit ??= new Map();
      const key = violation.policy.replace(/[^A-Za-z0-9._-]+/g, '-').slice(0, 63).replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '') || 'annotation';
      const previous = audit.get(key);
      audit.set(key, previous ? `${previous}; ${violation.message}` : violation.message);
    }
  }
  if (denial !== undefined) {
    response.allowed = false;
    response.status = { code: 403, reason: reason ?? 'Forbidden', message: denial.join('\n') };
  }
  if (warnings !== undefined) {
    const cleaned = sanitizeWarnings(warnings);
    if (cleaned.length > 0) response.warnings = cleaned;
  }
  if (audit !== undefined) response.auditAnnotations = Object.fromEntries(audit);
  return response;
}

function mutatingResponse(uid: string, patch: readonly PatchOperation[]): Response {
  if (patch.length === 0) return { uid, allowed: true };
  return { uid, allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch), 'utf8').toString('base64') };
}

/** What the twins read of a parsed review, its namespace's object from `namespaces`. */
export function twinReviewOf(review: ReviewShape, namespaces: ReadonlyMap<string, JsonObject>): HandWrittenReview {
  const { request } = review;
  const namespace = request.namespace ?? '';
  return {
    operation: request.operation,
    object: request.object ?? null,
    oldObject: request.oldObject ?? null,
    namespace,
    namespaceObject: namespaces.get(namespace) ?? null,
    request,
  };
}

/** The answer's JSON text to one parsed review on `/validate` or `/mutate`. */
export function answerReview(
  library: HandWrittenLibrary,
  namespaces: ReadonlyMap<string, JsonObject>,
  phase: 'validate' | 'mutate',
  review: ReviewShape,
): string {
  const { request } = review;
  const kind = request.kind;
  let response: Response;
  // Only apps/v1 DaemonSets, not their subresources, are reviewed (src/engine/review.ts); the rest is allowed.
  if (kind?.group !== 'apps' || kind.version !== 'v1' || kind.kind !== 'DaemonSet' || (request.subResource !== undefined && request.subResource !== '')) {
    response = { uid: request.uid, allowed: true };
  } else {
    const twinReview = twinReviewOf(review, namespaces);
    response =
      phase === 'validate'
        ? validatingResponse(library, request.uid, validateAll(library, twinReview))
        : mutatingResponse(request.uid, mutateAll(library, twinReview));
  }
  return JSON.stringify({ apiVersion: review.apiVersion, kind: 'AdmissionReview', response });
}
