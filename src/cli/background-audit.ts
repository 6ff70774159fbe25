// The audit `daemonguard serve --audit-interval` runs on its own: every interval, and soon after the
// policy set changes (a policy or an exception, from files or cluster objects: either makes a new
// set), the DaemonSets and Namespaces are listed (in pages), audited with the policy set serving at
// that moment, and the cluster's daemonguard Reports made equal to the result (one per
// namespace with DaemonSets; see src/kube/report-writer.ts). Prometheus gauges carry the counts.
//
// The webhook is never kept waiting by it: the audit yields to the event loop after each DaemonSet,
// and only one audit runs at a time (a change during a run asks for one more run after it).
// Only the leader audits: `isLeader` says whether this replica holds the Lease (src/kube/lease-election.ts).
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { Gauge, type Registry } from 'prom-client';
import type { JsonObject } from '../common/vocabulary.js';
import { DAEMONSETS, DEFAULT_PAGE_SIZE, NAMESPACES, listPages } from '../kube/paged-list.js';
import { ReportWriter, type SyncOutcome } from '../kube/report-writer.js';
import type { PolicySet } from '../policy/types.js';
import { namespacesByName } from './audit-input.js';
import { runAudit, type AuditReport } from './audit.js';
import type { ManifestDocument } from './manifest-reader.js';
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
  /** How often the policy set is checked for a change (default 1 s). */
  policyCheckMs?: number;
  writeGapMs?: number;
  /** Called with each audit's report, before its Reports are written (the leader's DaemonSetPolicy impact). */
  onAudited?: (report: AuditReport) => void;
}

export class BackgroundAudit {
  private readonly writer: ReportWriter;
  private readonly results: Gauge<'policy' | 'namespace' | 'result'>;
  private readonly lastAudit: Gauge;
  private readonly timers: NodeJS.Timeout[] = [];
  private running: Promise<void> | undefined;
  private again = false;
  private auditedSet: PolicySet | undefined;
  private closed = false;

  constructor(private readonly options: BackgroundAuditOptions) {
    this.writer = new ReportWriter({ kubeConfig: options.kubeConfig, writeGapMs: options.writeGapMs });
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
      if (current !== undefined && this.auditedSet !== undefined && current !== this.auditedSet) this.trigger();
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
      .catch((error: unknown) => this.options.logger.warn({ err: error }, 'background audit failed; the next one is at the next interval or policy change'))
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

  close(): void {
    this.closed = true;
    for (const timer of this.timers) clearInterval(timer);
  }

  private async auditOnce(): Promise<void> {
    const policySet = this.options.policies();
    if (policySet === undefined || !this.options.isLeader()) return;
    this.auditedSet = policySet;
    const { kubeConfig, logger } = this.options;
    const started = performance.now();
    const namespaces: JsonObject[] = [];
    for await (const page of listPages(kubeConfig, NAMESPACES, DEFAULT_PAGE_SIZE)) namespaces.push(...page);
    async function* daemonSetPages(): AsyncGenerator<ManifestDocument[]> {
      for await (const page of listPages(kubeConfig, DAEMONSETS, DEFAULT_PAGE_SIZE)) yield page.map((object) => ({ file: '<cluster>', line: 0, object }));
    }
    const report = await runAudit(
      { namespaces: namespacesByName(namespaces), daemonSetPages: daemonSetPages(), problems: [], skipped: 0 },
      policySet,
      { failOn: 'deny', pause: () => yieldToEventLoop() },
    );
    // Stopped, or no longer the leader while auditing: the Reports are someone else's to write now.
    if (this.closed || !this.options.isLeader()) return;
    // Before the Reports: the impact holds even when writing them fails (say, no OpenReports CRD yet).
    this.options.onAudited?.(report);
    const outcome: SyncOutcome = await this.writer.sync(auditReports(report, 'openreports'));

    this.results.reset();
    const timestamp = reportTimestamp(report.auditedAt);
    const counts = new Map<string, number>();
    for (const result of report.results) {
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
    logger.info({ daemonSets: report.results.length, durationMs: Math.round(performance.now() - started), reports: outcome }, 'background audit done');
  }
}
