// The express application: routes, method checks, and the answers for everything that is not a review.
// The review endpoints read their own bodies (no express.json, no etag, no x-powered-by): see admission-handler.ts.

import express, { type ErrorRequestHandler, type Express, type RequestHandler } from 'express';
import { createAdmissionHandler, type AdmissionHandlerOptions } from './admission-handler.js';
import type { PolicySetLike } from './policy-store.js';
import { sendStatus } from './status.js';

export interface ReadinessCheck {
  /** Why the server is not ready (policies not loaded, TLS not ready, shutting down), or undefined when it is. */
  notReadyReason(): string | undefined;
}

export interface AdmissionAppOptions<P extends PolicySetLike> extends AdmissionHandlerOptions<P> {
  readiness: ReadinessCheck;
}

const ADMISSION_PATHS = ['/validate', '/mutate'];
const PROBE_PATHS = ['/healthz', '/readyz', '/metrics'];

function methodNotAllowed(allow: string): RequestHandler {
  return (request, response) => {
    sendStatus(response, 405, `${request.method} is not allowed on ${request.path}; use ${allow.split(', ')[0]}`, { Allow: allow });
  };
}

export function createAdmissionApp<P extends PolicySetLike>(options: AdmissionAppOptions<P>): Express {
  const { metrics, readiness, logger } = options;
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', false);

  const validate = createAdmissionHandler('validate', options);
  const mutate = createAdmissionHandler('mutate', options);
  app.post('/validate', (request, response) => validate(request, response));
  app.post('/mutate', (request, response) => mutate(request, response));

  app.get('/healthz', (_request, response) => {
    response.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
    response.end('ok\n');
  });
  app.get('/readyz', (_request, response) => {
    const reason = readiness.notReadyReason();
    response.writeHead(reason === undefined ? 200 : 503, { 'Content-Type': 'text/plain; charset=utf-8' });
    response.end(reason === undefined ? 'ok\n' : `not ready: ${reason}\n`);
  });
  app.get('/metrics', async (_request, response) => {
    const text = await metrics.registry.metrics();
    response.writeHead(200, { 'Content-Type': metrics.registry.contentType });
    response.end(text);
  });

  app.all(ADMISSION_PATHS, methodNotAllowed('POST'));
  app.all(PROBE_PATHS, methodNotAllowed('GET, HEAD'));
  app.use((request, response) => {
    sendStatus(response, 404, `no such endpoint: ${request.method} ${request.path}; daemonguard serves POST /validate, POST /mutate, GET /healthz, /readyz, /metrics`);
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
