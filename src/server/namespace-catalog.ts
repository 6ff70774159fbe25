// Namespace objects for policies that look at the request's namespace (match.namespaceSelector,
// `namespaceObject` in CEL). An AdmissionReview does not carry the namespace's labels, so the server
// must know them itself. This catalog reads them from a file (`kubectl get namespaces -o yaml`), watched
// and reloaded like the policies; a live informer on the cluster can implement the same NamespaceLookup.

import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { parseAllDocuments } from 'yaml';
import type { JsonObject } from '../engine/types.js';
import { fingerprintPaths } from './policy-store.js';

/** Answers synchronously from memory: it is called on the hot path of every review. */
export interface NamespaceLookup {
  /** The Namespace object, or undefined when it is not known (policies that need it then fail by their failurePolicy). */
  get(name: string): JsonObject | undefined;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Reads Namespace objects from YAML or JSON text: a Namespace, a List / NamespaceList of them (as
 * `kubectl get namespaces -o yaml` prints), or several YAML documents. Anything else is an error naming the file.
 */
export function parseNamespaces(text: string, file: string): Map<string, JsonObject> {
  const namespaces = new Map<string, JsonObject>();
  const documents = parseAllDocuments(text);
  for (const document of documents) {
    if (document.errors.length > 0) {
      const [error] = document.errors;
      const position = error?.linePos?.[0];
      throw new Error(`${file}:${position?.line ?? 1}:${position?.col ?? 1}: ${error?.message ?? 'invalid YAML'}`);
    }
    const value: unknown = document.toJS();
    if (value === null || value === undefined) continue;
    const items = isObject(value) && Array.isArray(value['items']) ? value['items'] : [value];
    for (const item of items) {
      if (!isObject(item) || item['kind'] !== 'Namespace' || !isObject(item['metadata']) || typeof item['metadata']['name'] !== 'string') {
        throw new Error(`${file}: expected Namespace objects (kind: Namespace with metadata.name), or a List of them`);
      }
      namespaces.set(item['metadata']['name'], item);
    }
  }
  return namespaces;
}

export interface FileNamespaceCatalogOptions {
  file: string;
  logger: Logger;
  debounceMs?: number;
  /** Fallback polling; 0 turns it off (default 10 s). */
  pollIntervalMs?: number;
}

/** Namespaces from a file, reloaded when it changes; a broken change keeps the previous namespaces. */
export class FileNamespaceCatalog implements NamespaceLookup {
  private namespaces = new Map<string, JsonObject>();
  private fingerprint = '';
  private watcher: FSWatcher | undefined;
  private debounceTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly options: FileNamespaceCatalogOptions) {}

  get(name: string): JsonObject | undefined {
    return this.namespaces.get(name);
  }

  get size(): number {
    return this.namespaces.size;
  }

  /** Reads the file (rejecting when it is missing or malformed) and starts watching it. */
  async start(): Promise<void> {
    await this.load(true);
    const folder = path.dirname(path.resolve(this.options.file));
    try {
      this.watcher = watch(folder, { persistent: false }, () => this.schedule());
      this.watcher.on('error', (error) => this.options.logger.warn({ err: error, folder }, 'namespace file watch failed; polling continues'));
    } catch (error) {
      this.options.logger.warn({ err: error, folder }, 'cannot watch the namespace file; polling continues');
    }
    const pollIntervalMs = this.options.pollIntervalMs ?? 10_000;
    if (pollIntervalMs > 0) {
      this.pollTimer = setInterval(() => void this.load(false), pollIntervalMs);
      this.pollTimer.unref();
    }
  }

  close(): void {
    this.closed = true;
    this.watcher?.close();
    clearTimeout(this.debounceTimer);
    clearInterval(this.pollTimer);
  }

  private schedule(): void {
    if (this.closed) return;
    clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => void this.load(false), this.options.debounceMs ?? 250);
    this.debounceTimer.unref();
  }

  private async load(initial: boolean): Promise<void> {
    const { file, logger } = this.options;
    const fingerprint = await fingerprintPaths([file]);
    if (!initial && (fingerprint === this.fingerprint || this.closed)) return;
    this.fingerprint = fingerprint;
    try {
      this.namespaces = parseNamespaces(await readFile(file, 'utf8'), file);
      logger.info({ file, namespaces: [...this.namespaces.keys()] }, initial ? 'namespaces loaded' : 'namespaces reloaded');
    } catch (error) {
      if (initial) throw error;
      logger.error({ err: error, file }, 'namespace file change refused; the previous namespaces stay in use');
    }
  }
}
