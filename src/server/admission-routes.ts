// The express application of the admission port: every request the fast path of app.ts does not take
// (wrong methods and paths, and unusual spellings such as `/validate/`), and, for tests, every request.
// Loaded on first use (load-on-first-request.ts).

import type { ErrorRequestHandler, Express, RequestHandler } from 'express';
import type { Logger } from 'pino';
import type { AdmissionHandler } from './admission-handler.js';
import { bareExpressApp } from './express-app.js';
import { sendStatus } from './status.js';

export interface AdmissionHandlers {
  validate: AdmissionHandler;
  mutate: AdmissionHandler;
}

const ADMISSION_PATHS = ['/validate', '/mutate'];

function methodNotAllowed(allow: string): RequestHandler {
  return (request, response) => {
    sendStatus(response, 405, `${request.method} is not allowed on ${request.path}; use ${allow.split(', ')[0]}`, { Allow: allow });
  };
}

export function buildAdmissionRoutes(logger: Logger, handlers: AdmissionHandlers): Express {
  const app = bareExpressApp();
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
