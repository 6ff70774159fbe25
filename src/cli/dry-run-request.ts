// The core of `daemonguard test`: run mutation then validation on the AdmissionRequest the apiserver
// would send, as the cluster does. No I/O here, so `verify` reuses it.
import { responseFromDecision } from '../admission/admission-response.js';
import { applyApiserverDefaults } from '../apiserver/daemonset-defaults.js';
import { namespaceObject } from '../apiserver/namespace-object.js';
import { review } from '../engine/review.js';
import type { AdmissionRequest, Decision, PatchOperation } from '../engine/types.js';
import type { PolicySet } from '../policy/types.js';
import { strongestAction } from './outcomes.js';

export interface ReviewedViolation {
  policy: string;
  message: string;
  action: 'Deny' | 'Warn' | 'Audit';
}

export interface DryRunOutcome {
  request: AdmissionRequest;
  decision: Decision;
  allowed: boolean;
  violations: ReviewedViolation[];
  /** The warnings the apiserver would show the user (cleaned up as the webhook sends them). */
  warnings: string[];
  /** RFC 6902 operations against the defaulted object. */
  patch: PatchOperation[];
}

/**
 * Mutation then validation on one request, as the cluster runs them: the mutating webhook's patch is
 * applied, the apiserver decodes (and so defaults) the patched object again, and the validating
 * webhook sees that. The result merges both phases; the patch is the mutating webhook's.
 */
export function dryRunRequest(request: AdmissionRequest, policySet: PolicySet, namespaceLabels: Readonly<Record<string, string>> = {}): DryRunOutcome {
  const namespace = request.namespace ?? '';
  const context = { namespaceObject: namespace === '' ? null : namespaceObject(namespace, namespaceLabels) };
  const mutation = review(request, policySet, { ...context, phase: 'mutate' });
  let validationRequest = request;
  if (mutation.patch.length > 0 && mutation.mutatedObject) {
    validationRequest = { ...request, object: applyApiserverDefaults(mutation.mutatedObject, { namespace }) };
  }
  const validation = review(validationRequest, policySet, { ...context, phase: 'validate' });
  const decision: Decision = {
    allowed: mutation.allowed && validation.allowed,
    violations: [...mutation.violations, ...validation.violations],
    warnings: [...new Set([...mutation.warnings, ...validation.warnings])],
    auditAnnotations: { ...mutation.auditAnnotations, ...validation.auditAnnotations },
    patch: mutation.patch,
    mutatedObject: validationRequest.object,
    outcomes: [...mutation.outcomes, ...validation.outcomes],
  };
  if (validation.notEvaluated !== undefined) decision.notEvaluated = validation.notEvaluated;
  // The user sees the warnings of both webhooks, as each sends them.
  const warnings = [
    ...(responseFromDecision(request.uid, mutation, 'mutate').warnings ?? []),
    ...(responseFromDecision(request.uid, validation, 'validate').warnings ?? []),
  ];
  return {
    request,
    decision,
    allowed: decision.allowed,
    violations: decision.violations.map((v) => ({ policy: v.policy, message: v.message, action: strongestAction(v.actions) })),
    warnings: [...new Set(warnings)],
    patch: decision.patch,
  };
}
