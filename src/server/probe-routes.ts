// The express application of the probe port: the probe handlers of probe-server.ts, and the answers to
// everything else (wrong methods, unknown paths, HEAD, unusual spellings). The plain GETs of the three
// endpoints skip it (probe-server.ts); it is loaded on the first request that needs it.

import express, { type ErrorRequestHandler, type Express } from 'express';
import type { Logger } from 'pino';
import type { ProbeHandlers } from './probe-server.js';
import { sendStatus } from './status.js';

const PROBE_PATHS = ['/healthz', '/readyz', '/metrics'];

export function buildProbeRoutes(logger: Logger, handlers: ProbeHandlers): Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', false);

  for (const path of PROBE_PATHS) app.get(path, handlers[path]!);
  app.all(PROBE_PATHS, (request, response) => {
    sendStatus(response, 405, `${request.method} is not allowed on ${request.path}; use GET`, { Allow: 'GET, HEAD' });
  });
  app.use((request, response) => {
    sendStatus(response, 404, `no such endpoint: ${request.method} ${request.path}; the probe port serves GET /healthz, /readyz and /metrics`);
  });
  const onError: ErrorRequestHandler = (error: unknown, request, response, _next) => {
    logger.error({ err: error, method: request.method, path: request.path }, 'probe request failed');
    if (response.headersSent) response.destroy();
    else sendStatus(response, 500, 'internal error');
  };
  app.use(onError);
  return app;
}
