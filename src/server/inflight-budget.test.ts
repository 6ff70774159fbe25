import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InFlightBudget, type InFlightReservation } from './inflight-budget.js';

function granted(result: InFlightReservation | string): InFlightReservation {
  assert.notEqual(typeof result, 'string', `refused: ${String(result)}`);
  return result as InFlightReservation;
}

describe('InFlightBudget', () => {
  it('grants what fits at once and gives it back on release, once', async () => {
    const budget = new InFlightBudget({ capacityBytes: 100, maxWaiting: 2, maxWaitMs: 10_000 });
    const a = granted(await budget.reserve(60));
    const b = granted(await budget.reserve(40));
    assert.equal(budget.reservedBytes, 100);
    a.release();
    a.release();
    assert.equal(budget.reservedBytes, 40);
    b.release();
    assert.equal(budget.reservedBytes, 0);
  });

  it('lets a body larger than the whole capacity run, alone', async () => {
    const budget = new InFlightBudget({ capacityBytes: 100, maxWaiting: 2, maxWaitMs: 10_000 });
    const huge = granted(await budget.reserve(1_000));
    assert.equal(huge.bytes, 100);
    huge.release();
  });

  it('serves waiters first come, first served, as room frees up', async () => {
    const budget = new InFlightBudget({ capacityBytes: 100, maxWaiting: 5, maxWaitMs: 10_000 });
    const holder = granted(await budget.reserve(90));
    const order: string[] = [];
    const big = budget.reserve(80).then((r) => (order.push('big'), granted(r)));
    // Fits beside the holder, but must not overtake the waiter ahead of it.
    const small = budget.reserve(5).then((r) => (order.push('small'), granted(r)));
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(order, []);
    assert.equal(budget.waiting, 2);
    holder.release();
    const [b, s] = await Promise.all([big, small]);
    assert.deepEqual(order, ['big', 'small']);
    assert.equal(budget.reservedBytes, 85);
    b.release();
    s.release();
  });

  it('refuses at once when the queue is full, and after the wait when no room frees up', async () => {
    const budget = new InFlightBudget({ capacityBytes: 100, maxWaiting: 1, maxWaitMs: 50 });
    const holder = granted(await budget.reserve(100));
    const waiting = budget.reserve(10);
    assert.equal(await budget.reserve(10), 'queue-full');
    assert.equal(await waiting, 'wait-timeout');
    assert.equal(budget.waiting, 0);
    holder.release();
    granted(await budget.reserve(100)).release();
  });

  it('lets those behind a waiter that timed out in when they fit', async () => {
    const budget = new InFlightBudget({ capacityBytes: 100, maxWaiting: 5, maxWaitMs: 50 });
    const holder = granted(await budget.reserve(50));
    const head = budget.reserve(80);
    const behind = budget.reserve(40);
    assert.equal(await head, 'wait-timeout');
    const admitted = granted(await behind);
    assert.equal(budget.reservedBytes, 90);
    admitted.release();
    holder.release();
  });

  it('grants at once without a promise only what reserve() would grant at once, never ahead of a waiter', async () => {
    const budget = new InFlightBudget({ capacityBytes: 100, maxWaiting: 5, maxWaitMs: 10_000 });
    const first = budget.tryReserve(70);
    assert.equal(first?.bytes, 70);
    assert.equal(budget.tryReserve(40), undefined, 'no room');
    const waiter = budget.reserve(40);
    assert.equal(budget.tryReserve(10), undefined, 'fits, but one is waiting');
    first?.release();
    const admitted = granted(await waiter);
    assert.equal(budget.tryReserve(10)?.bytes, 10);
    assert.equal(budget.reservedBytes, 50);
    admitted.release();
  });
});
