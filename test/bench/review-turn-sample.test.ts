// `npm run bench`'s reading of serve's review-turn metrics (bench/review-turn-sample.ts): the totals as
// a real metrics registry exposes them after real turns, and one round's µs per review from two scrapes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { reviewTurnSample, reviewTurnTotals } from '../../bench/review-turn-sample.js';
import { createServerMetrics } from '../../src/server/metrics.js';
import { ReviewTurn } from '../../src/server/review-turn.js';

describe('the review-turn sample of a bench round', () => {
  it('reads the totals a metrics registry exposes after real turns, and none from an exposition without them', async () => {
    const metrics = createServerMetrics({ defaultMetrics: false });
    const turn = new ReviewTurn(1000);
    metrics.trackReviewTurns(turn);
    await Promise.all([turn.run(() => 1), turn.run(() => 2), turn.run(() => 3)]);
    await turn.run(() => 4);
    const totals = reviewTurnTotals(await metrics.registry.metrics());
    assert.ok(totals !== undefined);
    assert.deepEqual({ turns: totals.turns, firstReviews: totals.firstReviews, laterReviews: totals.laterReviews }, { turns: 2, firstReviews: 2, laterReviews: 2 });
    assert.equal(totals.firstSeconds, turn.firstSeconds);
    assert.equal(totals.laterSeconds, turn.laterSeconds);
    assert.equal(reviewTurnTotals('# a build before these metrics\ndaemonguard_admission_requests_total{endpoint="/validate",decision="allowed"} 5\n'), undefined);
  });

  it('gives µs per review by position and reviews per turn for the round between two scrapes', () => {
    const before = { turns: 10, firstReviews: 10, laterReviews: 30, firstSeconds: 0.0008, laterSeconds: 0.0006, leanGaveUp: 12 };
    const after = { turns: 110, firstReviews: 110, laterReviews: 530, firstSeconds: 0.0008 + 100 * 70e-6, laterSeconds: 0.0006 + 500 * 14e-6, leanGaveUp: 72 };
    const sample = reviewTurnSample(before, after);
    assert.ok(Math.abs(sample.firstMicros - 70) < 1e-6, String(sample.firstMicros));
    assert.ok(Math.abs(sample.laterMicros - 14) < 1e-6, String(sample.laterMicros));
    assert.ok(Math.abs(sample.meanMicros - (100 * 70 + 500 * 14) / 600) < 1e-6, String(sample.meanMicros));
    assert.equal(sample.reviewsPerTurn, 6);
    assert.ok(Math.abs(sample.leanGaveUpPerReview - 0.1) < 1e-9, String(sample.leanGaveUpPerReview));
    assert.ok(Number.isNaN(reviewTurnSample({ ...before, leanGaveUp: undefined }, after).leanGaveUpPerReview), 'a build without the tallies has no figure');
    assert.ok(Number.isNaN(reviewTurnSample(before, before).meanMicros), 'a round without reviews has no figure');
  });

  it("sums the lean tier's give-ups over every policy, and none of its answers", async () => {
    const metrics = createServerMetrics({ defaultMetrics: false });
    const turn = new ReviewTurn(1000);
    metrics.trackReviewTurns(turn);
    await turn.run(() => 1);
    const exposition = [
      await metrics.registry.metrics(),
      'daemonguard_policy_fast_path_total{policy="host-path",outcome="answered"} 900',
      'daemonguard_policy_fast_path_total{policy="host-path",outcome="gave_up"} 4',
      'daemonguard_policy_fast_path_total{outcome="gave_up",policy="image-references"} 6',
      'daemonguard_policy_fast_path_total{policy="resources",outcome="answered"} 35',
    ].join('\n');
    assert.equal(reviewTurnTotals(exposition)?.leanGaveUp, 10);
  });
});
