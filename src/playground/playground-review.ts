// One review for the playground page: the pasted text parsed (with positions, so every problem points at
// a line and column the page can underline), then the very pipeline `daemonguard test` runs
// (admission/pipeline.ts: mutate → apiserver re-defaulting → validate), then the coverage when nodes are known.
//
// Nothing here touches the file system: pasted policies are compiled from their text only, and the
// server's own policies, nodes and namespaces were read once, at start, from the command's flags.
import { performance } from 'node:perf_hooks';
import { reviewAdmission } from '../admission/pipeline.js';
import { DEFAULT_NAMESPACE, buildAdmissionRequest, manifestNamespace } from '../apiserver/admission-request.js';
import { formatFieldError, validateDaemonSet } from '../apiserver/daemonset-validation.js';
import { namespaceObjectOf } from '../apiserver/namespace-object.js';
import { unservedDaemonSetVersion } from '../apiserver/served-versions.js';
import { findDepthViolation } from '../common/json-depth.js';
import { measureJson, type JsonLimits } from '../common/json-limits.js';
import { isJsonObject, type JsonObject } from '../common/vocabulary.js';
import { SourceReadError, formatFieldPath, parseSourceText, type SourceDocument } from '../common/yaml-documents.js';
import { computeCoverage, type Coverage } from '../coverage/coverage.js';
import type { AppliedException, ExpiredException, PatchOperation } from '../engine/types.js';
import { PolicyLoadError, buildPolicySet, loadDocuments } from '../policy/load-policies.js';
import type { PolicySet } from '../policy/types.js';
import type { PlaygroundRequest, PolicyChoice } from './playground-input.js';

/** Which text a problem is in: the page underlines it in that editor. */
export type ProblemSource = 'daemonSet' | 'oldObject' | 'nodes' | 'policies';

/** The name each pasted text goes by in messages (`policies.yaml:12:7: …`). */
export const SOURCE_FILES: Readonly<Record<ProblemSource, string>> = {
  daemonSet: 'daemonset.yaml',
  oldObject: 'old-daemonset.yaml',
  nodes: 'nodes.yaml',
  policies: 'policies.yaml',
};

export interface PlaygroundProblem {
  source: ProblemSource;
  /** 1-based; 0 when the problem is the text as a whole. */
  line: number;
  column: number;
  message: string;
  /** The field the problem is about, e.g. spec.validations[0].expression. */
  field?: string;
  policy?: string;
}

export interface PlaygroundViolation {
  policy: string;
  message: string;
  /** What the policy does with a failure: Deny, Warn, Audit. */
  actions: string[];
}

export interface PlaygroundResult {
  /** `invalid`: a pasted text could not be read or compiled, so nothing was reviewed (see problems). */
  verdict: 'allowed' | 'denied' | 'invalid';
  problems: PlaygroundProblem[];
  /** The policies the review ran, by name. */
  policies: string[];
  namespace?: string;
  violations: PlaygroundViolation[];
  warnings: string[];
  exceptions: AppliedException[];
  expiredExceptions: ExpiredException[];
  /** Why the request was let through without evaluation, when it was. */
  notEvaluated?: string;
  /** The mutating webhook's JSON patch, against `object`. */
  patch: PatchOperation[];
  /** The DaemonSet as the mutating webhook was sent it: the manifest defaulted by the apiserver. */
  object?: JsonObject;
  /** The DaemonSet as it would be stored, after the patch and defaulting again. */
  mutated?: JsonObject | null;
  coverage?: PlaygroundCoverage;
}

/** A Coverage as JSON: the quantities written as Kubernetes writes them ("150m", "2Gi"). */
export interface PlaygroundCoverage extends Omit<Coverage, 'footprint'> {
  footprint: { pod: { cpu: string; memory: string }; total: { cpu: string; memory: string } };
}

function coverageAsJson(coverage: Coverage): PlaygroundCoverage {
  const { pod, total } = coverage.footprint;
  return {
    ...coverage,
    footprint: { pod: { cpu: pod.cpu.toString(), memory: pod.memory.toString() }, total: { cpu: total.cpu.toString(), memory: total.memory.toString() } },
  };
}

/** What the server holds for every review, read once from the command's flags. */
export interface PlaygroundContext {
  /** The server's policies (--policies, default the built-in library): what "built-in" names pick from. */
  policySet: PolicySet;
  /** Node objects of --nodes, if given. */
  nodes?: readonly JsonObject[];
  /** Namespace objects of --namespaces, by name, if given. */
  namespaces?: ReadonlyMap<string, JsonObject>;
  /** Milliseconds one review's policies may take before their failurePolicy settles them (as the webhook). */
  evalDeadlineMs: number;
  /** Structural limits of each pasted document, as the webhook holds a review body to. */
  jsonLimits: JsonLimits;
}

class ProblemList extends Error {
  constructor(readonly problems: PlaygroundProblem[]) {
    super(problems.map((problem) => problem.message).join('\n'));
  }
}

function invalid(problems: PlaygroundProblem[], policies: string[] = []): PlaygroundResult {
  return { verdict: 'invalid', problems, policies, violations: [], warnings: [], exceptions: [], expiredExceptions: [], patch: [] };
}

/**
 * Parses one pasted text. The YAML reader bounds aliases and reports syntax errors at their position;
 * the parsed documents are then held to the webhook's depth and size limits, so a pasted "billion
 * laughs" or a 100,000-deep list is refused before any walk over it.
 */
function parsePasted(source: ProblemSource, text: string, limits: JsonLimits): SourceDocument[] {
  let documents: SourceDocument[];
  try {
    documents = parseSourceText(SOURCE_FILES[source], text);
  } catch (error) {
    if (!(error instanceof SourceReadError)) throw error;
    throw new ProblemList(error.problems.map((problem) => ({ source, line: problem.line, column: problem.column, message: problem.message })));
  }
  for (const document of documents) {
    const start = document.positionOf([]);
    const deep = findDepthViolation(document.value, limits.maxDepth);
    if (deep !== undefined) {
      throw new ProblemList([{ source, ...start, message: `nested deeper than ${limits.maxDepth} levels (at ${formatFieldPath(deep.slice(0, 20))}…); no Kubernetes object nests this deep` }]);
    }
    const shape = measureJson(Buffer.from(JSON.stringify(document.value)), limits);
    if (shape.violation !== undefined) {
      const { limit, max, path } = shape.violation;
      throw new ProblemList([{ source, ...start, field: formatFieldPath(path) || undefined, message: `over the ${limit} limit (${max}) the webhook holds a review to` }]);
    }
  }
  return documents.filter((document) => document.value !== null);
}

/** The one apps/v1 DaemonSet of a pasted text, as the apiserver would accept it. */
function pastedDaemonSet(source: 'daemonSet' | 'oldObject', text: string, limits: JsonLimits): JsonObject {
  const documents = parsePasted(source, text, limits);
  const what = source === 'daemonSet' ? 'the DaemonSet' : 'the old object';
  if (documents.length !== 1) throw new ProblemList([{ source, line: 0, column: 0, message: `${what}: give exactly one document (found ${documents.length})` }]);
  const document = documents[0]!;
  const value = document.value;
  const start = document.positionOf([]);
  if (!isJsonObject(value) || value.kind !== 'DaemonSet') throw new ProblemList([{ source, ...start, message: `${what} must be a DaemonSet (kind: DaemonSet, apiVersion: apps/v1)` }]);
  const unserved = unservedDaemonSetVersion(value.apiVersion);
  if (unserved !== undefined) throw new ProblemList([{ source, ...document.positionOf(['apiVersion']), field: 'apiVersion', message: unserved }]);
  if (value.apiVersion !== 'apps/v1') throw new ProblemList([{ source, ...document.positionOf(['apiVersion']), field: 'apiVersion', message: 'apiVersion must be apps/v1' }]);
  const refused = validateDaemonSet(value);
  if (refused.length > 0) {
    throw new ProblemList(refused.map((error) => ({ source, ...document.positionOf(error.path), field: formatFieldPath(error.path), message: `the kube-apiserver would reject this: ${formatFieldError(error)}` })));
  }
  return value;
}

/** Node objects of a pasted text (a List as `kubectl get nodes -o yaml` prints it, or documents). */
function pastedNodes(text: string, limits: JsonLimits): JsonObject[] {
  const nodes: JsonObject[] = [];
  for (const document of parsePasted('nodes', text, limits)) {
    const listed = isJsonObject(document.value) && Array.isArray(document.value.items);
    const values: unknown[] = listed ? (document.value as { items: unknown[] }).items : [document.value];
    for (const value of values) if (isJsonObject(value) && value.kind === 'Node') nodes.push(value);
  }
  if (nodes.length === 0) throw new ProblemList([{ source: 'nodes', line: 0, column: 0, message: 'holds no Node objects (paste the output of `kubectl get nodes -o yaml`)' }]);
  return nodes;
}

/** The policies a review runs: picked among the server's by name, or compiled from pasted text. */
async function choosePolicies(choice: PolicyChoice | undefined, context: PlaygroundContext): Promise<PolicySet> {
  if (choice === undefined) return context.policySet;
  if (choice.kind === 'built-in') {
    const known = new Set(context.policySet.policies.map((policy) => policy.name));
    const unknown = choice.names.filter((name) => !known.has(name));
    if (unknown.length > 0) {
      throw new ProblemList(unknown.map((name) => ({ source: 'policies', line: 0, column: 0, policy: name, message: `no policy named "${name}" is loaded; the server has: ${[...known].join(', ')}` })));
    }
    const chosen = new Set(choice.names);
    return buildPolicySet(context.policySet.policies.filter((policy) => chosen.has(policy.name)), context.policySet.files, context.policySet.exceptions);
  }
  const documents = parsePasted('policies', choice.text, context.jsonLimits);
  try {
    return await loadDocuments(documents, [SOURCE_FILES.policies]);
  } catch (error) {
    if (!(error instanceof PolicyLoadError)) throw error;
    throw new ProblemList(error.problems.map((problem) => {
      const found: PlaygroundProblem = { source: 'policies', line: problem.line, column: problem.column, message: problem.message };
      if (problem.field !== undefined) found.field = problem.field;
      const who = problem.policy ?? problem.exception;
      if (who !== undefined) found.policy = who;
      return found;
    }));
  }
}

/** Reviews what the page sent; a problem with any pasted text is the answer's `problems`, verdict `invalid`. */
export async function reviewPlayground(input: PlaygroundRequest, context: PlaygroundContext): Promise<PlaygroundResult> {
  let oldObject: JsonObject | null = null;
  let nodes: readonly JsonObject[] | undefined = context.nodes;
  const problems: PlaygroundProblem[] = [];
  // Every text is read even when one is broken: the page shows all its problems at once.
  const attempt = async <T>(read: () => T | Promise<T>): Promise<T | undefined> => {
    try {
      return await read();
    } catch (error) {
      if (!(error instanceof ProblemList)) throw error;
      problems.push(...error.problems);
      return undefined;
    }
  };
  const readDaemonSet = await attempt(() => pastedDaemonSet('daemonSet', input.daemonSet, context.jsonLimits));
  if (input.operation === 'UPDATE') {
    if (input.oldObject === undefined) problems.push({ source: 'oldObject', line: 0, column: 0, message: 'an UPDATE needs the old object: the DaemonSet as it is stored in the cluster' });
    else oldObject = (await attempt(() => pastedDaemonSet('oldObject', input.oldObject!, context.jsonLimits))) ?? null;
  }
  if (input.nodes !== undefined) nodes = await attempt(() => pastedNodes(input.nodes!, context.jsonLimits));
  const chosen = await attempt(() => choosePolicies(input.policies, context));
  if (problems.length > 0 || readDaemonSet === undefined || chosen === undefined) return invalid(problems, chosen?.policies.map((policy) => policy.name));
  const daemonSet = readDaemonSet;
  const policySet = chosen;

  const namespace = input.namespace ?? manifestNamespace(daemonSet) ?? DEFAULT_NAMESPACE;
  const fromFile = context.namespaces?.get(namespace);
  const namespaceObject = input.namespaceLabels !== undefined || fromFile === undefined ? namespaceObjectOf(namespace, input.namespaceLabels ?? {}) : fromFile;
  const request = buildAdmissionRequest(daemonSet, { operation: input.operation, namespace, oldObject });
  const admission = await reviewAdmission(request, policySet, {
    namespaceObject,
    nodes: nodes ?? null,
    deadline: performance.now() + context.evalDeadlineMs,
  });
  const result: PlaygroundResult = {
    verdict: admission.allowed ? 'allowed' : 'denied',
    problems: [],
    policies: policySet.policies.map((policy) => policy.name),
    namespace,
    violations: admission.violations.map((violation) => ({ policy: violation.policy, message: violation.message, actions: [...violation.actions] })),
    warnings: admission.warnings,
    exceptions: admission.exceptions,
    expiredExceptions: admission.expiredExceptions,
    patch: admission.patch,
    object: admission.request.object ?? daemonSet,
    mutated: admission.admittedObject,
  };
  if (admission.notEvaluated !== undefined) result.notEvaluated = admission.notEvaluated;
  if (nodes !== undefined) result.coverage = coverageAsJson(computeCoverage(admission.admittedObject ?? daemonSet, nodes));
  return result;
}
