// What server-side apply records for a manifest: the managedFields entry (operation Apply) whose
// field set holds exactly the fields written in the file. The CLI defaults a manifest like the
// apiserver, so it must also carry the signal that tells defaulted values from written ones
// (policies/defaults/default-rolling-update.yaml explains the rule): a manifest with neither
// managedFields nor the last-applied annotation gets `appliedFieldsEntry(manifest)` before
// defaulting, as `kubectl apply --server-side` sends it, so a file reads as "what the user wrote".
//
// The field set follows structured-merge-diff's FieldsV1 encoding for what policies read: maps and
// structs field by field ("f:<name>"), the lists Kubernetes merges by key as "k:{...}" entries
// (containers, volumes, env, volume mounts), every other list and the atomic label selector as a
// whole. A field written as `null` is in the set too (`hostNetwork: null`, `updateStrategy: null`,
// a label `x: null`): the applied configuration names it, even though the typed object then holds
// no such field (or an empty string) and defaulting may fill it. So a policy that asks "did the user
// write revisionHistoryLimit?" gets the cluster's answer for `revisionHistoryLimit: null` as well.
// Checked against the entries a real kube-apiserver v1.37.2 wrote (test/policies/applied-fields.test.ts,
// test/e2e/explicit-nulls.e2e.test.ts).
import { isJsonObject, type JsonObject, type JsonValue } from '../common/vocabulary.js';

/**
 * Lists merged by key, with their key fields, by field name (as in the apps/v1 and core/v1 schemas).
 * A key field left out takes its default in the key (a container port's protocol is TCP).
 */
const KEYED_LISTS: Record<string, string[]> = {
  containers: ['name'],
  initContainers: ['name'],
  ephemeralContainers: ['name'],
  volumes: ['name'],
  env: ['name'],
  imagePullSecrets: ['name'],
  volumeMounts: ['mountPath'],
  ports: ['containerPort', 'protocol'],
};
const KEY_DEFAULTS: Record<string, JsonValue> = { protocol: 'TCP' };

/** Fields owned as a whole (x-kubernetes-map-type: atomic): the label selector, and the pod's nodeSelector. */
const ATOMIC = new Set(['selector', 'nodeSelector']);

/** Fields that identify the object rather than describe it, never in a field set. */
const IDENTITY: Record<string, Set<string>> = {
  '': new Set(['apiVersion', 'kind', 'status']),
  metadata: new Set(['name', 'namespace', 'managedFields', 'resourceVersion', 'uid', 'creationTimestamp', 'generation', 'selfLink']),
};

function fieldSetOf(value: JsonObject, parent: string): JsonObject {
  const set: JsonObject = {};
  for (const [key, child] of Object.entries(value)) {
    if (IDENTITY[parent]?.has(key)) continue;
    const field = fieldOf(key, child);
    if (field !== undefined) set[`f:${key}`] = field;
  }
  return set;
}

/**
 * The field set below one field; undefined when everything below it is identity (metadata with only a
 * name). A scalar, a list owned as a whole and an explicit null are leaves (`{}`).
 */
function fieldOf(key: string, value: JsonValue): JsonObject | undefined {
  if (ATOMIC.has(key)) return {};
  if (isJsonObject(value)) {
    const set = fieldSetOf(value, key);
    return Object.keys(value).length > 0 && Object.keys(set).length === 0 ? undefined : set;
  }
  if (Array.isArray(value) && KEYED_LISTS[key]) {
    const entries: JsonObject = {};
    for (const item of value) {
      if (!isJsonObject(item)) continue;
      const id = Object.fromEntries(KEYED_LISTS[key]!.map((k) => [k, item[k] ?? KEY_DEFAULTS[k] ?? null]));
      entries[`k:${JSON.stringify(id)}`] = { '.': {}, ...fieldSetOf(item, key) };
    }
    return entries;
  }
  return {};
}

/** The managedFields entry `kubectl apply --server-side` would produce for this manifest. */
export function appliedFieldsEntry(manifest: JsonObject, manager = 'daemonguard'): JsonObject {
  return {
    manager,
    operation: 'Apply',
    apiVersion: typeof manifest.apiVersion === 'string' ? manifest.apiVersion : 'apps/v1',
    fieldsType: 'FieldsV1',
    fieldsV1: fieldSetOf(manifest, ''),
  };
}

/** The manifest as server-side apply hands it to admission, unless it already carries a signal. */
export function withAppliedFields(manifest: JsonObject): JsonObject {
  const metadata = isJsonObject(manifest.metadata) ? manifest.metadata : {};
  const annotations = isJsonObject(metadata.annotations) ? metadata.annotations : {};
  if (metadata.managedFields !== undefined || 'kubectl.kubernetes.io/last-applied-configuration' in annotations) return manifest;
  return { ...manifest, metadata: { ...metadata, managedFields: [appliedFieldsEntry(manifest)] } };
}
