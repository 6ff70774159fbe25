// How `daemonguard serve` starts and stops, as one sequence: what start-up acquires (watches, the
// leader Lease, the listener) is registered as it is acquired, and released in the reverse order
// whenever serve stops, whether a SIGTERM/SIGINT arrives after the server is up, while it is still
// starting (policies loading, a cluster list that is slow, the listener not up yet), or start-up fails.
//
// The signal handlers are installed before anything else: a signal during start-up stops the start
// (the stage awaited is abandoned), releases what was acquired, and exits 0 as a stop after start-up
// does, instead of Node's default of dying on the signal with the Lease still held. The whole stop is
// bounded by --shutdown-grace plus SHUTDOWN_MARGIN_MS: a step that hangs (a Lease release to an
// apiserver that stopped answering) is logged as unfinished and the process exits anyway, within the
// pod's terminationGracePeriodSeconds rather than at the SIGKILL.

import type { Logger } from 'pino';

/**
 * Time allowed past --shutdown-grace for the steps after the drain (releasing the Lease, closing the
 * watches). The deployment's terminationGracePeriodSeconds (30 s) covers the preStop pause (5 s), the
 * grace (20 s) and this.
 */
export const SHUTDOWN_MARGIN_MS = 2_000;

/** Thrown by ServeLifecycle.stage() once a signal stopped the start; `stopped` resolves when the shutdown it began is over. */
export class StartupInterrupted extends Error {
  constructor(
    readonly signal: NodeJS.Signals,
    readonly stage: string,
    readonly stopped: Promise<void>,
  ) {
    super(`${signal} during start-up (${stage}): the server was not started`);
  }
}

export interface ServeLifecycleOptions {
  logger: Logger;
  /** --shutdown-grace: a stop takes at most this plus SHUTDOWN_MARGIN_MS. */
  graceMs: number;
  /** Writes the waiting log lines out at once (before the process may exit): for a stop that overran its bound. */
  flushLogs(): void;
  /**
   * Writes the waiting log lines out, in order, and resolves once they are written (a bounded wait):
   * for the stops that can wait. Without it, flushLogs serves those too.
   */
  flushLogsInOrder?(): Promise<void>;
}

/** Something start-up acquired, and how to give it back. */
interface Held {
  what: string;
  release: (signal: NodeJS.Signals | undefined) => void | Promise<void>;
}

type Phase = 'starting' | 'running' | 'stopping';

export class ServeLifecycle {
  private readonly held: Held[] = [];
  private phase: Phase = 'starting';
  private currentStage = 'starting';
  /** The signal that stopped serve, once one did. */
  private signal: NodeJS.Signals | undefined;
  /** Rejected with StartupInterrupted by a signal during start-up; every stage() races it. */
  private readonly interrupted: Promise<never>;
  private interrupt: (error: StartupInterrupted) => void = () => undefined;
  private hangup: () => void;
  private resolveStopped: () => void = () => undefined;
  /** Resolves once a stop (by signal) has released everything, or gave up at the deadline. */
  readonly stopped: Promise<void>;
  /** Steps of a stop in progress that have not finished: what the deadline's log line names. */
  private readonly unfinished = new Set<string>();
  private releasing: Promise<void> | undefined;

  constructor(private readonly options: ServeLifecycleOptions) {
    this.stopped = new Promise((resolve) => (this.resolveStopped = resolve));
    this.interrupted = new Promise<never>((_resolve, reject) => (this.interrupt = reject));
    // Handled by whoever awaits a stage; without this, a signal between stages would be an unhandled rejection.
    this.interrupted.catch(() => undefined);
    // SIGHUP would end the process by default: until serve installs its reload handler, it is noted and
    // dropped (the files are being read for the first time anyway).
    this.hangup = () => options.logger.info({ signal: 'SIGHUP' }, 'SIGHUP ignored: the server is still starting and reading its files');
    process.on('SIGTERM', this.onStopSignal);
    process.on('SIGINT', this.onStopSignal);
    process.on('SIGHUP', this.onHangup);
  }

  /**
   * Runs one start-up stage (named in the debug log and, should a signal stop the start there, in the
   * shutdown line). Rejects with StartupInterrupted as soon as a signal arrives, without waiting for
   * `work`, which is abandoned: should it still produce something, `abandoned` is given it (to close a
   * listener that came up after all); whatever else it acquires dies with the process.
   */
  async stage<T>(name: string, work: () => Promise<T>, abandoned?: (late: T) => unknown): Promise<T> {
    this.throwIfStopping();
    // A stage may run in steps (load a module, then start what it made): one line when it begins.
    if (this.currentStage !== name) this.options.logger.debug({ stage: name }, 'start-up stage');
    this.currentStage = name;
    const working = work();
    try {
      return await Promise.race([working, this.interrupted]);
    } catch (error) {
      if (error instanceof StartupInterrupted && abandoned !== undefined) void working.then(abandoned, () => undefined);
      throw error;
    }
  }

  /**
   * Registers something start-up acquired; a stop releases it, in the reverse order of acquisition.
   * Acquired while a stop is already under way (code between two stages), it is released at once.
   */
  acquired(what: string, release: Held['release']): void {
    const held = { what, release };
    if (this.phase !== 'stopping') {
      this.held.push(held);
      return;
    }
    this.unfinished.add(what);
    void Promise.resolve()
      .then(() => release(undefined))
      .catch((error: unknown) => this.options.logger.warn({ err: error, step: what }, 'a shutdown step failed'))
      .finally(() => this.unfinished.delete(what));
  }

  /** Start-up is over: from now on a signal stops the running server, and SIGHUP calls `hangup`. */
  running(hangup: () => void): void {
    this.throwIfStopping();
    this.phase = 'running';
    this.hangup = hangup;
  }

  /**
   * Start-up failed with an error (not a signal): releases what was acquired, waiting at most the grace
   * period plus the margin, and writes the log out. The caller reports the error.
   */
  async abandon(): Promise<void> {
    if (this.phase === 'stopping') return;
    this.phase = 'stopping';
    this.hangup = () => undefined;
    const deadline = new Promise<void>((resolve) => setTimeout(resolve, this.options.graceMs + SHUTDOWN_MARGIN_MS).unref());
    await Promise.race([this.releaseAll(undefined), deadline]);
    await this.writeLogsOut();
    // The caller reports the error and sets the exit code; a request abandoned mid-start must not keep the process long after.
    setTimeout(() => process.exit(process.exitCode ?? 1), 1_000).unref();
  }

  private readonly onHangup = (): void => this.hangup();

  private readonly onStopSignal = (signal: NodeJS.Signals): void => {
    // Once stopping (after a signal, or a failed start), a further SIGTERM or SIGINT changes nothing:
    // the stop under way ends within its bound, and a signal must not cut it short.
    if (this.phase === 'stopping') return;
    const { logger, graceMs } = this.options;
    const duringStartup = this.phase === 'starting';
    this.phase = 'stopping';
    this.signal = signal;
    const deadline = setTimeout(() => this.giveUp(signal), graceMs + SHUTDOWN_MARGIN_MS);
    deadline.unref();
    if (duringStartup) {
      logger.info({ signal, stage: this.currentStage, graceMs }, 'shutting down during start-up: the server is not started; releasing what start-up acquired');
      this.interrupt(new StartupInterrupted(signal, this.currentStage, this.stopped));
    }
    void this.releaseAll(signal).then(async () => {
      clearTimeout(deadline);
      // SIGHUP stays listened to (and ignored) until the end, as SIGTERM and SIGINT do: a late signal must not kill a clean shutdown.
      this.hangup = () => undefined;
      logger.info(duringStartup ? { signal, startup: 'interrupted' } : { signal }, 'shut down');
      await this.writeLogsOut();
      // Should anything still hold the event loop open (a request abandoned mid-start), do not outlive the grace period by much.
      setTimeout(() => process.exit(process.exitCode ?? 0), 1_000).unref();
      this.resolveStopped();
    });
  };

  /** The log's waiting lines written out in order where the options allow it, else at once. */
  private async writeLogsOut(): Promise<void> {
    if (this.options.flushLogsInOrder === undefined) this.options.flushLogs();
    else await this.options.flushLogsInOrder();
  }

  /** The deadline passed with steps still running: say which, and exit. */
  private giveUp(signal: NodeJS.Signals): void {
    const { logger, graceMs } = this.options;
    logger.warn(
      { signal, graceMs, marginMs: SHUTDOWN_MARGIN_MS, unfinished: [...this.unfinished] },
      `shutdown did not finish within --shutdown-grace plus ${SHUTDOWN_MARGIN_MS} ms; exiting without waiting for: ${[...this.unfinished].join(', ')}`,
    );
    this.options.flushLogs();
    process.exit(process.exitCode ?? 0);
  }

  /** Releases everything held, last acquired first, each step awaited; a failing step is logged and the next one runs. */
  private releaseAll(signal: NodeJS.Signals | undefined): Promise<void> {
    this.releasing ??= (async () => {
      const steps = this.held.splice(0).reverse();
      for (const step of steps) this.unfinished.add(step.what);
      for (const step of steps) {
        try {
          await step.release(signal);
        } catch (error) {
          this.options.logger.warn({ err: error, step: step.what }, 'a shutdown step failed');
        }
        this.unfinished.delete(step.what);
      }
    })();
    return this.releasing;
  }

  private throwIfStopping(): void {
    if (this.signal !== undefined) throw new StartupInterrupted(this.signal, this.currentStage, this.stopped);
  }
}
