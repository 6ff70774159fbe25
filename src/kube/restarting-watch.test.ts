// RestartingWatch on a clock the test moves, around an informer stand-in that records its starts and
// stops and fails when told (the informer, list-watch.ts, stops on an error it cannot handle; this loop is what
// brings it back). The real informer against a real kube-apiserver is exercised by the e2e suites of
// the caches built on it (cluster-policies, audit, namespaces).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { TestClock } from '../../test/support/test-clock.js';
import { RestartingWatch, type RestartableInformer, type RestartingWatchOptions } from './restarting-watch.js';

const DELAY_MS = 2_000;

class FakeInformer implements RestartableInformer {
  starts = 0;
  stops = 0;
  private readonly errorCallbacks: ((error: unknown) => void)[] = [];

  start(): Promise<void> {
    this.starts++;
    return Promise.resolve();
  }

  stop(): Promise<void> {
    this.stops++;
    return Promise.resolve();
  }

  on(_event: 'error', callback: (error: unknown) => void): void {
    this.errorCallbacks.push(callback);
  }

  /** What the informer does when the list or the watch fails. */
  fail(error: unknown): void {
    for (const callback of this.errorCallbacks) callback(error);
  }
}

function setup(options: Partial<RestartingWatchOptions> = {}): { clock: TestClock; informer: FakeInformer; watch: RestartingWatch; told: unknown[] } {
  const clock = new TestClock();
  const informer = new FakeInformer();
  const told: unknown[] = [];
  const watch = new RestartingWatch(informer, { onRestart: (error) => told.push(error), retryDelayMs: DELAY_MS, timers: clock, ...options });
  return { clock, informer, watch, told };
}

describe('RestartingWatch', () => {
  it('starts the informer again retryDelayMs after it fails, each time it fails, and says why', async () => {
    const { clock, informer, told } = setup();
    const expired = new Error('410 Gone: too old resource version');
    informer.fail(expired);
    await clock.advance(DELAY_MS - 1);
    assert.equal(informer.starts, 0, 'not before the pause is over');
    await clock.advance(1);
    assert.equal(informer.starts, 1);
    const dropped = new Error('ECONNRESET');
    informer.fail(dropped);
    await clock.advance(DELAY_MS);
    assert.equal(informer.starts, 2);
    assert.deepEqual(told, [expired, dropped]);
    assert.equal(clock.pendingTimers, 0);
  });

  it('restarts once for errors that come during the pause, a full pause after the last one', async () => {
    const { clock, informer, told } = setup();
    informer.fail(new Error('first'));
    await clock.advance(DELAY_MS / 2);
    informer.fail(new Error('second'));
    await clock.advance(DELAY_MS - 1);
    assert.equal(informer.starts, 0, 'the second error put the restart off');
    await clock.advance(1);
    assert.equal(informer.starts, 1);
    await clock.advance(10 * DELAY_MS);
    assert.equal(informer.starts, 1, 'one restart for both');
    assert.equal(told.length, 2);
  });

  it('waits 2 s without retryDelayMs', async () => {
    const { clock, informer } = setup({ retryDelayMs: undefined });
    informer.fail(new Error('gone'));
    await clock.advance(1_999);
    assert.equal(informer.starts, 0);
    await clock.advance(1);
    assert.equal(informer.starts, 1);
  });

  it('close() cancels a pending restart, stops the informer, and ignores errors after it', async () => {
    const { clock, informer, watch, told } = setup();
    informer.fail(new Error('before close'));
    watch.close();
    assert.equal(informer.stops, 1);
    assert.equal(clock.pendingTimers, 0, 'the pending restart is cancelled');
    // An error reported after stop() (an aborted watch) must not bring the informer back.
    informer.fail(new Error('aborted'));
    await clock.advance(10 * DELAY_MS);
    assert.equal(informer.starts, 0);
    assert.equal(told.length, 1);
  });

  it('leaves an error that claim() takes to its claimant: no restart, no report; the next ones restart again', async () => {
    let waiting = true;
    const claimed: unknown[] = [];
    const { clock, informer, told } = setup({
      claim: (error) => {
        if (!waiting) return false;
        claimed.push(error);
        waiting = false;
        return true;
      },
    });
    const firstList = new Error('403 Forbidden');
    informer.fail(firstList);
    await clock.advance(10 * DELAY_MS);
    assert.deepEqual(claimed, [firstList]);
    assert.equal(informer.starts, 0);
    assert.deepEqual(told, []);
    informer.fail(new Error('later'));
    await clock.advance(DELAY_MS);
    assert.equal(informer.starts, 1);
    assert.equal(told.length, 1);
  });

  it("on Node's timers, a pending restart does not keep the process alive", () => {
    // A child process with a restart pending for a minute must exit on its own at once.
    const module = fileURLToPath(new URL('./restarting-watch.js', import.meta.url));
    const script = `
      const { RestartingWatch } = await import(${JSON.stringify(module)});
      let fail;
      const informer = { start: async () => {}, stop: async () => {}, on: (_event, callback) => (fail = callback) };
      new RestartingWatch(informer, { onRestart: () => console.log('restart pending'), retryDelayMs: 60_000 });
      fail(new Error('gone'));`;
    // Killed at 30 s (status null, signal SIGTERM) if the 60 s timer held it.
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(child.signal, null, 'the child was not killed');
    assert.equal(child.status, 0, child.stderr);
    assert.equal(child.stdout, 'restart pending\n');
  });
});
