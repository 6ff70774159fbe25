// The restart loop around an informer (list-watch.ts): its list-then-watch stops on the first error it
// cannot handle itself (a dropped connection, a 403), so whoever keeps objects from it starts it
// again after a pause, until closed. The caches built on it (cluster-catalog.ts, custom-object-watch.ts)
// keep answering with what they last saw in the meantime; this module only owns the timer and the
// closed flag, so a restart can never outlive close().

/** What is restarted: the part of an informer (ListWatch) this loop uses. */
export interface RestartableInformer {
  start(): Promise<void>;
  stop(): Promise<void>;
  on(event: 'error', callback: (error: unknown) => void): void;
}

/** The timers the restart waits on (tests drive them with a clock of their own). */
export interface RestartTimers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Node's timers, unref'd: a pending restart must not keep a finished process alive. */
const NODE_TIMERS: RestartTimers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout | undefined),
};

export const DEFAULT_RESTART_DELAY_MS = 2_000;

export interface RestartingWatchOptions {
  /** Told of each error the informer is restarted after (to log it, with what keeps answering meanwhile). */
  onRestart(error: unknown): void;
  /**
   * An error someone else waits for (the first list of ClusterCatalog.start(), which retries on its
   * own terms): return true to take it, and the informer is not restarted for it.
   */
  claim?(error: unknown): boolean;
  /** Pause before the informer is started again (default 2 s); errors during the pause restart it once. */
  retryDelayMs?: number;
  timers?: RestartTimers;
}

export class RestartingWatch {
  private timer: unknown;
  private closed = false;
  private readonly timers: RestartTimers;

  constructor(
    private readonly informer: RestartableInformer,
    private readonly options: RestartingWatchOptions,
  ) {
    this.timers = options.timers ?? NODE_TIMERS;
    informer.on('error', (error) => this.failed(error));
  }

  private failed(error: unknown): void {
    if (this.options.claim?.(error) === true) return;
    if (this.closed) return;
    this.options.onRestart(error);
    this.timers.clearTimeout(this.timer);
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      if (!this.closed) void this.informer.start();
    }, this.options.retryDelayMs ?? DEFAULT_RESTART_DELAY_MS);
  }

  /** No restart after this (a pending one is cancelled), and the informer is stopped. */
  close(): void {
    this.closed = true;
    this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    void this.informer.stop().catch(() => undefined);
  }
}
