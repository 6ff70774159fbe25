// One webhook's answer to one request: the engine decides, responseFromDecision renders. The server's
// /mutate and /validate, `daemonguard review` and the pipeline all answer through here, so what a user
// is told cannot depend on the door the request came in by.

import type { AdmissionRequest, Decision, ReviewContext } from '../engine/types.js';
import type { DecodedAdmissionReview } from './admission-review.js';
import { admissionReviewAnswer, erroredResponse, responseFromDecision, type AdmissionResponse, type AdmissionReviewAnswer } from './admission-response.js';

/** The engine bound to a policy set: `(request, context) => review(request, policySet, context)`. */
export type DecideRequest = (request: AdmissionRequest, context: ReviewContext) => Decision;

/** What a webhook answered, and the Decision behind it. */
export interface ReviewedAnswer {
  decision: Decision;
  response: AdmissionResponse;
}

/** Decides `request` as the webhook of `context.phase` and renders the answer; an engine fault is thrown. */
export function answerRequest(request: AdmissionRequest, decide: DecideRequest, context: ReviewContext): ReviewedAnswer {
  const decision = decide(request, context);
  return { decision, response: responseFromDecision(request.uid, decision, context.phase) };
}

export type AnsweredAdmissionReview =
  | { answer: AdmissionReviewAnswer; decision: Decision; failure?: undefined }
  /** The engine threw: the answer refuses with a 500 and says so; `failure` is for the caller's logs. */
  | { answer: AdmissionReviewAnswer; decision?: undefined; failure: unknown };

/**
 * The AdmissionReview answer to a decoded review, in the version it was sent in. Never throws for
 * the engine's sake: a fault becomes the refusal the apiserver would show (`allowed: false`, 500).
 */
export function answerAdmissionReview(review: DecodedAdmissionReview, decide: DecideRequest, context: ReviewContext): AnsweredAdmissionReview {
  const { request } = review;
  try {
    const { decision, response } = answerRequest(request, decide, context);
    return { answer: admissionReviewAnswer(review.apiVersion, response), decision };
  } catch (failure) {
    const message = failure instanceof Error ? failure.message : String(failure);
    const response = erroredResponse(request.uid, `daemonguard could not evaluate the request: ${message}`);
    return { answer: admissionReviewAnswer(review.apiVersion, response), failure };
  }
}
