// daemonguard's own custom objects (DaemonSetPolicy, DaemonSetPolicyException) read live from the
// cluster: listed, then watched (list-watch.ts), as src/kube/namespace-informer.ts does
// for namespaces. The webhook never asks the apiserver on a request: it reads what this cache last
// delivered through onChange.
//
// Unlike the namespace catalog, start() does not wait: a replica that has not listed the objects yet
// serves nothing and reports not ready (the store it feeds has no set), and keeps trying; a missing CRD
// or a missing permission shows as a log line every retry, not as a crash loop.

import type { Logger } from 'pino';
import type { KubeConfig } from './kube-config.js';
import { ListWatch } from './list-watch.js';
import { DEFAULT_PAGE_SIZE, listAll, type ListedResource } from './paged-list.js';
import { RestartingWatch } from './restarting-watch.js';

export interface CustomResource {
  group: string;
  version: string;
  plural: string;
  kind: string;
  /** Namespaced kinds are listed and watched in every namespace. */
  namespaced?: boolean;
}

/** What to watch: a custom resource of daemonguard's, or any collection (the ConfigMaps of one namespace). */
export type WatchedObjects = CustomResource | ListedResource;

/** An object as listed or watched: plain JSON with the usual metadata. */
export interface KubeObject {
  metadata?: { name?: string; namespace?: string; [field: string]: unknown };
  [field: string]: unknown;
}

export interface CustomObjectWatchOptions {
  resource: WatchedObjects;
  logger: Logger;
  kubeConfig: KubeConfig;
  /** The whole list as it is now: after the first list and after every change (coalesced). */
  onChange(objects: readonly KubeObject[]): void;
  /** Pause before a failed list or watch is tried again (default 2 s). */
  retryDelayMs?: number;
}

/** The collection of `resource`: its path, and the apiVersion and kind its list items are given. */
export function listedResource(resource: WatchedObjects): ListedResource {
  if ('path' in resource) return resource;
  return { path: `/apis/${resource.group}/${resource.version}/${resource.plural}`, apiVersion: `${resource.group}/${resource.version}`, kind: resource.kind };
}

/** A plain JSON copy (the cache's objects stay private). */
function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

export class CustomObjectWatch {
  private informer: ListWatch | undefined;
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
    const { logger, kubeConfig } = this.options;
    const resource = listedResource(this.options.resource);
    const path = resource.path;
    const informer = new ListWatch({
      kubeConfig,
      path,
      list: async () => {
        const listed = await listAll(kubeConfig, resource, DEFAULT_PAGE_SIZE);
        if (!this.listed) logger.info({ resource: path, objects: listed.items.length }, 'custom objects listed; watching for changes');
        return listed;
      },
      onList: () => {
        this.listed = true;
        this.schedule();
      },
    });
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
  list(): KubeObject[] {
    return (this.informer?.list() ?? []).map((object) => plain(object) as KubeObject);
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
