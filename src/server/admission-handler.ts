// The hot path: one AdmissionReview in, one answer out. Reads and parses the body itself, decodes the
// review, has it answered as every door does (admission/webhook-answer.ts) within the deadline, and
// writes the answer; metrics and logs are kept here.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { AdmissionResponse } from '../admission/admission-response.js';
import { decodeAdmissionReview } from '../admission/admission-review.js';
import { answerAdmissionReview } from '../admission/webhook-answer.js';
import type { AdmissionRequest, Decision, JsonObject, ReviewContext, ReviewPhase } from '../engine/types.js';
import { parseDuration } from './duration.js';
import type { RequestDecision, ServerMetrics } from './metrics.js';
import type { PolicySetLike, PolicyStore } from './policy-store.js';
import { BodyError, MAX_BODY_BYTES, readBody } from './read-body.js';
import { sendStatus } from './status.js';

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
  maxBodyBytes?: number;
  /**
   * The request's Namespace object, when the server knows it (for policies with a namespaceSelector):
   * synchronous, so it must answer from a cache (an informer), never from a call to the apiserver.
   */
  namespaceObject?: (namespace: string) => JsonObject | null | undefined;
  /**
   * True once the server is shutting down: answers then carry `Connection: close`, including those to
   * requests that arrived before the shutdown began, so clients do not reuse a connection about to close.
   */
  draining?: () => boolean;
}

export type AdmissionHandler = (request: IncomingMessage, response: ServerResponse) => Promise<void>;

const JSON_CONTENT_TYPE = /^application\/json\s*(;|$)/i;
/** The share of the apiserver's own `?timeout=` the engine may use, leaving room for the answer's trip back. */
const APISERVER_TIMEOUT_SHARE = 0.8;

/** The apiserver appends `?timeout=10s` (the webhook's timeoutSeconds) to the URL it calls. */
function apiserverTimeoutMs(url: string | undefined): number | undefined {
  if (url === undefined) return undefined;
  const at = url.indexOf('timeout=');
  if (at < 0) return undefined;
  const end = url.indexOf('&', at);
  return parseDuration(decodeURIComponent(url.slice(at + 8, end < 0 ? undefined : end)));
}

function requestDecisionOf(response: AdmissionResponse, errored: boolean): RequestDecision {
  if (errored) return 'error';
  if (!response.allowed) return 'denied';
  return response.patch === undefined ? 'allowed' : 'patched';
}

export function createAdmissionHandler<P extends PolicySetLike>(phase: ReviewPhase, options: AdmissionHandlerOptions<P>): AdmissionHandler {
  const { policies, review, metrics, logger, evalDeadlineMs, logRequestBodies = false, namespaceObject, draining } = options;
  const maxBodyBytes = options.maxBodyBytes ?? MAX_BODY_BYTES;
  const endpoint = `/${phase}`;

  const refuse = (response: ServerResponse, started: number, code: number, message: string, close = false, uid?: string): void => {
    if (close || draining?.() === true) response.setHeader('Connection', 'close');
    sendStatus(response, code, message);
    metrics.recordRequest(endpoint, 'invalid', (performance.now() - started) / 1000);
    logger.warn({ endpoint, code, uid, reason: message }, 'admission request refused');
  };

  return async function handleAdmissionReview(request, response) {
    const started = performance.now();
    const contentType = request.headers['content-type'];
    if (contentType !== undefined && !JSON_CONTENT_TYPE.test(contentType)) {
      // Still read (and bound) the body, so the connection stays usable.
      await readBody(request, maxBodyBytes).catch(() => undefined);
      refuse(response, started, 415, `Content-Type is ${JSON.stringify(contentType)}; an AdmissionReview is sent as application/json`);
      return;
    }

    let body: Buffer;
    try {
      body = await readBody(request, maxBodyBytes);
    } catch (error) {
      if (!(error instanceof BodyError)) throw error;
      refuse(response, started, error.statusCode, error.message, error.closeConnection);
      return;
    }
    if (body.length === 0) {
      refuse(response, started, 400, 'request body is empty; expected an AdmissionReview');
      return;
    }

    let parsed: unknown;
    try {
      // JSON.parse only creates own properties: a `__proto__` key is plain data here, and nothing below
      // copies the caller's objects into others.
      parsed = JSON.parse(body.toString('utf8'));
    } catch (error) {
      refuse(response, started, 400, `request body is not valid JSON: ${(error as Error).message}`);
      return;
    }
    if (logRequestBodies) logger.debug({ endpoint, body: parsed }, 'admission request body');

    const decoded = decodeAdmissionReview(parsed);
    if (!decoded.ok) {
      refuse(response, started, 400, decoded.message, false, decoded.uid);
      return;
    }

    const policySet = policies.current();
    if (policySet === undefined) {
      refuse(response, started, 503, 'policies are not loaded yet');
      return;
    }

    const admission = decoded.request;
    const apiserverMs = apiserverTimeoutMs(request.url);
    const budgetMs = apiserverMs === undefined ? evalDeadlineMs : Math.min(evalDeadlineMs, apiserverMs * APISERVER_TIMEOUT_SHARE);
    const context: ReviewContext = { phase, deadline: started + budgetMs };
    if (namespaceObject !== undefined && admission.namespace) {
      const namespace = namespaceObject(admission.namespace);
      if (namespace !== undefined) context.namespaceObject = namespace;
    }

    const answered = answerAdmissionReview(decoded, (decodedRequest, reviewContext) => review(decodedRequest, policySet, reviewContext), context);
    const { decision } = answered;
    const answer = answered.answer.response;
    const errored = decision === undefined;
    if (errored) {
      metrics.evaluationErrors.labels('').inc();
      logger.error({ err: answered.failure, uid: admission.uid, endpoint }, 'policy evaluation failed');
    }

    const payload = JSON.stringify(answered.answer);
    if (draining?.() === true) response.setHeader('Connection', 'close');
    response.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) });
    response.end(payload);

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
    logger.info(
      {
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
      },
      'admission decision',
    );
  };
}
