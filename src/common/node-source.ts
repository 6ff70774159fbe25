// Where the server finds the cluster's nodes for the `coverage` variable: the cluster
// (src/kube/node-informer.ts). The shape lives here so the server does not depend on kube/.
import type { JsonObject } from './vocabulary.js';

export interface NodeSource {
  /** Answers from memory: it is read on the hot path of every review that a coverage policy sees. */
  nodes(): readonly JsonObject[];
  readonly size: number;
  /** Lists the nodes for the first time (rejecting when that fails) and keeps them current. */
  start(): Promise<void>;
  close(): void;
}
