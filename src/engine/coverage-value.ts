// The `coverage` CEL variable: src/coverage's answer for the object under review, in the shape
// cel/policy-scope.ts declares (Coverage), footprints as quantities so policies compare them with
// quantity('200').
import { CelQuantity } from '../cel/library/quantity.js';
import { toCelValue } from '../cel/values.js';
import { computeCoverage, type NodeRef, type NodeWithReason, type Resources } from '../coverage/coverage.js';
import type { JsonObject } from './types.js';

function nodeRef(node: NodeRef): Record<string, unknown> {
  return { name: node.name, labels: toCelValue(node.labels) };
}

function withReason(node: NodeWithReason): Record<string, unknown> {
  return { ...nodeRef(node), reason: node.reason };
}

function resources(amounts: Resources): Record<string, unknown> {
  return { cpu: CelQuantity.of(amounts.cpu), memory: CelQuantity.of(amounts.memory) };
}

export function coverageValue(daemonSet: JsonObject, nodes: readonly JsonObject[]): unknown {
  const coverage = computeCoverage(daemonSet, nodes);
  return {
    totalNodes: BigInt(coverage.totalNodes),
    scheduledNodes: coverage.scheduled.map(nodeRef),
    excludedNodes: coverage.excluded.map(withReason),
    unfitNodes: coverage.unfit.map(withReason),
    footprint: { pod: resources(coverage.footprint.pod), total: resources(coverage.footprint.total) },
  };
}
