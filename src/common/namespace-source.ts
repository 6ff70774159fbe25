// Where the server finds the request's Namespace object (for namespaceSelector and `namespaceObject`):
// a file (src/server/namespace-catalog.ts) or the cluster (src/kube/namespace-informer.ts). The shape
// lives here so that neither of the two depends on the other's layer.
import type { JsonObject } from './vocabulary.js';

/** Answers synchronously from memory: it is called on the hot path of every review. */
export interface NamespaceLookup {
  /** The Namespace object, or undefined when it is not known (policies that need it then fail by their failurePolicy). */
  get(name: string): JsonObject | undefined;
}

/** A lookup that is filled before the server starts and kept current until closed: the file catalog, the cluster informer. */
export interface NamespaceSource extends NamespaceLookup {
  readonly size: number;
  /** Reads the namespaces for the first time (rejecting when that fails) and keeps them current. */
  start(): Promise<void>;
  close(): void;
}
