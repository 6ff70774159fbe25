// Building AdmissionReview answers: small helpers (allowed, denied, patched, errored) and the mapping from
// an engine Decision to the response the kube-apiserver expects for each webhook phase. This is the one
// place a Decision's denials, warnings and audit annotations become what the user and the audit log see.

import type { Decision, PatchOperation, ReviewPhase, Violation } from '../engine/types.js';
import type { AdmissionReviewVersion } from './admission-review.js';
import { sanitizeWarnings } from './warnings.js';

/** metav1.Status as carried in `response.status`. */
export interface AdmissionStatus {
  code: number;
  reason?: string;
  message: string;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: AdmissionStatus;
  warnings?: string[];
  auditAnnotations?: Record<string, string>;
  patchType?: 'JSONPatch';
  /** base64 of the JSON array of RFC 6902 operations. */
  patch?: string;
}

export interface AdmissionReviewAnswer {
  apiVersion: AdmissionReviewVersion;
  kind: 'AdmissionReview';
  response: AdmissionResponse;
}

export const DEFAULT_DENIAL_REASON = 'Forbidden';
/**
 * Every denial answers 403, whatever its reason (Forbidden, Invalid, …): the reason is passed on for
 * clients that look at it, while the code stays the one webhook denials are documented to carry.
 */
export const DENIAL_CODE = 403;

export function allowedResponse(uid: string): AdmissionResponse {
  return { uid, allowed: true };
}

export function deniedResponse(uid: string, message: string, reason = DEFAULT_DENIAL_REASON): AdmissionResponse {
  return { uid, allowed: false, status: { code: DENIAL_CODE, reason, message } };
}

/** A mutating answer carries both `patchType` and `patch`, or neither. */
export function patchedResponse(uid: string, patch: readonly PatchOperation[]): AdmissionResponse {
  if (patch.length === 0) return allowedResponse(uid);
  return { uid, allowed: true, patchType: 'JSONPatch', patch: encodePatch(patch) };
}

/** The review could not be evaluated at all (an engine fault): refuse, and say so. */
export function erroredResponse(uid: string, message: string): AdmissionResponse {
  return { uid, allowed: false, status: { code: 500, reason: 'InternalError', message } };
}

export function encodePatch(patch: readonly PatchOperation[]): string {
  return Buffer.from(JSON.stringify(patch), 'utf8').toString('base64');
}

/** The operations of a mutating answer, as the apiserver reads them (none when it carries no patch). */
export function patchOfResponse(response: AdmissionResponse): PatchOperation[] {
  if (response.patch === undefined) return [];
  return JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as PatchOperation[];
}

export function admissionReviewAnswer(apiVersion: AdmissionReviewVersion, response: AdmissionResponse): AdmissionReviewAnswer {
  return { apiVersion, kind: 'AdmissionReview', response };
}

function violationLine(violation: Violation): string {
  const message = violation.message.trim();
  if (violation.native) return message;
  return message === '' ? `${violation.policy}: denied` : `${violation.policy}: ${message}`;
}

/**
 * The denial message: one line per Deny violation, each naming the policy and saying what to change,
 * e.g. `privileged-namespaces: container "agent" is privileged; privileged containers are allowed only in: kube-system`.
 */
export function denialMessage(violations: readonly Violation[]): string {
  const lines = [...new Set(violations.map(violationLine))];
  return lines.join('\n');
}

// The name part of a qualified name (what the apiserver accepts after `<webhook name>/`).
const ANNOTATION_KEY_INVALID = /[^A-Za-z0-9._-]+/g;
const ANNOTATION_KEY_EDGES = /^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g;

/** Makes an audit annotation key acceptable to the apiserver: no `/`, qualified-name characters, at most 63. */
export function sanitizeAuditAnnotationKey(key: string): string {
  const cleaned = key.replace(ANNOTATION_KEY_INVALID, '-').slice(0, 63).replace(ANNOTATION_KEY_EDGES, '');
  return cleaned === '' ? 'annotation' : cleaned;
}

function auditAnnotations(decision: Decision): Record<string, string> | undefined {
  // A Map, turned into an object with Object.fromEntries: keys such as `__proto__` stay plain data.
  const annotations = new Map<string, string>();
  for (const [key, value] of Object.entries(decision.auditAnnotations)) {
    annotations.set(sanitizeAuditAnnotationKey(key), value);
  }
  return annotations.size === 0 ? undefined : Object.fromEntries(annotations);
}

/**
 * Turns an engine Decision into the AdmissionResponse for one webhook phase.
 *
 * Only Deny-action violations deny (all of them are listed in the message). The Decision's warnings
 * (Warn violations, policies ignored after an error) are cleaned up for the apiserver, its audit
 * annotations (Audit violations, by policy name) get acceptable keys. A validating answer never
 * carries a patch; a mutating one carries `patchType` + `patch` only when the policies changed something.
 */
export function responseFromDecision(uid: string, decision: Decision, phase: ReviewPhase): AdmissionResponse {
  const denying = decision.violations.filter((violation) => violation.actions.includes('Deny'));
  const allowed = decision.allowed && denying.length === 0;

  const response: AdmissionResponse = { uid, allowed };
  if (!allowed) {
    const reason = denying.find((violation) => violation.reason !== '')?.reason ?? DEFAULT_DENIAL_REASON;
    const erroredPolicies = decision.outcomes.filter((outcome) => outcome.result === 'error');
    const message =
      denying.length > 0
        ? denialMessage(denying)
        : erroredPolicies.length > 0
          ? erroredPolicies.map((outcome) => `${outcome.policy}: evaluation failed: ${outcome.message ?? 'unknown error'}`).join('\n')
          : 'denied by daemonguard policies';
    response.status = { code: DENIAL_CODE, reason, message };
  }

  const warnings = sanitizeWarnings(decision.warnings);
  if (warnings.length > 0) response.warnings = warnings;

  const annotations = auditAnnotations(decision);
  if (annotations !== undefined) response.auditAnnotations = annotations;

  if (phase === 'mutate' && allowed && decision.patch.length > 0) {
    response.patchType = 'JSONPatch';
    response.patch = encodePatch(decision.patch);
  }
  return response;
}
