// daemonguard's own custom objects (DaemonSetPolicy, DaemonSetPolicyException) read live from the
// cluster: listed, then watched, through client-node's informer, as src/kube/namespace-informer.ts does
// for namespaces. The webhook never asks the apiserver on a request: it reads what this cache last
// delivered through onChange.
//
// Unlike the namespace catalog, start() does not wait: a replica that has not listed the objects yet
// serves nothing and reports not ready (the store it feeds has no set), and keeps trying; a missing CRD
// or a missing permission shows as a log line every retry, not as a crash loop.

import { CustomObjectsApi, KubeConfig, makeInformer, type Informer, type KubernetesObject, type KubernetesListObject, type ObjectCache } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { RestartingWatch } from './restarting-watch.js';

export interface CustomResource {
  group: string;
  version: string;
  plural: string;
  /** Namespaced kinds are listed and watched in every namespace. */
  namespaced?: boolean;
}

/** What to watch: a custom resource of daemonguard's, or any list path with its list call (ConfigMaps of one namespace). */
export type WatchedObjects = CustomResource | { path: string; list(api: KubeConfig): Promise<KubernetesListObject<KubernetesObject>> };

export interface CustomObjectWatchOptions {
  resource: WatchedObjects;
  logger: Logger;
  kubeConfig: KubeConfig;
  /** The whole list as it is now: after the first list and after every change (coalesced). */
  onChange(objects: readonly KubernetesObject[]): void;
  /** Pause before a failed list or watch is tried again (default 2 s). */
  retryDelayMs?: number;
}

/** A plain JSON object (the informer hands out what the watch decoded; copies keep the cache private). */
function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

export class CustomObjectWatch {
  private informer: (Informer<KubernetesObject> & ObjectCache<KubernetesObject>) | undefined;
  private watch: RestartingWatch | undefined;
  private pending: NodeJS.Immediate | undefined;
  private listed = false;
  private closed = false;

  constructor(private readonly options: CustomObjectWatchOptions) {}

  /** Whether the objects were listed at least once. */
  get synced(): boolean {
    return this.listed;
  }

  /** Starts listing and watching; returns at once (see the top of the file). */
  start(): void {
    const { resource, logger, kubeConfig } = this.options;
    const path = 'path' in resource ? resource.path : `/apis/${resource.group}/${resource.version}/${resource.plural}`;
    const listAll = async (): Promise<KubernetesListObject<KubernetesObject>> => {
      if ('path' in resource) return resource.list(kubeConfig);
      const api = kubeConfig.makeApiClient(CustomObjectsApi);
      const request = { group: resource.group, version: resource.version, plural: resource.plural };
      return (await (resource.namespaced === true ? api.listCustomObjectForAllNamespaces(request) : api.listClusterCustomObject(request))) as KubernetesListObject<KubernetesObject>;
    };
    const informer = makeInformer<KubernetesObject>(
      kubeConfig,
      path,
      async () => {
        const list = await listAll();
        if (!this.listed) logger.info({ resource: path, objects: list.items.length }, 'custom objects listed; watching for changes');
        this.listed = true;
        // The informer fills its cache from this list right after it returns: report once it has.
        this.schedule();
        return list;
      },
    );
    for (const event of ['add', 'update', 'delete'] as const) informer.on(event, () => this.schedule());
    this.watch = new RestartingWatch(informer, {
      onRestart: (error) =>
        logger.warn({ err: error, resource: path, listed: this.listed }, this.listed
          ? 'watching custom objects failed; restarting the watch, the objects last seen keep being served'
          : 'listing custom objects failed (is the CRD installed, and may the service account list it?); trying again'),
      ...(this.options.retryDelayMs === undefined ? {} : { retryDelayMs: this.options.retryDelayMs }),
    });
    this.informer = informer;
    void informer.start();
  }

  /** The objects as last seen. */
  list(): KubernetesObject[] {
    return (this.informer?.list() ?? []).map(plain);
  }

  private schedule(): void {
    if (this.pending !== undefined || this.closed) return;
    this.pending = setImmediate(() => {
      this.pending = undefined;
      if (!this.closed) this.options.onChange(this.list());
    });
  }

  close(): void {
    this.closed = true;
    if (this.pending !== undefined) clearImmediate(this.pending);
    this.watch?.close();
  }
}
