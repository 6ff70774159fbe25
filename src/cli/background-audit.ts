// The audit `daemonguard serve --audit-interval` runs on its own: every interval, soon after the
// policy set changes (a policy or an exception, from files or cluster objects: either makes a new
// set), and soon after a DaemonSet or Namespace changes in a way that can change a verdict (see
// audit-triggers.ts). It audits from informer caches (every DaemonSet, listed in pages and then
// watched, and the Namespaces), with the policy set serving at that moment, and makes the cluster's
// daemonguard Reports equal to the result (one per namespace with DaemonSets; see
// src/kube/report-writer.ts). Prometheus gauges carry the counts.
//
// The webhook is never kept waiting by it: the DaemonSets are judged in batches on a worker thread
// of lower priority (audit-worker.ts), this event loop only hands the batches over and collects the
// findings, and it yields between batches. Only one audit runs at a time (a change during a run asks
// for one more run after it). Only the leader audits: `isLeader` says whether this replica holds the
// Lease (src/kube/lease-election.ts); the caches start with its first audit.
import { setImmediate as yieldToEventLoop, setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { Gauge, type Registry } from 'prom-client';
import { isJsonObject, type JsonObject } from '../common/vocabulary.js';
import { ClusterDaemonSetCatalog } from '../kube/daemonset-informer.js';
import type { KubeConfig } from '../kube/kube-config.js';
import { ClusterNamespaceCatalog } from '../kube/namespace-informer.js';
import { ReportWriter, type SyncOutcome } from '../kube/report-writer.js';
import type { PolicySet } from '../policy/types.js';
import type { AuditFinding, AuditFindings } from './audit.js';
import { changeMattersToAudit, CoalescedTrigger } from './audit-triggers.js';
import { AuditWorker, type AuditWorkerOptions } from './audit-worker.js';
import { auditReports, daemonSetResults, reportTimestamp } from './report/openreports.js';

export interface BackgroundAuditOptions {
  kubeConfig: KubeConfig;
  logger: Logger;
  registry: Registry;
  /** The policy set serving now (undefined before the first load). */
  policies: () => PolicySet | undefined;
  intervalMs: number;
  /** Whether this replica may audit and write Reports. */
  isLeader: () => boolean;
  /** The server's own namespace informer, when it has one (else the audit starts its own). */
  namespaces?: ClusterNamespaceCatalog;
  /** How often the policy set is checked for a change (default 1 s). */
  policyCheckMs?: number;
  /** How long DaemonSet and Namespace changes are gathered before they make an audit (default 2 s). */
  changeDelayMs?: number;
  /** DaemonSets per batch handed to the worker (default 50). */
  batchSize?: number;
  /**
   * The share of time the worker may be busy while an audit runs (default 1): below 1, each batch
   * is followed by a pause in proportion to how long it took, which spares a CPU the webhook needs.
   */
  dutyCycle?: number;
  worker?: Omit<AuditWorkerOptions, 'logger' | 'registry'>;
  writeGapMs?: number;
  /** Called with each audit's findings, before its Reports are written (the leader's DaemonSetPolicy impact). */
  onAudited?: (findings: AuditFindings) => void;
}

const nameOf = (object: JsonObject, field: 'namespace' | 'name'): string => {
  const value = isJsonObject(object.metadata) ? object.metadata[field] : undefined;
  return typeof value === 'string' ? value : '';
};

/** Namespace, then name: the order the apiserver lists in, so the Reports do not change with the cache's order. */
function byNamespaceAndName(a: JsonObject, b: JsonObject): number {
  const [an, bn] = [nameOf(a, 'namespace'), nameOf(b, 'namespace')];
  if (an !== bn) return an < bn ? -1 : 1;
  const [am, bm] = [nameOf(a, 'name'), nameOf(b, 'name')];
  return am < bm ? -1 : am > bm ? 1 : 0;
}

export class BackgroundAudit {
  private readonly writer: ReportWriter;
  private readonly worker: AuditWorker;
  private readonly results: Gauge<'policy' | 'namespace' | 'result'>;
  private readonly lastAudit: Gauge;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly changes: CoalescedTrigger;
  private daemonSets: ClusterDaemonSetCatalog | undefined;
  private ownNamespaces: ClusterNamespaceCatalog | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private auditedSet: PolicySet | undefined;
  private awaitingPolicies = false;
  private closed = false;

  constructor(private readonly options: BackgroundAuditOptions) {
    this.writer = new ReportWriter({ kubeConfig: options.kubeConfig, writeGapMs: options.writeGapMs });
    this.worker = new AuditWorker({ ...options.worker, logger: options.logger, registry: options.registry });
    this.changes = new CoalescedTrigger(options.changeDelayMs ?? 2_000, () => this.trigger());
    options.namespaces?.onObjectChange((before, after) => this.changed(before, after));
    this.results = new Gauge({
      name: 'daemonguard_audit_results',
      help: 'Results of the last background audit, by policy, namespace and result (pass, fail, warn, error, skip).',
      labelNames: ['policy', 'namespace', 'result'] as const,
      registers: [options.registry],
    });
    this.lastAudit = new Gauge({
      name: 'daemonguard_audit_last_completed_timestamp_seconds',
      help: 'When the last background audit finished (Unix time); 0 before the first.',
      registers: [options.registry],
    });
  }

  /** Audits now, then every interval and after every policy change, until closed. */
  start(): void {
    this.trigger();
    this.timers.push(setInterval(() => this.trigger(), this.options.intervalMs));
    this.timers.push(setInterval(() => {
      const current = this.options.policies();
      // A new set, or the first one after an audit that found none yet (a leader elected before the
      // policies were listed would otherwise wait for the next interval).
      if (current !== undefined && (this.awaitingPolicies || (this.auditedSet !== undefined && current !== this.auditedSet))) this.trigger();
    }, this.options.policyCheckMs ?? 1_000));
    for (const timer of this.timers) timer.unref();
  }

  /** Asks for an audit: now if none runs, else once the running one has finished. */
  trigger(): void {
    if (this.closed) return;
    if (this.running !== undefined) {
      this.again = true;
      return;
    }
    this.running = this.auditOnce()
      .catch((error: unknown) => {
        if (this.closed) return;
        this.options.logger.warn({ err: error }, 'background audit failed; the next one is at the next interval or change');
      })
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.trigger();
        }
      });
  }

  /** Waits for the audit that runs now, if any (for tests and shutdown). */
  async idle(): Promise<void> {
    while (this.running !== undefined) await this.running;
  }

  /** Stops the timers, the caches and the worker; an audit in progress ends without writing. */
  close(): void {
    this.closed = true;
    for (const timer of this.timers) clearInterval(timer);
    this.changes.close();
    this.daemonSets?.close();
    this.ownNamespaces?.close();
    void this.worker.close();
  }

  private changed(before: JsonObject | undefined, after: JsonObject | undefined): void {
    if (!this.closed && changeMattersToAudit(before, after)) this.changes.poke();
  }

  /** The DaemonSet and Namespace caches, started (and listed) on the first audit that needs them. */
  private async caches(): Promise<{ daemonSets: ClusterDaemonSetCatalog; namespaces: ClusterNamespaceCatalog }> {
    const { kubeConfig, logger } = this.options;
    let namespaces: ClusterNamespaceCatalog | undefined = this.options.namespaces ?? this.ownNamespaces;
    if (namespaces === undefined) {
      const own = new ClusterNamespaceCatalog({ kubeConfig, logger });
      own.onObjectChange((before, after) => this.changed(before, after));
      await own.start();
      if (this.closed) own.close();
      namespaces = this.ownNamespaces = own;
    }
    if (this.daemonSets === undefined) {
      const daemonSets = new ClusterDaemonSetCatalog({ kubeConfig, logger });
      daemonSets.onObjectChange((before, after) => this.changed(before, after));
      await daemonSets.start();
      if (this.closed) daemonSets.close();
      this.daemonSets = daemonSets;
    }
    return { daemonSets: this.daemonSets, namespaces };
  }

  private async auditOnce(): Promise<void> {
    if (!this.options.isLeader()) return;
    const policySet = this.options.policies();
    this.awaitingPolicies = policySet === undefined;
    if (policySet === undefined) return;
    this.auditedSet = policySet;
    const { logger } = this.options;
    const { daemonSets, namespaces } = await this.caches();
    const started = performance.now();
    const auditedAt = new Date();
    const objects = daemonSets.values().sort(byNamespaceAndName);
    const batchSize = this.options.batchSize ?? 50;
    const dutyCycle = Math.min(1, Math.max(0.05, this.options.dutyCycle ?? 1));
    const findings: AuditFinding[] = [];
    let workerMs = 0;
    for (let first = 0; first < objects.length; first += batchSize) {
      const batch = objects.slice(first, first + batchSize);
      const namespaceObjects = new Map(batch.map((object) => nameOf(object, 'namespace')).map((name) => [name, namespaces.get(name) ?? null]));
      const batchStarted = performance.now();
      findings.push(...(await this.worker.evaluate(policySet, batch, namespaceObjects)));
      const took = performance.now() - batchStarted;
      workerMs += took;
      // Stopped, or no longer the leader while auditing: the Reports are someone else's to write now.
      if (this.closed || !this.options.isLeader()) return;
      await yieldToEventLoop();
      if (dutyCycle < 1) await sleep((took * (1 - dutyCycle)) / dutyCycle);
    }
    if (this.closed || !this.options.isLeader()) return;
    const audit: AuditFindings = { results: findings, auditedAt };
    // Before the Reports: the impact holds even when writing them fails (say, no OpenReports CRD yet).
    this.options.onAudited?.(audit);
    const outcome: SyncOutcome = await this.writer.sync(auditReports(audit, 'openreports'));

    this.results.reset();
    const timestamp = reportTimestamp(auditedAt);
    const counts = new Map<string, number>();
    for (const result of findings) {
      for (const entry of daemonSetResults(result, timestamp)) {
        const key = JSON.stringify([entry.policy, result.namespace, entry.result]);
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
    }
    for (const [key, count] of counts) {
      const [policy, namespace, result] = JSON.parse(key) as [string, string, string];
      this.results.set({ policy, namespace, result }, count);
    }
    this.lastAudit.set(Date.now() / 1000);
    logger.info({
      daemonSets: findings.length,
      durationMs: Math.round(performance.now() - started),
      workerMs: Math.round(workerMs),
      rssMiB: Math.round(process.memoryUsage.rss() / 2 ** 20),
      reports: outcome,
    }, 'background audit done');
  }
}
