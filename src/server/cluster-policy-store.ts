// Policies from DaemonSetPolicy objects in the cluster (`serve --policies-from-cluster`), served
// together with those from files.
//
// Files load all-or-nothing (src/server/policy-store.ts); cluster objects load one by one, because each
// has its own author and its own status: an object that does not load or type-check keeps its last good
// version serving (or is absent if no version ever loaded), and its status says why. Each object goes
// through the same checks and compiler as a file: it is rendered as YAML (see objectText) and read by
// the same reader, so errors carry a field path, a line of that rendering, and a caret.
//
// The set is rebuilt only when an object's rendering changes (not on status writes, which change only
// the resourceVersion), and read on the hot path as one cached object.

import { stringify } from 'yaml';
import type { Logger } from 'pino';
import { parseSourceText } from '../common/yaml-documents.js';
import { buildPolicySet, compileDocuments, type PolicyProblem } from '../policy/load-policies.js';
import type { CompiledPolicy, PolicySet } from '../policy/types.js';
import type { ServerMetrics } from './metrics.js';
import type { ObjectStatus } from './object-status.js';
import { refuseNamespaceReaders } from './namespace-requirement.js';
import type { PolicyStore } from './policy-store.js';

/** A DaemonSetPolicy as the apiserver returns it (plain JSON). */
export interface ClusterObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec?: unknown;
  status?: unknown;
}

/** kubectl's own bookkeeping: a second copy of the object that would only shift every line number. */
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
/** A status message stays readable in `kubectl describe`, and far below etcd's object size limit. */
const MAX_MESSAGE_LENGTH = 8_192;

/**
 * The object as the loader reads it, and as line numbers in its status count: apiVersion, kind,
 * metadata (name, labels, annotations except kubectl's last-applied copy) and spec, as YAML with keys
 * sorted (as `kubectl get -o yaml` prints them) and no line folding. So line 1 is apiVersion, and the
 * lines differ from `kubectl get -o yaml` only by the metadata the apiserver adds; a status message
 * quotes the line it means.
 */
export function objectText(object: ClusterObject): string {
  const { name, labels, annotations } = object.metadata ?? {};
  const kept = Object.fromEntries(Object.entries(annotations ?? {}).filter(([key]) => key !== LAST_APPLIED));
  const metadata = {
    name,
    ...(labels !== undefined && Object.keys(labels).length > 0 ? { labels } : {}),
    ...(Object.keys(kept).length > 0 ? { annotations: kept } : {}),
  };
  return stringify({ apiVersion: object.apiVersion, kind: object.kind, metadata, spec: object.spec }, { lineWidth: 0, sortMapEntries: true });
}

/** How many CEL expressions a compiled policy holds. */
export function countExpressions(policy: CompiledPolicy): number {
  let count = policy.matchConditions.length + policy.variables.length;
  for (const validation of policy.validations) count += validation.messageExpression === undefined ? 1 : 2;
  for (const mutation of policy.mutations) {
    if (mutation.when !== undefined) count += 1;
    if (mutation.jsonPatch !== undefined) count += 1;
    for (const entry of mutation.defaults ?? []) if (entry.valueExpression !== undefined) count += 1;
  }
  return count;
}

/**
 * The problems, each with its field path, its line and column in objectText(), and the line itself with
 * a caret under the column (CEL errors carry their own caret under the expression's character).
 */
export function describeProblems(problems: readonly PolicyProblem[], text: string): string {
  const lines = text.split('\n');
  const parts = problems.map((problem) => {
    const where = `${problem.field ?? 'the document'} (line ${problem.line}, column ${problem.column})`;
    if (problem.message.includes('\n') || problem.line < 1) return `${where}: ${problem.message}`;
    const source = lines[problem.line - 1] ?? '';
    return `${where}: ${problem.message}\n  ${source}\n  ${' '.repeat(Math.max(0, problem.column - 1))}^`;
  });
  const message = parts.join('\n');
  return message.length <= MAX_MESSAGE_LENGTH ? message : `${message.slice(0, MAX_MESSAGE_LENGTH)}\n… (cut; the server's log has every problem)`;
}

interface Entry {
  name: string;
  text: string;
  generation: number;
  /** Problems of the current version; empty when it loaded. */
  problems: PolicyProblem[];
  lastGood?: { policy: CompiledPolicy; generation: number; expressions: number };
}

export interface ClusterPolicyStoreOptions {
  /** Policies from --policies, loaded all-or-nothing; none without the flag. */
  files?: PolicyStore<PolicySet>;
  /** Whether the server knows the namespaces: without, a policy that reads them does not load. */
  namespaceSource: boolean;
  logger: Logger;
  metrics?: ServerMetrics;
}

export class ClusterPolicyStore implements PolicyStore<PolicySet> {
  private readonly entries = new Map<string, Entry>();
  private synced = false;
  private queue: Promise<void> = Promise.resolve();
  private version = 0;
  private cached: { set: PolicySet; files: PolicySet | undefined; version: number } | undefined;

  constructor(private readonly options: ClusterPolicyStoreOptions) {}

  /** The set to serve: undefined until the objects were listed once (and the files, if any, loaded). */
  current(): PolicySet | undefined {
    if (!this.synced) return undefined;
    const files = this.options.files?.current();
    if (this.options.files !== undefined && files === undefined) return undefined;
    const cached = this.cached;
    if (cached !== undefined && cached.files === files && cached.version === this.version) return cached.set;
    const fileNames = new Set(files?.policies.map((policy) => policy.name));
    const fromCluster = [...this.entries.values()]
      .filter((entry) => entry.lastGood !== undefined && !fileNames.has(entry.name))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map((entry) => entry.lastGood!.policy);
    const set = buildPolicySet([...(files?.policies ?? []), ...fromCluster], files?.files ?? [], files?.exceptions ?? []);
    this.cached = { set, files, version: this.version };
    this.options.metrics?.policiesLoaded.set(set.policies.length);
    return set;
  }

  /** Whether the objects were listed at least once. */
  get isSynced(): boolean {
    return this.synced;
  }

  /**
   * Takes the complete list of objects as it is now: after the first list, and after every change.
   * Calls are applied one after the other; the promise settles once this one is.
   */
  update(objects: readonly ClusterObject[]): Promise<void> {
    this.queue = this.queue
      .then(() => this.apply(objects))
      .catch((error: unknown) => this.options.logger.error({ err: error }, 'applying a change of cluster policies failed; the set serving is unchanged'));
    return this.queue;
  }

  private async apply(objects: readonly ClusterObject[]): Promise<void> {
    const { logger, metrics } = this.options;
    const seen = new Set<string>();
    let changed = !this.synced;
    for (const object of objects) {
      const name = object.metadata?.name;
      if (name === undefined) continue;
      seen.add(name);
      const text = objectText(object);
      const existing = this.entries.get(name);
      if (existing?.text === text) continue;
      const generation = object.metadata?.generation ?? 0;
      const problems = await this.load(name, text, generation, existing);
      const entry = this.entries.get(name)!;
      changed = true;
      if (problems.length === 0) {
        metrics?.policyReloads.inc();
        logger.info({ policy: name, generation, expressions: entry.lastGood?.expressions }, existing === undefined ? 'cluster policy loaded' : 'cluster policy updated');
      } else {
        metrics?.policyReloadFailures.inc();
        logger.error(
          { policy: name, generation, problems: problems.map((p) => `${p.file}:${p.line}:${p.column}: ${p.message}`), serving: entry.lastGood === undefined ? 'nothing' : `generation ${entry.lastGood.generation}` },
          entry.lastGood === undefined ? 'cluster policy does not load; it is not enforced' : 'cluster policy change refused; its last good version keeps being enforced',
        );
      }
    }
    for (const name of [...this.entries.keys()]) {
      if (seen.has(name)) continue;
      this.entries.delete(name);
      changed = true;
      logger.info({ policy: name }, 'cluster policy deleted');
    }
    this.synced = true;
    if (changed) this.version++;
    this.current(); // builds the set here rather than on the first review, and updates the gauge
  }

  private async load(name: string, text: string, generation: number, existing: Entry | undefined): Promise<PolicyProblem[]> {
    const entry: Entry = { name, text, generation, problems: [], ...(existing?.lastGood === undefined ? {} : { lastGood: existing.lastGood }) };
    this.entries.set(name, entry);
    let loaded: { policy?: CompiledPolicy; problems: PolicyProblem[] };
    try {
      const compiled = await compileDocuments(parseSourceText(`daemonsetpolicy/${name}`, text));
      loaded = { ...(compiled.policies[0] === undefined ? {} : { policy: compiled.policies[0] }), problems: compiled.problems };
    } catch (error) {
      const problems = (error as { problems?: PolicyProblem[] }).problems;
      loaded = { problems: problems ?? [{ file: `daemonsetpolicy/${name}`, line: 0, column: 0, message: (error as Error).message }] };
    }
    if (loaded.policy !== undefined && !this.options.namespaceSource) {
      try {
        refuseNamespaceReaders(buildPolicySet([loaded.policy], []));
      } catch (error) {
        loaded = { problems: (error as { problems: PolicyProblem[] }).problems.map((p) => ({ ...p, message: `${p.message}, but the server was given no namespaces (serve --namespaces-from-cluster)` })) };
      }
    }
    if (loaded.policy !== undefined && loaded.problems.length === 0) {
      entry.lastGood = { policy: loaded.policy, generation, expressions: countExpressions(loaded.policy) };
    } else {
      entry.problems = loaded.problems;
    }
    return entry.problems;
  }

  /** What each object's status should say now, by name. */
  statuses(): Map<string, ObjectStatus> {
    const files = this.options.files?.current();
    const fromFiles = new Map(files?.policies.map((policy) => [policy.name, policy]));
    const statuses = new Map<string, ObjectStatus>();
    for (const entry of this.entries.values()) {
      const file = fromFiles.get(entry.name);
      if (file !== undefined) {
        statuses.set(entry.name, {
          observedGeneration: entry.generation,
          ready: false,
          reason: 'DuplicateName',
          message: `a policy named "${entry.name}" is also loaded from ${file.source.file}:${file.source.line}; the file's version is enforced and this object is not. Rename one of them.`,
          expressions: 0,
        });
      } else if (entry.problems.length === 0) {
        statuses.set(entry.name, { observedGeneration: entry.generation, ready: true, reason: 'Loaded', message: 'loaded and type-checked; enforced', expressions: entry.lastGood?.expressions ?? 0 });
      } else {
        const serving = entry.lastGood === undefined
          ? 'No version of this policy loaded, so it is not enforced.'
          : `Generation ${entry.lastGood.generation} keeps being enforced.`;
        statuses.set(entry.name, {
          observedGeneration: entry.generation,
          ready: false,
          reason: 'LoadFailed',
          message: `generation ${entry.generation} does not load (line 1 is apiVersion; keys sorted; metadata holds only name, labels, annotations). ${serving}\n${describeProblems(entry.problems, entry.text)}`,
          expressions: entry.lastGood?.expressions ?? 0,
        });
      }
    }
    return statuses;
  }
}
