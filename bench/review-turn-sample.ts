// What serve's review-turn metrics (src/server/review-turn.ts, /metrics on the probe port) say about one
// round of `npm run bench`: read before and after the round, their difference gives the time a review
// took inside serve under the bench's load, the first of each turn apart from the later ones. Unlike
// the CPU time per request, which moves with everything else the machine runs, this is the engine's
// own time (and its answer's), read from the clock around each review: a change to the engine shows
// here within a microsecond or two where the CPU figures swing by ten.

import type { ReviewTurnTotals } from '../src/server/review-turn.js';

/** One round's reviews inside serve: µs per review by position in the turn, and reviews per turn. */
export interface ReviewTurnSample {
  firstMicros: number;
  laterMicros: number;
  meanMicros: number;
  reviewsPerTurn: number;
  /**
   * Policy evaluations per review that the lean tier handed to the exact code in the round
   * (daemonguard_policy_fast_path_total{outcome="gave_up"}, summed over policies): 0 when the library's
   * lean functions answered everything, as they do on the bench's reviews. A slow round with more is
   * the tier, not the machine. NaN where the build has no such series.
   */
  leanGaveUpPerReview: number;
}

/** What the bench reads from serve's /metrics: the review-turn totals, and the lean tier's tallies when the build has them. */
export interface ServeTotals extends ReviewTurnTotals {
  readonly leanGaveUp: number | undefined;
}

const LEAN_GAVE_UP = /^daemonguard_policy_fast_path_total\{(?=[^}]*outcome="gave_up")[^}]*\} (\S+)$/;

const SERIES: Record<string, keyof ReviewTurnTotals> = {
  daemonguard_review_turns_total: 'turns',
  'daemonguard_reviews_evaluated_total{position="first"}': 'firstReviews',
  'daemonguard_reviews_evaluated_total{position="later"}': 'laterReviews',
  'daemonguard_review_evaluation_seconds_total{position="first"}': 'firstSeconds',
  'daemonguard_review_evaluation_seconds_total{position="later"}': 'laterSeconds',
};

/** The totals in a Prometheus exposition, or undefined when one of the review-turn series is missing (a build without them). */
export function reviewTurnTotals(exposition: string): ServeTotals | undefined {
  const totals: Partial<Record<keyof ReviewTurnTotals, number>> = {};
  let leanGaveUp: number | undefined;
  for (const line of exposition.split('\n')) {
    const space = line.lastIndexOf(' ');
    const field = SERIES[line.slice(0, space)];
    if (field !== undefined) totals[field] = Number(line.slice(space + 1));
    const gaveUp = LEAN_GAVE_UP.exec(line);
    if (gaveUp !== null) leanGaveUp = (leanGaveUp ?? 0) + Number(gaveUp[1]);
  }
  const complete = Object.values(SERIES).every((field) => Number.isFinite(totals[field]));
  return complete ? { ...(totals as ReviewTurnTotals), leanGaveUp } : undefined;
}

/** The round between two scrapes; NaN where the round had no such review. */
export function reviewTurnSample(before: ServeTotals, after: ServeTotals): ReviewTurnSample {
  const first = after.firstReviews - before.firstReviews;
  const later = after.laterReviews - before.laterReviews;
  const firstSeconds = after.firstSeconds - before.firstSeconds;
  const laterSeconds = after.laterSeconds - before.laterSeconds;
  const micros = (seconds: number, reviews: number): number => (reviews > 0 ? (seconds / reviews) * 1e6 : Number.NaN);
  const turns = after.turns - before.turns;
  return {
    firstMicros: micros(firstSeconds, first),
    laterMicros: micros(laterSeconds, later),
    meanMicros: micros(firstSeconds + laterSeconds, first + later),
    reviewsPerTurn: turns > 0 ? (first + later) / turns : Number.NaN,
    leanGaveUpPerReview:
      before.leanGaveUp === undefined || after.leanGaveUp === undefined || first + later === 0 ? Number.NaN : (after.leanGaveUp - before.leanGaveUp) / (first + later),
  };
}
