// The request listener of the admission port: the review endpoints' handlers, and the express routes
// (admission-routes.ts) for everything that is not a review. Probes and metrics are not served here but
// on the probe port (probe-server.ts), which needs no client certificate.
// The review endpoints read their own bodies (no express.json, no etag, no x-powered-by): see admission-handler.ts.
//
// createRequestListener() puts a fast path in front of express for the two review endpoints: measured on
// this machine, express's per-request setup (prototype swaps on req/res, the router) halves the review
// throughput of an otherwise bare node:https server, while probes and error answers gain nothing from
// skipping it. Both paths run the same handlers, so the answers are the same. express itself is only
// imported when the first request that needs it arrives (load-on-first-request.ts).

import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { createAdmissionHandler, type AdmissionEndpoint, type AdmissionHandlerOptions } from './admission-handler.js';
import type { AdmissionHandlers } from './admission-routes.js';
import { DEFAULT_INFLIGHT, InFlightBudget } from './inflight-budget.js';
import { loadOnFirstRequest } from './load-on-first-request.js';
import { requestPath } from './request-query.js';
import { ReviewTurn } from './review-turn.js';
import type { PolicySetLike } from './policy-store.js';
import { sendStatus } from './status.js';

export interface AdmissionAppOptions<P extends PolicySetLike> extends AdmissionHandlerOptions<P> {
  /** Without `inFlight`: the capacity of the budget both endpoints share (default DEFAULT_MAX_INFLIGHT_BYTES). */
  maxInFlightBytes?: number;
}

/** The two review endpoints, by path. */
export interface AdmissionEndpoints {
  validate: AdmissionEndpoint;
  mutate: AdmissionEndpoint;
}

function createEndpoints<P extends PolicySetLike>(options: AdmissionAppOptions<P>): AdmissionEndpoints {
  // One budget for both endpoints: memory is the process's, whichever endpoint the bytes came to.
  const inFlight = options.inFlight ?? new InFlightBudget({ ...DEFAULT_INFLIGHT, capacityBytes: options.maxInFlightBytes ?? DEFAULT_INFLIGHT.capacityBytes });
  options.metrics.trackInFlight(inFlight);
  // One turn for both endpoints too: a /validate and a /mutate review ready together run back to back.
  const shared = { ...options, inFlight, reviewTurn: options.reviewTurn ?? new ReviewTurn() };
  options.metrics.trackReviewTurns(shared.reviewTurn);
  return { validate: createAdmissionHandler('validate', shared), mutate: createAdmissionHandler('mutate', shared) };
}

/** The express application alone: every endpoint, routed by express (imported on the first request). */
export function createAdmissionApp<P extends PolicySetLike>(options: AdmissionAppOptions<P>): RequestListener {
  return expressRoutes(options.logger, createEndpoints(options));
}

function expressRoutes(logger: Logger, endpoints: AdmissionEndpoints): RequestListener {
  const handlers: AdmissionHandlers = { validate: endpoints.validate.handle, mutate: endpoints.mutate.handle };
  return loadOnFirstRequest(
    async () => (await import('./admission-routes.js')).buildAdmissionRoutes(logger, handlers),
    (request, response, error) => answerUnexpected(logger, request, response, error),
  );
}

function answerUnexpected(logger: Logger, request: IncomingMessage, response: ServerResponse, error: unknown): void {
  logger.error({ err: error, method: request.method, url: request.url }, 'request failed');
  if (response.headersSent) response.destroy();
  else sendStatus(response, 500, 'internal error');
}

/**
 * The listener for the HTTPS server: `POST /validate` and `POST /mutate` go straight to their handlers,
 * everything else (wrong methods and paths, and unusual spellings such as `/validate/`)
 * through express.
 */
export function createRequestListener<P extends PolicySetLike>(options: AdmissionAppOptions<P>): RequestListener {
  return createAdmissionListeners(options).listener;
}

/**
 * The listener for node's HTTP server, and the endpoints it uses, for an HTTP layer of its own to share
 * (the review connections of admission-server.ts): one in-flight budget, one review turn, one set of metrics.
 */
export function createAdmissionListeners<P extends PolicySetLike>(options: AdmissionAppOptions<P>): { listener: RequestListener; endpoints: AdmissionEndpoints } {
  const endpoints = createEndpoints(options);
  const { logger } = options;
  const app = expressRoutes(logger, endpoints);
  const listener: RequestListener = (request, response) => {
    if (request.method === 'POST') {
      const path = requestPath(request.url);
      const endpoint = path === '/validate' ? endpoints.validate : path === '/mutate' ? endpoints.mutate : undefined;
      if (endpoint !== undefined) {
        endpoint.handle(request, response).catch((error: unknown) => answerUnexpected(logger, request, response, error));
        return;
      }
    }
    app(request, response);
  };
  return { listener, endpoints };
}
