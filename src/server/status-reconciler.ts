// Brings the status of each cluster policy object in line with what the serving set says about it
// (src/server/cluster-policy-store.ts), when this replica leads (the Lease is held elsewhere, src/kube).
// Passes never overlap: a change during a pass runs another one after it. A write is skipped when the
// stored status already says the same, and when this replica wrote the same a moment ago and the watch
// has not delivered it back yet.

import type { Logger } from 'pino';
import type { ServerMetrics } from './metrics.js';
import { statusToWrite, type ObjectStatus, type StatusBody } from './object-status.js';

export interface StatusReconcilerOptions {
  /** What each object's status should say, by name. */
  desired(): Map<string, ObjectStatus>;
  /** Each object's status as last seen from the cluster, by name. */
  stored(): Map<string, unknown>;
  write(name: string, status: StatusBody): Promise<void>;
  isLeader(): boolean;
  logger: Logger;
  metrics?: ServerMetrics;
  now?(): Date;
}

/** How long a write is trusted to show up in the watch before the same status is written again. */
const ECHO_WAIT_MS = 30_000;

export class StatusReconciler {
  private running: Promise<void> | undefined;
  private again = false;
  private readonly recent = new Map<string, { key: string; at: number }>();

  constructor(private readonly options: StatusReconcilerOptions) {}

  /** Runs a pass now, or right after the one running. */
  reconcile(): Promise<void> {
    if (this.running !== undefined) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.pass();
      } while (this.again);
    })().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Forget what was written (on gaining the lead: another replica may have written since). */
  forget(): void {
    this.recent.clear();
  }

  private async pass(): Promise<void> {
    const { logger, metrics } = this.options;
    if (!this.options.isLeader()) return;
    const stored = this.options.stored();
    const now = this.options.now?.() ?? new Date();
    for (const [name, desired] of this.options.desired()) {
      if (!stored.has(name)) continue; // deleted meanwhile
      const body = statusToWrite(stored.get(name), desired, now);
      const key = JSON.stringify(desired);
      const recent = this.recent.get(name);
      if (body === undefined) {
        this.recent.delete(name);
        continue;
      }
      if (recent?.key === key && now.getTime() - recent.at < ECHO_WAIT_MS) continue;
      if (!this.options.isLeader()) return;
      try {
        await this.options.write(name, body);
        this.recent.set(name, { key, at: now.getTime() });
        metrics?.statusWrites.labels('ok').inc();
        logger.info({ policy: name, ready: desired.ready, reason: desired.reason, observedGeneration: desired.observedGeneration }, 'status written');
      } catch (error) {
        metrics?.statusWrites.labels('error').inc();
        logger.warn({ err: error, policy: name }, 'writing status failed; trying again at the next change or resync');
      }
    }
  }
}
