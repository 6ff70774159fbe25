// Writes the status of daemonguard's custom objects through their status subresource (a JSON merge
// patch of `status` alone, so spec and metadata are never touched and the apiserver does not bump the
// generation). Only the replica holding the leader Lease calls this (src/kube/lease-election.ts).

import type { CustomResource } from './custom-object-watch.js';
import type { KubeConfig } from './kube-config.js';
import { clusterServer, kubeApiError, kubeRequest } from './kube-request.js';

/**
 * Who wrote the status, as managedFields show it: one name for every replica, on purpose. The status
 * is the installation's view, written by whichever replica holds the Lease, and field ownership should
 * follow that. Under server-side apply a manager owns what it last applied, and a field it stops
 * sending is removed only when no other manager owns it; with a manager per replica (a suffix of the
 * pod's name), fields a former leader wrote would stay owned by a pod that no longer exists and never
 * be cleaned up, and a new leader changing them would be a conflict to force. The writes here are
 * merge patches (Update operations, which never conflict), where a per-pod name would only add a
 * managedFields entry per pod across rollouts (past ten the apiserver folds the oldest Update managers
 * into one "ancient-changes" entry). Which replica wrote is in its logs and the Lease's holderIdentity.
 */
export const STATUS_FIELD_MANAGER = 'daemonguard';

export class CustomObjectStatusWriter {
  constructor(
    private readonly resource: CustomResource,
    private readonly kubeConfig: KubeConfig,
  ) {}

  /** Replaces the status of the object `name` (in `namespace` for a namespaced kind); rejects with a KubeApiError unless the apiserver took it. */
  async write(name: string, status: object, namespace?: string): Promise<void> {
    const { group, version, plural } = this.resource;
    const scope = namespace === undefined ? '' : `/namespaces/${encodeURIComponent(namespace)}`;
    const path = `/apis/${group}/${version}${scope}/${plural}/${encodeURIComponent(name)}/status`;
    const url = new URL(`${clusterServer(this.kubeConfig)}${path}`);
    url.searchParams.set('fieldManager', STATUS_FIELD_MANAGER);
    const answer = await kubeRequest(this.kubeConfig, 'PATCH', url, { status }, { contentType: 'application/merge-patch+json' });
    if (answer.status !== 200) throw kubeApiError('PATCH', path, answer);
  }
}
