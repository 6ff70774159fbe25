// What one daemon pod asks of a node, as the scheduler of Kubernetes 1.37 counts it
// (k8s.io/component-helpers/resource PodRequests, the NodeResourcesFit filter's view):
//   - a container's requests, where a limit without a request counts as the request (the apiserver
//     defaults a Pod's requests from its limits, SetDefaults_Pod, and daemon pods are Pods);
//   - the containers' sum, with sidecars (init containers with restartPolicy: Always) added to it;
//   - each regular init container, plus the sidecars started before it, as a peak; the pod needs
//     the larger of that peak and the running sum;
//   - pod-level requests (spec.resources.requests cpu, memory, hugepages-*) replace the computed value;
//   - spec.overhead on top.
import { parseQuantity, Quantity, QuantityError } from '../common/quantity.js';
import { isJsonObject, type JsonObject, type JsonValue } from '../common/vocabulary.js';

export type ResourceList = Map<string, Quantity>;

const ZERO = parseQuantity('0');

/** A resource list from JSON; a value that is not a quantity is left out (the apiserver refuses it). */
function resourceList(value: JsonValue | undefined): ResourceList {
  const list: ResourceList = new Map();
  if (!isJsonObject(value)) return list;
  for (const [name, amount] of Object.entries(value)) {
    if (typeof amount !== 'string' && typeof amount !== 'number') continue;
    try {
      list.set(name, parseQuantity(String(amount)));
    } catch (error) {
      if (!(error instanceof QuantityError)) throw error;
    }
  }
  return list;
}

function addInto(target: ResourceList, source: ResourceList): void {
  for (const [name, amount] of source) target.set(name, (target.get(name) ?? ZERO).plus(amount));
}

function maxInto(target: ResourceList, source: ResourceList): void {
  for (const [name, amount] of source) {
    const current = target.get(name);
    if (current === undefined || amount.compareTo(current) > 0) target.set(name, amount);
  }
}

function containerRequests(container: JsonObject): ResourceList {
  const resources = isJsonObject(container.resources) ? container.resources : {};
  const requests = resourceList(resources.requests);
  for (const [name, limit] of resourceList(resources.limits)) if (!requests.has(name)) requests.set(name, limit);
  return requests;
}

function containers(value: JsonValue | undefined): JsonObject[] {
  return Array.isArray(value) ? value.filter(isJsonObject) : [];
}

const POD_LEVEL = (name: string): boolean => name === 'cpu' || name === 'memory' || name.startsWith('hugepages-');

/** The requests one pod of this pod spec makes of its node. */
export function podRequests(podSpec: JsonObject): ResourceList {
  const total: ResourceList = new Map();
  for (const container of containers(podSpec.containers)) addInto(total, containerRequests(container));
  const sidecars: ResourceList = new Map();
  const initPeak: ResourceList = new Map();
  for (const container of containers(podSpec.initContainers)) {
    const requests = containerRequests(container);
    if (container.restartPolicy === 'Always') {
      addInto(total, requests);
      addInto(sidecars, requests);
      maxInto(initPeak, sidecars);
    } else {
      const withSidecars: ResourceList = new Map();
      addInto(withSidecars, requests);
      addInto(withSidecars, sidecars);
      maxInto(initPeak, withSidecars);
    }
  }
  maxInto(total, initPeak);
  const podResources = isJsonObject(podSpec.resources) ? podSpec.resources : {};
  for (const [name, amount] of resourceList(podResources.requests)) if (POD_LEVEL(name)) total.set(name, amount);
  addInto(total, resourceList(podSpec.overhead));
  return total;
}

/** amount × count, exactly (quantities are decimal mantissa × 10^exponent). */
export function times(amount: Quantity, count: number): Quantity {
  return new Quantity(amount.mantissa * BigInt(count), amount.exponent, false, amount.format);
}

export function amountOf(list: ResourceList, name: string): Quantity {
  return list.get(name) ?? ZERO;
}

/** The node's allocatable resources (what the scheduler fits pods into; a missing one is zero). */
export function allocatable(node: JsonObject): ResourceList {
  const status = isJsonObject(node.status) ? node.status : {};
  return resourceList(status.allocatable);
}

/** Why one pod can never fit on this node even when it is empty, or undefined when it can. */
export function unfitReason(requests: ResourceList, nodeAllocatable: ResourceList): string | undefined {
  const short: string[] = [];
  for (const [name, amount] of requests) {
    if (amount.sign() <= 0) continue;
    const available = amountOf(nodeAllocatable, name);
    if (amount.compareTo(available) > 0) short.push(`${name} ${amount.toString()} requested, ${available.toString()} allocatable`);
  }
  return short.length === 0 ? undefined : `one pod does not fit: ${short.join(', ')}`;
}
