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
}

const SERIES: Record<string, keyof ReviewTurnTotals> = {
  daemonguard_review_turns_total: 'turns',
  'daemonguard_reviews_evaluated_total{position="first"}': 'firstReviews',
  'daemonguard_reviews_evaluated_total{position="later"}': 'laterReviews',
  'daemonguard_review_evaluation_seconds_total{position="first"}': 'firstSeconds',
  'daemonguard_review_evaluation_seconds_total{position="later"}': 'laterSeconds',
};

/** The totals in a Prometheus exposition, or undefined when one of the series is missing (a build without them). */
export function reviewTurnTotals(exposition: string): ReviewTurnTotals | undefined {
  const totals: Partial<Record<keyof ReviewTurnTotals, number>> = {};
  for (const line of exposition.split('\n')) {
    const space = line.lastIndexOf(' ');
    const field = SERIES[line.slice(0, space)];
    if (field !== undefined) totals[field] = Number(line.slice(space + 1));
  }
  const complete = Object.values(SERIES).every((field) => Number.isFinite(totals[field]));
  return complete ? (totals as ReviewTurnTotals) : undefined;
}

/** The round between two scrapes; NaN where the round had no such review. */
export function reviewTurnSample(before: ReviewTurnTotals, after: ReviewTurnTotals): ReviewTurnSample {
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
  };
}
