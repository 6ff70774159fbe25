// The twins of policies/defaults/*: the four defaults the library writes (readiness probes, the pod's
// seccompProfile, maxUnavailable, revisionHistoryLimit), and default-probes' warning when no container
// has a readinessProbe. Each reads the policy's YAML comments' rules straight off the JSON.
//
// Not covered (the apiserver never sends them): null where the schema has an object or a list
// (`securityContext: null`, `initContainers: null`), values of the wrong type, and containers sharing a
// name. On those the engine's expressions fail and the policy is ignored with a warning; a twin does
// not reproduce evaluation errors.
import type { JsonObject, JsonValue, ValidationAction } from '../../src/common/vocabulary.js';
import type { PatchOperation } from '../../src/engine/types.js';
import type {
  HandWrittenReview,
  HandWrittenViolation,
  MutatingTwinFactory,
  ValidatingTwinFactory,
} from './policy.js';

// The fields of a DaemonSet the defaults read (what the apiserver's schema lets them be).
interface Port {
  name?: string;
  containerPort: number;
  protocol?: string;
}
interface Probe {
  httpGet?: JsonObject;
  tcpSocket?: JsonObject;
}
interface Container {
  name: string;
  ports?: Port[];
  readinessProbe?: Probe | null;
  livenessProbe?: Probe | null;
  securityContext?: { windowsOptions?: { hostProcess?: boolean } };
}
interface NodeSelectorTerm {
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}
interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  hostNetwork?: boolean;
  os?: { name?: string };
  securityContext?: { seccompProfile?: JsonValue; windowsOptions?: { hostProcess?: boolean } } | null;
  nodeSelector?: Record<string, string>;
  affinity?: { nodeAffinity?: { requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms?: NodeSelectorTerm[] } } };
}
interface ManagedFieldsEntry {
  operation?: string;
  fieldsV1?: JsonObject;
}
interface Metadata {
  annotations?: Record<string, string>;
  managedFields?: ManagedFieldsEntry[];
}
interface DaemonSet {
  metadata: Metadata;
  spec: {
    revisionHistoryLimit?: number;
    updateStrategy?: { type?: string; rollingUpdate?: { maxUnavailable?: number | string | null } };
    template: { metadata?: Metadata; spec: PodSpec };
  };
}

const SKIP_DEFAULTS = 'daemonguard.dev/skip-defaults';
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
const READINESS_PATH = 'daemonguard.dev/readiness-path';
const READINESS_PORT = 'daemonguard.dev/readiness-port';
const LEGACY_SECCOMP = 'seccomp.security.alpha.kubernetes.io/pod';
const OS_LABELS = ['kubernetes.io/os', 'beta.kubernetes.io/os'];
const WARN: readonly ValidationAction[] = Object.freeze(['Warn'] as const);

/** Go's unicode.IsSpace: CEL's trim() is strings.TrimSpace, which differs from JS trim() on U+0085 and U+FEFF. */
function isGoSpace(c: number): boolean {
  return (c >= 0x09 && c <= 0x0d) || c === 0x20 || c === 0x85 || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000;
}

function goTrimSpace(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && isGoSpace(s.charCodeAt(start))) start++;
  while (end > start && isGoSpace(s.charCodeAt(end - 1))) end--;
  return s.slice(start, end);
}

/** The `not-skipped` matchCondition every default has: the skip-defaults annotation lists the policy or "all". */
function skipped(daemonSet: DaemonSet, policy: string): boolean {
  const listed = daemonSet.metadata.annotations?.[SKIP_DEFAULTS];
  if (listed === undefined) return false;
  for (const entry of listed.split(',')) {
    const name = goTrimSpace(entry);
    if (name === policy || name === 'all') return true;
  }
  return false;
}

/**
 * The DaemonSet a default judges, or undefined when the policy does not apply: every default matches
 * CREATE and UPDATE only (no spec.match), in every namespace, unless skipped by annotation.
 */
function judged(review: HandWrittenReview, object: JsonObject | null, policy: string): DaemonSet | undefined {
  if ((review.operation !== 'CREATE' && review.operation !== 'UPDATE') || object === null) return undefined;
  const daemonSet = object as unknown as DaemonSet;
  return skipped(daemonSet, policy) ? undefined : daemonSet;
}

/** The factory's params, checked: a library edit that drops one must fail at start, naming it. */
function param<T>(params: JsonObject | undefined, policy: string, name: string, type: 'string' | 'number' | 'boolean' | 'string[]' | 'int-or-string'): T {
  const value = params?.[name];
  const ok =
    type === 'string[]' ? Array.isArray(value) && value.every((v) => typeof v === 'string')
    : type === 'int-or-string' ? typeof value === 'string' || typeof value === 'number'
    : typeof value === type;
  if (!ok) throw new Error(`${policy}: spec.params.${name} must be a ${type} (got ${JSON.stringify(value)}); the twin reads it as the policy does`);
  return value as T;
}

// ---------------------------------------------------------------------------------------------------
// default-probes

/** The readinessProbe default-probes writes into each container (null: none), from the object as the policy starts. */
function derivedProbes(daemonSet: DaemonSet, healthWords: ReadonlySet<string>): (Probe | null)[] {
  const annotations = daemonSet.metadata.annotations;
  const readinessPath = annotations?.[READINESS_PATH] ?? '';
  const readinessPort = annotations?.[READINESS_PORT] ?? '';
  const pod = daemonSet.spec.template.spec;
  const hostNetwork = pod.hostNetwork === true;
  const containers = pod.containers;
  const probes: (Probe | null)[] = new Array<Probe | null>(containers.length);
  for (let i = 0; i < containers.length; i++) {
    // The first of the container's TCP ports that the readiness-port annotation names, and that is named for health.
    let tcpFirst: Port | undefined;
    let annotated: Port | undefined;
    let health: Port | undefined;
    for (const port of containers[i]!.ports ?? []) {
      if ((port.protocol ?? 'TCP') !== 'TCP') continue;
      tcpFirst ??= port;
      const name = port.name ?? '';
      if (annotated === undefined && readinessPort !== '' && (name === readinessPort || String(port.containerPort) === readinessPort)) annotated = port;
      if (health === undefined && name.split('-').some((word) => healthWords.has(word))) health = port;
    }
    const forPath = readinessPort !== '' ? annotated : health ?? (containers.length === 1 ? tcpFirst : undefined);
    probes[i] =
      readinessPath !== '' && forPath !== undefined ? { httpGet: { path: readinessPath, port: forPath.containerPort } }
      : readinessPath === '' && annotated !== undefined ? { tcpSocket: { port: annotated.containerPort } }
      : !hostNetwork && health !== undefined ? { tcpSocket: { port: health.containerPort } }
      : null;
  }
  return probes;
}

const defaultProbesMutating: MutatingTwinFactory = (params) => {
  const name = 'default-probes';
  const liveness = param<boolean>(params, name, 'liveness', 'boolean');
  const periodSeconds = param<number>(params, name, 'livenessPeriodSeconds', 'number');
  const failureThreshold = param<number>(params, name, 'livenessFailureThreshold', 'number');
  const healthWords = new Set(param<string[]>(params, name, 'healthPortWords', 'string[]'));
  return {
    name,
    mutate(review, object) {
      const daemonSet = judged(review, object, name);
      if (daemonSet === undefined) return [];
      const containers = daemonSet.spec.template.spec.containers;
      const operations: PatchOperation[] = [];
      // Readiness first, for every container; liveness then sees the readinessProbes just written.
      let written: (Probe | null)[] | undefined;
      for (let i = 0; i < containers.length; i++) {
        if (containers[i]!.readinessProbe != null) continue;
        // Computed once, and only when some container lacks a probe (the policy's variables are lazy too).
        written ??= derivedProbes(daemonSet, healthWords);
        const probe = written[i]!;
        if (probe !== null) operations.push({ op: 'add', path: `/spec/template/spec/containers/${i}/readinessProbe`, value: probe as JsonObject });
      }
      if (!liveness) return operations;
      for (let i = 0; i < containers.length; i++) {
        const container = containers[i]!;
        if (container.livenessProbe != null) continue;
        const readiness = container.readinessProbe ?? written?.[i] ?? null;
        if (readiness === null) continue;
        const handler: JsonObject | undefined =
          readiness.httpGet !== undefined ? { httpGet: readiness.httpGet } : readiness.tcpSocket !== undefined ? { tcpSocket: readiness.tcpSocket } : undefined;
        if (handler === undefined) continue;
        handler.periodSeconds = periodSeconds;
        handler.failureThreshold = failureThreshold;
        operations.push({ op: 'add', path: `/spec/template/spec/containers/${i}/livenessProbe`, value: handler });
      }
      return operations;
    },
  };
};

/** default-probes' validation (Warn): no container of the pod has a readinessProbe. */
const defaultProbesValidating: ValidatingTwinFactory = () => {
  const name = 'default-probes';
  return {
    name,
    validate(review): HandWrittenViolation[] {
      const daemonSet = judged(review, review.object, name);
      if (daemonSet === undefined) return [];
      const pod = daemonSet.spec.template.spec;
      const containers = pod.containers;
      for (let i = 0; i < containers.length; i++) if (containers[i]!.readinessProbe !== undefined) return [];
      // None has one: every container is unprobed.
      let names = '';
      for (let i = 0; i < containers.length; i++) names += `${i === 0 ? '' : ', '}"${containers[i]!.name}"`;
      const message =
        (containers.length === 1 ? 'container ' : 'containers ') + names +
        (pod.hostNetwork === true ? ': no readinessProbe (none is guessed on hostNetwork)' : ': no readinessProbe and no port named for health') +
        '; a bad rollout will not stop (see daemonguard.dev/readiness-port)';
      // The engine makes every message one line; container names (DNS labels) hold no line breaks, so only trim can matter.
      return [{ policy: name, message: message.trim(), actions: WARN }];
    },
  };
};

// ---------------------------------------------------------------------------------------------------
// default-rolling-update and default-revision-history: "did the user choose this field?"

/**
 * The policies' `userChose`: from the last-applied annotation (client-side apply), else field ownership
 * (server-side apply), else unknown (chosen, unless defaultWhenUnknown and the value is the apiserver's
 * default on CREATE).
 */
function userChose(
  review: HandWrittenReview,
  daemonSet: DaemonSet,
  keyPattern: RegExp,
  valueOf: (d: DaemonSet) => unknown,
  owns: (fieldsV1: JsonObject) => boolean,
  isApiserverDefault: boolean,
): boolean {
  const lastApplied = daemonSet.metadata.annotations?.[LAST_APPLIED] ?? '';
  if (lastApplied !== '') {
    if (keyPattern.test(lastApplied)) return true;
    const old = review.oldObject as unknown as DaemonSet | null;
    // A request that left the annotation alone (kubectl edit, patch, scale) but changed the value chose it.
    return old !== null && (old.metadata.annotations?.[LAST_APPLIED] ?? '') === lastApplied && valueOf(old) !== valueOf(daemonSet);
  }
  const managed = daemonSet.metadata.managedFields ?? [];
  if (managed.some((entry) => (entry.operation ?? '') === 'Apply')) return managed.some((entry) => entry.fieldsV1 !== undefined && owns(entry.fieldsV1));
  return !isApiserverDefault;
}

/** A member of a fieldsV1 set, or undefined (own members only: the set is the request's JSON). */
function member(set: JsonValue | undefined, key: string): JsonValue | undefined {
  return set !== null && typeof set === 'object' && !Array.isArray(set) && Object.hasOwn(set, key) ? set[key] : undefined;
}

const MAX_UNAVAILABLE_KEY = /[{,]"maxUnavailable":/;

const maxUnavailableOf = (d: DaemonSet): unknown => d.spec.updateStrategy?.rollingUpdate?.maxUnavailable ?? null;

const defaultRollingUpdate: MutatingTwinFactory = (params) => {
  const name = 'default-rolling-update';
  const maxUnavailable = param<number | string>(params, name, 'maxUnavailable', 'int-or-string');
  const defaultWhenUnknown = param<boolean>(params, name, 'defaultWhenUnknown', 'boolean');
  const owns = (fields: JsonObject): boolean =>
    member(member(member(member(fields, 'f:spec'), 'f:updateStrategy'), 'f:rollingUpdate'), 'f:maxUnavailable') !== undefined;
  return {
    name,
    mutate(review, object) {
      const daemonSet = judged(review, object, name);
      if (daemonSet === undefined) return [];
      const strategy = daemonSet.spec.updateStrategy;
      if ((strategy?.type ?? 'RollingUpdate') !== 'RollingUpdate') return [];
      const current = maxUnavailableOf(daemonSet);
      if (current === maxUnavailable) return [];
      const unknownIsDefault = defaultWhenUnknown && review.operation === 'CREATE' && current === 1;
      if (userChose(review, daemonSet, MAX_UNAVAILABLE_KEY, maxUnavailableOf, owns, unknownIsDefault)) return [];
      // `add` replaces an existing member and creates the missing parents, as the policy's jsonPatch does.
      if (strategy === undefined) {
        return [{ op: 'add', path: '/spec/updateStrategy', value: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable } } }];
      }
      if (strategy.rollingUpdate === undefined) return [{ op: 'add', path: '/spec/updateStrategy/rollingUpdate', value: { maxUnavailable } }];
      return [{ op: 'add', path: '/spec/updateStrategy/rollingUpdate/maxUnavailable', value: maxUnavailable }];
    },
  };
};

const REVISION_HISTORY_KEY = /[{,]"revisionHistoryLimit":/;

const revisionHistoryOf = (d: DaemonSet): unknown => d.spec.revisionHistoryLimit ?? -1;

const defaultRevisionHistory: MutatingTwinFactory = (params) => {
  const name = 'default-revision-history';
  const limit = param<number>(params, name, 'revisionHistoryLimit', 'number');
  const defaultWhenUnknown = param<boolean>(params, name, 'defaultWhenUnknown', 'boolean');
  const owns = (fields: JsonObject): boolean => member(member(fields, 'f:spec'), 'f:revisionHistoryLimit') !== undefined;
  return {
    name,
    mutate(review, object) {
      const daemonSet = judged(review, object, name);
      if (daemonSet === undefined) return [];
      const current = revisionHistoryOf(daemonSet);
      if (current === limit) return [];
      const unknownIsDefault = defaultWhenUnknown && review.operation === 'CREATE' && current === 10;
      if (userChose(review, daemonSet, REVISION_HISTORY_KEY, revisionHistoryOf, owns, unknownIsDefault)) return [];
      return [{ op: 'add', path: '/spec/revisionHistoryLimit', value: limit }];
    },
  };
};

// ---------------------------------------------------------------------------------------------------
// default-seccomp

function hostProcess(containers: Container[] | undefined): boolean {
  if (containers === undefined) return false;
  for (const container of containers) if (container.securityContext?.windowsOptions?.hostProcess === true) return true;
  return false;
}

/** True when every required node-affinity term asks for kubernetes.io/os In [windows] only (and there is one). */
function windowsByAffinity(pod: PodSpec): boolean {
  const terms = pod.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  if (terms.length === 0) return false;
  return terms.every((term) =>
    (term.matchExpressions ?? []).some(
      (e) => OS_LABELS.includes(e.key) && e.operator === 'In' && (e.values ?? []).length > 0 && e.values!.every((v) => v === 'windows'),
    ),
  );
}

function windowsPod(pod: PodSpec): boolean {
  return (
    (pod.os?.name ?? '') === 'windows' ||
    pod.securityContext?.windowsOptions?.hostProcess === true ||
    hostProcess(pod.initContainers) ||
    hostProcess(pod.containers) ||
    OS_LABELS.some((label) => pod.nodeSelector?.[label] === 'windows') ||
    windowsByAffinity(pod)
  );
}

const defaultSeccomp: MutatingTwinFactory = () => {
  const name = 'default-seccomp';
  return {
    name,
    mutate(review, object) {
      const daemonSet = judged(review, object, name);
      if (daemonSet === undefined) return [];
      const template = daemonSet.spec.template;
      const pod = template.spec;
      // The engine tests `when` first, then the field's absence: both are pure, so the cheaper goes first here.
      const securityContext = pod.securityContext;
      if (securityContext != null && securityContext.seccompProfile != null) return [];
      if (windowsPod(pod) || template.metadata?.annotations?.[LEGACY_SECCOMP] !== undefined) return [];
      // Missing parents are created by the operation itself: the first missing segment gets the rest as its value.
      return securityContext == null
        ? [{ op: 'add', path: '/spec/template/spec/securityContext', value: { seccompProfile: { type: 'RuntimeDefault' } } }]
        : [{ op: 'add', path: '/spec/template/spec/securityContext/seccompProfile', value: { type: 'RuntimeDefault' } }];
    },
  };
};

/** The defaults group, keyed by the library policies' metadata.name. */
export const defaultsTwins: { validating: Record<string, ValidatingTwinFactory>; mutating: Record<string, MutatingTwinFactory> } = {
  validating: {
    'default-probes': defaultProbesValidating,
  },
  mutating: {
    'default-probes': defaultProbesMutating,
    'default-revision-history': defaultRevisionHistory,
    'default-rolling-update': defaultRollingUpdate,
    'default-seccomp': defaultSeccomp,
  },
};
