// Warm-up: a freshly loaded policy set answers a few sample reviews (warm-up-reviews.ts) before it
// serves, so that the first real review does not pay for V8's lazy compilation of the generated CEL
// functions and of the engine's paths, nor for their first inline-cache misses. In a cluster
// DaemonSet writes are rare: that first review is most of the reviews a user ever waits for.
//
// The samples take the path a review takes in admission-handler.ts from the body on (the limit check,
// JSON.parse, decoding, the engine through answerAdmissionReview, the answer's JSON), but nothing of
// what a review leaves behind: no decision log line, no metrics, no audit, no answer sent. The engine
// is pure (engine/review.ts), so the set is the same afterwards. Bounded in time: a sample that runs
// past the budget is cut by its deadline, as a real one would be, and no further sample starts.

import { setImmediate as nextTurn } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import { decodeAdmissionReview, decodeOptionsAfterMeasuring, type DecodeOptions } from '../admission/admission-review.js';
import { answerAdmissionReview } from '../admission/webhook-answer.js';
import { measureJson, surelyWithinJsonLimits, type JsonLimits } from '../common/json-limits.js';
import type { AdmissionRequest, Decision, ReviewContext, ReviewPhase } from '../engine/types.js';
import { DEFAULT_JSON_LIMITS } from './json-limit-defaults.js';
import type { PolicySetLike } from './policy-store.js';
import { WARM_UP_NAMESPACES, WARM_UP_NODES, warmUpReviewBodies } from './warm-up-reviews.js';

/** Default --warm-up-budget: the most a warm-up may delay readiness or a reload's swap. */
export const DEFAULT_WARM_UP_BUDGET_MS = 2_000;

/** Each sample is reviewed this many times per phase: the first call compiles, the next ones settle the inline caches. */
const PASSES = 3;

export interface WarmUpOptions<P extends PolicySetLike> {
  /** The engine's entry point, as the server calls it. */
  review: (request: AdmissionRequest, policySet: P, context: ReviewContext) => Decision;
  /** Time the whole warm-up may take (ms); past it no further sample starts, and the one running is cut by its deadline. */
  budgetMs: number;
  /** --eval-deadline: a sample gets no more than a real review. */
  evalDeadlineMs: number;
  /** The server's structural limits, checked on each sample as on a request body. */
  jsonLimits?: JsonLimits;
}

export interface WarmUpReport {
  /** Sample reviews answered. */
  reviews: number;
  /** Of those, how many the engine failed on (answered with a 500) or in which a policy errored or ran out of time or budget. */
  withErrors: number;
  durationMs: number;
  /** False when the budget ran out before every sample had its passes. */
  complete: boolean;
}

/** Runs the sample reviews against `policySet` in both phases, yielding to the event loop between them. Never throws for a policy's sake. */
export async function warmUpPolicySet<P extends PolicySetLike>(policySet: P, options: WarmUpOptions<P>): Promise<WarmUpReport> {
  const started = performance.now();
  const end = started + options.budgetMs;
  const jsonLimits = options.jsonLimits ?? DEFAULT_JSON_LIMITS;
  const decodeOptions = decodeOptionsAfterMeasuring(jsonLimits.maxDepth);
  const bodies = warmUpReviewBodies().map((body) => Buffer.from(body, 'utf8'));
  let reviews = 0;
  let withErrors = 0;
  for (let pass = 0; pass < PASSES; pass++) {
    for (const phase of ['mutate', 'validate'] as const satisfies readonly ReviewPhase[]) {
      for (const body of bodies) {
        if (performance.now() >= end) return { reviews, withErrors, durationMs: performance.now() - started, complete: false };
        if (sampleReview(body, phase, policySet, options, jsonLimits, decodeOptions, end)) withErrors++;
        reviews++;
        // Probes, and reviews for the set already serving (during a reload), are answered in between.
        await nextTurn();
      }
    }
  }
  return { reviews, withErrors, durationMs: performance.now() - started, complete: true };
}

/** One sample, the way admission-handler.ts answers a body; true when something in it failed. */
function sampleReview<P extends PolicySetLike>(
  body: Buffer,
  phase: ReviewPhase,
  policySet: P,
  options: WarmUpOptions<P>,
  jsonLimits: JsonLimits,
  decodeOptions: DecodeOptions,
  end: number,
): boolean {
  const withinLimits = surelyWithinJsonLimits(body, jsonLimits) || measureJson(body, jsonLimits).violation === undefined;
  // A server started with limits tighter than the samples: nothing to learn from them.
  if (!withinLimits) return true;
  const decoded = decodeAdmissionReview(JSON.parse(body.toString('utf8')), decodeOptions);
  if (!decoded.ok) throw new Error(`a warm-up sample is not a valid AdmissionReview: ${decoded.message}`);
  const request = decoded.request;
  const context: ReviewContext = {
    phase,
    deadline: Math.min(performance.now() + options.evalDeadlineMs, end),
    namespaceObject: WARM_UP_NAMESPACES[request.namespace ?? ''] ?? null,
    nodes: WARM_UP_NODES,
  };
  const answered = answerAdmissionReview(decoded, (decodedRequest, reviewContext) => options.review(decodedRequest, policySet, reviewContext), context);
  JSON.stringify(answered.answer);
  if (answered.decision === undefined) return true;
  return answered.decision.outcomes.some((outcome) => outcome.result === 'error');
}
