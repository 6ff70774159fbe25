// The policy set the server answers with, and its reloading when the files change.
//
// The store knows nothing of how policies are compiled: it is handed a `load(paths)` function (the
// policy loader in production) and keeps whatever that returns. A reload either succeeds completely and
// replaces the set in one assignment, or fails and leaves the last good set serving.

import type { Logger } from 'pino';
import type { PolicyProblem } from '../policy/load-policies.js';
import type { ServerMetrics } from './metrics.js';
import { WatchedFiles, type WatchTiming } from './watched-files.js';

/** What the server needs to know about a policy set; the policy loader's PolicySet satisfies it. */
export interface PolicySetLike {
  readonly policies: readonly { readonly name: string }[];
  readonly files: readonly string[];
  /** DaemonSetPolicyExceptions, as `namespace/name`; absent when the set has none to tell. */
  readonly exceptions?: readonly { readonly id: string }[];
  /** What loading noticed without refusing (native policies skipped, bindings without policy): logged as warnings. */
  readonly notes?: readonly { readonly file: string; readonly line: number; readonly column: number; readonly message: string }[];
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

export interface WatchedPolicyStoreOptions<P extends PolicySetLike> extends WatchTiming {
  /** Files or folders, as given to `--policies`. */
  paths: string[];
  load: LoadPolicies<P>;
  logger: Logger;
  metrics?: ServerMetrics;
  /**
   * Runs on a set that loaded, before it serves (the first load, and each reload before the swap): the
   * warm-up (warm-up.ts). A failure is logged and the set serves anyway: it loaded and was checked.
   */
  prepare?: (next: P, trigger: string) => Promise<void>;
}

function isPolicyProblem(value: unknown): value is PolicyProblem {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Record<string, unknown>;
  return typeof candidate['file'] === 'string' && typeof candidate['message'] === 'string';
}

/** The problems of a PolicyLoadError (or of anything shaped like one), without importing the loader. */
export function loadProblemsOf(error: unknown): PolicyProblem[] {
  if (typeof error !== 'object' || error === null) return [];
  const problems = (error as { problems?: unknown }).problems;
  return Array.isArray(problems) ? problems.filter(isPolicyProblem) : [];
}

function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/**
 * A store that loads the policy files, watches them (src/server/watched-files.ts: fs.watch on the
 * folders, plus polling as a fallback for mounts where events get lost), and reloads atomically on change.
 */
export class WatchedPolicyStore<P extends PolicySetLike> implements PolicyStore<P> {
  private policySet: P | undefined;
  private readonly files: WatchedFiles;
  private closed = false;

  constructor(private readonly options: WatchedPolicyStoreOptions<P>) {
    this.files = new WatchedFiles({
      paths: [...options.paths],
      what: 'policy',
      onChange: async () => {
        await this.reload();
      },
      logger: options.logger,
      debounceMs: options.debounceMs,
      pollIntervalMs: options.pollIntervalMs,
      watch: options.watch,
    });
  }

  current(): P | undefined {
    return this.policySet;
  }

  /** Loads the policies for the first time and starts watching. Rejects (with the loader's error) when the set does not load. */
  async start(): Promise<P> {
    await this.files.start(async () => {
      const refusal = await this.reload('start');
      if (refusal !== undefined) throw refusal;
    });
    return this.policySet as P;
  }

  /** Stops watching; a load still running then (serve stopped during start-up) is discarded, neither kept nor logged. */
  close(): void {
    this.closed = true;
    this.files.close();
  }

  /**
   * Loads the files now, changed or not (the watcher calls it on a change, `serve` on SIGHUP); a load
   * that fails leaves the last good set serving, and its error is returned. `trigger` goes in the log line.
   */
  async reload(trigger = 'file change'): Promise<Error | undefined> {
    const { logger, metrics, paths, load, prepare } = this.options;
    let next: P;
    // Said before the load, so that what happens during one (it yields to probes and reviews between
    // policies) can be told apart from what happens before or after.
    if (this.policySet !== undefined) logger.info({ paths, trigger }, 'reloading the policy files');
    try {
      next = await load([...paths]);
      if (this.closed) return undefined;
    } catch (caught) {
      if (this.closed) return undefined;
      const error = toError(caught);
      const problems = loadProblemsOf(caught);
      metrics?.policyReloadFailures.inc();
      logger.error(
        {
          err: error,
          problems: problems.map((problem) => `${problem.file}:${problem.line}:${problem.column}: ${problem.message}`),
          trigger,
          serving: this.policySet === undefined ? 'nothing' : `${this.policySet.policies.length} policies from the last good load`,
        },
        this.policySet === undefined ? 'policies failed to load' : 'policy change refused; the last good set keeps serving',
      );
      return error;
    }
    if (prepare !== undefined) {
      try {
        await prepare(next, trigger);
      } catch (caught) {
        logger.warn({ err: toError(caught), trigger }, 'preparing the policy set before it serves failed; it serves anyway');
      }
      if (this.closed) return undefined;
    }
    const previous = this.policySet;
    this.policySet = next;
    for (const note of next.notes ?? []) logger.warn({ file: note.file, line: note.line, column: note.column, trigger }, note.message);
    metrics?.policiesLoaded.set(next.policies.length);
    metrics?.policyReloads.inc();
    logger.info(
      { policies: next.policies.map((policy) => policy.name), exceptions: (next.exceptions ?? []).map((exception) => exception.id), files: next.files.length, reload: previous !== undefined, trigger },
      previous === undefined ? 'policies loaded' : 'policies reloaded',
    );
    return undefined;
  }
}
