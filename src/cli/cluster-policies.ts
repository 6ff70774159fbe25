// Wiring for `serve --policies-from-cluster`: DaemonSetPolicy and DaemonSetPolicyException objects watched from the cluster
// (src/kube/custom-object-watch.ts) feed the store the webhook answers from
// (src/server/cluster-policy-store.ts); the replica holding the leader Lease (src/kube/lease-election.ts)
// writes each object's status (src/server/status-reconciler.ts, src/kube/status-writer.ts).

import type { Logger } from 'pino';
import { API_GROUP, API_VERSION } from '../deploy/custom-resource-definitions.js';
import { CustomObjectWatch, type CustomResource } from '../kube/custom-object-watch.js';
import { installationLeaseElection, type LeaseElection } from '../kube/lease-election.js';
import { defaultKubeConfig } from '../kube/cluster-catalog.js';
import { CustomObjectStatusWriter } from '../kube/status-writer.js';
import type { PolicySet } from '../policy/types.js';
import { ClusterPolicyStore, type ClusterObject } from '../server/cluster-policy-store.js';
import type { ServerMetrics } from '../server/metrics.js';
import type { PolicyStore } from '../server/policy-store.js';
import type { PolicyImpact } from '../server/object-status.js';
import { StatusReconciler } from '../server/status-reconciler.js';

export const POLICY_RESOURCE: CustomResource = { group: API_GROUP, version: API_VERSION, plural: 'daemonsetpolicies', kind: 'DaemonSetPolicy' };
export const EXCEPTION_RESOURCE: CustomResource = { group: API_GROUP, version: API_VERSION, plural: 'daemonsetpolicyexceptions', kind: 'DaemonSetPolicyException', namespaced: true };
/** Statuses are compared again this often even without a change (files reloaded, a write that failed). */
const RESYNC_MS = 10_000;

export interface ClusterPoliciesOptions {
  files?: PolicyStore<PolicySet>;
  namespaceSource: boolean;
  /** daemonguard's namespace: the leader Lease and the ConfigMaps of spec.paramsFrom live there. */
  leaseNamespace: string;
  identity: string;
  leaseDurationMs: number;
  logger: Logger;
  metrics: ServerMetrics;
  /** The warm-up each set built from the objects gets before it serves (serve's --warm-up-budget); none without. */
  prepare?: (next: PolicySet, trigger: string) => Promise<void>;
}

export interface ClusterPolicies {
  store: ClusterPolicyStore;
  /** The election for the status writer; the background audit follows the same leader. */
  election: LeaseElection;
  /** The last background audit's counts, by policy: written into each DaemonSetPolicy's status.impact. */
  setImpact(impacts: ReadonlyMap<string, PolicyImpact>): void;
  /** Stops watching and releases the Lease when held. */
  close(): Promise<void>;
}

/** Each object's status as last seen, by the store's key (a policy's name, an exception's namespace/name). */
function statusesByKey(objects: readonly ClusterObject[], namespaced: boolean): Map<string, unknown> {
  return new Map(objects.map((object) => [`${namespaced ? `${object.metadata?.namespace ?? ''}/` : ''}${object.metadata?.name ?? ''}`, object.status]));
}

export function startClusterPolicies(options: ClusterPoliciesOptions): ClusterPolicies {
  const { logger, metrics } = options;
  const kubeConfig = defaultKubeConfig();
  const store = new ClusterPolicyStore({
    namespaceSource: options.namespaceSource,
    paramsNamespace: options.leaseNamespace,
    logger,
    metrics,
    exceptions: true,
    ...(options.files === undefined ? {} : { files: options.files }),
    ...(options.prepare === undefined ? {} : { prepare: options.prepare }),
  });
  // spec.paramsFrom: the ConfigMaps of daemonguard's own namespace (src/server/params-from.ts says why there).
  const configMaps = new CustomObjectWatch({
    resource: { path: `/api/v1/namespaces/${encodeURIComponent(options.leaseNamespace)}/configmaps`, apiVersion: 'v1', kind: 'ConfigMap' },
    kubeConfig,
    logger,
    onChange(objects) {
      void store.updateConfigMaps(objects as { metadata?: { name?: string }; data?: Record<string, string> }[]).then(() => Promise.all(reconcilers.map((each) => each.reconcile())));
    },
  });
  // Declared before the watches and the election, whose callbacks use it.
  // eslint-disable-next-line prefer-const
  let election: LeaseElection;
  const kinds = [
    { resource: POLICY_RESOURCE, desired: () => store.statuses(), update: (objects: ClusterObject[]) => store.update(objects) },
    { resource: EXCEPTION_RESOURCE, desired: () => store.exceptionStatuses(), update: (objects: ClusterObject[]) => store.updateExceptions(objects) },
  ].map(({ resource, desired, update }) => {
    const writer = new CustomObjectStatusWriter(resource, kubeConfig);
    const namespaced = resource.namespaced === true;
    let stored = new Map<string, unknown>();
    const reconciler = new StatusReconciler({
      desired,
      stored: () => stored,
      write: (key, status) => {
        const [namespace, name] = namespaced ? (key.split('/') as [string, string]) : [undefined, key];
        return writer.write(name, status, namespace);
      },
      isLeader: () => election.isLeader,
      logger,
      metrics,
    });
    const watch = new CustomObjectWatch({
      resource,
      kubeConfig,
      logger,
      onChange(objects) {
        // The CRDs' schemas give the objects this shape; the store checks each field it reads.
        const typed = objects as unknown as ClusterObject[];
        void update(typed).then(() => {
          stored = statusesByKey(typed, namespaced);
          // A change of policies can change what an exception's status says (a policy it names appears).
          return Promise.all(reconcilers.map((each) => each.reconcile()));
        });
      },
    });
    return { watch, reconciler };
  });
  const reconcilers = kinds.map((kind) => kind.reconciler);
  // Not while a change is being applied or warmed up: its status would be written before its set
  // serves. The watch that brought the change reconciles once it does.
  const reconcileAll = (): void => {
    if (store.isSynced && store.isSettled) for (const reconciler of reconcilers) void reconciler.reconcile();
  };
  election = installationLeaseElection({
    kubeConfig,
    leaseNamespace: options.leaseNamespace,
    identity: options.identity,
    leaseDurationMs: options.leaseDurationMs,
    logger,
    onChange(leading) {
      metrics.leader.set(leading ? 1 : 0);
      if (!leading) return;
      for (const reconciler of reconcilers) reconciler.forget();
      reconcileAll();
    },
  });
  metrics.leader.set(0);
  for (const kind of kinds) kind.watch.start();
  configMaps.start();
  election.start();
  const resync = setInterval(reconcileAll, RESYNC_MS);
  resync.unref();
  return {
    store,
    election,
    setImpact(impacts) {
      store.setImpact(impacts);
      reconcileAll();
    },
    async close() {
      clearInterval(resync);
      for (const kind of kinds) kind.watch.close();
      configMaps.close();
      await election.close();
    },
  };
}
