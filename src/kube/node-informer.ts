// Node objects read from the cluster, for the `coverage` a policy reads: once for the CLI
// (`daemonguard coverage --nodes-from-cluster`), or listed and watched for `daemonguard serve
// --nodes-from-cluster`, so a review reads the nodes from memory and never calls the apiserver.
// Needs get/list/watch on nodes (deploy/base/rbac.yaml).
import type { NodeSource } from '../common/node-source.js';
import { isJsonObject, type JsonObject } from '../common/vocabulary.js';
import { ClusterCatalog, defaultKubeConfig, type CatalogKind, type ClusterCatalogOptions } from './cluster-catalog.js';
import type { KubeConfig } from './kube-config.js';
import { DEFAULT_PAGE_SIZE, listPages, type ListedResource } from './paged-list.js';

/**
 * What placement reads of a node: name, labels, taints, unschedulable, allocatable. A Node's status
 * also lists every image on it (tens of kilobytes each): kept whole, 5,000 nodes would hold the
 * server's memory hostage.
 */
export function placementView(node: JsonObject): JsonObject {
  const metadata = isJsonObject(node.metadata) ? node.metadata : {};
  const spec = isJsonObject(node.spec) ? node.spec : {};
  const status = isJsonObject(node.status) ? node.status : {};
  const view: JsonObject = { apiVersion: 'v1', kind: 'Node', metadata: { name: metadata.name ?? '', labels: metadata.labels ?? {} }, spec: {}, status: {} };
  if (spec.taints !== undefined) (view.spec as JsonObject).taints = spec.taints;
  if (spec.unschedulable !== undefined) (view.spec as JsonObject).unschedulable = spec.unschedulable;
  if (status.allocatable !== undefined) (view.status as JsonObject).allocatable = status.allocatable;
  return view;
}

const NODES: CatalogKind & ListedResource = { plural: 'nodes', kind: 'Node', apiVersion: 'v1', path: '/api/v1/nodes', keep: placementView };

export class ClusterNodeCatalog extends ClusterCatalog implements NodeSource {
  private snapshot: readonly JsonObject[] | undefined;

  constructor(options: ClusterCatalogOptions) {
    super(NODES, options);
  }

  /** All nodes, in name order; the same array until a node changes, so reviews share it. */
  nodes(): readonly JsonObject[] {
    this.snapshot ??= [...this.objects.keys()].sort().map((name) => this.objects.get(name)!);
    return this.snapshot;
  }

  protected override changed(): void {
    this.snapshot = undefined;
  }
}

/** The cluster's nodes, listed once (in pages), as plain JSON in name order. */
export async function listClusterNodes(kubeConfig: KubeConfig = defaultKubeConfig()): Promise<JsonObject[]> {
  const nodes: JsonObject[] = [];
  for await (const page of listPages(kubeConfig, NODES, DEFAULT_PAGE_SIZE)) nodes.push(...page.map(placementView));
  return nodes.sort((a, b) => String((a.metadata as JsonObject).name).localeCompare(String((b.metadata as JsonObject).name)));
}
