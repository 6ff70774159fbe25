import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReviewTurn } from './review-turn.js';

describe('ReviewTurn', () => {
  it('runs the reviews ready together back to back, before any of their answers is written', async () => {
    const turn = new ReviewTurn();
    const events: string[] = [];
    const answer = async (name: string): Promise<void> => {
      const value = await turn.run(() => {
        events.push(`review ${name}`);
        return name.toUpperCase();
      });
      events.push(`answer ${value}`);
    };
    await Promise.all([answer('a'), answer('b'), answer('c')]);
    assert.deepEqual(events, ['review a', 'review b', 'review c', 'answer A', 'answer B', 'answer C']);
    assert.equal(turn.turns, 1);
    assert.equal(turn.reviews, 3);
  });

  it('starts a new turn for a review queued after the previous turn ran', async () => {
    const turn = new ReviewTurn();
    assert.equal(await turn.run(() => 1), 1);
    assert.equal(await turn.run(() => 2), 2);
    assert.equal(turn.turns, 2);
  });

  it('lets the answers of finished reviews go out once a turn has run out of time, and runs the rest next, in order', async () => {
    const turn = new ReviewTurn(0);
    const events: string[] = [];
    const answer = async (name: string): Promise<void> => {
      await turn.run(() => events.push(`review ${name}`));
      events.push(`answer ${name}`);
    };
    await Promise.all([answer('a'), answer('b'), answer('c')]);
    assert.deepEqual(events, ['review a', 'answer a', 'review b', 'answer b', 'review c', 'answer c']);
    assert.equal(turn.turns, 3);
    assert.equal(turn.reviews, 3);
  });

  it("counts each turn's first review apart from the later ones, with the time each review took, a review that threw included", async () => {
    const turn = new ReviewTurn(1000);
    const busy = (ms: number) => (): number => {
      const until = performance.now() + ms;
      while (performance.now() < until);
      return ms;
    };
    const before = performance.now();
    await Promise.allSettled([
      turn.run(busy(30)),
      turn.run(busy(10)),
      turn.run(() => {
        busy(10)();
        throw new Error('engine fault');
      }),
    ]);
    await turn.run(busy(20));
    const elapsed = (performance.now() - before) / 1000;
    assert.equal(turn.turns, 2);
    assert.equal(turn.firstReviews, 2);
    assert.equal(turn.laterReviews, 2);
    assert.ok(turn.firstSeconds >= 0.05, `first reviews: ${turn.firstSeconds} s, at least 30 + 20 ms`);
    assert.ok(turn.laterSeconds >= 0.02, `later reviews: ${turn.laterSeconds} s, at least 10 + 10 ms`);
    assert.ok(turn.firstSeconds + turn.laterSeconds <= elapsed, 'no review counted twice');
    assert.ok(turn.firstSeconds < 0.05 + 0.02, 'the later reviews are not counted as first ones');
  });

  it('rejects only the review that threw; the others of its turn still get their values', async () => {
    const turn = new ReviewTurn();
    const results = await Promise.allSettled([
      turn.run(() => 'first'),
      turn.run(() => {
        throw new Error('engine fault');
      }),
      turn.run(() => 'third'),
    ]);
    assert.deepEqual(
      results.map((result) => (result.status === 'fulfilled' ? result.value : (result.reason as Error).message)),
      ['first', 'engine fault', 'third'],
    );
  });
});
