// Namespace objects read live from the cluster (list, then watch), for policies with a
// namespaceSelector or that read namespaceObject: an AdmissionReview does not carry the namespace's
// labels. The same NamespaceSource as the file catalog in src/server/namespace-catalog.ts, for
// `daemonguard serve --namespaces-from-cluster`. Needs get/list/watch on namespaces and nothing else
// (deploy/base/rbac.yaml). Lookups answer from memory on the hot path (cluster-catalog.ts).
import type { NamespaceSource } from '../common/namespace-source.js';
import { ClusterCatalog, type CatalogKind, type ClusterCatalogOptions } from './cluster-catalog.js';

export type ClusterNamespaceCatalogOptions = ClusterCatalogOptions;

const NAMESPACES: CatalogKind = { plural: 'namespaces', kind: 'Namespace', path: '/api/v1/namespaces' };

export class ClusterNamespaceCatalog extends ClusterCatalog implements NamespaceSource {
  constructor(options: ClusterNamespaceCatalogOptions) {
    super(NAMESPACES, options);
  }
}
