// Node objects read from the cluster, for the `coverage` a policy reads: once for the CLI
// (`daemonguard coverage --nodes-from-cluster`), or listed and watched for `daemonguard serve
// --nodes-from-cluster`, so a review reads the nodes from memory and never calls the apiserver.
// Needs get/list/watch on nodes (deploy/base/rbac.yaml).
import { CoreV1Api, type KubeConfig, type V1Node } from '@kubernetes/client-node';
import type { NodeSource } from '../common/node-source.js';
import { isJsonObject, type JsonObject } from '../common/vocabulary.js';
import { ClusterCatalog, defaultKubeConfig, plainObject, type CatalogKind, type ClusterCatalogOptions } from './cluster-catalog.js';

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

const NODES: CatalogKind<V1Node> = {
  plural: 'nodes',
  kind: 'Node',
  path: '/api/v1/nodes',
  list: (kubeConfig) => kubeConfig.makeApiClient(CoreV1Api).listNode(),
  keep: placementView,
};

export class ClusterNodeCatalog extends ClusterCatalog<V1Node> implements NodeSource {
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

/** The cluster's nodes, listed once (paged by the apiserver as it likes), as plain JSON in name order. */
export async function listClusterNodes(kubeConfig: KubeConfig = defaultKubeConfig()): Promise<JsonObject[]> {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const nodes: JsonObject[] = [];
  let next: string | undefined;
  do {
    const page = await core.listNode({ limit: 500, ...(next ? { _continue: next } : {}) });
    for (const node of page.items) nodes.push(placementView(plainObject(node, 'Node')));
    next = page.metadata?._continue || undefined;
  } while (next !== undefined);
  return nodes.sort((a, b) => String((a.metadata as JsonObject).name).localeCompare(String((b.metadata as JsonObject).name)));
}
