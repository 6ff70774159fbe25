// Leader election on a coordination.k8s.io/v1 Lease, so that one replica at a time writes status.
// @kubernetes/client-node (1.4.0) ships no leader-election helper, so this is a small one, after the
// rules client-go's leaderelection follows:
//
// - The Lease names its holder (holderIdentity: the pod's name) and is renewed every retry period.
//   Every write carries the resourceVersion read just before, so two candidates can never both win a
//   round: the apiserver refuses the second with 409 Conflict.
// - A candidate takes the Lease over when it is empty or when its record (holder, renewTime) has not
//   changed for leaseDurationSeconds as measured by the candidate's own clock since it first saw that
//   record, so clocks that disagree between nodes do not matter.
// - A leader that has not renewed for the renew deadline (shorter than the lease duration) stops
//   leading before anyone else may start: at most one replica believes it leads, give or take the
//   time a write takes.
// - On shutdown the leader empties the Lease, so another replica takes over at its next retry rather
//   than after the lease duration.

import type { Logger } from 'pino';
import type { KubeConfig } from './kube-config.js';
import { clusterServer, kubeApiError, kubeRequest } from './kube-request.js';

/** A coordination.k8s.io/v1 Lease, as far as the election reads and writes it (other fields travel along untouched). */
export interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; [field: string]: unknown };
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    /** MicroTime strings as the apiserver sends them (RFC 3339 with microseconds). */
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
    [field: string]: unknown;
  };
}

/** The three Lease calls the election makes: to the apiserver (leaseApi), or an in-memory stand-in in unit tests. Errors carry the HTTP status as `code`. */
export interface LeaseApi {
  readNamespacedLease(request: { namespace: string; name: string }): Promise<Lease>;
  createNamespacedLease(request: { namespace: string; body: Lease }): Promise<Lease>;
  replaceNamespacedLease(request: { namespace: string; name: string; body: Lease }): Promise<Lease>;
}

/**
 * The Lease calls on the cluster of `kubeConfig`; a status other than the call's success is a
 * KubeApiError (404, 409...), and a call that takes longer than `timeoutMs` fails (a hung connection
 * must not keep a leader leading past its renew deadline).
 */
export function leaseApi(kubeConfig: KubeConfig, timeoutMs: number): LeaseApi {
  const call = async (method: string, namespace: string, name: string | undefined, body: Lease | undefined, expected: number): Promise<Lease> => {
    const path = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases${name === undefined ? '' : `/${encodeURIComponent(name)}`}`;
    const answer = await kubeRequest(kubeConfig, method, new URL(`${clusterServer(kubeConfig)}${path}`), body === undefined ? undefined : { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', ...body }, { timeoutMs });
    if (answer.status !== expected) throw kubeApiError(method, path, answer);
    return answer.body as Lease;
  };
  return {
    readNamespacedLease: ({ namespace, name }) => call('GET', namespace, name, undefined, 200),
    createNamespacedLease: ({ namespace, body }) => call('POST', namespace, undefined, body, 201),
    replaceNamespacedLease: ({ namespace, name, body }) => call('PUT', namespace, name, body, 200),
  };
}

/** A MicroTime as the apiserver writes it: RFC 3339 in UTC with six fractional digits. */
export function microTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, -1)}000Z`;
}

/** The timers the retry loop runs on (tests drive them with a clock of their own). */
export interface ElectionTimers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const NODE_TIMERS: ElectionTimers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout | undefined),
};

export interface LeaseElectionOptions {
  /** Where the Lease is: the cluster of this kubeconfig, unless `api` is given. */
  kubeConfig?: KubeConfig;
  /** The Lease API itself (tests); default: leaseApi(kubeConfig). */
  api?: LeaseApi;
  namespace: string;
  name: string;
  /** Written as holderIdentity: the pod's name. */
  identity: string;
  /** How long a Lease that stopped being renewed blocks the others (default 15 s). */
  leaseDurationMs?: number;
  /** How long the leader keeps leading while renewals fail (default 2/3 of the lease duration). */
  renewDeadlineMs?: number;
  /** How often the Lease is read and renewed (default 2/15 of the lease duration). */
  retryPeriodMs?: number;
  logger: Logger;
  /** Called when this replica starts or stops leading. */
  onChange?(leading: boolean): void;
  /** The clock (tests). */
  now?(): number;
  /** The timers of the retry loop (tests); default: Node's. */
  timers?: ElectionTimers;
}

function statusCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown; statusCode?: unknown } | undefined)?.code ?? (error as { statusCode?: unknown } | undefined)?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

/** The Lease the replicas of one installation share: whoever holds it writes status and Reports. */
export const LEADER_LEASE_NAME = 'daemonguard-status-writer';

export class LeaseElection {
  private leading = false;
  private readonly listeners: ((leading: boolean) => void)[] = [];
  private lastRenewal = 0;
  private observed: { record: string; at: number } | undefined;
  private timer: unknown;
  private running: Promise<void> | undefined;
  private closed = false;
  private readonly api: LeaseApi;
  private readonly timers: ElectionTimers;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly now: () => number;

  constructor(private readonly options: LeaseElectionOptions) {
    this.timers = options.timers ?? NODE_TIMERS;
    this.leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? Math.round((this.leaseDurationMs * 2) / 3);
    this.retryPeriodMs = options.retryPeriodMs ?? Math.round((this.leaseDurationMs * 2) / 15);
    if (!(this.renewDeadlineMs < this.leaseDurationMs && this.retryPeriodMs < this.renewDeadlineMs)) {
      throw new Error('leader election needs retry period < renew deadline < lease duration');
    }
    if (options.api !== undefined) this.api = options.api;
    else if (options.kubeConfig !== undefined) this.api = leaseApi(options.kubeConfig, this.renewDeadlineMs);
    else throw new Error('leader election needs a kubeConfig (or a Lease api)');
    this.now = options.now ?? Date.now;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** Also tells `listener` when this replica starts or stops leading (after options.onChange). */
  onLeadingChange(listener: (leading: boolean) => void): void {
    this.listeners.push(listener);
  }

  private changed(leading: boolean): void {
    this.options.onChange?.(leading);
    for (const listener of this.listeners) listener(leading);
  }

  /** Starts trying to lead; returns at once. */
  start(): void {
    const loop = (): void => {
      if (this.closed) return;
      this.running = this.tryOnce()
        .catch((error: unknown) => this.failed(error, 'leader election failed'))
        .finally(() => {
          if (!this.closed) this.timer = this.timers.setTimeout(loop, this.retryPeriodMs);
        });
    };
    loop();
  }

  /** One round: read the Lease, then renew it, take it over or leave it. Exposed for tests. */
  async tryOnce(): Promise<void> {
    const { namespace, name, identity, logger } = this.options;
    let lease: Lease | undefined;
    try {
      lease = await this.api.readNamespacedLease({ namespace, name });
    } catch (error) {
      if (statusCode(error) !== 404) return this.failed(error, 'reading the Lease failed');
    }
    const now = this.now();
    if (lease === undefined) {
      try {
        await this.api.createNamespacedLease({ namespace, body: { metadata: { name, namespace }, spec: this.spec(0) } });
        this.renewed(now, true);
      } catch (error) {
        // 409: another replica created it first; it leads.
        if (statusCode(error) !== 409) this.failed(error, 'creating the Lease failed');
      }
      return;
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    // renewTime as the apiserver sent it.
    const record = `${holder}|${String(spec.renewTime ?? '')}|${spec.leaseDurationSeconds ?? ''}`;
    if (this.observed?.record !== record) this.observed = { record, at: now };
    const durationMs = (spec.leaseDurationSeconds ?? this.leaseDurationMs / 1000) * 1000;
    const expired = holder === '' || this.observed.at + durationMs <= now;
    if (holder !== identity && !expired) {
      this.follow(holder);
      return;
    }
    const transitions = (spec.leaseTransitions ?? 0) + (holder === identity ? 0 : 1);
    const body: Lease = {
      ...lease,
      spec: { ...this.spec(transitions), ...(holder === identity && spec.acquireTime !== undefined ? { acquireTime: spec.acquireTime } : {}) },
    };
    try {
      // lease.metadata.resourceVersion travels along: a concurrent writer makes this a 409.
      await this.api.replaceNamespacedLease({ namespace, name, body });
      if (holder !== identity) logger.info({ lease: `${namespace}/${name}`, previousHolder: holder || undefined }, 'took over the leader Lease');
      this.renewed(now, holder !== identity);
    } catch (error) {
      if (statusCode(error) === 409) {
        if (holder === identity) this.failed(error, 'renewing the Lease conflicted');
        return; // another candidate won this round
      }
      this.failed(error, holder === identity ? 'renewing the Lease failed' : 'taking over the Lease failed');
    }
  }

  private spec(transitions: number): NonNullable<Lease['spec']> {
    const now = microTime(this.now());
    return {
      holderIdentity: this.options.identity,
      leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
      acquireTime: now,
      renewTime: now,
      leaseTransitions: transitions,
    };
  }

  private renewed(at: number, acquired: boolean): void {
    this.lastRenewal = at;
    if (!this.leading) {
      this.leading = true;
      this.options.logger.info({ identity: this.options.identity, acquired }, 'leading: this replica writes status');
      this.changed(true);
    }
  }

  private follow(holder: string): void {
    if (this.leading) this.stopLeading(`the Lease is held by ${holder}`);
  }

  private failed(error: unknown, what: string): void {
    this.options.logger.warn({ err: error, leading: this.leading }, what);
    if (this.leading && this.now() - this.lastRenewal >= this.renewDeadlineMs) this.stopLeading('the Lease was not renewed within the renew deadline');
  }

  private stopLeading(why: string): void {
    this.leading = false;
    this.options.logger.warn({ identity: this.options.identity, why }, 'no longer leading');
    this.changed(false);
  }

  /** Stops; a leader empties the Lease so another replica need not wait for it to expire. */
  async close(): Promise<void> {
    this.closed = true;
    this.timers.clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
    if (!this.leading) return;
    this.leading = false;
    const { namespace, name } = this.options;
    try {
      const lease = await this.api.readNamespacedLease({ namespace, name });
      if (lease.spec?.holderIdentity !== this.options.identity) return;
      await this.api.replaceNamespacedLease({ namespace, name, body: { ...lease, spec: { ...lease.spec, holderIdentity: undefined, leaseDurationSeconds: 1 } } });
      this.options.logger.info({ lease: `${namespace}/${name}` }, 'released the leader Lease');
    } catch (error) {
      this.options.logger.warn({ err: error }, 'releasing the leader Lease failed; another replica takes over once it expires');
    }
  }
}

/** Where serve's replicas hold LEADER_LEASE_NAME: the flags serve passes to whoever runs the election. */
export interface InstallationLeaseOptions {
  kubeConfig: KubeConfig;
  leaseNamespace: string;
  identity: string;
  leaseDurationMs: number;
  logger: Logger;
  onChange(leading: boolean): void;
}

/**
 * The election on the installation's one Lease: the cluster policies' status writer and the background
 * audit must run the same one, so that an installation has a single writer whichever of them elects it.
 */
export function installationLeaseElection(options: InstallationLeaseOptions): LeaseElection {
  const { leaseNamespace, ...rest } = options;
  return new LeaseElection({ ...rest, namespace: leaseNamespace, name: LEADER_LEASE_NAME });
}
