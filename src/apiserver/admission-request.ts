// The AdmissionRequest the kube-apiserver would send a webhook for a DaemonSet manifest: the object
// as the apiserver decodes and defaults it, with the request's namespace, user and options.
import { randomUUID } from 'node:crypto';
import { isJsonObject, type JsonObject } from '../common/vocabulary.js';
import type { AdmissionRequest, Operation, UserInfo } from '../engine/types.js';
import { withAppliedFields } from './applied-fields.js';
import { applyApiserverDefaults } from './daemonset-defaults.js';

/** The namespace of a request whose manifest names none (kubectl's default context). */
export const DEFAULT_NAMESPACE = 'default';
/** The user the CLI reviews as when --user is not given. */
export const DEFAULT_USER = 'daemonguard-cli';
export const DEFAULT_GROUPS = ['system:authenticated'];

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

/**
 * The AdmissionRequest of an UPDATE that changes nothing to a DaemonSet as the apiserver stores it:
 * object and oldObject are both the stored object, untouched (it was defaulted when it was written,
 * and defaulting it again here could hide what is really stored). What the audit judges.
 */
export function unchangedUpdateRequest(stored: JsonObject, options: Pick<RequestOptions, 'user' | 'groups'> = {}): AdmissionRequest {
  const request = buildAdmissionRequest(null, { operation: 'UPDATE', namespace: manifestNamespace(stored) ?? '', user: options.user, groups: options.groups });
  return { ...request, name: manifestName(stored), object: stored, oldObject: stored };
}
