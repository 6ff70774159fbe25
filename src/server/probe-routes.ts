// The express application of the probe port: the probe handlers of probe-server.ts, and the answers to
// everything else (wrong methods, unknown paths, HEAD, unusual spellings). The plain GETs of the three
// endpoints skip it (probe-server.ts); it is loaded on the first request that needs it.

import type { ErrorRequestHandler, Express } from 'express';
import type { Logger } from 'pino';
import { bareExpressApp } from './express-app.js';
import { answerFailedProbe, type ProbeHandlers } from './probe-server.js';
import { sendStatus } from './status.js';

const PROBE_PATHS = ['/healthz', '/readyz', '/metrics'];

export function buildProbeRoutes(logger: Logger, handlers: ProbeHandlers): Express {
  const app = bareExpressApp();
  for (const path of PROBE_PATHS) app.get(path, handlers[path]!);
  app.all(PROBE_PATHS, (request, response) => {
    sendStatus(response, 405, `${request.method} is not allowed on ${request.path}; use GET`, { Allow: 'GET, HEAD' });
  });
  app.use((request, response) => {
    sendStatus(response, 404, `no such endpoint: ${request.method} ${request.path}; the probe port serves GET /healthz, /readyz and /metrics`);
  });
  const onError: ErrorRequestHandler = (error: unknown, request, response, _next) => answerFailedProbe(logger, request, response, request.path, error);
  app.use(onError);
  return app;
}
