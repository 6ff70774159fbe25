// Policies and exceptions from DaemonSetPolicy and DaemonSetPolicyException objects in the cluster
// (`serve --policies-from-cluster`), served together with those from files.
//
// Files load all-or-nothing (src/server/policy-store.ts); cluster objects load one by one, because each
// has its own author and its own status: an object that does not load or type-check keeps its last good
// version serving (or is absent if no version ever loaded), and its status says why. Each object goes
// through the same checks and compiler as a file: it is rendered as YAML (see objectText) and read by
// the same reader, so errors carry a field path, a line of that rendering, and a caret. spec.paramsFrom
// is resolved first (src/server/params-from.ts), so overridden params are type-checked the same way.
//
// The set is rebuilt only when an object's rendering changes (not on status writes, which change only
// the resourceVersion), and read on the hot path as one cached object. With a warm-up (`prepare`,
// serve's warm-up.ts), a set rebuilt for a change of objects serves only once it has been warmed up:
// the previous set serves meanwhile, and the first set is not served at all before (so /readyz waits
// for it). Changes queued behind one another are built and warmed up once, for the last of them.

import { stringify } from 'yaml';
import type { Logger } from 'pino';
import { formatFieldPath, parseSourceText } from '../common/yaml-documents.js';
import { buildPolicySet, compileDocuments, type PolicyProblem } from '../policy/load-policies.js';
import type { CompiledException, CompiledPolicy, PolicySet } from '../policy/types.js';
import type { ServerMetrics } from './metrics.js';
import type { ObjectStatus, PolicyImpact } from './object-status.js';
import { resolveParamsFrom, type ParamsProblem } from './params-from.js';
import { refuseNamespaceReaders } from './namespace-requirement.js';
import type { PolicyStore } from './policy-store.js';

/** A DaemonSetPolicy or DaemonSetPolicyException as the apiserver returns it (plain JSON). */
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
 * metadata (name, namespace, labels, annotations except kubectl's last-applied copy) and spec, as
 * YAML with keys sorted (as `kubectl get -o yaml` prints them) and no line folding. So line 1 is
 * apiVersion, and the lines differ from `kubectl get -o yaml` only by the metadata the apiserver adds;
 * a status message quotes the line it means.
 */
export function objectText(object: ClusterObject): string {
  const { name, namespace, labels, annotations } = object.metadata ?? {};
  const kept = Object.fromEntries(Object.entries(annotations ?? {}).filter(([key]) => key !== LAST_APPLIED));
  const metadata = {
    name,
    ...(namespace === undefined ? {} : { namespace }),
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

type Kind = 'policy' | 'exception';

interface Entry {
  kind: Kind;
  /** The policy's name, or the exception's namespace/name. */
  key: string;
  text: string;
  generation: number;
  /** Problems of the current version; empty when it loaded. */
  problems: PolicyProblem[];
  lastGood?: { compiled: CompiledPolicy | CompiledException; generation: number; expressions: number };
}

export interface ClusterPolicyStoreOptions {
  /** daemonguard's namespace, where spec.paramsFrom ConfigMaps live; without it, paramsFrom is not resolved. */
  paramsNamespace?: string;
  /** Policies from --policies, loaded all-or-nothing; none without the flag. */
  files?: PolicyStore<PolicySet>;
  /** Whether the server knows the namespaces: without, a policy that reads them does not load. */
  namespaceSource: boolean;
  logger: Logger;
  metrics?: ServerMetrics;
  /**
   * Runs on each set built for a change of the cluster objects before it serves, the first included
   * (serve's warm-up). A failure is logged and the set serves anyway: each of its objects loaded.
   */
  prepare?: (next: PolicySet, trigger: string) => Promise<void>;
}

/** Why a set is built and warmed up, in the warm-up's log line. */
type Trigger = 'DaemonSetPolicy change' | 'DaemonSetPolicyException change' | 'ConfigMap change';

const byKey = (a: Entry, b: Entry): number => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

export class ClusterPolicyStore implements PolicyStore<PolicySet> {
  private readonly entries: Record<Kind, Map<string, Entry>> = { policy: new Map(), exception: new Map() };
  private impacts: ReadonlyMap<string, PolicyImpact> | undefined;
  private readonly synced: Record<Kind, boolean>;
  private configMaps: Map<string, Record<string, string>> | undefined;
  private lastPolicies: readonly ClusterObject[] = [];
  private queue: Promise<void> = Promise.resolve();
  /** Changes queued and not yet begun: while there are some, the one applied now is not published on its own. */
  private queued = 0;
  /** Changes queued or being applied, built or warmed up: see isSettled. */
  private unsettled = 0;
  /** Settles at the next publish(): what a change applied but not published on its own waits for. */
  private publication: { promise: Promise<void>; resolve: () => void } | undefined;
  private version = 0;
  private cached: { set: PolicySet; files: PolicySet | undefined; version: number } | undefined;

  /** `exceptions`: whether DaemonSetPolicyException objects are watched too (else the set waits for policies only). */
  constructor(private readonly options: ClusterPolicyStoreOptions & { exceptions?: boolean }) {
    this.synced = { policy: false, exception: options.exceptions !== true };
  }

  /**
   * The set to serve: undefined until the objects were listed once (and the files, if any, loaded) and,
   * with a warm-up, until the first set was warmed up.
   */
  current(): PolicySet | undefined {
    if (!this.isSynced) return undefined;
    const files = this.options.files?.current();
    if (this.options.files !== undefined && files === undefined) return undefined;
    const cached = this.cached;
    if (cached !== undefined && cached.files === files && cached.version === this.version) return cached.set;
    // A change of objects not yet published (being applied or warmed up): the last set keeps serving.
    if (this.options.prepare !== undefined && cached?.version !== this.version) return cached?.set;
    // New files only (their store warmed them up before their swap; the cluster's policies in it are
    // the same compiled objects as before, already warm): built at once.
    return this.remember(this.build(files), files, this.version);
  }

  private build(files: PolicySet | undefined): PolicySet {
    const fileNames = new Set(files?.policies.map((policy) => policy.name));
    const fileExceptions = new Set(files?.exceptions.map((exception) => exception.id));
    const serving = (kind: Kind, fromFiles: Set<string>): Entry[] =>
      [...this.entries[kind].values()].filter((entry) => entry.lastGood !== undefined && !fromFiles.has(entry.key)).sort(byKey);
    const policies = serving('policy', fileNames).map((entry) => entry.lastGood!.compiled as CompiledPolicy);
    const exceptions = serving('exception', fileExceptions).map((entry) => entry.lastGood!.compiled as CompiledException);
    return buildPolicySet([...(files?.policies ?? []), ...policies], files?.files ?? [], [...(files?.exceptions ?? []), ...exceptions]);
  }

  private remember(set: PolicySet, files: PolicySet | undefined, version: number): PolicySet {
    this.cached = { set, files, version };
    this.options.metrics?.policiesLoaded.set(set.policies.length);
    return set;
  }

  /**
   * Builds the set for the objects as they are now, warms it up (prepare) and makes it the one
   * current() returns; nothing when that set is already serving. Builds here rather than on the first
   * review, and updates the gauge.
   */
  private async publish(trigger: Trigger): Promise<void> {
    try {
      if (!this.isSynced) return;
      const files = this.options.files?.current();
      if (this.options.files !== undefined && files === undefined) return;
      const cached = this.cached;
      const version = this.version;
      if (cached !== undefined && cached.version === version && cached.files === files) return;
      const set = this.build(files);
      const { prepare, logger } = this.options;
      if (prepare !== undefined) {
        const why = cached === undefined ? 'start' : trigger;
        try {
          await prepare(set, why);
        } catch (error) {
          logger.warn({ err: error, trigger: why }, 'preparing the policy set before it serves failed; it serves anyway');
        }
      }
      this.remember(set, files, version);
    } finally {
      const publication = this.publication;
      this.publication = undefined;
      publication?.resolve();
    }
  }

  /**
   * Whether every change received so far serves (applied, built and warmed up). Statuses (statuses(),
   * exceptionStatuses()) read the objects as applied, so a status written while a change is unsettled
   * could say Ready before the set that enforces it serves: periodic status writes wait for this.
   */
  get isSettled(): boolean {
    return this.unsettled === 0;
  }

  /** Whether the objects were listed at least once. */
  get isSynced(): boolean {
    return this.synced.policy && this.synced.exception && (this.options.paramsNamespace === undefined || this.configMaps !== undefined);
  }

  /** The ConfigMaps of daemonguard's namespace as they are now (for spec.paramsFrom); policies are resolved again. */
  updateConfigMaps(configMaps: readonly { metadata?: { name?: string }; data?: Record<string, string> }[]): Promise<void> {
    return this.enqueue('ConfigMap change', 'applying a change of ConfigMaps failed; the set serving is unchanged', () => {
      this.configMaps = new Map(configMaps.map((configMap) => [configMap.metadata?.name ?? '', configMap.data ?? {}]));
      return this.apply('policy', this.lastPolicies, false);
    });
  }

  /**
   * Takes the complete list of DaemonSetPolicy objects as it is now: after the first list, and after
   * every change. Calls are applied one after the other; the promise settles once the set serving
   * includes this one (built, and warmed up with a warm-up).
   */
  update(objects: readonly ClusterObject[]): Promise<void> {
    return this.enqueue('DaemonSetPolicy change', 'applying a change of cluster objects failed; the set serving is unchanged', () => this.apply('policy', objects));
  }

  /** The same for DaemonSetPolicyException objects. */
  updateExceptions(objects: readonly ClusterObject[]): Promise<void> {
    return this.enqueue('DaemonSetPolicyException change', 'applying a change of cluster objects failed; the set serving is unchanged', () => this.apply('exception', objects));
  }

  /** Runs `step` after the steps queued before it, then publishes unless more are queued (the last of them will). Never rejects. */
  private enqueue(trigger: Trigger, failure: string, step: () => Promise<void>): Promise<void> {
    this.queued++;
    this.unsettled++;
    let published: Promise<void> | undefined;
    this.queue = this.queue.then(async () => {
      this.queued--;
      try {
        await step();
      } catch (error) {
        this.options.logger.error({ err: error }, failure);
      }
      try {
        // A burst of changes (kubectl apply of a folder) is warmed up once, not once per object: a step
        // with others queued behind it leaves the set as it is, and its caller waits for their publish.
        if (this.queued > 0) published = this.nextPublication();
        else await this.publish(trigger);
      } catch (error) {
        this.options.logger.error({ err: error }, 'building the policy set failed; the set serving is unchanged');
      } finally {
        this.unsettled--;
      }
    });
    return this.queue.then(() => published);
  }

  private nextPublication(): Promise<void> {
    if (this.publication === undefined) {
      let resolve!: () => void;
      const promise = new Promise<void>((settle) => (resolve = settle));
      this.publication = { promise, resolve };
    }
    return this.publication.promise;
  }

  private async apply(kind: Kind, objects: readonly ClusterObject[], listed = true): Promise<void> {
    const { logger, metrics } = this.options;
    const entries = this.entries[kind];
    const seen = new Set<string>();
    let changed = listed && !this.synced[kind];
    if (kind === 'policy') this.lastPolicies = objects;
    for (const object of objects) {
      const name = object.metadata?.name;
      if (name === undefined) continue;
      const key = kind === 'exception' ? `${object.metadata?.namespace ?? ''}/${name}` : name;
      seen.add(key);
      const resolved = this.resolveParams(object);
      // An unresolved paramsFrom is part of what is compared, so a different reason is a change too.
      const text = objectText(resolved.object) + resolved.problems.map((problem) => `# ${JSON.stringify(problem.message)}\n`).join('');
      const existing = entries.get(key);
      if (existing?.text === text) continue;
      const generation = object.metadata?.generation ?? 0;
      const entry = resolved.problems.length > 0
        ? this.unresolved(kind, key, objectText(object), generation, existing, resolved.problems)
        : await this.load(kind, key, text, generation, existing);
      entry.text = text;
      entries.set(key, entry);
      changed = true;
      const what = kind === 'exception' ? 'cluster exception' : 'cluster policy';
      if (entry.problems.length === 0) {
        metrics?.policyReloads.inc();
        logger.info({ [kind]: key, generation, expressions: entry.lastGood?.expressions }, `${what} ${existing === undefined ? 'loaded' : 'updated'}`);
      } else {
        metrics?.policyReloadFailures.inc();
        logger.error(
          { [kind]: key, generation, problems: entry.problems.map((p) => `${p.file}:${p.line}:${p.column}: ${p.message}`), serving: entry.lastGood === undefined ? 'nothing' : `generation ${entry.lastGood.generation}` },
          entry.lastGood === undefined ? `${what} does not load; it is not enforced` : `${what} change refused; its last good version keeps being enforced`,
        );
      }
    }
    for (const key of [...entries.keys()]) {
      if (seen.has(key)) continue;
      entries.delete(key);
      changed = true;
      logger.info({ [kind]: key }, kind === 'exception' ? 'cluster exception deleted' : 'cluster policy deleted');
    }
    if (listed) this.synced[kind] = true;
    if (changed) this.version++;
  }

  private resolveParams(object: ClusterObject): { object: ClusterObject; problems: ParamsProblem[] } {
    const namespace = this.options.paramsNamespace;
    if (namespace === undefined || this.configMaps === undefined) return { object, problems: [] };
    return resolveParamsFrom(object, this.configMaps, namespace);
  }

  /** An entry for an object whose paramsFrom could not be resolved: problems at the lines of `text`, the last good version kept. */
  private unresolved(kind: Kind, key: string, text: string, generation: number, existing: Entry | undefined, problems: readonly ParamsProblem[]): Entry {
    const [source] = parseSourceText(`daemonsetpolicy/${key}`, text);
    return {
      kind, key, text, generation,
      problems: problems.map((problem) => ({ file: source!.file, ...source!.positionOf(problem.path), policy: key, field: formatFieldPath(problem.path), message: problem.message })),
      ...(existing?.lastGood === undefined ? {} : { lastGood: existing.lastGood }),
    };
  }

  private async load(kind: Kind, key: string, text: string, generation: number, existing: Entry | undefined): Promise<Entry> {
    const entry: Entry = { kind, key, text, generation, problems: [], ...(existing?.lastGood === undefined ? {} : { lastGood: existing.lastGood }) };
    const file = `${kind === 'exception' ? 'daemonsetpolicyexception' : 'daemonsetpolicy'}/${key}`;
    let compiled: CompiledPolicy | CompiledException | undefined;
    let problems: PolicyProblem[];
    try {
      const documents = await compileDocuments(parseSourceText(file, text));
      compiled = kind === 'exception' ? documents.exceptions[0] : documents.policies[0];
      problems = documents.problems;
    } catch (error) {
      const read = (error as { problems?: PolicyProblem[] }).problems;
      problems = read ?? [{ file, line: 0, column: 0, message: (error as Error).message }];
    }
    if (compiled !== undefined && kind === 'policy' && !this.options.namespaceSource) {
      try {
        refuseNamespaceReaders(buildPolicySet([compiled as CompiledPolicy], []));
      } catch (error) {
        problems = (error as { problems: PolicyProblem[] }).problems.map((p) => ({ ...p, message: `${p.message}, but the server was given no namespaces (serve --namespaces-from-cluster)` }));
      }
    }
    if (compiled !== undefined && problems.length === 0) {
      entry.lastGood = { compiled, generation, expressions: kind === 'policy' ? countExpressions(compiled as CompiledPolicy) : 0 };
    } else {
      entry.problems = problems.length > 0 ? problems : [{ file, line: 1, column: 1, message: `not a ${kind === 'exception' ? 'DaemonSetPolicyException' : 'DaemonSetPolicy'}` }];
    }
    return entry;
  }

  /** What each DaemonSetPolicy object's status should say now, by name. */
  statuses(): Map<string, ObjectStatus> {
    const files = this.options.files?.current();
    const fromFiles = new Map(files?.policies.map((policy) => [policy.name, policy.source]));
    const statuses = this.statusesOf('policy', fromFiles);
    if (this.impacts === undefined) return statuses;
    // A policy the audit saw no violation of (or that matched nothing) would deny nothing.
    for (const [name, status] of statuses) {
      if (status.ready) status.impact = this.impacts.get(name) ?? { wouldDeny: 0, wouldWarn: 0, sample: [] };
    }
    return statuses;
  }

  /** What the last background audit found, by policy name: from now on part of each enforced policy's status. */
  setImpact(impacts: ReadonlyMap<string, PolicyImpact>): void {
    this.impacts = impacts;
  }

  /** What each DaemonSetPolicyException object's status should say now, by namespace/name. */
  exceptionStatuses(): Map<string, ObjectStatus> {
    const files = this.options.files?.current();
    const fromFiles = new Map(files?.exceptions.map((exception) => [exception.id, exception.source]));
    const statuses = this.statusesOf('exception', fromFiles);
    const known = new Set(this.current()?.policies.map((policy) => policy.name));
    for (const entry of this.entries.exception.values()) {
      const status = statuses.get(entry.key);
      if (status?.ready !== true || entry.lastGood === undefined) continue;
      const named = (entry.lastGood.compiled as CompiledException).policies;
      const unknown = named.filter((name) => !known.has(name));
      if (unknown.length === 0) continue;
      const applies = named.filter((name) => known.has(name));
      statuses.set(entry.key, {
        ...status,
        ready: false,
        reason: 'UnknownPolicy',
        message:
          `spec.policies names ${unknown.map((name) => `"${name}"`).join(', ')}, which ${unknown.length === 1 ? 'is' : 'are'} not loaded ` +
          `(check the spelling against kubectl get dsp). ${applies.length === 0 ? 'It applies to no policy.' : `It applies to ${applies.join(', ')}.`}`,
      });
    }
    return statuses;
  }

  private statusesOf(kind: Kind, fromFiles: Map<string, { file: string; line: number }>): Map<string, ObjectStatus> {
    const statuses = new Map<string, ObjectStatus>();
    for (const entry of this.entries[kind].values()) {
      const file = fromFiles.get(entry.key);
      const noun = kind === 'exception' ? 'an exception' : 'a policy';
      if (file !== undefined) {
        statuses.set(entry.key, {
          observedGeneration: entry.generation,
          ready: false,
          reason: 'DuplicateName',
          message: `${noun} named "${entry.key}" is also loaded from ${file.file}:${file.line}; the file's version is enforced and this object is not. Rename one of them.`,
          expressions: 0,
        });
      } else if (entry.problems.length === 0) {
        statuses.set(entry.key, { observedGeneration: entry.generation, ready: true, reason: 'Loaded', message: 'loaded and type-checked; enforced', expressions: entry.lastGood?.expressions ?? 0 });
      } else {
        const serving = entry.lastGood === undefined
          ? `No version of this ${kind} loaded, so it is not enforced.`
          : `Generation ${entry.lastGood.generation} keeps being enforced.`;
        statuses.set(entry.key, {
          observedGeneration: entry.generation,
          ready: false,
          reason: 'LoadFailed',
          message: `generation ${entry.generation} does not load (line 1 is apiVersion; keys sorted; metadata holds only name, namespace, labels, annotations). ${serving}\n${describeProblems(entry.problems, entry.text)}`,
          expressions: entry.lastGood?.expressions ?? 0,
        });
      }
    }
    return statuses;
  }
}
