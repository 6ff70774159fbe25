// What the server's event loop and the audit worker thread (audit-worker-thread.ts) say to each other.
// Everything here crosses threads by structured clone: plain data only, never a compiled policy (its
// CEL programs are closures). The worker compiles its own set from the documents the serving set was
// compiled from, with the same engine, so both judge a DaemonSet alike.
import type { CelEngine } from '../cel/program.js';
import type { JsonObject } from '../common/vocabulary.js';
import type { PolicySet } from '../policy/types.js';
import type { AuditFinding } from './audit.js';

/** A policy or exception document as compiled, with the file (or cluster object) it came from. */
export interface PolicySourceText {
  file: string;
  /** The document as JSON, which the YAML reader reads as it reads YAML. */
  text: string;
}

/** The documents of one policy set, in the set's order: policies first, then exceptions. */
export interface PolicyDocumentsMessage {
  type: 'policies';
  version: number;
  files: string[];
  documents: PolicySourceText[];
}

export interface EvaluateMessage {
  type: 'evaluate';
  id: number;
  /** The policy set version the batch is judged with (sent before as a PolicyDocumentsMessage). */
  version: number;
  daemonSets: JsonObject[];
  /** The Namespace object of each namespace of the batch; null when the cluster has none. */
  namespaces: [string, JsonObject | null][];
}

export type ToWorker = PolicyDocumentsMessage | EvaluateMessage;

export interface ReadyMessage {
  type: 'ready';
  /**
   * The worker's thread id in the kernel, the niceness and scheduling policy it runs at (idle: only
   * on CPU time nothing else wants), and why the idle policy could not be had; or why none of it.
   */
  priority: { tid: number; niceness: number; policy: 'idle' | 'normal'; idleError?: string } | { error: string };
}

export interface EvaluatedMessage {
  type: 'evaluated';
  id: number;
  findings: AuditFinding[];
}

/** A batch that could not be judged (the policy documents did not compile in the worker). */
export interface FailedMessage {
  type: 'failed';
  id: number;
  message: string;
}

export type FromWorker = ReadyMessage | EvaluatedMessage | FailedMessage;

/** What the worker is started with. */
export interface AuditWorkerData {
  /** The server's CEL engine (serve --engine): the worker evaluates as the webhook does. */
  celEngine: CelEngine;
  /** Added to the thread's niceness (Linux: 0 normal … 19 lowest); 0 leaves it alone. */
  niceness: number;
}

/** The documents `policySet` was compiled from, in its order. */
export function policyDocuments(policySet: PolicySet, version: number): PolicyDocumentsMessage {
  const documents = [
    ...policySet.policies.map((policy) => ({ file: policy.source.file, text: JSON.stringify(policy.document) })),
    ...policySet.exceptions.map((exception) => ({ file: exception.source.file, text: JSON.stringify(exception.document) })),
  ];
  return { type: 'policies', version, files: [...policySet.files], documents };
}
