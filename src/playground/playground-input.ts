// What the page sends to POST /api/review, checked field by field. The body comes from a browser (or
// anyone who can reach the port): every field is checked for its type before anything reads it, and a
// wrong one is named in the answer, never guessed at.
import { isJsonObject } from '../common/vocabulary.js';

export const OPERATIONS = ['CREATE', 'UPDATE'] as const;
export type PlaygroundOperation = (typeof OPERATIONS)[number];

/** Which policies a review runs: some of the server's own (by name), or documents pasted as text. */
export type PolicyChoice = { kind: 'built-in'; names: string[] } | { kind: 'pasted'; text: string };

export interface PlaygroundRequest {
  /** The DaemonSet as YAML or JSON text, as it would be applied. */
  daemonSet: string;
  /** The request's namespace; default: the manifest's, else `default`. */
  namespace?: string;
  /** The namespace's labels (for namespaceSelector); default: the --namespaces file's, else none. */
  namespaceLabels?: Record<string, string>;
  operation: PlaygroundOperation;
  /** For UPDATE: the DaemonSet as stored, as YAML or JSON text. */
  oldObject?: string;
  /** Default: every policy the server loaded. */
  policies?: PolicyChoice;
  /** Node objects as YAML or JSON text (`kubectl get nodes -o yaml`); default: the --nodes file's. */
  nodes?: string;
}

export type Decoded<T> = { ok: true; value: T } | { ok: false; message: string };

function stringField(body: Record<string, unknown>, name: string): Decoded<string | undefined> {
  const value = body[name];
  if (value === undefined || value === null) return { ok: true, value: undefined };
  return typeof value === 'string' ? { ok: true, value } : { ok: false, message: `${name} must be a string (YAML or JSON text)` };
}

function decodeLabels(value: unknown): Decoded<Record<string, string> | undefined> {
  if (value === undefined || value === null) return { ok: true, value: undefined };
  if (!isJsonObject(value)) return { ok: false, message: 'namespaceLabels must be an object of label names to string values' };
  const labels: Record<string, string> = {};
  for (const [key, label] of Object.entries(value)) {
    if (typeof label !== 'string') return { ok: false, message: `namespaceLabels.${key} must be a string` };
    labels[key] = label;
  }
  return { ok: true, value: labels };
}

function decodePolicies(value: unknown): Decoded<PolicyChoice | undefined> {
  if (value === undefined || value === null) return { ok: true, value: undefined };
  if (typeof value === 'string') return { ok: true, value: { kind: 'pasted', text: value } };
  if (Array.isArray(value) && value.every((name): name is string => typeof name === 'string')) return { ok: true, value: { kind: 'built-in', names: value } };
  return { ok: false, message: 'policies must be YAML text (pasted policies) or a list of the names of built-in policies' };
}

/** The request the page sent, or what is wrong with it. */
export function decodePlaygroundRequest(body: unknown): Decoded<PlaygroundRequest> {
  if (!isJsonObject(body)) return { ok: false, message: 'the body must be a JSON object with at least "daemonSet" (YAML text)' };
  const known = new Set(['daemonSet', 'namespace', 'namespaceLabels', 'operation', 'oldObject', 'policies', 'nodes']);
  const unknown = Object.keys(body).filter((key) => !known.has(key));
  if (unknown.length > 0) return { ok: false, message: `unknown field${unknown.length === 1 ? '' : 's'} ${unknown.map((key) => `"${key}"`).join(', ')}; known: ${[...known].join(', ')}` };
  const daemonSet = stringField(body, 'daemonSet');
  if (!daemonSet.ok) return daemonSet;
  if (daemonSet.value === undefined) return { ok: false, message: 'daemonSet is missing: give the DaemonSet as YAML or JSON text' };
  const namespace = stringField(body, 'namespace');
  if (!namespace.ok) return namespace;
  const oldObject = stringField(body, 'oldObject');
  if (!oldObject.ok) return oldObject;
  const nodes = stringField(body, 'nodes');
  if (!nodes.ok) return nodes;
  const labels = decodeLabels(body.namespaceLabels);
  if (!labels.ok) return labels;
  const policies = decodePolicies(body.policies);
  if (!policies.ok) return policies;
  const operationText = body.operation ?? 'CREATE';
  const operation = OPERATIONS.find((candidate) => candidate === operationText);
  if (operation === undefined) return { ok: false, message: 'operation must be CREATE or UPDATE (a DELETE or CONNECT of a DaemonSet is never reviewed)' };

  const request: PlaygroundRequest = { daemonSet: daemonSet.value, operation };
  if (namespace.value !== undefined && namespace.value !== '') request.namespace = namespace.value;
  if (labels.value !== undefined) request.namespaceLabels = labels.value;
  if (oldObject.value !== undefined && oldObject.value.trim() !== '') request.oldObject = oldObject.value;
  if (policies.value !== undefined) request.policies = policies.value;
  if (nodes.value !== undefined && nodes.value.trim() !== '') request.nodes = nodes.value;
  return { ok: true, value: request };
}
