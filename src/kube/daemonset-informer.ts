// Every DaemonSet of the cluster, listed (in pages) and then watched, kept whole as the apiserver
// serves it: the background audit evaluates the stored object, so nothing is trimmed (status,
// managedFields and all). About 1,000 DaemonSets of a typical size hold a few MiB; see the README's
// audit Performance subsection for a measurement. Needs list and watch on daemonsets in every
// namespace (deploy/components/audit/rbac.yaml).
//
// The list goes through the raw list API rather than client-node's typed client, which would turn
// timestamps into Dates and drop fields its model does not know; the watch events are raw JSON already.
import type { KubeConfig, KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import { ClusterCatalog, type CatalogKind, type ClusterCatalogOptions } from './cluster-catalog.js';
import { DAEMONSETS, DEFAULT_PAGE_SIZE, listAll } from './paged-list.js';

async function listDaemonSets(kubeConfig: KubeConfig): Promise<KubernetesListObject<KubernetesObject>> {
  const { items, resourceVersion } = await listAll(kubeConfig, DAEMONSETS, DEFAULT_PAGE_SIZE);
  return { apiVersion: 'apps/v1', kind: 'DaemonSetList', metadata: { resourceVersion }, items: items as KubernetesObject[] };
}

const DAEMONSET_KIND: CatalogKind<KubernetesObject> = {
  plural: 'daemonsets',
  kind: 'DaemonSet',
  apiVersion: 'apps/v1',
  namespaced: true,
  path: DAEMONSETS.path,
  list: listDaemonSets,
};

export class ClusterDaemonSetCatalog extends ClusterCatalog<KubernetesObject> {
  constructor(options: ClusterCatalogOptions) {
    super(DAEMONSET_KIND, options);
  }
}
