// Which nodes a DaemonSet lands on, why the others are left out, and what its pods ask for in all.
// Pure: a DaemonSet and a list of Node objects in, a plain result out. The rules are the DaemonSet
// controller's (node-rules.ts), the resource arithmetic the scheduler's (footprint.ts).
import type { Quantity } from '../common/quantity.js';
import { isJsonObject, type JsonObject } from '../common/vocabulary.js';
import { allocatable, amountOf, podRequests, times, unfitReason } from './footprint.js';
import { daemonPodTolerations, nodeNameFailure, nodeSelectorFailure, nodeTaints, requiredAffinityFailure, stringMap, taintFailure } from './node-rules.js';

export interface NodeRef {
  name: string;
  labels: Record<string, string>;
}

export interface NodeWithReason extends NodeRef {
  reason: string;
}

export interface Resources {
  cpu: Quantity;
  memory: Quantity;
}

export interface Coverage {
  totalNodes: number;
  /** The nodes the controller creates a pod for, in the order the nodes were given. */
  scheduled: NodeRef[];
  /** The other nodes, each with every rule it fails ("; " between them). */
  excluded: NodeWithReason[];
  /** Scheduled nodes whose allocatable is smaller than one pod's requests: the pod stays Pending there. */
  unfit: NodeWithReason[];
  footprint: {
    /** One pod's effective requests. */
    pod: Resources;
    /** One pod's requests × the scheduled nodes (unfit ones included: the controller creates those pods too). */
    total: Resources;
  };
}

function metadataOf(object: JsonObject): JsonObject {
  return isJsonObject(object.metadata) ? object.metadata : {};
}

export function nodeName(node: JsonObject): string {
  const name = metadataOf(node).name;
  return typeof name === 'string' ? name : '';
}

function podSpecOf(daemonSet: JsonObject): JsonObject {
  const spec = isJsonObject(daemonSet.spec) ? daemonSet.spec : {};
  const template = isJsonObject(spec.template) ? spec.template : {};
  return isJsonObject(template.spec) ? template.spec : {};
}

/** Every rule the node fails, in the controller's order, or [] when the controller runs a pod there. */
export function exclusionReasons(podSpec: JsonObject, node: JsonObject): string[] {
  const name = nodeName(node);
  const labels = stringMap(metadataOf(node).labels);
  const tolerations = daemonPodTolerations(podSpec);
  return [
    nodeNameFailure(podSpec, name),
    nodeSelectorFailure(podSpec, labels),
    requiredAffinityFailure(podSpec, labels, name),
    taintFailure(nodeTaints(node), tolerations),
  ].filter((reason): reason is string => reason !== undefined);
}

export function computeCoverage(daemonSet: JsonObject, nodes: readonly JsonObject[]): Coverage {
  const podSpec = podSpecOf(daemonSet);
  const requests = podRequests(podSpec);
  const scheduled: NodeRef[] = [];
  const excluded: NodeWithReason[] = [];
  const unfit: NodeWithReason[] = [];
  for (const node of nodes) {
    const ref: NodeRef = { name: nodeName(node), labels: stringMap(metadataOf(node).labels) };
    const reasons = exclusionReasons(podSpec, node);
    if (reasons.length > 0) {
      excluded.push({ ...ref, reason: reasons.join('; ') });
      continue;
    }
    scheduled.push(ref);
    const reason = unfitReason(requests, allocatable(node));
    if (reason !== undefined) unfit.push({ ...ref, reason });
  }
  const pod: Resources = { cpu: amountOf(requests, 'cpu'), memory: amountOf(requests, 'memory') };
  const total: Resources = { cpu: times(pod.cpu, scheduled.length), memory: times(pod.memory, scheduled.length) };
  return { totalNodes: nodes.length, scheduled, excluded, unfit, footprint: { pod, total } };
}

/** "runs on 12 of 15 nodes; 3 excluded: 2 taint ... not tolerated, 1 nodeSelector ..." (one line for reports). */
export function coverageSummary(coverage: Coverage): string {
  const head = `runs on ${coverage.scheduled.length} of ${coverage.totalNodes} node${coverage.totalNodes === 1 ? '' : 's'}`;
  const parts = [head];
  if (coverage.excluded.length > 0) {
    const counts = new Map<string, number>();
    for (const { reason } of coverage.excluded) counts.set(reason, (counts.get(reason) ?? 0) + 1);
    parts.push(`${coverage.excluded.length} excluded: ${[...counts].map(([reason, n]) => `${n}× ${reason}`).join(', ')}`);
  }
  if (coverage.unfit.length > 0) parts.push(`${coverage.unfit.length} unfit (allocatable below one pod's requests)`);
  parts.push(`requests ${coverage.footprint.total.cpu.toString()} CPU, ${coverage.footprint.total.memory.toString()} memory in all`);
  return parts.join('; ');
}
