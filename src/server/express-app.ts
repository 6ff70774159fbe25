// The express application both ports fall back to (admission-routes.ts, probe-routes.ts), set up once:
// no x-powered-by or etag headers on answers, and no query parsing, which no endpoint reads.
// Imported only with those modules, on the first request that needs express (load-on-first-request.ts).

import express, { type Express } from 'express';

export function bareExpressApp(): Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', false);
  return app;
}
