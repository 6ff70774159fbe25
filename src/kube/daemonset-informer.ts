// Every DaemonSet of the cluster, listed (in pages) and then watched, kept whole as the apiserver
// serves it: the background audit evaluates the stored object, so nothing is trimmed (status,
// managedFields and all). About 1,000 DaemonSets of a typical size hold a few MiB; see the README's
// audit Performance subsection for a measurement. Needs list and watch on daemonsets in every
// namespace (deploy/components/audit/rbac.yaml).
//
// The objects are the apiserver's JSON as served, listed in pages (list-watch.ts).
import { ClusterCatalog, type CatalogKind, type ClusterCatalogOptions } from './cluster-catalog.js';
import { DAEMONSETS } from './paged-list.js';

const DAEMONSET_KIND: CatalogKind = { plural: 'daemonsets', kind: 'DaemonSet', apiVersion: 'apps/v1', path: DAEMONSETS.path };

export class ClusterDaemonSetCatalog extends ClusterCatalog {
  constructor(options: ClusterCatalogOptions) {
    super(DAEMONSET_KIND, options);
  }
}
