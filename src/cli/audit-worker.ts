// The server's side of the audit worker thread (audit-worker-thread.ts): the background audit hands
// it DaemonSets in batches and gets findings back, so the engine's work for an audit never runs on
// the event loop that answers /validate. One batch is in flight at a time (the queue is bounded by
// the batch size), the worker's heap is capped, and a batch has a deadline.
//
// A worker that dies (out of its heap, a bug, a batch past its deadline) fails the batch it had with
// AuditWorkerError, is logged and counted (daemonguard_audit_worker_restarts_total), and is started
// again on the next batch after a pause that doubles with each failure in a row (1 s … 60 s) and
// resets after a batch succeeds. The webhook keeps serving throughout: it never waits on the worker.
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import { celEngine } from '../cel/program.js';
import type { JsonObject } from '../common/vocabulary.js';
import type { PolicySet } from '../policy/types.js';
import type { AuditFinding } from './audit.js';
import { policyDocuments, type AuditWorkerData, type EvaluatedMessage, type FailedMessage, type FromWorker, type ToWorker } from './audit-worker-protocol.js';

export interface AuditWorkerOptions {
  logger: Logger;
  /** Where the restart counter is registered (none: not counted). */
  registry?: Registry;
  /** Niceness added to the worker thread (default 19, the lowest priority): the webhook's thread goes first on a busy CPU. */
  niceness?: number;
  /** The worker's heap cap in MiB (default 256): past it the worker dies, never the server. */
  maxHeapMiB?: number;
  /** How long one batch may take before the worker is stopped and restarted (default 60 s). */
  batchTimeoutMs?: number;
  /** The first pause before a restart; it doubles with each failure in a row (default 1 s). */
  restartDelayMs?: number;
  /** The longest pause before a restart (default 60 s). */
  maxRestartDelayMs?: number;
}

/** A batch the worker could not judge: it died, missed the deadline, or refused it. */
export class AuditWorkerError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'AuditWorkerError';
  }
}

interface Pending {
  id: number;
  resolve(findings: AuditFinding[]): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

interface Running {
  worker: Worker;
  /** The policy set version the worker holds. */
  version: number | undefined;
  ready: Promise<void>;
}

const WORKER_FILE = new URL('./audit-worker-thread.js', import.meta.url);

export class AuditWorker {
  private running: Running | undefined;
  private pending: Pending | undefined;
  private nextId = 1;
  private failuresInRow = 0;
  private notBefore = 0;
  private closed = false;
  private readonly versions = new WeakMap<PolicySet, number>();
  private nextVersion = 1;
  private readonly restarts: Counter | undefined;

  constructor(private readonly options: AuditWorkerOptions) {
    this.restarts = options.registry === undefined ? undefined : new Counter({
      name: 'daemonguard_audit_worker_restarts_total',
      help: 'Times the background audit worker thread died (out of memory, a crash, a batch past its deadline) and was started again.',
      registers: [options.registry],
    });
  }

  /** Whether a worker thread runs now (for tests and logs). */
  get alive(): boolean {
    return this.running !== undefined;
  }

  /** Judges `daemonSets` with `policySet` in the worker; rejects with AuditWorkerError when the worker fails. */
  async evaluate(policySet: PolicySet, daemonSets: JsonObject[], namespaces: ReadonlyMap<string, JsonObject | null>): Promise<AuditFinding[]> {
    if (this.pending !== undefined) throw new Error('AuditWorker.evaluate: one batch at a time');
    const running = await this.start();
    let version = this.versions.get(policySet);
    if (version === undefined) {
      version = this.nextVersion++;
      this.versions.set(policySet, version);
    }
    if (running.version !== version) {
      this.post(running, policyDocuments(policySet, version));
      running.version = version;
    }
    const id = this.nextId++;
    const timeoutMs = this.options.batchTimeoutMs ?? 60_000;
    const findings = new Promise<AuditFinding[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        const late = new AuditWorkerError(`the audit worker took longer than ${timeoutMs} ms over a batch of ${daemonSets.length} DaemonSets; it is restarted`);
        if (this.running === running) this.failed(running, late);
        else this.rejectPending(late);
      }, timeoutMs);
      this.pending = { id, resolve, reject, timer };
    });
    if (this.running === running) this.post(running, { type: 'evaluate', id, version, daemonSets, namespaces: [...namespaces] });
    else this.rejectPending(new AuditWorkerError('the audit worker thread exited before it was given the batch'));
    const result = await findings;
    this.failuresInRow = 0;
    return result;
  }

  /** Stops the worker; a batch in flight fails. */
  async close(): Promise<void> {
    this.closed = true;
    const running = this.running;
    if (running === undefined) return;
    this.failed(running, new AuditWorkerError('the audit worker was stopped'));
    await running.worker.terminate();
  }

  private post(running: Running, message: ToWorker): void {
    running.worker.postMessage(message);
  }

  /** The running worker, or a new one once the pause after the last failure is over. */
  private async start(): Promise<Running> {
    if (this.closed) throw new AuditWorkerError('the audit worker was stopped');
    if (this.running !== undefined) {
      await this.running.ready;
      return this.running;
    }
    const wait = this.notBefore - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait).unref());
    if (this.closed) throw new AuditWorkerError('the audit worker was stopped');
    if (this.running !== undefined) return this.start();
    const { logger } = this.options;
    const workerData: AuditWorkerData = { celEngine: celEngine(), niceness: this.options.niceness ?? 19 };
    const worker = new Worker(WORKER_FILE, { workerData, resourceLimits: { maxOldGenerationSizeMb: this.options.maxHeapMiB ?? 256 } });
    let markReady!: () => void;
    let markFailed!: (error: Error) => void;
    const running: Running = { worker, version: undefined, ready: new Promise<void>((resolve, reject) => ((markReady = resolve), (markFailed = reject))) };
    running.ready.catch(() => undefined);
    this.running = running;
    worker.on('message', (message: FromWorker) => {
      if (message.type === 'ready') {
        logger.info({ threadId: worker.threadId, priority: message.priority }, 'audit worker thread started');
        markReady();
        return;
      }
      this.settle(message);
    });
    worker.on('error', (error: Error) => {
      markFailed(error);
      this.failed(running, new AuditWorkerError(`the audit worker failed: ${error.message}`, { cause: error }));
    });
    worker.on('exit', (code) => {
      const error = new AuditWorkerError(`the audit worker thread exited (code ${code})`);
      markFailed(error);
      this.failed(running, error);
    });
    await running.ready;
    return running;
  }

  private rejectPending(error: Error): void {
    const pending = this.pending;
    if (pending === undefined) return;
    clearTimeout(pending.timer);
    this.pending = undefined;
    pending.reject(error);
  }

  private settle(message: EvaluatedMessage | FailedMessage): void {
    const pending = this.pending;
    if (pending === undefined || pending.id !== message.id) return;
    clearTimeout(pending.timer);
    this.pending = undefined;
    if (message.type === 'evaluated') pending.resolve(message.findings);
    else pending.reject(new AuditWorkerError(message.message));
  }

  /** The worker `running` is gone (or going): fail its batch, and pause before the next start. */
  private failed(running: Running, error: AuditWorkerError): void {
    if (this.running !== running) return;
    this.running = undefined;
    this.rejectPending(error);
    if (this.closed) return;
    const delay = Math.min(this.options.maxRestartDelayMs ?? 60_000, (this.options.restartDelayMs ?? 1_000) * 2 ** this.failuresInRow);
    this.failuresInRow++;
    this.notBefore = Date.now() + delay;
    this.restarts?.inc();
    this.options.logger.error({ err: error, restartInMs: delay }, 'audit worker thread died; the audit in progress is abandoned, the webhook is not affected, the worker starts again on the next audit');
    void running.worker.terminate();
  }
}
