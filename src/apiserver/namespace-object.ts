// The Namespace object a request's namespace has in a cluster, for policies that select namespaces by
// label or read `namespaceObject`, when the CLI has no cluster to ask.

import { isJsonObject, type JsonObject } from '../common/vocabulary.js';

/** The label the apiserver sets on every namespace (NamespaceDefaultLabelName), equal to its name. */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

/** The Namespace the apiserver would know: its name label (set on every namespace) plus the given labels. */
export function namespaceObject(name: string, labels: Readonly<Record<string, string>> = {}): JsonObject {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { ...labels, [NAMESPACE_NAME_LABEL]: name } } };
}

/** The Namespace of a request's namespace, or null for a request without one (cluster-scoped). */
export function namespaceObjectOf(namespace: string | undefined, labels: Readonly<Record<string, string>> = {}): JsonObject | null {
  return namespace === undefined || namespace === '' ? null : namespaceObject(namespace, labels);
}

/**
 * A Namespace as a file holds it (`kubectl get namespaces -o yaml`): everything it has (annotations,
 * spec.finalizers, status.phase, creationTimestamp...), as a webhook or a native policy in the cluster
 * sees it, with `labels` laid over its own and the name label the apiserver always sets. Pure.
 */
export function namespaceObjectFromFile(stored: JsonObject, labels: Readonly<Record<string, string>> = {}): JsonObject {
  const metadata = isJsonObject(stored.metadata) ? stored.metadata : {};
  const name = typeof metadata.name === 'string' ? metadata.name : '';
  const ownLabels = isJsonObject(metadata.labels) ? metadata.labels : {};
  return { ...stored, metadata: { ...metadata, labels: { ...ownLabels, ...labels, [NAMESPACE_NAME_LABEL]: name } } };
}
