// `daemonguard serve --audit-interval`: the background audit and the leader election it follows,
// prepared in two steps so that serve never awaits anything once /readyz can answer 200.
// prepareServeAudit() does everything that can be slow or fail (loading the audit's modules, reading
// the kubeconfig, building the election and the audit) before the admission server starts: a broken
// kubeconfig is then a start-up error (exit 2, nothing served). start() only sets timers and the
// election going, synchronously, after serve has installed its SIGTERM handler; close() is safe whether
// or not start() ran.
import type { Logger } from 'pino';
import type { PolicySet } from '../policy/types.js';
import type { PolicyStore } from '../server/policy-store.js';
import type { ServerMetrics } from '../server/metrics.js';
import type { ClusterNamespaceCatalog } from '../kube/namespace-informer.js';
import type { LeaseElection } from '../kube/lease-election.js';
import type { ClusterPolicies } from './cluster-policies.js';
import type { AuditFindings } from './audit.js';

export interface ServeAuditOptions {
  logger: Logger;
  metrics: ServerMetrics;
  policies: PolicyStore<PolicySet>;
  intervalMs: number;
  niceness: number;
  dutyCycle: number;
  leaseNamespace: string;
  identity: string;
  leaseDurationMs: number;
  /** The cluster policies, when serve has them: their election is the audit's, and the audit writes their status.impact. */
  cluster?: ClusterPolicies;
  /** The server's own namespace informer, when it has one. */
  clusterNamespaces?: ClusterNamespaceCatalog;
}

export interface ServeAudit {
  /** Starts the election (when the audit owns it) and the audit timers; synchronous. */
  start(): void;
  /** Stops the audit, waits for a Report write in progress, then releases the audit's own Lease; safe before start(). */
  close(): Promise<void>;
}

export async function prepareServeAudit(options: ServeAuditOptions): Promise<ServeAudit> {
  // Loaded only here, like the namespace informer: what a server without an audit never runs.
  const { BackgroundAudit } = await import('./background-audit.js');
  const { defaultKubeConfig } = await import('../kube/cluster-catalog.js');
  const { LEADER_LEASE_NAME, installationLeaseElection } = await import('../kube/lease-election.js');
  const { impactByPolicy } = await import('./audit-impact.js');
  const { logger, metrics, cluster } = options;
  const kubeConfig = defaultKubeConfig();
  // Only the leader writes Reports. With --policies-from-cluster that is the replica that writes
  // status; without, the audit elects one on the same Lease, so an installation has one writer.
  const ownElection: LeaseElection | undefined =
    cluster === undefined
      ? installationLeaseElection({
          kubeConfig,
          leaseNamespace: options.leaseNamespace,
          identity: options.identity,
          leaseDurationMs: options.leaseDurationMs,
          logger,
          onChange: (leading) => metrics.leader.set(leading ? 1 : 0),
        })
      : undefined;
  const election = cluster?.election ?? (ownElection as LeaseElection);
  const background = new BackgroundAudit({
    kubeConfig,
    logger,
    registry: metrics.registry,
    policies: () => options.policies.current(),
    intervalMs: options.intervalMs,
    dutyCycle: options.dutyCycle,
    worker: { niceness: options.niceness },
    isLeader: () => election.isLeader,
    ...(options.clusterNamespaces === undefined ? {} : { namespaces: options.clusterNamespaces }),
    // DaemonSetPolicy objects show what the audit found in status.impact (kubectl get dsp: WOULD-DENY).
    ...(cluster === undefined ? {} : { onAudited: (findings: AuditFindings) => cluster.setImpact(impactByPolicy(findings)) }),
  });
  let started = false;
  return {
    start() {
      if (started) return;
      started = true;
      // A new leader audits at once rather than at its next interval: the Reports are its to keep now.
      election.onLeadingChange((leading) => {
        if (leading) background.trigger();
      });
      if (ownElection !== undefined) {
        metrics.leader.set(0);
        ownElection.start();
      }
      background.start();
      logger.info({
        intervalMs: options.intervalMs,
        lease: `${options.leaseNamespace}/${LEADER_LEASE_NAME}`,
        workerNiceness: options.niceness,
        dutyCycle: options.dutyCycle,
        // status.impact lives on DaemonSetPolicy objects: policies from files have none to carry it.
        impact: cluster === undefined ? 'not written: the policies are files, not DaemonSetPolicy objects (see the Reports and daemonguard_audit_results)' : 'written to each DaemonSetPolicy\'s status',
      }, 'background audit on: the replica holding the leader Lease writes the Reports');
    },
    async close() {
      background.close();
      // A write in progress ends before the Lease is released, so two replicas never write at once.
      await background.idle();
      await ownElection?.close();
    },
  };
}
