// The hot path: one AdmissionReview in, one answer out. Parses the body itself, decodes the review, has
// it answered as every door does (admission/webhook-answer.ts) within the deadline, and hands the answer
// to whichever HTTP layer read the request: node's (handle, which reads the body too) or the review
// connections' own (review-connections.ts, which reads it and calls answerBody). Metrics and logs are kept here.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { AdmissionResponse } from '../admission/admission-response.js';
import { decodeAdmissionReview, decodeOptionsAfterMeasuring } from '../admission/admission-review.js';
import { answerAdmissionReview } from '../admission/webhook-answer.js';
import type { AdmissionRequest, Decision, JsonObject, ReviewContext, ReviewPhase } from '../engine/types.js';
import { measureJson, surelyWithinJsonLimits, type JsonLimitName, type JsonLimits, type JsonLimitViolation } from '../common/json-limits.js';
import { formatPointer } from '../common/json-pointer.js';
import { DEFAULT_JSON_LIMITS, JSON_LIMIT_FLAGS } from './json-limit-defaults.js';
import { DEFAULT_INFLIGHT, InFlightBudget } from './inflight-budget.js';
import type { RefusalReason, RequestDecision, ServerMetrics } from './metrics.js';
import type { PolicySetLike, PolicyStore } from './policy-store.js';
import { BodyError, DEFAULT_MAX_BODY_BYTES, discardBody, readBody } from './read-body.js';
import { contentTypeProblem, timeoutQuery } from './request-query.js';
import { createDecisionLog } from './decision-log.js';
import { ReviewTurn } from './review-turn.js';
import { failureStatus } from './status.js';

/** The engine's entry point: `review(request, policySet, context)`. */
export type ReviewFunction<P extends PolicySetLike> = (request: AdmissionRequest, policySet: P, context: ReviewContext) => Decision;

export interface AdmissionHandlerOptions<P extends PolicySetLike> {
  policies: PolicyStore<P>;
  review: ReviewFunction<P>;
  metrics: ServerMetrics;
  logger: Logger;
  /** Time the engine gets per review, from the first byte of the request (ms). */
  evalDeadlineMs: number;
  /** Log each request body at debug level (off by default: bodies hold whole objects, maybe secrets). */
  logRequestBodies?: boolean;
  /** Bodies larger than this get 413 (default DEFAULT_MAX_BODY_BYTES). */
  maxBodyBytes?: number;
  /** Structural limits checked on the raw body before it is parsed (default DEFAULT_JSON_LIMITS). */
  jsonLimits?: JsonLimits;
  /**
   * Shared by the endpoints: bounds the body bytes held at once. Without one, each handler has its own
   * with DEFAULT_INFLIGHT options (tests).
   */
  inFlight?: InFlightBudget;
  /**
   * Shared by the endpoints: runs the reviews that are ready at the same time back to back
   * (review-turn.ts). Without one, each handler has its own.
   */
  reviewTurn?: ReviewTurn;
  /**
   * The request's Namespace object, when the server knows it (for policies with a namespaceSelector):
   * synchronous, so it must answer from a cache (an informer), never from a call to the apiserver.
   */
  namespaceObject?: (namespace: string) => JsonObject | null | undefined;
  /** The cluster's Node objects for the `coverage` variable, from a cache (the node informer), never the apiserver. */
  nodes?: () => readonly JsonObject[];
  /**
   * True once the server is shutting down: answers then carry `Connection: close`, including those to
   * requests that arrived before the shutdown began, so clients do not reuse a connection about to close.
   */
  draining?: () => boolean;
}

export type AdmissionHandler = (request: IncomingMessage, response: ServerResponse) => Promise<void>;

/** One answer of a review endpoint, for the HTTP layer that read the request to write. */
export interface EndpointReply {
  status: number;
  /** JSON: an AdmissionReview, or a metav1.Status for a refusal. */
  payload: string;
  /** Besides Content-Type and Content-Length. */
  headers?: Readonly<Record<string, string>>;
  /** Close the connection after this answer (the rest of the body was not read, or the server is draining). */
  close: boolean;
}

export type ReplyWriter = (reply: EndpointReply) => void;

/** One review endpoint, as both HTTP layers use it. */
export interface AdmissionEndpoint {
  /** `/validate` or `/mutate`. */
  readonly path: string;
  /** Serves a request node's HTTP server parsed: reads its body, then as answerBody. */
  readonly handle: AdmissionHandler;
  /**
   * Answers a body already read, whose bytes the caller reserved in `inFlight`: `target` is the request
   * target (for `?timeout=`), `started` the performance.now() of its first byte.
   */
  answerBody(body: Buffer, target: string, started: number, write: ReplyWriter): Promise<void>;
  /** Counts and logs a request whose client went away before its body was complete. */
  recordIncompleteBody(started: number, message: string): void;
  readonly inFlight: InFlightBudget;
  readonly maxBodyBytes: number;
}

/** The share of the apiserver's own `?timeout=` the engine may use, leaving room for the answer's trip back. */
const APISERVER_TIMEOUT_SHARE = 0.8;
/** What a client told to come back (429) is told to wait, in seconds. */
const RETRY_AFTER_SECONDS = 1;

const LIMIT_REASONS: Readonly<Record<JsonLimitName, RefusalReason>> = {
  depth: 'json-depth',
  elements: 'json-elements',
  nodes: 'json-nodes',
  'string-bytes': 'json-string-bytes',
};

/** Where the body went over a structural limit, which one, and the flag that changes it. */
function describeLimitViolation({ limit, max, path }: JsonLimitViolation): string {
  const shown = path.length > 12 ? `${formatPointer(path.slice(0, 12))}/…` : formatPointer(path);
  const at = shown === '' ? 'the top-level value' : shown;
  const what: Record<JsonLimitName, string> = {
    depth: `is nested more than ${max} levels deep (at ${at})`,
    elements: `has more than ${max} elements in one list or object (at ${at})`,
    nodes: `has more than ${max} JSON values in all (the one past the limit is at ${at})`,
    'string-bytes': `has a string longer than ${max} bytes (at ${at})`,
  };
  return `request body ${what[limit]}; the limit is ${JSON_LIMIT_FLAGS[limit]}=${max}, far above any real DaemonSet`;
}

function requestDecisionOf(response: AdmissionResponse, errored: boolean): RequestDecision {
  if (errored) return 'error';
  if (!response.allowed) return 'denied';
  return response.patch === undefined ? 'allowed' : 'patched';
}

export function createAdmissionHandler<P extends PolicySetLike>(phase: ReviewPhase, options: AdmissionHandlerOptions<P>): AdmissionEndpoint {
  const { policies, review, metrics, logger, evalDeadlineMs, logRequestBodies = false, namespaceObject, nodes, draining } = options;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const jsonLimits = options.jsonLimits ?? DEFAULT_JSON_LIMITS;
  const inFlight = options.inFlight ?? new InFlightBudget(DEFAULT_INFLIGHT);
  const reviewTurn = options.reviewTurn ?? new ReviewTurn();
  const endpoint = `/${phase}`;
  const logDecision = createDecisionLog(logger);
  // measureJson refuses bodies nested deeper than jsonLimits.maxDepth before they are parsed.
  const decodeOptions = decodeOptionsAfterMeasuring(jsonLimits.maxDepth);

  interface Refusal {
    code: number;
    reason: RefusalReason;
    message: string;
    /** Close the connection after answering (the rest of the body was not read). */
    close?: boolean;
    uid?: string;
    headers?: Record<string, string>;
  }
  const isDraining = (): boolean => draining?.() === true;
  const refuse = (write: ReplyWriter, started: number, refusal: Refusal): void => {
    write({
      status: refusal.code,
      payload: JSON.stringify(failureStatus(refusal.code, refusal.message)),
      ...(refusal.headers === undefined ? {} : { headers: refusal.headers }),
      close: refusal.close === true || isDraining(),
    });
    recordRefusal(started, refusal);
  };
  const recordRefusal = (started: number, refusal: Refusal): void => {
    metrics.recordRequest(endpoint, 'invalid', (performance.now() - started) / 1000);
    metrics.refusals.labels(endpoint, refusal.reason).inc();
    logger.warn({ endpoint, code: refusal.code, uid: refusal.uid, refusal: refusal.reason, reason: refusal.message }, 'admission request refused');
  };

  /** The body's bytes to reserve before reading it: its Content-Length, or the most it may be. */
  const bytesToReserve = (request: IncomingMessage): number => {
    const declared = Number(request.headers['content-length'] ?? Number.NaN);
    // Over the limit, readBody refuses it without keeping it: nothing to reserve.
    if (Number.isFinite(declared) && declared >= 0) return declared > maxBodyBytes ? 0 : declared;
    return maxBodyBytes;
  };

  /** Writes an endpoint's answer through node's ServerResponse. */
  const responseWriter =
    (response: ServerResponse): ReplyWriter =>
    (reply) => {
      if (reply.close) response.setHeader('Connection', 'close');
      response.writeHead(reply.status, { ...reply.headers, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(reply.payload) });
      response.end(reply.payload);
    };

  const handle: AdmissionHandler = async function handleAdmissionReview(request, response) {
    const started = performance.now();
    const write = responseWriter(response);
    const wrongType = contentTypeProblem(request.headers['content-type']);
    if (wrongType !== undefined) {
      // Read and throw away (up to a bound) so the connection stays usable.
      const drained = await discardBody(request, maxBodyBytes);
      refuse(write, started, { code: 415, reason: 'content-type', message: wrongType, close: !drained });
      return;
    }

    const bytes = bytesToReserve(request);
    // At once when there is room (the usual case), else after waiting in turn, or refused.
    const reservation = inFlight.tryReserve(bytes) ?? (await inFlight.reserve(bytes));
    if (typeof reservation === 'string') {
      // Read and throw away, keeping nothing (so nothing is reserved): the connection stays usable, and
      // the client is not reset while it is still sending, which could lose the answer.
      const why = reservation === 'wait-timeout' ? `no room within ${inFlight.maxWaitMs} ms` : `${inFlight.waiting} reviews already waiting`;
      const message = `too many request bytes in flight (${why}): ${inFlight.reservedBytes} of ${inFlight.capacityBytes} bytes (--max-inflight-bytes) are held by other reviews; retry after ${RETRY_AFTER_SECONDS} s`;
      const drained = await discardBody(request, maxBodyBytes);
      refuse(write, started, { code: 429, reason: 'busy', message, close: !drained, headers: { 'Retry-After': String(RETRY_AFTER_SECONDS) } });
      return;
    }
    try {
      let body: Buffer;
      try {
        body = await readBody(request, maxBodyBytes);
      } catch (error) {
        if (!(error instanceof BodyError)) throw error;
        const reason: RefusalReason = error.statusCode === 413 ? 'body-too-large' : 'body-incomplete';
        refuse(write, started, { code: error.statusCode, reason, message: error.message, close: error.closeConnection });
        return;
      }
      await answerBody(body, request.url ?? '', started, write);
    } finally {
      reservation.release();
    }
  };

  /** Checks and answers one review whose body is in, with its bytes reserved. */
  async function answerBody(body: Buffer, target: string, started: number, write: ReplyWriter): Promise<void> {
    if (body.length === 0) {
      refuse(write, started, { code: 400, reason: 'body-empty', message: 'request body is empty; expected an AdmissionReview' });
      return;
    }
    // Before JSON.parse: the memory a body costs once parsed follows its number of values, not its size.
    // An ordinary review is too short to break a count limit and has too few brackets to nest past the
    // depth limit: that is checked first, at a fifth of the cost of the full walk.
    const violation = surelyWithinJsonLimits(body, jsonLimits) ? undefined : measureJson(body, jsonLimits).violation;
    if (violation !== undefined) {
      refuse(write, started, { code: 400, reason: LIMIT_REASONS[violation.limit], message: describeLimitViolation(violation) });
      return;
    }

    let parsed: unknown;
    try {
      // JSON.parse only creates own properties: a `__proto__` key is plain data here, and nothing below
      // copies the caller's objects into others.
      parsed = JSON.parse(body.toString('utf8'));
    } catch (error) {
      refuse(write, started, { code: 400, reason: 'json-syntax', message: `request body is not valid JSON: ${(error as Error).message}` });
      return;
    }
    if (logRequestBodies) logger.debug({ endpoint, body: parsed }, 'admission request body');

    const decoded = decodeAdmissionReview(parsed, decodeOptions);
    if (!decoded.ok) {
      refuse(write, started, { code: 400, reason: 'not-a-review', message: decoded.message, ...(decoded.uid === undefined ? {} : { uid: decoded.uid }) });
      return;
    }

    const policySet = policies.current();
    if (policySet === undefined) {
      refuse(write, started, { code: 503, reason: 'not-ready', message: 'policies are not loaded yet' });
      return;
    }

    const admission = decoded.request;
    const timeout = timeoutQuery(target);
    if (timeout.kind === 'malformed') {
      // A hint from the caller, not part of the review: ignored, counted, and the server's deadline applies.
      metrics.malformedTimeouts.labels(endpoint).inc();
      logger.warn({ endpoint, uid: admission.uid, timeout: timeout.value.slice(0, 64) }, 'ignoring a malformed ?timeout= query; the evaluation deadline applies');
    }
    const budgetMs = timeout.kind === 'valid' ? Math.min(evalDeadlineMs, timeout.ms * APISERVER_TIMEOUT_SHARE) : evalDeadlineMs;
    const context: ReviewContext = { phase, deadline: started + budgetMs };
    if (nodes !== undefined) context.nodes = nodes();
    if (namespaceObject !== undefined && admission.namespace) {
      const namespace = namespaceObject(admission.namespace);
      if (namespace !== undefined) context.namespaceObject = namespace;
    }

    const answered = await reviewTurn.run(() =>
      answerAdmissionReview(decoded, (decodedRequest, reviewContext) => review(decodedRequest, policySet, reviewContext), context),
    );
    const { decision } = answered;
    const answer = answered.answer.response;
    const errored = decision === undefined;
    if (errored) {
      metrics.evaluationErrors.labels('').inc();
      logger.error({ err: answered.failure, uid: admission.uid, endpoint }, 'policy evaluation failed');
    }

    write({ status: 200, payload: JSON.stringify(answered.answer), close: isDraining() });

    const seconds = (performance.now() - started) / 1000;
    const requestDecision = requestDecisionOf(answer, errored);
    metrics.recordRequest(endpoint, requestDecision, seconds);
    const failedPolicies: string[] = [];
    if (decision !== undefined) {
      for (const outcome of decision.outcomes) {
        metrics.recordPolicyOutcome(outcome.policy, outcome.result);
        if (outcome.result === 'fail' || outcome.result === 'error') failedPolicies.push(outcome.policy);
      }
      for (const use of decision.exceptions) metrics.recordException('applied', `${use.namespace}/${use.name}`, use.policy);
      for (const use of decision.expiredExceptions) metrics.recordException('expired', `${use.namespace}/${use.name}`, use.policy);
    }
    logDecision({
      uid: admission.uid,
      namespace: admission.namespace,
      name: admission.name,
      operation: admission.operation,
      endpoint,
      decision: requestDecision,
      failedPolicies,
      exceptions: decision?.exceptions.map((use) => `${use.namespace}/${use.name}: ${use.policy}`) ?? [],
      dryRun: admission.dryRun === true,
      warnings: answer.warnings?.length ?? 0,
      patchOperations: answer.patch === undefined ? 0 : (decision?.patch.length ?? 0),
      notEvaluated: decision?.notEvaluated,
      durationMs: Math.round(seconds * 1e6) / 1000,
    });
  }

  return {
    path: endpoint,
    handle,
    answerBody,
    recordIncompleteBody: (started, message) => recordRefusal(started, { code: 400, reason: 'body-incomplete', message }),
    inFlight,
    maxBodyBytes,
  };
}
