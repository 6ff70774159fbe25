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

  /** Replaces the status of the cluster-scoped object `name`. */
  async write(name: string, status: object): Promise<void> {
    const { group, version, plural } = this.resource;
    await this.api.patchClusterCustomObjectStatus(
      { group, version, plural, name, body: { status }, fieldManager: STATUS_FIELD_MANAGER },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  }
}
