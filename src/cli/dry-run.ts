// The core of `daemonguard test`: build the AdmissionRequest the kube-apiserver would send for a
// manifest (on the object as the apiserver defaults it) and run mutation then validation, as the
// cluster does. No I/O here besides loading policies, so `verify` and the benchmark reuse it.
import { randomUUID } from 'node:crypto';
import { responseFromDecision } from '../admission/admission-response.js';
import { withAppliedFields } from '../admission/applied-fields.js';
import { applyApiserverDefaults } from '../admission/daemonset-defaults.js';
import { isJsonObject, type JsonObject } from '../common/vocabulary.js';
import { review } from '../engine/review.js';
import type { AdmissionRequest, Decision, Operation, PatchOperation, UserInfo } from '../engine/types.js';
import { PolicyLoadError, loadPolicySet } from '../policy/load-policies.js';
import type { PolicySet } from '../policy/types.js';
import { InputError } from './exit-codes.js';
import { strongestAction } from './outcomes.js';

export const DEFAULT_NAMESPACE = 'default';
/** The user the CLI reviews as when --user is not given. */
export const DEFAULT_USER = 'daemonguard-cli';
export const DEFAULT_GROUPS = ['system:authenticated'];

/** Loads policies, turning a broken policy into an InputError that lists every problem with file:line. */
export async function loadPoliciesForCli(paths: readonly string[]): Promise<PolicySet> {
  try {
    return await loadPolicySet(paths);
  } catch (error) {
    if (error instanceof PolicyLoadError) throw new InputError(error.message);
    throw error;
  }
}

/** The Namespace the apiserver would know: its name label (set on every namespace) plus the given labels. */
export function namespaceObject(name: string, labels: Readonly<Record<string, string>> = {}): JsonObject {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { ...labels, 'kubernetes.io/metadata.name': name } } };
}

export interface RequestOptions {
  operation: Operation;
  /** The request's namespace (already resolved: flag, else manifest, else default). */
  namespace: string;
  /** The object as stored before an UPDATE or DELETE. */
  oldObject?: JsonObject | null;
  user?: string;
  groups?: string[];
}

export function manifestNamespace(object: JsonObject | null | undefined): string | undefined {
  const metadata = object?.metadata;
  const namespace = isJsonObject(metadata) ? metadata.namespace : undefined;
  return typeof namespace === 'string' && namespace !== '' ? namespace : undefined;
}

function manifestName(object: JsonObject | null | undefined): string {
  const metadata = object?.metadata;
  const name = isJsonObject(metadata) ? metadata.name : undefined;
  return typeof name === 'string' ? name : '';
}

/** Puts the object into the request's namespace, as the apiserver does (it refuses a mismatch; we follow the flag). */
function inNamespace(object: JsonObject, namespace: string): JsonObject {
  // The file is what the user wrote: say so the way server-side apply does, before defaults blur it.
  const defaulted = applyApiserverDefaults(withAppliedFields(object), { namespace });
  (defaulted.metadata as JsonObject).namespace = namespace;
  return defaulted;
}

/**
 * ObjectMeta fields the apiserver clears from a new object before admission (the create handler's
 * rest.WipeObjectMetaSystemFields): a manifest exported with `kubectl get -o yaml` carries them, the
 * webhook never sees them on CREATE. generation and status are kept until after mutating admission.
 */
export const CREATE_WIPED_METADATA: readonly string[] = ['creationTimestamp', 'uid', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'selfLink'];

function withoutSystemFields(object: JsonObject): JsonObject {
  const metadata = object.metadata;
  if (!isJsonObject(metadata) || !CREATE_WIPED_METADATA.some((key) => key in metadata)) return object;
  const kept = { ...metadata };
  for (const key of CREATE_WIPED_METADATA) delete kept[key];
  return { ...object, metadata: kept };
}

/**
 * The AdmissionRequest (admission.k8s.io/v1) for a DaemonSet manifest: the object and old object as
 * the apiserver defaults them, a fresh uid, and the userInfo of --user/--groups.
 */
export function buildAdmissionRequest(manifest: JsonObject | null, options: RequestOptions): AdmissionRequest {
  const gvk = { group: 'apps', version: 'v1', kind: 'DaemonSet' };
  const gvr = { group: 'apps', version: 'v1', resource: 'daemonsets' };
  const object =
    options.operation === 'DELETE' || manifest === null
      ? null
      : inNamespace(options.operation === 'CREATE' ? withoutSystemFields(manifest) : manifest, options.namespace);
  const oldObject = options.oldObject ? inNamespace(options.oldObject, options.namespace) : null;
  const userInfo: UserInfo = { username: options.user ?? DEFAULT_USER, groups: options.groups ?? [...DEFAULT_GROUPS] };
  const optionsKind = options.operation === 'CREATE' ? 'CreateOptions' : options.operation === 'UPDATE' ? 'UpdateOptions' : 'DeleteOptions';
  return {
    uid: randomUUID(),
    kind: gvk,
    resource: gvr,
    requestKind: gvk,
    requestResource: gvr,
    name: manifestName(manifest ?? options.oldObject),
    namespace: options.namespace,
    operation: options.operation,
    userInfo,
    object,
    oldObject,
    dryRun: false,
    options: { apiVersion: 'meta.k8s.io/v1', kind: optionsKind },
  };
}

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
