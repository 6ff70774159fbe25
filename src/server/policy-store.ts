// The policy set the server answers with, and its reloading when the files change.
//
// The store knows nothing of how policies are compiled: it is handed a `load(paths)` function (the
// policy loader in production) and keeps whatever that returns. A reload either succeeds completely and
// replaces the set in one assignment, or fails and leaves the last good set serving.

import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { PolicyProblem } from '../policy/load-policies.js';
import type { ServerMetrics } from './metrics.js';

/** What the server needs to know about a policy set; the policy loader's PolicySet satisfies it. */
export interface PolicySetLike {
  readonly policies: readonly { readonly name: string }[];
  readonly files: readonly string[];
}

export type LoadPolicies<P extends PolicySetLike> = (paths: string[]) => Promise<P>;

/** Holds the policy set currently serving. */
export interface PolicyStore<P extends PolicySetLike> {
  /** The set to evaluate requests against, or undefined before the first successful load. */
  current(): P | undefined;
}

/** A store whose set never changes (tests, the CLI's one-shot commands). */
export class StaticPolicyStore<P extends PolicySetLike> implements PolicyStore<P> {
  constructor(private readonly policySet: P) {}
  current(): P {
    return this.policySet;
  }
}

/** One problem of a refused load: the policy loader's own type. */
export type LoadProblem = PolicyProblem;

export type ReloadResult =
  | { ok: true; changed: boolean; policies: number }
  | { ok: false; error: Error; problems: LoadProblem[] };

export interface WatchedPolicyStoreOptions<P extends PolicySetLike> {
  /** Files or folders, as given to `--policies`. */
  paths: string[];
  load: LoadPolicies<P>;
  logger: Logger;
  metrics?: ServerMetrics;
  /** Quiet time after the last file event before reloading (default 250 ms). */
  debounceMs?: number;
  /** How often to compare the files' contents as a fallback for missed events; 0 turns polling off (default 10 s). */
  pollIntervalMs?: number;
  /** Watch with fs.watch (default true). */
  watch?: boolean;
}

function isLoadProblem(value: unknown): value is LoadProblem {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Record<string, unknown>;
  return typeof candidate['file'] === 'string' && typeof candidate['message'] === 'string';
}

/** The problems of a PolicyLoadError (or of anything shaped like one), without importing the loader. */
export function loadProblemsOf(error: unknown): LoadProblem[] {
  if (typeof error !== 'object' || error === null) return [];
  const problems = (error as { problems?: unknown }).problems;
  return Array.isArray(problems) ? problems.filter(isLoadProblem) : [];
}

function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/** Lists the files under the given paths (folders walked recursively, dot-entries such as a ConfigMap's `..data` skipped). */
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

/** A digest of every file's name and content under the paths: changes when anything a load would read changes. */
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

/**
 * A store that loads the policy files, watches them (fs.watch on the folders, plus polling as a fallback
 * for file systems and mounts where events get lost), and reloads atomically on change.
 */
export class WatchedPolicyStore<P extends PolicySetLike> implements PolicyStore<P> {
  private policySet: P | undefined;
  private fingerprint = '';
  private readonly watchers: FSWatcher[] = [];
  private debounceTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private reloading: Promise<ReloadResult> | undefined;
  private reloadAgain = false;
  private closed = false;
  private readonly options: Required<Omit<WatchedPolicyStoreOptions<P>, 'metrics'>> & { metrics: ServerMetrics | undefined };

  constructor(options: WatchedPolicyStoreOptions<P>) {
    this.options = {
      debounceMs: 250,
      pollIntervalMs: 10_000,
      watch: true,
      ...options,
      paths: [...options.paths],
      metrics: options.metrics,
    };
  }

  current(): P | undefined {
    return this.policySet;
  }

  /** Loads the policies for the first time and starts watching. Rejects (with the loader's error) when the set does not load. */
  async start(): Promise<P> {
    const result = await this.reload();
    if (!result.ok) throw result.error;
    if (this.options.watch) this.startWatching();
    if (this.options.pollIntervalMs > 0) {
      this.pollTimer = setInterval(() => void this.poll(), this.options.pollIntervalMs);
      this.pollTimer.unref();
    }
    return this.policySet as P;
  }

  /**
   * Loads the files now. Concurrent calls share one load, and a call made while a load runs queues exactly
   * one more, so the last change on disk is always the one that ends up loaded.
   */
  reload(): Promise<ReloadResult> {
    if (this.reloading !== undefined) {
      this.reloadAgain = true;
      return this.reloading;
    }
    this.reloading = this.runReload().finally(() => {
      this.reloading = undefined;
      if (this.reloadAgain && !this.closed) {
        this.reloadAgain = false;
        void this.reload();
      }
    });
    return this.reloading;
  }

  close(): void {
    this.closed = true;
    for (const watcher of this.watchers) watcher.close();
    this.watchers.length = 0;
    clearTimeout(this.debounceTimer);
    clearInterval(this.pollTimer);
  }

  private async runReload(): Promise<ReloadResult> {
    const { logger, metrics, paths, load } = this.options;
    const fingerprint = await fingerprintPaths(paths);
    let next: P;
    try {
      next = await load([...paths]);
    } catch (caught) {
      const error = toError(caught);
      const problems = loadProblemsOf(caught);
      // Remember what was refused, so polling does not retry the same broken content forever.
      this.fingerprint = fingerprint;
      metrics?.policyReloadFailures.inc();
      logger.error(
        {
          err: error,
          problems: problems.map((problem) => `${problem.file}:${problem.line}:${problem.column}: ${problem.message}`),
          serving: this.policySet === undefined ? 'nothing' : `${this.policySet.policies.length} policies from the last good load`,
        },
        this.policySet === undefined ? 'policies failed to load' : 'policy change refused; the last good set keeps serving',
      );
      return { ok: false, error, problems };
    }
    const previous = this.policySet;
    this.policySet = next;
    this.fingerprint = fingerprint;
    metrics?.policiesLoaded.set(next.policies.length);
    metrics?.policyReloads.inc();
    logger.info(
      { policies: next.policies.map((policy) => policy.name), files: next.files.length, reload: previous !== undefined },
      previous === undefined ? 'policies loaded' : 'policies reloaded',
    );
    return { ok: true, changed: previous !== undefined, policies: next.policies.length };
  }

  private scheduleReload(): void {
    if (this.closed) return;
    clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => void this.reloadIfChanged(), this.options.debounceMs);
    this.debounceTimer.unref();
  }

  private async reloadIfChanged(): Promise<void> {
    if (this.closed) return;
    const fingerprint = await fingerprintPaths(this.options.paths);
    if (fingerprint !== this.fingerprint) await this.reload();
  }

  private async poll(): Promise<void> {
    if (this.closed || this.reloading !== undefined) return;
    await this.reloadIfChanged();
  }

  private startWatching(): void {
    const { logger, paths } = this.options;
    for (const entry of paths) {
      // Watch a folder recursively; for a file, watch its folder (editors and ConfigMap updates replace files).
      void stat(entry)
        .then((info) => {
          if (this.closed) return;
          const target = info.isDirectory() ? entry : path.dirname(entry);
          const watcher = watch(target, { recursive: info.isDirectory(), persistent: false }, () => this.scheduleReload());
          watcher.on('error', (error) => logger.warn({ err: error, path: target }, 'policy watch failed; polling continues'));
          this.watchers.push(watcher);
        })
        .catch((error: unknown) => logger.warn({ err: error, path: entry }, 'cannot watch policy path; polling continues'));
    }
  }
}
