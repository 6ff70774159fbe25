// The list-then-watch loop of an informer, on raw JSON: list the collection (in pages), then watch it
// from the list's resourceVersion, and keep watching from the last version seen when the apiserver
// ends a watch (it does, every few minutes, and so does this loop: client-go's timeoutSeconds of 5 to
// 10 minutes, so a connection that silently died is noticed). An expired version (410 Gone, as a
// status or as an ERROR event) lists again, and what disappeared meanwhile is reported deleted.
//
// Any other failure (a refused list, a 403, a dropped connection) is told to the 'error' listeners
// and the loop stops: its owner restarts it (restarting-watch.ts), and the objects last seen stay.
// It keeps what `keep` returns of each object, so a cache that needs a few fields of a large object
// (nodes) never holds the rest.
import type { IncomingMessage } from 'node:http';
import { isJsonObject, type JsonObject } from '../common/vocabulary.js';
import type { KubeConfig } from './kube-config.js';
import { KubeApiError, answerMessage, clusterServer, openKubeRequest, readAnswerBody } from './kube-request.js';
import type { RestartableInformer } from './restarting-watch.js';

/** A list of the collection: its items and the resourceVersion to watch from. */
export interface ListedObjects {
  items: JsonObject[];
  resourceVersion: string;
}

export interface ListWatchOptions {
  kubeConfig: KubeConfig;
  /** The collection's path, e.g. /api/v1/namespaces; the watch is its ?watch=true. */
  path: string;
  list(): Promise<ListedObjects>;
  /** What is kept of each object and handed to the listeners (default: all of it). */
  keep?(object: JsonObject): JsonObject;
  /** Called after each list has been applied (its objects told to the listeners). */
  onList?(): void;
}

/** Called with the object as kept, and its key (namespace/name, or name for cluster-scoped objects). */
export type ObjectListener = (object: JsonObject, key: string) => void;

/** A watch that ended before this long after it started waits the rest of it before the next one. */
const MIN_WATCH_MS = 1_000;

function metadataOf(object: JsonObject): JsonObject {
  return isJsonObject(object.metadata) ? object.metadata : {};
}

function keyOf(object: JsonObject): string | undefined {
  const metadata = metadataOf(object);
  if (typeof metadata.name !== 'string') return undefined;
  return typeof metadata.namespace === 'string' && metadata.namespace !== '' ? `${metadata.namespace}/${metadata.name}` : metadata.name;
}

function versionOf(object: JsonObject): string {
  const version = metadataOf(object).resourceVersion;
  return typeof version === 'string' ? version : '';
}

/** A watch the apiserver ended with 410 Gone: the version is too old, list again. */
class Expired extends Error {}

export class ListWatch implements RestartableInformer {
  private readonly objects = new Map<string, { version: string; object: JsonObject }>();
  private readonly listeners = { add: [] as ObjectListener[], update: [] as ObjectListener[], delete: [] as ObjectListener[], error: [] as ((error: unknown) => void)[] };
  private resourceVersion = '';
  /** Increased by every start and stop: a loop whose run is no longer current ends. */
  private run = 0;
  /**
   * Ends the current watch: aborts its request while it connects, destroys its response (without an
   * error) once it streams. Aborting a request whose response has already ended would destroy its
   * socket with an AbortError after the request let go of it, an 'error' event nobody listens to:
   * an uncaught exception.
   */
  private closeWatch: (() => void) | undefined;

  constructor(private readonly options: ListWatchOptions) {}

  on(event: 'add' | 'update' | 'delete', listener: ObjectListener): void;
  on(event: 'error', listener: (error: unknown) => void): void;
  on(event: 'add' | 'update' | 'delete' | 'error', listener: ObjectListener | ((error: unknown) => void)): void {
    (this.listeners[event] as unknown[]).push(listener);
  }

  /** The objects as last seen (as kept). */
  list(): JsonObject[] {
    return [...this.objects.values()].map((entry) => entry.object);
  }

  /** Starts the loop (again, after an error); returns at once. */
  start(): Promise<void> {
    this.closeWatch?.();
    const run = ++this.run;
    void this.loop(run);
    return Promise.resolve();
  }

  stop(): Promise<void> {
    this.run++;
    this.closeWatch?.();
    this.closeWatch = undefined;
    return Promise.resolve();
  }

  private async loop(run: number): Promise<void> {
    while (run === this.run) {
      try {
        if (this.resourceVersion === '') await this.relist(run);
        if (run !== this.run) return;
        const began = Date.now();
        await this.watchOnce(run);
        const early = began + MIN_WATCH_MS - Date.now();
        if (early > 0) await new Promise((resolve) => setTimeout(resolve, early).unref());
      } catch (error) {
        if (run !== this.run) return;
        if (error instanceof Expired) {
          this.resourceVersion = '';
          continue;
        }
        this.run++;
        for (const listener of this.listeners.error) listener(error);
        return;
      }
    }
  }

  private async relist(run: number): Promise<void> {
    const listed = await this.options.list();
    if (run !== this.run) return;
    const seen = new Set<string>();
    for (const object of listed.items) {
      const key = keyOf(object);
      if (key === undefined) continue;
      seen.add(key);
      this.remember(key, object);
    }
    for (const [key, { object }] of this.objects) {
      if (seen.has(key)) continue;
      this.objects.delete(key);
      for (const listener of this.listeners.delete) listener(object, key);
    }
    this.resourceVersion = listed.resourceVersion;
    this.options.onList?.();
  }

  private remember(key: string, object: JsonObject): void {
    const version = versionOf(object);
    const known = this.objects.get(key);
    if (known !== undefined && version !== '' && known.version === version) return;
    const kept = this.options.keep ? this.options.keep(object) : object;
    this.objects.set(key, { version, object: kept });
    for (const listener of known === undefined ? this.listeners.add : this.listeners.update) listener(kept, key);
  }

  private forget(key: string): void {
    const known = this.objects.get(key);
    if (known === undefined) return;
    this.objects.delete(key);
    for (const listener of this.listeners.delete) listener(known.object, key);
  }

  /** One watch, until the apiserver (or the timeout it was given) ends it; rejects on any failure. */
  private async watchOnce(run: number): Promise<void> {
    const { kubeConfig, path } = this.options;
    const url = new URL(`${clusterServer(kubeConfig)}${path}`);
    url.searchParams.set('watch', 'true');
    url.searchParams.set('resourceVersion', this.resourceVersion);
    url.searchParams.set('allowWatchBookmarks', 'true');
    url.searchParams.set('timeoutSeconds', String(300 + Math.floor(Math.random() * 300)));
    const abort = new AbortController();
    this.closeWatch = () => abort.abort();
    let response: IncomingMessage;
    try {
      response = await openKubeRequest(kubeConfig, 'GET', url, { Accept: 'application/json' }, undefined, abort.signal);
    } catch (error) {
      if (run !== this.run) return;
      throw new Error(`cannot watch ${path}: ${(error as Error).message}`, { cause: error });
    }
    const closeResponse = (): void => void response.destroy();
    if (run !== this.run) {
      closeResponse();
      return;
    }
    this.closeWatch = closeResponse;
    if (response.statusCode !== 200) {
      const body = await readAnswerBody(response).catch(() => 'no body');
      if (response.statusCode === 410) throw new Expired();
      throw new KubeApiError(response.statusCode ?? 0, `watching ${path}: HTTP ${response.statusCode}: ${answerMessage(body)}`);
    }
    // TCP keep-alive probes notice a peer that vanished without closing (a node that died).
    response.socket.setKeepAlive(true, 30_000);
    await new Promise<void>((resolve, reject) => {
      let pending = '';
      let failed = false;
      const fail = (error: Error): void => {
        failed = true;
        closeResponse();
        reject(error);
      };
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        if (failed || run !== this.run) return;
        pending += chunk;
        // One event per line; the rest of the last line waits for the next chunk.
        let start = 0;
        for (let newline = pending.indexOf('\n'); newline >= 0; newline = pending.indexOf('\n', start)) {
          const line = pending.slice(start, newline);
          start = newline + 1;
          if (line.trim() === '') continue;
          try {
            this.event(line);
          } catch (error) {
            fail(error as Error);
            return;
          }
        }
        pending = pending.slice(start);
      });
      response.on('end', () => (failed ? undefined : resolve()));
      response.on('error', (error) => (failed ? undefined : run === this.run ? reject(new Error(`watching ${path}: ${error.message}`, { cause: error })) : resolve()));
      response.on('close', () => (failed ? undefined : resolve()));
    });
  }

  private event(line: string): void {
    const event = JSON.parse(line) as unknown;
    if (!isJsonObject(event) || !isJsonObject(event.object)) throw new Error(`watching ${this.options.path}: an event without an object: ${line.slice(0, 200)}`);
    const object = event.object;
    if (event.type === 'ERROR') {
      if (object.code === 410) throw new Expired();
      // Whatever broke, the next start lists again rather than trusting the version it had.
      this.resourceVersion = '';
      throw new KubeApiError(typeof object.code === 'number' ? object.code : 0, `watching ${this.options.path}: ${answerMessage(object)}`);
    }
    const key = keyOf(object);
    if (event.type === 'ADDED' || event.type === 'MODIFIED') {
      if (key !== undefined) this.remember(key, object);
    } else if (event.type === 'DELETED') {
      if (key !== undefined) this.forget(key);
    } else if (event.type !== 'BOOKMARK') {
      return;
    }
    const version = versionOf(object);
    if (version !== '') this.resourceVersion = version;
  }
}
