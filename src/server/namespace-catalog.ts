// Namespace objects for policies that look at the request's namespace (match.namespaceSelector,
// `namespaceObject` in CEL). An AdmissionReview does not carry the namespace's labels, so the server
// must know them itself. This catalog reads them from a file (`kubectl get namespaces -o yaml`), watched
// and reloaded like the policies; the cluster informer (src/kube/namespace-informer.ts) is the other NamespaceSource.

import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { parseSourceText } from '../common/yaml-documents.js';
import type { JsonObject } from '../engine/types.js';
import type { NamespaceSource } from '../common/namespace-source.js';
import { WatchedFiles, type WatchTiming } from './watched-files.js';

export type { NamespaceLookup, NamespaceSource } from '../common/namespace-source.js';

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Reads Namespace objects from YAML or JSON text: a Namespace, a List / NamespaceList of them (as
 * `kubectl get namespaces -o yaml` prints), or several YAML documents. Anything else is an error naming the file
 * (and for broken YAML, a SourceReadError naming file:line:column).
 */
export function parseNamespaces(text: string, file: string): Map<string, JsonObject> {
  const namespaces = new Map<string, JsonObject>();
  for (const { value } of parseSourceText(file, text)) {
    if (value === null) continue;
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

export interface FileNamespaceCatalogOptions extends WatchTiming {
  file: string;
  logger: Logger;
}

/** Namespaces from a file, reloaded when it changes; a broken change keeps the previous namespaces. */
export class FileNamespaceCatalog implements NamespaceSource {
  private namespaces = new Map<string, JsonObject>();
  private readonly files: WatchedFiles;

  constructor(private readonly options: FileNamespaceCatalogOptions) {
    this.files = new WatchedFiles({
      paths: [options.file],
      what: 'namespace',
      onChange: () => this.load(false),
      logger: options.logger,
      debounceMs: options.debounceMs,
      pollIntervalMs: options.pollIntervalMs,
      watch: options.watch,
    });
  }

  get(name: string): JsonObject | undefined {
    return this.namespaces.get(name);
  }

  get size(): number {
    return this.namespaces.size;
  }

  /** Reads the file (rejecting when it is missing or malformed) and starts watching it. */
  start(): Promise<void> {
    return this.files.start(() => this.load(true));
  }

  close(): void {
    this.files.close();
  }

  private async load(initial: boolean): Promise<void> {
    const { file, logger } = this.options;
    try {
      this.namespaces = parseNamespaces(await readFile(file, 'utf8'), file);
      logger.info({ file, namespaces: [...this.namespaces.keys()] }, initial ? 'namespaces loaded' : 'namespaces reloaded');
    } catch (error) {
      if (initial) throw error;
      logger.error({ err: error, file }, 'namespace file change refused; the previous namespaces stay in use');
    }
  }
}
