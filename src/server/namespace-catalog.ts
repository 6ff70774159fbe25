// Namespace objects for policies that look at the request's namespace (match.namespaceSelector,
// `namespaceObject` in CEL). An AdmissionReview does not carry the namespace's labels, so the server
// must know them itself. This catalog reads them from a file (`kubectl get namespaces -o yaml`), watched
// and reloaded like the policies; the cluster informer (src/kube/namespace-informer.ts) is the other NamespaceSource.
//
// A file can be read while it is being written: a writer that truncates and then writes (`>` in a shell,
// many editors' in-place save, a config tool) leaves it empty or half written for a moment. Losing the
// catalog then is not harmless: every review of a policy that selects by namespace fails closed. So a
// read is trusted only when a second read a moment later gives the same text (the writer is done), and
// a file with no documents at all never replaces namespaces already loaded, since that is exactly what
// a truncation looks like; "no namespaces" is said explicitly with an empty List (`items: []`). A
// read that does not parse keeps the last good catalog and logs why, like a broken policy file.

import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
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
  return readNamespaceDocuments(text, file).namespaces;
}

/** The namespaces in the text and how many documents held anything (0 for an empty or comment-only file). */
function readNamespaceDocuments(text: string, file: string): { namespaces: Map<string, JsonObject>; documents: number } {
  const namespaces = new Map<string, JsonObject>();
  let documents = 0;
  for (const { value } of parseSourceText(file, text)) {
    if (value === null) continue;
    documents++;
    const items = isObject(value) && Array.isArray(value['items']) ? value['items'] : [value];
    for (const item of items) {
      if (!isObject(item) || item['kind'] !== 'Namespace' || !isObject(item['metadata']) || typeof item['metadata']['name'] !== 'string') {
        throw new Error(`${file}: expected Namespace objects (kind: Namespace with metadata.name), or a List of them`);
      }
      namespaces.set(item['metadata']['name'], item);
    }
  }
  return { namespaces, documents };
}

export interface FileNamespaceCatalogOptions extends WatchTiming {
  file: string;
  logger: Logger;
  /** How long to wait before reading the file again to see that it is no longer being written (default 100 ms). */
  settleMs?: number;
  /** Waits between two reads; the default sleeps settleMs (tests step in here to write between the reads). */
  settle?: () => Promise<void>;
}

/** Reads that may disagree before a file counts as still being written and the change is refused. */
const MAX_READS = 5;
const DEFAULT_SETTLE_MS = 100;

/** What a reload did: the namespaces were replaced, or the change was refused and the previous ones stay. */
export type NamespaceReload = 'reloaded' | 'refused';

/** Namespaces from a file, reloaded when it changes; a broken, empty or still-changing file keeps the previous namespaces. */
export class FileNamespaceCatalog implements NamespaceSource {
  private namespaces = new Map<string, JsonObject>();
  private loaded = false;
  private readonly files: WatchedFiles;
  private readonly settle: () => Promise<void>;
  /** One load at a time (file events and SIGHUP may ask together); each reads the file as it is when it runs. */
  private loads: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: FileNamespaceCatalogOptions) {
    const settleMs = options.settleMs ?? DEFAULT_SETTLE_MS;
    this.settle = options.settle ?? (() => sleep(settleMs));
    this.files = new WatchedFiles({
      paths: [options.file],
      what: 'namespace',
      onChange: async () => {
        await this.reload('file change');
      },
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
    return this.files.start(async () => {
      const refusal = await this.queue(() => this.load('start'));
      if (refusal !== undefined) throw refusal;
    });
  }

  /** Reads the file again now (a file change, or SIGHUP); a refused change is logged and keeps the previous namespaces. */
  async reload(trigger: string): Promise<NamespaceReload> {
    return (await this.queue(() => this.load(trigger))) === undefined ? 'reloaded' : 'refused';
  }

  close(): void {
    this.files.close();
  }

  private queue(load: () => Promise<Error | undefined>): Promise<Error | undefined> {
    const next = this.loads.then(load);
    this.loads = next.catch(() => undefined);
    return next;
  }

  /** Reads until two reads a settle apart agree: a writer that truncated the file has finished by then. */
  private async readSettled(): Promise<string> {
    const { file } = this.options;
    let text = await readFile(file, 'utf8');
    for (let reads = 1; reads < MAX_READS; reads++) {
      await this.settle();
      const again = await readFile(file, 'utf8');
      if (again === text) return text;
      text = again;
    }
    throw new Error(`${file} was still changing after ${MAX_READS} reads; it is read again on its next change`);
  }

  /** Returns the refusal (logged) or undefined when the namespaces were replaced. */
  private async load(trigger: string): Promise<Error | undefined> {
    const { file, logger } = this.options;
    try {
      const { namespaces, documents } = readNamespaceDocuments(await this.readSettled(), file);
      if (documents === 0 && this.namespaces.size > 0) {
        throw new Error(`${file} is empty (as it is for a moment while some writers rewrite it); to mean no namespaces, write a List with items: []`);
      }
      this.namespaces = namespaces;
      logger.info({ file, trigger, namespaces: [...namespaces.keys()] }, this.loaded ? 'namespaces reloaded' : 'namespaces loaded');
      this.loaded = true;
      return undefined;
    } catch (error) {
      if (!this.loaded) return error as Error;
      logger.error({ err: error, file, trigger }, 'namespace file change refused; the previous namespaces stay in use');
      return error as Error;
    }
  }
}
