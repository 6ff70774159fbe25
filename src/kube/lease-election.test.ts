// LeaseElection against an in-memory Lease API that keeps the apiserver's optimistic concurrency
// (every write names the resourceVersion it read; a stale one is 409 Conflict, none at all is 422, as
// the Lease strategy allows no unconditional update), on a clock the test moves. The same code runs
// against a real kube-apiserver in the e2e suite; here each rule of the election is shown at the
// moment it matters: acquire, renew, losing a write race, expiry, the renew deadline, release.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { captureLogger } from '../../test/support/server-fixtures.js';
import { TestClock } from '../../test/support/test-clock.js';
import { KubeApiError } from './kube-request.js';
import { LeaseElection, type Lease, type LeaseApi } from './lease-election.js';

const NAMESPACE = 'daemonguard-system';
const NAME = 'daemonguard-status-writer';
/** The defaults: lease duration 15 s, renew deadline 10 s, retry period 2 s. */
const LEASE_MS = 15_000;
const RETRY_MS = 2_000;

function apiError(code: number, reason: string): KubeApiError {
  return new KubeApiError(code, reason);
}

/**
 * One Lease store, as the apiserver keeps it: objects go in and out as JSON (so times come back as
 * the strings the wire carries), each write gets a new resourceVersion. Replicas reach it through
 * client(identity), which a test can cut off (a network partition) one replica at a time.
 */
class InMemoryLeases {
  private readonly objects = new Map<string, string>();
  private revision = 1000;
  readonly cutOff = new Set<string>();
  /** Writes that lost on resourceVersion, by the replica that sent them. */
  readonly conflicts: string[] = [];
  /** Successful writes, by the replica that sent them. */
  readonly writes: string[] = [];
  /** Runs before the next replace is applied: a test makes another writer win the race here. */
  beforeNextReplace: (() => void) | undefined;

  lease(): Lease | undefined {
    const text = this.objects.get(`${NAMESPACE}/${NAME}`);
    return text === undefined ? undefined : (JSON.parse(text) as Lease);
  }

  /** Stores a Lease as another writer (kubectl, another replica) would, bypassing the clients. */
  put(lease: Lease): void {
    this.store(`${NAMESPACE}/${lease.metadata?.name ?? NAME}`, lease);
  }

  private store(key: string, lease: Lease): Lease {
    const stored: Lease = { ...lease, metadata: { ...lease.metadata, resourceVersion: String(++this.revision) } };
    this.objects.set(key, JSON.stringify(stored));
    return JSON.parse(this.objects.get(key)!) as Lease;
  }

  client(identity: string): LeaseApi {
    const reachable = (): void => {
      if (this.cutOff.has(identity)) throw apiError(503, 'ServiceUnavailable');
    };
    return {
      readNamespacedLease: async ({ namespace, name }) => {
        reachable();
        const text = this.objects.get(`${namespace}/${name}`);
        if (text === undefined) throw apiError(404, 'NotFound');
        return JSON.parse(text) as Lease;
      },
      createNamespacedLease: async ({ namespace, body }) => {
        reachable();
        const key = `${namespace}/${body.metadata?.name ?? ''}`;
        if (this.objects.has(key)) throw apiError(409, 'AlreadyExists');
        this.writes.push(identity);
        return this.store(key, body);
      },
      replaceNamespacedLease: async ({ namespace, name, body }) => {
        reachable();
        const step = this.beforeNextReplace;
        this.beforeNextReplace = undefined;
        step?.();
        const key = `${namespace}/${name}`;
        const current = this.objects.get(key);
        const given = body.metadata?.resourceVersion;
        if (given === undefined || given === '') throw apiError(422, 'Invalid: metadata.resourceVersion must be specified for an update');
        if (current === undefined) throw apiError(404, 'NotFound');
        if ((JSON.parse(current) as Lease).metadata?.resourceVersion !== given) {
          this.conflicts.push(identity);
          throw apiError(409, 'Conflict: the object has been modified');
        }
        this.writes.push(identity);
        return this.store(key, body);
      },
    };
  }
}

interface Replica {
  election: LeaseElection;
  /** onChange calls, with the clock's time. */
  changes: { leading: boolean; at: number }[];
  logs: Record<string, unknown>[];
}

function replica(identity: string, leases: InMemoryLeases, clock: TestClock): Replica {
  const { logger, records } = captureLogger('info');
  const changes: Replica['changes'] = [];
  const election = new LeaseElection({
    api: leases.client(identity),
    namespace: NAMESPACE,
    name: NAME,
    identity,
    logger,
    now: clock.now,
    timers: clock,
    onChange: (leading) => changes.push({ leading, at: clock.now() }),
  });
  return { election, changes, logs: records };
}

/** pod-a started first and leads; pod-b started just after, running its loop too. */
async function leaderAndFollower(): Promise<{ clock: TestClock; leases: InMemoryLeases; a: Replica; b: Replica }> {
  const clock = new TestClock();
  const leases = new InMemoryLeases();
  const a = replica('pod-a', leases, clock);
  const b = replica('pod-b', leases, clock);
  a.election.start();
  await clock.advance(0);
  b.election.start();
  return { clock, leases, a, b };
}

describe('LeaseElection', () => {
  it('acquires a missing Lease by creating it, then renews it every retry period, keeping acquireTime', async () => {
    const clock = new TestClock();
    const leases = new InMemoryLeases();
    const a = replica('pod-a', leases, clock);
    a.election.start();
    await clock.advance(0);
    assert.equal(a.election.isLeader, true);
    assert.deepEqual(a.changes, [{ leading: true, at: clock.now() }]);
    const first = leases.lease()!;
    assert.equal(first.spec?.holderIdentity, 'pod-a');
    assert.equal(first.spec?.leaseDurationSeconds, 15);
    assert.equal(first.spec?.leaseTransitions, 0);

    await clock.advance(RETRY_MS);
    const renewed = leases.lease()!;
    assert.notEqual(renewed.metadata?.resourceVersion, first.metadata?.resourceVersion);
    assert.equal(Date.parse(String(renewed.spec?.renewTime)) - Date.parse(String(first.spec?.renewTime)), RETRY_MS);
    assert.equal(String(renewed.spec?.acquireTime), String(first.spec?.acquireTime), 'a renewal keeps the time the Lease was acquired');
    assert.equal(renewed.spec?.leaseTransitions, 0);

    await clock.advance(10 * RETRY_MS);
    assert.deepEqual(leases.writes, Array<string>(12).fill('pod-a'), 'one create, then one renewal per retry period');
    assert.equal(a.changes.length, 1);
    await a.election.close();
  });

  it('a second replica follows while the leader renews, and never leads', async () => {
    const { clock, leases, a, b } = await leaderAndFollower();
    await clock.advance(60_000);
    assert.equal(a.election.isLeader, true);
    assert.equal(b.election.isLeader, false);
    assert.deepEqual(b.changes, []);
    assert.equal(leases.writes.includes('pod-b'), false, 'a follower never writes the Lease');
    await Promise.all([a.election.close(), b.election.close()]);
  });

  it('two candidates racing for an expired Lease: the resourceVersion check lets exactly one win, the other follows', async () => {
    const clock = new TestClock();
    const leases = new InMemoryLeases();
    leases.put({ metadata: { name: NAME, namespace: NAMESPACE }, spec: { holderIdentity: 'pod-gone', leaseDurationSeconds: 15, renewTime: new Date(clock.now()).toISOString(), leaseTransitions: 3 } });
    const a = replica('pod-a', leases, clock);
    const b = replica('pod-b', leases, clock);
    // Both see pod-gone's record now; neither may take it before it has stood still for 15 s on its own clock.
    await Promise.all([a.election.tryOnce(), b.election.tryOnce()]);
    await clock.advance(LEASE_MS - 1);
    await Promise.all([a.election.tryOnce(), b.election.tryOnce()]);
    assert.deepEqual([a.election.isLeader, b.election.isLeader], [false, false], 'not expired 1 ms early');

    await clock.advance(1);
    // Both read the same resourceVersion, both write: the apiserver takes the first and refuses the second.
    await Promise.all([a.election.tryOnce(), b.election.tryOnce()]);
    assert.deepEqual([a.election.isLeader, b.election.isLeader], [true, false]);
    assert.deepEqual(leases.conflicts, ['pod-b']);
    assert.equal(leases.lease()?.spec?.holderIdentity, 'pod-a');
    assert.equal(leases.lease()?.spec?.leaseTransitions, 4, 'a change of holder counts one transition');
    assert.deepEqual(b.changes, []);
    await b.election.tryOnce();
    assert.equal(b.election.isLeader, false, 'the loser reads the new holder and follows it');
  });

  it('a leader whose renewal conflicts because another replica took the Lease stops leading at its next read', async () => {
    const clock = new TestClock();
    const leases = new InMemoryLeases();
    const a = replica('pod-a', leases, clock);
    await a.election.tryOnce();
    assert.equal(a.election.isLeader, true);

    // Between pod-a's read and its write, pod-b writes the Lease (it judged pod-a's record expired).
    leases.beforeNextReplace = () => {
      const lease = leases.lease()!;
      leases.put({ ...lease, spec: { ...lease.spec, holderIdentity: 'pod-b', renewTime: new Date(clock.now()).toISOString(), leaseTransitions: 1 } });
    };
    await clock.advance(RETRY_MS);
    await a.election.tryOnce();
    assert.deepEqual(leases.conflicts, ['pod-a']);
    assert.ok(a.logs.some((line) => line['msg'] === 'renewing the Lease conflicted'));
    assert.equal(a.election.isLeader, true, 'one conflict within the renew deadline is not yet a loss');

    await clock.advance(RETRY_MS);
    await a.election.tryOnce();
    assert.equal(a.election.isLeader, false);
    assert.deepEqual(a.changes.map((change) => change.leading), [true, false]);
    const stopped = a.logs.find((line) => line['msg'] === 'no longer leading');
    assert.equal(stopped?.['why'], 'the Lease is held by pod-b');
    assert.equal(leases.lease()?.spec?.holderIdentity, 'pod-b', 'the loser does not write again');
  });

  it('a cut-off leader stops leading at the renew deadline, before a follower may take the Lease over at its expiry', async () => {
    const { clock, leases, a, b } = await leaderAndFollower();
    await clock.advance(RETRY_MS * 3);
    const lastRenewal = Date.parse(String(leases.lease()?.spec?.renewTime));

    leases.cutOff.add('pod-a');
    await clock.advance(LEASE_MS + 2 * RETRY_MS);
    const [aStopped] = a.changes.filter((change) => !change.leading);
    const [bStarted] = b.changes.filter((change) => change.leading);
    assert.ok(aStopped !== undefined && bStarted !== undefined, JSON.stringify({ a: a.changes, b: b.changes }));
    assert.ok(aStopped.at - lastRenewal >= 10_000 && aStopped.at - lastRenewal < 10_000 + RETRY_MS, `pod-a stops at the renew deadline (${aStopped.at - lastRenewal} ms)`);
    assert.ok(bStarted.at - lastRenewal >= LEASE_MS, `pod-b waits out the lease duration (${bStarted.at - lastRenewal} ms)`);
    assert.ok(aStopped.at < bStarted.at, 'never two leaders at once');
    assert.equal(leases.lease()?.spec?.holderIdentity, 'pod-b');
    assert.equal(leases.lease()?.spec?.leaseTransitions, 1);

    // pod-a comes back: it reads pod-b's Lease and follows.
    leases.cutOff.delete('pod-a');
    await clock.advance(RETRY_MS * 2);
    assert.deepEqual([a.election.isLeader, b.election.isLeader], [false, true]);
    await Promise.all([a.election.close(), b.election.close()]);
  });

  it('close() on the leader empties the Lease, so a follower takes over at its next retry rather than after the lease duration', async () => {
    const { clock, leases, a, b } = await leaderAndFollower();
    await clock.advance(RETRY_MS * 2);

    const closedAt = clock.now();
    await a.election.close();
    assert.equal(a.election.isLeader, false);
    assert.ok(a.logs.some((line) => line['msg'] === 'released the leader Lease'));
    const released = leases.lease()!;
    assert.equal(released.spec?.holderIdentity, undefined);
    assert.equal(released.spec?.leaseDurationSeconds, 1);

    await clock.advance(RETRY_MS);
    const [bStarted] = b.changes;
    assert.ok(bStarted?.leading === true && bStarted.at - closedAt <= RETRY_MS, JSON.stringify(b.changes));
    const writesByA = leases.writes.filter((identity) => identity === 'pod-a').length;
    await clock.advance(LEASE_MS);
    assert.equal(leases.writes.filter((identity) => identity === 'pod-a').length, writesByA, 'a closed election writes no more');

    await b.election.close();
    assert.equal(clock.pendingTimers, 0, 'close() leaves no timer behind');
  });

  it('close() on a follower leaves the Lease alone', async () => {
    const clock = new TestClock();
    const leases = new InMemoryLeases();
    const a = replica('pod-a', leases, clock);
    const b = replica('pod-b', leases, clock);
    await a.election.tryOnce();
    await b.election.tryOnce();
    const before = leases.lease()!;
    await b.election.close();
    assert.deepEqual(leases.lease(), before);
  });
});
