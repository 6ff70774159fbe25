// Writes the status of daemonguard's custom objects through their status subresource (a JSON merge
// patch of `status` alone, so spec and metadata are never touched and the apiserver does not bump the
// generation). Only the replica holding the leader Lease calls this (src/kube/lease-election.ts).

import { CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import type { CustomResource } from './custom-object-watch.js';

/** Who wrote the status, as managedFields show it. */
export const STATUS_FIELD_MANAGER = 'daemonguard';

export class CustomObjectStatusWriter {
  private readonly api: CustomObjectsApi;

  constructor(private readonly resource: CustomResource, kubeConfig: KubeConfig) {
    this.api = kubeConfig.makeApiClient(CustomObjectsApi);
  }

  /** Replaces the status of the object `name` (in `namespace` for a namespaced kind). */
  async write(name: string, status: object, namespace?: string): Promise<void> {
    const { group, version, plural } = this.resource;
    const request = { group, version, plural, name, body: { status }, fieldManager: STATUS_FIELD_MANAGER };
    const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    if (namespace === undefined) await this.api.patchClusterCustomObjectStatus(request, mergePatch);
    else await this.api.patchNamespacedCustomObjectStatus({ ...request, namespace }, mergePatch);
  }
}
