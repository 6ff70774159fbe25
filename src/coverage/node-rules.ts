// The checks the DaemonSet controller of Kubernetes 1.37 makes before it creates a daemon pod for a
// node (pkg/controller/daemon/daemon_controller.go, nodeShouldRunDaemonPod and predicates), each
// returning why a node fails it, in words a user can act on, or undefined when the node passes:
//   - spec.template.spec.nodeName, when set, must be the node's name;
//   - nodeSelector and the required node affinity must match (component-helpers' RequiredNodeAffinity);
//   - every NoSchedule and NoExecute taint must be tolerated, counting the tolerations the controller
//     adds to every daemon pod (util.AddOrUpdateDaemonPodTolerations). PreferNoSchedule never excludes.
// The controller reads nothing else of the node: not its conditions, not spec.unschedulable (it
// tolerates the unschedulable taint instead), not its resources (the scheduler's business).
import { isJsonObject, type JsonObject, type JsonValue } from '../common/vocabulary.js';

export interface Taint {
  key: string;
  value: string;
  effect: string;
}

export interface Toleration {
  key: string;
  operator: string;
  value: string;
  effect: string;
}

/** The tolerations every daemon pod gets (daemonset_util.go AddOrUpdateDaemonPodTolerations). */
const DAEMON_POD_TOLERATIONS: readonly Toleration[] = [
  { key: 'node.kubernetes.io/not-ready', operator: 'Exists', value: '', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/unreachable', operator: 'Exists', value: '', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/disk-pressure', operator: 'Exists', value: '', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/memory-pressure', operator: 'Exists', value: '', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/pid-pressure', operator: 'Exists', value: '', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/unschedulable', operator: 'Exists', value: '', effect: 'NoSchedule' },
];

/** Added only for hostNetwork pods: they do not need the node's pod network. */
const HOST_NETWORK_TOLERATION: Toleration = { key: 'node.kubernetes.io/network-unavailable', operator: 'Exists', value: '', effect: 'NoSchedule' };

function text(value: JsonValue | undefined): string {
  return typeof value === 'string' ? value : '';
}

function objects(value: JsonValue | undefined): JsonObject[] {
  return Array.isArray(value) ? value.filter(isJsonObject) : [];
}

export function stringMap(value: JsonValue | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isJsonObject(value)) return out;
  for (const [key, entry] of Object.entries(value)) if (typeof entry === 'string') out[key] = entry;
  return out;
}

/** The template's tolerations plus the controller's; adding an equal toleration changes nothing, so a union is the same set. */
export function daemonPodTolerations(podSpec: JsonObject): Toleration[] {
  const own = objects(podSpec.tolerations).map((t) => ({ key: text(t.key), operator: text(t.operator), value: text(t.value), effect: text(t.effect) }));
  return [...own, ...DAEMON_POD_TOLERATIONS, ...(podSpec.hostNetwork === true ? [HOST_NETWORK_TOLERATION] : [])];
}

/**
 * Toleration.ToleratesTaint (k8s.io/api core/v1). Lt and Gt never match: they need the
 * TaintTolerationComparisonOperators feature gate, alpha and off by default in 1.37.
 */
export function tolerates(toleration: Toleration, taint: Taint): boolean {
  if (toleration.effect !== '' && toleration.effect !== taint.effect) return false;
  if (toleration.key !== '' && toleration.key !== taint.key) return false;
  switch (toleration.operator) {
    case '':
    case 'Equal':
      return toleration.value === taint.value;
    case 'Exists':
      return true;
    default:
      return false;
  }
}

export function nodeTaints(node: JsonObject): Taint[] {
  const spec = isJsonObject(node.spec) ? node.spec : {};
  return objects(spec.taints).map((t) => ({ key: text(t.key), value: text(t.value), effect: text(t.effect) }));
}

export function formatTaint(taint: Taint): string {
  return `${taint.key}${taint.value === '' ? '' : `=${taint.value}`}:${taint.effect}`;
}

/** Taints that keep the pod off the node: NoSchedule and NoExecute ones no toleration matches. */
export function untoleratedTaints(taints: readonly Taint[], tolerations: readonly Toleration[]): Taint[] {
  return taints.filter((taint) => (taint.effect === 'NoSchedule' || taint.effect === 'NoExecute') && !tolerations.some((t) => tolerates(t, taint)));
}

export function taintFailure(taints: readonly Taint[], tolerations: readonly Toleration[]): string | undefined {
  const untolerated = untoleratedTaints(taints, tolerations);
  if (untolerated.length === 0) return undefined;
  return `${untolerated.length === 1 ? 'taint' : 'taints'} ${untolerated.map(formatTaint).join(', ')} not tolerated`;
}

export function nodeNameFailure(podSpec: JsonObject, nodeName: string): string | undefined {
  const wanted = text(podSpec.nodeName);
  return wanted === '' || wanted === nodeName ? undefined : `spec.template.spec.nodeName is ${wanted}`;
}

function shown(value: string | undefined): string {
  return value === undefined ? 'not set' : value === '' ? 'empty' : value;
}

/** labels.SelectorFromSet: every key=value must be a label of the node. */
export function nodeSelectorFailure(podSpec: JsonObject, labels: Record<string, string>): string | undefined {
  const misses = Object.entries(stringMap(podSpec.nodeSelector))
    .filter(([key, value]) => labels[key] !== value)
    .map(([key, value]) => `${key}=${value} does not match (${shown(labels[key])})`);
  return misses.length === 0 ? undefined : `nodeSelector ${misses.join(', ')}`;
}

interface Requirement {
  key: string;
  operator: string;
  values: string[];
}

function requirements(value: JsonValue | undefined): Requirement[] {
  return objects(value).map((r) => ({ key: text(r.key), operator: text(r.operator), values: Array.isArray(r.values) ? r.values.map((v) => String(v)) : [] }));
}

const INTEGER = /^[+-]?\d+$/;

/** strconv.ParseInt(s, 10, 64), or undefined. */
function parseInt64(value: string): bigint | undefined {
  if (!INTEGER.test(value)) return undefined;
  const parsed = BigInt(value);
  return parsed >= -(1n << 63n) && parsed < 1n << 63n ? parsed : undefined;
}

/** labels.Requirement.Matches for the operators node affinity allows. */
function labelRequirementMatches(requirement: Requirement, labels: Record<string, string>): boolean {
  const has = Object.hasOwn(labels, requirement.key);
  const value = labels[requirement.key];
  switch (requirement.operator) {
    case 'In':
      return has && requirement.values.includes(value!);
    case 'NotIn':
      return !has || !requirement.values.includes(value!);
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
    case 'Gt':
    case 'Lt': {
      if (!has || requirement.values.length !== 1) return false;
      const actual = parseInt64(value!);
      const bound = parseInt64(requirement.values[0]!);
      if (actual === undefined || bound === undefined) return false;
      return requirement.operator === 'Gt' ? actual > bound : actual < bound;
    }
    default:
      return false;
  }
}

function formatRequirement(requirement: Requirement): string {
  switch (requirement.operator) {
    case 'Exists':
    case 'DoesNotExist':
      return `${requirement.key} ${requirement.operator}`;
    case 'Gt':
    case 'Lt':
      return `${requirement.key} ${requirement.operator} ${requirement.values.join(',')}`;
    default:
      return `${requirement.key} ${requirement.operator} [${requirement.values.join(', ')}]`;
  }
}

function requirementMiss(requirement: Requirement, actual: string | undefined): string {
  const notInteger = (requirement.operator === 'Gt' || requirement.operator === 'Lt') && actual !== undefined && parseInt64(actual) === undefined;
  return `${formatRequirement(requirement)} does not match (${shown(actual)}${notInteger ? ', not an integer' : ''})`;
}

/**
 * Why a requirement list can never be parsed (component-helpers turns such a term into an error, and
 * a term with an error matches no node). The apiserver refuses most of these; a file may hold them.
 */
function parseProblem(expressions: readonly Requirement[], fields: readonly Requirement[]): string | undefined {
  for (const r of expressions) {
    if (!['In', 'NotIn', 'Exists', 'DoesNotExist', 'Gt', 'Lt'].includes(r.operator)) return `matchExpressions operator ${r.operator} is not supported`;
    if ((r.operator === 'In' || r.operator === 'NotIn') && r.values.length === 0) return `matchExpressions ${r.key} ${r.operator} needs values`;
    if ((r.operator === 'Exists' || r.operator === 'DoesNotExist') && r.values.length > 0) return `matchExpressions ${r.key} ${r.operator} takes no values`;
    if ((r.operator === 'Gt' || r.operator === 'Lt') && (r.values.length !== 1 || parseInt64(r.values[0]!) === undefined)) return `matchExpressions ${r.key} ${r.operator} needs one integer value`;
  }
  for (const r of fields) {
    if (r.operator !== 'In' && r.operator !== 'NotIn') return `matchFields operator ${r.operator} is not supported (In or NotIn)`;
    if (r.values.length !== 1) return `matchFields ${r.key} ${r.operator} must have exactly one value`;
  }
  return undefined;
}

/** Why one nodeSelectorTerm does not match the node, or undefined when it does. */
function termFailure(term: JsonObject, labels: Record<string, string>, nodeName: string): string {
  const expressions = requirements(term.matchExpressions);
  const fields = requirements(term.matchFields);
  const problem = parseProblem(expressions, fields);
  if (problem !== undefined) return `${problem}, so the term matches no node`;
  const misses: string[] = [];
  for (const r of expressions) if (!labelRequirementMatches(r, labels)) misses.push(requirementMiss(r, labels[r.key]));
  // The only field a node selector knows is metadata.name; any other field reads as absent.
  const nodeFields: Record<string, string> = { 'metadata.name': nodeName };
  for (const r of fields) {
    const actual = nodeFields[r.key];
    const equal = (actual ?? '') === r.values[0];
    if (r.operator === 'In' ? !equal : equal) misses.push(requirementMiss(r, actual));
  }
  return misses.join(', ');
}

/**
 * RequiredNodeAffinity.Match's affinity half: terms are ORed, an empty term is dropped, and when no
 * term is left nothing matches. Only requiredDuringSchedulingIgnoredDuringExecution counts.
 */
export function requiredAffinityFailure(podSpec: JsonObject, labels: Record<string, string>, nodeName: string): string | undefined {
  const affinity = isJsonObject(podSpec.affinity) ? podSpec.affinity : undefined;
  const nodeAffinity = affinity && isJsonObject(affinity.nodeAffinity) ? affinity.nodeAffinity : undefined;
  const required = nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  if (!isJsonObject(required)) return undefined;
  const terms = objects(required.nodeSelectorTerms).filter((t) => requirements(t.matchExpressions).length + requirements(t.matchFields).length > 0);
  if (terms.length === 0) return 'required node affinity has no term with a requirement, so it matches no node';
  const failures: string[] = [];
  for (const term of terms) {
    const failure = termFailure(term, labels, nodeName);
    if (failure === '') return undefined;
    failures.push(failure);
  }
  if (failures.length === 1) return `required node affinity ${failures[0]}`;
  return `required node affinity: none of its ${failures.length} terms matches (${failures.map((f, i) => `term ${i + 1}: ${f}`).join('; ')})`;
}
