// Wiring for `serve --policies-from-cluster`: DaemonSetPolicy objects watched from the cluster
// (src/kube/custom-object-watch.ts) feed the store the webhook answers from
// (src/server/cluster-policy-store.ts); the replica holding the leader Lease (src/kube/lease-election.ts)
// writes each object's status (src/server/status-reconciler.ts, src/kube/status-writer.ts).

import type { Logger } from 'pino';
import { API_GROUP, API_VERSION } from '../deploy/custom-resource-definitions.js';
import { CustomObjectWatch, type CustomResource } from '../kube/custom-object-watch.js';
import { LeaseElection } from '../kube/lease-election.js';
import { defaultKubeConfig } from '../kube/namespace-informer.js';
import { CustomObjectStatusWriter } from '../kube/status-writer.js';
import type { PolicySet } from '../policy/types.js';
import { ClusterPolicyStore, type ClusterObject } from '../server/cluster-policy-store.js';
import type { ServerMetrics } from '../server/metrics.js';
import type { PolicyStore } from '../server/policy-store.js';
import { StatusReconciler } from '../server/status-reconciler.js';

export const POLICY_RESOURCE: CustomResource = { group: API_GROUP, version: API_VERSION, plural: 'daemonsetpolicies' };
/** The Lease the replicas of one installation share. */
export const LEADER_LEASE_NAME = 'daemonguard-status-writer';
/** Statuses are compared again this often even without a change (files reloaded, a write that failed). */
const RESYNC_MS = 10_000;

export interface ClusterPoliciesOptions {
  files?: PolicyStore<PolicySet>;
  namespaceSource: boolean;
  leaseNamespace: string;
  identity: string;
  leaseDurationMs: number;
  logger: Logger;
  metrics: ServerMetrics;
}

export interface ClusterPolicies {
  store: ClusterPolicyStore;
  /** Stops watching and releases the Lease when held. */
  close(): Promise<void>;
}

export function startClusterPolicies(options: ClusterPoliciesOptions): ClusterPolicies {
  const { logger, metrics } = options;
  const kubeConfig = defaultKubeConfig();
  const store = new ClusterPolicyStore({ namespaceSource: options.namespaceSource, logger, metrics, ...(options.files === undefined ? {} : { files: options.files }) });
  const writer = new CustomObjectStatusWriter(POLICY_RESOURCE, kubeConfig);
  let stored = new Map<string, unknown>();
  // Declared before the watch and the election, whose callbacks use it.
  // eslint-disable-next-line prefer-const
  let election: LeaseElection;
  const reconciler = new StatusReconciler({
    desired: () => store.statuses(),
    stored: () => stored,
    write: (name, status) => writer.write(name, status),
    isLeader: () => election.isLeader,
    logger,
    metrics,
  });
  const watch = new CustomObjectWatch({
    resource: POLICY_RESOURCE,
    kubeConfig,
    logger,
    onChange(objects) {
      const policies = objects as ClusterObject[];
      void store.update(policies).then(() => {
        stored = new Map(policies.map((object) => [object.metadata?.name ?? '', object.status]));
        return reconciler.reconcile();
      });
    },
  });
  election = new LeaseElection({
    kubeConfig,
    namespace: options.leaseNamespace,
    name: LEADER_LEASE_NAME,
    identity: options.identity,
    leaseDurationMs: options.leaseDurationMs,
    logger,
    onChange(leading) {
      metrics.leader.set(leading ? 1 : 0);
      if (!leading) return;
      reconciler.forget();
      if (store.isSynced) void reconciler.reconcile();
    },
  });
  metrics.leader.set(0);
  watch.start();
  election.start();
  const resync = setInterval(() => {
    if (store.isSynced) void reconciler.reconcile();
  }, RESYNC_MS);
  resync.unref();
  return {
    store,
    async close() {
      clearInterval(resync);
      watch.close();
      await election.close();
    },
  };
}
