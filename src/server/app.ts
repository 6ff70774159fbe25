// The express application of the admission port: routes, method checks, and the answers for everything
// that is not a review. Probes and metrics are not served here but on the probe port (probe-server.ts),
// which needs no client certificate.
// The review endpoints read their own bodies (no express.json, no etag, no x-powered-by): see admission-handler.ts.
//
// createRequestListener() puts a fast path in front of express for the two review endpoints: measured on
// this machine, express's per-request setup (prototype swaps on req/res, the router) halves the review
// throughput of an otherwise bare node:https server, while probes and error answers gain nothing from
// skipping it. Both paths run the same handlers, so the answers are the same.

import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import express, { type ErrorRequestHandler, type Express, type RequestHandler } from 'express';
import type { Logger } from 'pino';
import { createAdmissionHandler, type AdmissionHandler, type AdmissionHandlerOptions } from './admission-handler.js';
import { DEFAULT_INFLIGHT, InFlightBudget } from './inflight-budget.js';
import { ReviewTurn } from './review-turn.js';
import type { PolicySetLike } from './policy-store.js';
import { sendStatus } from './status.js';

export interface AdmissionAppOptions<P extends PolicySetLike> extends AdmissionHandlerOptions<P> {
  /** Without `inFlight`: the capacity of the budget both endpoints share (default DEFAULT_MAX_INFLIGHT_BYTES). */
  maxInFlightBytes?: number;
}

const ADMISSION_PATHS = ['/validate', '/mutate'];

function methodNotAllowed(allow: string): RequestHandler {
  return (request, response) => {
    sendStatus(response, 405, `${request.method} is not allowed on ${request.path}; use ${allow.split(', ')[0]}`, { Allow: allow });
  };
}

interface AdmissionHandlers {
  validate: AdmissionHandler;
  mutate: AdmissionHandler;
}

function createHandlers<P extends PolicySetLike>(options: AdmissionAppOptions<P>): AdmissionHandlers {
  // One budget for both endpoints: memory is the process's, whichever endpoint the bytes came to.
  const inFlight = options.inFlight ?? new InFlightBudget({ ...DEFAULT_INFLIGHT, capacityBytes: options.maxInFlightBytes ?? DEFAULT_INFLIGHT.capacityBytes });
  options.metrics.trackInFlight(inFlight);
  // One turn for both endpoints too: a /validate and a /mutate review ready together run back to back.
  const shared = { ...options, inFlight, reviewTurn: options.reviewTurn ?? new ReviewTurn() };
  return { validate: createAdmissionHandler('validate', shared), mutate: createAdmissionHandler('mutate', shared) };
}

/** The express application alone: every endpoint, routed by express. */
export function createAdmissionApp<P extends PolicySetLike>(options: AdmissionAppOptions<P>): Express {
  return buildApp(options, createHandlers(options));
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
  const handlers = createHandlers(options);
  const app = buildApp(options, handlers);
  const { logger } = options;
  return (request, response) => {
    if (request.method === 'POST') {
      const url = request.url ?? '';
      const query = url.indexOf('?');
      const path = query < 0 ? url : url.slice(0, query);
      const handler = path === '/validate' ? handlers.validate : path === '/mutate' ? handlers.mutate : undefined;
      if (handler !== undefined) {
        handler(request, response).catch((error: unknown) => answerUnexpected(logger, request, response, error));
        return;
      }
    }
    app(request, response);
  };
}

function buildApp<P extends PolicySetLike>(options: AdmissionAppOptions<P>, handlers: AdmissionHandlers): Express {
  const { logger } = options;
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', false);

  const { validate, mutate } = handlers;
  app.post('/validate', (request, response) => validate(request, response));
  app.post('/mutate', (request, response) => mutate(request, response));

  app.all(ADMISSION_PATHS, methodNotAllowed('POST'));
  app.use((request, response) => {
    sendStatus(
      response,
      404,
      `no such endpoint: ${request.method} ${request.path}; this port serves POST /validate and POST /mutate (/healthz, /readyz and /metrics are on the probe port, --probe-address)`,
    );
  });
  const onError: ErrorRequestHandler = (error: unknown, request, response, _next) => {
    logger.error({ err: error, method: request.method, path: request.path }, 'request failed');
    if (response.headersSent) {
      response.destroy();
      return;
    }
    const status = typeof error === 'object' && error !== null && 'status' in error && typeof error.status === 'number' ? error.status : 500;
    sendStatus(response, status >= 400 && status < 600 ? status : 500, status < 500 ? (error as Error).message : 'internal error');
  };
  app.use(onError);
  return app;
}
