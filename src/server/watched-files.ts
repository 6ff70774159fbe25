// Files the server reloads without a restart (policies, the TLS certificate and key, the namespaces
// file), watched for changes in one way.
//
// fs.watch is the fast path, on folders rather than on the files: editors replace a file instead of
// writing into it, and a Kubernetes ConfigMap or Secret volume changes by swapping its `..data` symlink,
// which a watch on the old file never reports. A save or a rotation is a burst of events, so the
// callback waits for a quiet moment (debounce). Polling compares the contents on a timer, for mounts
// where fs.watch stays silent. Whatever noticed it, the callback runs only when the contents differ
// from what it last saw, and never while its previous run is still going.

import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';

/** How files are noticed to change; the options of everything that reloads files take these. */
export interface WatchTiming {
  /** Quiet time after the last file event before the contents are compared (default 250 ms). */
  debounceMs?: number;
  /** How often the contents are compared without an event; 0 turns polling off (default 10 s). */
  pollIntervalMs?: number;
  /** Use fs.watch (default true); polling alone still notices changes. */
  watch?: boolean;
}

export interface WatchedFilesOptions extends WatchTiming {
  /** Files or folders; a folder counts every file below it, except dot-entries such as a ConfigMap's `..data`. */
  paths: readonly string[];
  /** What the files are, for log lines: "policy", "TLS", "namespace". */
  what: string;
  /** Runs after the contents changed. It reports its own failures; the next change calls it again. */
  onChange: () => Promise<void>;
  logger: Logger;
}

/** Lists the files under the given paths (folders recursively, dot-entries skipped); a missing path is listed as such. */
async function listFiles(paths: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  async function visit(entry: string, top: boolean): Promise<void> {
    let info;
    try {
      info = await stat(entry);
    } catch {
      if (top) files.push(`${entry}\u0000missing`);
      return;
    }
    if (info.isDirectory()) {
      const names = (await readdir(entry).catch(() => [] as string[])).filter((name) => !name.startsWith('.')).sort();
      for (const name of names) await visit(path.join(entry, name), false);
    } else if (info.isFile()) {
      files.push(entry);
    }
  }
  for (const entry of paths) await visit(entry, true);
  return files;
}

/** A digest of every file's name and content under the paths: it changes when anything a reload would read changes. */
export async function fingerprintPaths(paths: readonly string[]): Promise<string> {
  const hash = createHash('sha256');
  for (const file of await listFiles(paths)) {
    hash.update(file).update('\u0000');
    if (!file.endsWith('\u0000missing')) {
      hash.update(await readFile(file).catch(() => Buffer.from('\u0000unreadable')));
    }
    hash.update('\u0000');
  }
  return hash.digest('hex');
}

const DEFAULT_DEBOUNCE_MS = 250;
const DEFAULT_POLL_INTERVAL_MS = 10_000;

export class WatchedFiles {
  private fingerprint = '';
  private readonly watchers: FSWatcher[] = [];
  private debounceTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private comparing: Promise<void> | undefined;
  private compareAgain = false;
  private closed = false;

  private readonly pollIntervalMs: number;

  constructor(private readonly options: WatchedFilesOptions) {
    this.pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  }

  /**
   * Remembers the contents, runs `load` (the owner's first read of them), then starts watching and
   * polling. The contents are remembered before `load` reads them and compared once more after the
   * watches are in place, so a change made meanwhile is not lost. When `load` rejects, start rejects
   * with its error and nothing is watched.
   */
  async start(load: () => Promise<void>): Promise<void> {
    this.fingerprint = await fingerprintPaths(this.options.paths);
    await load();
    if (this.closed) return;
    if (this.options.watch ?? true) await this.watchFolders();
    if (this.pollIntervalMs > 0 && !this.closed) {
      this.pollTimer = setInterval(() => void this.compare(), this.pollIntervalMs);
      this.pollTimer.unref();
    }
    await this.compare();
  }

  /** Stops watching and polling; no callback starts after this (one already running finishes). */
  close(): void {
    this.closed = true;
    for (const watcher of this.watchers) watcher.close();
    this.watchers.length = 0;
    clearTimeout(this.debounceTimer);
    clearInterval(this.pollTimer);
  }

  /** Compares the contents with the last ones seen and calls back when they differ; calls made meanwhile compare once more afterwards. */
  private compare(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.comparing !== undefined) {
      this.compareAgain = true;
      return this.comparing;
    }
    this.comparing = this.compareUntilSettled().finally(() => {
      this.comparing = undefined;
    });
    return this.comparing;
  }

  private async compareUntilSettled(): Promise<void> {
    do {
      this.compareAgain = false;
      const fingerprint = await fingerprintPaths(this.options.paths);
      if (this.closed) return;
      if (fingerprint === this.fingerprint) continue;
      // Remembered before the callback runs: contents it refuses are not retried until they change again.
      this.fingerprint = fingerprint;
      try {
        await this.options.onChange();
      } catch (error) {
        this.options.logger.error({ err: error }, `reloading the ${this.options.what} files failed`);
      }
    } while (this.compareAgain && !this.closed);
  }

  private schedule(): void {
    if (this.closed) return;
    clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => void this.compare(), this.options.debounceMs ?? DEFAULT_DEBOUNCE_MS);
    this.debounceTimer.unref();
  }

  /** A folder is watched recursively; a file through its folder, where a replacement or a `..data` swap shows. */
  private async watchFolders(): Promise<void> {
    const { logger, what } = this.options;
    const fallback = this.pollIntervalMs > 0 ? 'polling continues' : 'changes are noticed only after a restart';
    const targets = new Map<string, boolean>();
    for (const entry of this.options.paths.map((item) => path.resolve(item))) {
      try {
        if ((await stat(entry)).isDirectory()) targets.set(entry, true);
        else if (targets.get(path.dirname(entry)) !== true) targets.set(path.dirname(entry), false);
      } catch (error) {
        logger.warn({ err: error, path: entry }, `cannot watch the ${what} files; ${fallback}`);
      }
    }
    for (const [folder, recursive] of targets) {
      if (this.closed) return;
      try {
        const watcher = watch(folder, { recursive, persistent: false }, () => this.schedule());
        watcher.on('error', (error) => logger.warn({ err: error, folder }, `watching the ${what} files failed; ${fallback}`));
        this.watchers.push(watcher);
      } catch (error) {
        logger.warn({ err: error, folder }, `cannot watch the ${what} files; ${fallback}`);
      }
    }
  }
}
