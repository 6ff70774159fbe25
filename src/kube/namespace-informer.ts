// Namespace objects read live from the cluster (list, then watch), for policies with a
// namespaceSelector or that read namespaceObject: an AdmissionReview does not carry the namespace's
// labels. The same NamespaceSource as the file catalog in src/server/namespace-catalog.ts, for
// `daemonguard serve --namespaces-from-cluster`. Needs get/list/watch on namespaces and nothing else
// (deploy/base/rbac.yaml).
//
// Lookups answer from memory on the hot path. The first list must succeed before the server starts
// (a server that does not know the labels would fail every namespaceSelector policy); after that, a
// broken watch is restarted and the last known namespaces keep answering in the meantime.

import { CoreV1Api, KubeConfig, makeInformer, type Informer, type V1Namespace } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { JsonObject } from '../engine/types.js';
import type { NamespaceSource } from '../common/namespace-source.js';

export interface ClusterNamespaceCatalogOptions {
  logger: Logger;
  /** Default: in-cluster service account, else $KUBECONFIG or ~/.kube/config. */
  kubeConfig?: KubeConfig;
  /** Pause before the watch is restarted after an error (default 2 s). */
  retryDelayMs?: number;
  /** How many times the first list is tried before start() gives up (default 5). */
  startAttempts?: number;
}

/** A plain JSON Namespace, as an AdmissionReview would carry it (client-node hands out Dates and class instances). */
function plainNamespace(namespace: V1Namespace): JsonObject {
  return { ...(JSON.parse(JSON.stringify(namespace)) as JsonObject), apiVersion: 'v1', kind: 'Namespace' };
}

export class ClusterNamespaceCatalog implements NamespaceSource {
  private readonly namespaces = new Map<string, JsonObject>();
  private informer: Informer<V1Namespace> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly options: ClusterNamespaceCatalogOptions) {}

  get(name: string): JsonObject | undefined {
    return this.namespaces.get(name);
  }

  get size(): number {
    return this.namespaces.size;
  }

  /** Lists the namespaces (rejecting when that keeps failing) and keeps watching them. */
  async start(): Promise<void> {
    const { logger } = this.options;
    const kubeConfig = this.options.kubeConfig ?? defaultKubeConfig();
    const core = kubeConfig.makeApiClient(CoreV1Api);
    // client-node's informer reports a failed list through its 'error' callbacks, never by rejecting
    // start(): the first outcome is caught here to tell a started catalog from a failed one.
    let settleStart: ((outcome: Error | V1Namespace[]) => void) | undefined;
    const informer = makeInformer<V1Namespace>(kubeConfig, '/api/v1/namespaces', async () => {
      const list = await core.listNamespace();
      settleStart?.(list.items);
      settleStart = undefined;
      return list;
    });
    const remember = (namespace: V1Namespace): void => {
      const name = namespace.metadata?.name;
      if (name !== undefined) this.namespaces.set(name, plainNamespace(namespace));
    };
    informer.on('add', remember);
    informer.on('update', remember);
    informer.on('delete', (namespace) => {
      if (namespace.metadata?.name !== undefined) this.namespaces.delete(namespace.metadata.name);
    });
    informer.on('error', (error: unknown) => {
      if (settleStart !== undefined) {
        settleStart(error instanceof Error ? error : new Error(String(error)));
        settleStart = undefined;
        return;
      }
      if (this.closed) return;
      logger.warn({ err: error }, 'namespace watch failed; restarting it, the last known namespaces keep answering');
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => {
        if (!this.closed) void informer.start();
      }, this.options.retryDelayMs ?? 2_000);
      this.retryTimer.unref();
    });
    this.informer = informer;

    const attempts = this.options.startAttempts ?? 5;
    for (let attempt = 1; ; attempt++) {
      const outcome = new Promise<Error | V1Namespace[]>((resolve) => (settleStart = resolve));
      void informer.start();
      const result = await outcome;
      if (Array.isArray(result)) {
        for (const namespace of result) remember(namespace);
        break;
      }
      if (attempt >= attempts || this.closed) {
        await informer.stop();
        throw new Error(`cannot list namespaces from ${kubeConfig.getCurrentCluster()?.server ?? 'the cluster'}: ${result.message}`, { cause: result });
      }
      logger.warn({ err: result, attempt }, 'listing namespaces failed; trying again');
      await new Promise((resolve) => setTimeout(resolve, this.options.retryDelayMs ?? 2_000));
    }
    logger.info({ namespaces: this.namespaces.size }, 'namespaces listed from the cluster; watching for changes');
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    void this.informer?.stop().catch(() => undefined);
  }
}

/** The in-cluster service account when running in a pod, else $KUBECONFIG or ~/.kube/config. */
export function defaultKubeConfig(): KubeConfig {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromDefault();
  return kubeConfig;
}
