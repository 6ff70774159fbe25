// The Namespace object a request's namespace has in a cluster, for policies that select namespaces by
// label or read `namespaceObject`, when the CLI has no cluster to ask.

import type { JsonObject } from '../common/vocabulary.js';

/** The Namespace the apiserver would know: its name label (set on every namespace) plus the given labels. */
export function namespaceObject(name: string, labels: Readonly<Record<string, string>> = {}): JsonObject {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { ...labels, 'kubernetes.io/metadata.name': name } } };
}

/** The Namespace of a request's namespace, or null for a request without one (cluster-scoped). */
export function namespaceObjectOf(namespace: string | undefined, labels: Readonly<Record<string, string>> = {}): JsonObject | null {
  return namespace === undefined || namespace === '' ? null : namespaceObject(namespace, labels);
}
