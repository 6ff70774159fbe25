// Objects of one kind read live from the cluster (list, then watch), kept in memory as plain JSON for
// the request path: the namespace catalog (namespace-informer.ts), the node catalog (node-informer.ts)
// and the background audit's DaemonSet cache (daemonset-informer.ts) are this with a resource path
// and a list call.
//
// The first list must succeed before the server starts (a server that does not know the objects
// would answer differently than it will a moment later); after that, a broken watch is restarted and
// the last known objects keep answering in the meantime.
import { KubeConfig, makeInformer, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { JsonObject } from '../common/vocabulary.js';
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

/** What differs between kinds: where they are watched and how they are listed. */
export interface CatalogKind<T extends KubernetesObject> {
  /** Plural for logs and errors ("namespaces"). */
  plural: string;
  kind: string;
  /** The apiVersion each object is given (default v1): list items carry none. */
  apiVersion?: string;
  /** Namespaced kinds are kept by namespace/name, cluster-scoped ones by name. */
  namespaced?: boolean;
  /** The watch path, `/api/v1/namespaces`. */
  path: string;
  list(kubeConfig: KubeConfig): Promise<KubernetesListObject<T>>;
  /** What is kept of each object (default: all of it). */
  keep?(object: JsonObject): JsonObject;
}

/** A plain JSON object, as an AdmissionReview would carry it (client-node hands out Dates and class instances). */
export function plainObject(object: KubernetesObject, kind: string, apiVersion = 'v1'): JsonObject {
  return { ...(JSON.parse(JSON.stringify(object)) as JsonObject), apiVersion, kind };
}

/** Told of every change after the first list: the object before (undefined when added) and after (undefined when deleted). */
export type CatalogChangeListener = (before: JsonObject | undefined, after: JsonObject | undefined) => void;

export class ClusterCatalog<T extends KubernetesObject> {
  protected readonly objects = new Map<string, JsonObject>();
  private watch: RestartingWatch | undefined;
  private closed = false;
  private listed = false;
  private readonly listeners: CatalogChangeListener[] = [];

  constructor(
    private readonly objectKind: CatalogKind<T>,
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

  private key(object: KubernetesObject): string | undefined {
    const name = object.metadata?.name;
    if (name === undefined) return undefined;
    return this.objectKind.namespaced === true ? `${object.metadata?.namespace ?? ''}/${name}` : name;
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
    // client-node's informer reports a failed list through its 'error' callbacks, never by rejecting
    // start(): the first outcome is caught here to tell a started catalog from a failed one.
    let settleStart: ((outcome: Error | T[]) => void) | undefined;
    const informer = makeInformer<T>(kubeConfig, path, async () => {
      const list = await this.objectKind.list(kubeConfig);
      settleStart?.(list.items);
      settleStart = undefined;
      return list;
    });
    const remember = (object: T): void => {
      const key = this.key(object);
      if (key === undefined) return;
      const plain = plainObject(object, kind, this.objectKind.apiVersion);
      const kept = this.objectKind.keep ? this.objectKind.keep(plain) : plain;
      const before = this.objects.get(key);
      this.objects.set(key, kept);
      this.changed();
      this.tell(before, kept);
    };
    informer.on('add', remember);
    informer.on('update', remember);
    informer.on('delete', (object) => {
      const key = this.key(object);
      if (key === undefined) return;
      const before = this.objects.get(key);
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
      const outcome = new Promise<Error | T[]>((resolve) => (settleStart = resolve));
      void informer.start();
      const result = await outcome;
      if (Array.isArray(result)) {
        for (const object of result) remember(object);
        break;
      }
      if (attempt >= attempts || this.closed) {
        await informer.stop();
        throw new Error(`cannot list ${plural} from ${kubeConfig.getCurrentCluster()?.server ?? 'the cluster'}: ${result.message}`, { cause: result });
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

/** The in-cluster service account when running in a pod, else $KUBECONFIG or ~/.kube/config. */
export function defaultKubeConfig(): KubeConfig {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromDefault();
  return kubeConfig;
}
