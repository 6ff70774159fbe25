// Objects of one kind read live from the cluster (list, then watch), kept in memory as plain JSON for
// the request path: the namespace catalog (namespace-informer.ts), the node catalog (node-informer.ts)
// and the background audit's DaemonSet cache (daemonset-informer.ts) are this with a resource path
// and a list call.
//
// The first list must succeed before the server starts (a server that does not know the objects
// would answer differently than it will a moment later); after that, a broken watch is restarted and
// the last known objects keep answering in the meantime.
import type { Logger } from 'pino';
import type { JsonObject } from '../common/vocabulary.js';
import { KubeConfig } from './kube-config.js';
import { ListWatch } from './list-watch.js';
import { DEFAULT_PAGE_SIZE, listAll } from './paged-list.js';
import { DEFAULT_RESTART_DELAY_MS, RestartingWatch } from './restarting-watch.js';

export interface ClusterCatalogOptions {
  logger: Logger;
  /** Default: in-cluster service account, else $KUBECONFIG or ~/.kube/config. */
  kubeConfig?: KubeConfig;
  /** Pause before the watch is restarted after an error (default 2 s). */
  retryDelayMs?: number;
  /** How many times the first list is tried before start() gives up (default 5). */
  startAttempts?: number;
}

/** What differs between kinds: where they are listed and watched, and what is kept of each. */
export interface CatalogKind {
  /** Plural for logs and errors ("namespaces"). */
  plural: string;
  kind: string;
  /** The apiVersion each object is given (default v1): list items carry none. */
  apiVersion?: string;
  /** The collection's path, `/api/v1/namespaces`: listed in pages, then watched. */
  path: string;
  /** What is kept of each object (default: all of it). */
  keep?(object: JsonObject): JsonObject;
}

/** Told of every change after the first list: the object before (undefined when added) and after (undefined when deleted). */
export type CatalogChangeListener = (before: JsonObject | undefined, after: JsonObject | undefined) => void;

export class ClusterCatalog {
  protected readonly objects = new Map<string, JsonObject>();
  private watch: RestartingWatch | undefined;
  private closed = false;
  private listed = false;
  private readonly listeners: CatalogChangeListener[] = [];

  constructor(
    private readonly objectKind: CatalogKind,
    private readonly options: ClusterCatalogOptions,
  ) {}

  get(name: string): JsonObject | undefined {
    return this.objects.get(name);
  }

  get size(): number {
    return this.objects.size;
  }

  /** Every object as last seen (the cache's own objects: read them, never change them). */
  values(): JsonObject[] {
    return [...this.objects.values()];
  }

  /** Calls `listener` on each add, update and delete seen by the watch once the first list is in. */
  onObjectChange(listener: CatalogChangeListener): void {
    this.listeners.push(listener);
  }

  private tell(before: JsonObject | undefined, after: JsonObject | undefined): void {
    if (!this.listed) return;
    for (const listener of this.listeners) listener(before, after);
  }

  /** Called after every change (add, update, delete), for views derived from the objects. */
  protected changed(): void {}

  /** Lists the objects (rejecting when that keeps failing) and keeps watching them. */
  async start(): Promise<void> {
    const { logger } = this.options;
    const { plural, kind, path } = this.objectKind;
    const kubeConfig = this.options.kubeConfig ?? defaultKubeConfig();
    const apiVersion = this.objectKind.apiVersion ?? 'v1';
    // The informer reports a failed list through its 'error' listeners: the first outcome is caught
    // here to tell a started catalog from a failed one.
    let settleStart: ((outcome: Error | undefined) => void) | undefined;
    const informer = new ListWatch({
      kubeConfig,
      path,
      list: () => listAll(kubeConfig, { path, apiVersion, kind }, DEFAULT_PAGE_SIZE),
      onList: () => {
        settleStart?.(undefined);
        settleStart = undefined;
      },
      keep: (object) => {
        const typed = { ...object, apiVersion, kind };
        return this.objectKind.keep ? this.objectKind.keep(typed) : typed;
      },
    });
    const remember = (object: JsonObject, key: string): void => {
      const before = this.objects.get(key);
      this.objects.set(key, object);
      this.changed();
      this.tell(before, object);
    };
    informer.on('add', remember);
    informer.on('update', remember);
    informer.on('delete', (_object, key) => {
      const before = this.objects.get(key);
      if (before === undefined) return;
      this.objects.delete(key);
      this.changed();
      this.tell(before, undefined);
    });
    this.watch = new RestartingWatch(informer, {
      // A failed first list goes to the start loop below, which tries it startAttempts times.
      claim: (error) => {
        if (settleStart === undefined) return false;
        settleStart(error instanceof Error ? error : new Error(String(error)));
        settleStart = undefined;
        return true;
      },
      onRestart: (error) => logger.warn({ err: error }, `${kind.toLowerCase()} watch failed; restarting it, the last known ${plural} keep answering`),
      ...(this.options.retryDelayMs === undefined ? {} : { retryDelayMs: this.options.retryDelayMs }),
    });

    const attempts = this.options.startAttempts ?? 5;
    for (let attempt = 1; ; attempt++) {
      const outcome = new Promise<Error | undefined>((resolve) => (settleStart = resolve));
      void informer.start();
      const result = await outcome;
      if (result === undefined) break;
      if (attempt >= attempts || this.closed) {
        await informer.stop();
        throw new Error(`cannot list ${plural} from ${kubeConfig.currentCluster()?.server ?? 'the cluster'}: ${result.message}`, { cause: result });
      }
      logger.warn({ err: result, attempt }, `listing ${plural} failed; trying again`);
      await new Promise((resolve) => setTimeout(resolve, this.options.retryDelayMs ?? DEFAULT_RESTART_DELAY_MS));
    }
    this.listed = true;
    logger.info({ [plural]: this.objects.size }, `${plural} listed from the cluster; watching for changes`);
  }

  close(): void {
    this.closed = true;
    this.watch?.close();
  }
}

/** $KUBECONFIG, else ~/.kube/config, else the in-cluster service account when running in a pod. */
export function defaultKubeConfig(): KubeConfig {
  return KubeConfig.fromDefault();
}
