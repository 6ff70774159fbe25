// The probe listener: GET /healthz, /readyz and /metrics over plain HTTP on a port of their own
// (--probe-address, 8081 by default, as controller-runtime does).
//
// They live apart from the admission port because that port may require client certificates
// (--client-ca), which the kubelet's probes and a Prometheus scraper do not present; and because the
// admission port is what the kube-apiserver reaches through the Service, where metrics (policy names,
// decision counts) have no business being served. Plain HTTP: the answers hold nothing secret, the
// kubelet probes the pod's own IP, and keeping a second TLS setup in step with the first would be a
// second thing to rotate.

import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type ErrorRequestHandler } from 'express';
import type { Logger } from 'pino';
import type { ServerMetrics } from './metrics.js';
import { sendStatus } from './status.js';

export interface ReadinessCheck {
  /** Why the server is not ready (policies not loaded, TLS not up, shutting down), or undefined when it is. */
  notReadyReason(): string | undefined;
}

export interface ProbeAppOptions {
  readiness: ReadinessCheck;
  metrics: ServerMetrics;
  logger: Logger;
}

const PROBE_PATHS = ['/healthz', '/readyz', '/metrics'];

/** The probe endpoints as a request listener (the probe server's, and tests' through supertest). */
export function createProbeListener({ readiness, metrics, logger }: ProbeAppOptions): RequestListener {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', false);

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

export interface ProbeServerOptions extends ProbeAppOptions {
  address: string;
  /** 0 picks a free port (tests). */
  port: number;
}

export interface ProbeServer {
  readonly server: Server;
  readonly address: string;
  readonly port: number;
  /** http://<address>:<port> */
  readonly url: string;
  /** Stops listening and closes every connection (probes are short; nothing worth waiting for). */
  close(): Promise<void>;
}

export async function startProbeServer(options: ProbeServerOptions): Promise<ProbeServer> {
  const server = createServer(createProbeListener(options));
  // A probe that does not finish its request in a few seconds has failed anyway.
  server.headersTimeout = 5_000;
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => reject(new Error(`cannot listen for probes on ${hostPort(options.address, options.port)}: ${error.message}`, { cause: error })));
    server.listen(options.port, options.address, () => {
      server.removeAllListeners('error');
      resolve();
    });
  });
  server.on('error', (error) => options.logger.error({ err: error }, 'probe server error'));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    address: options.address,
    port,
    url: `http://${hostPort(options.address, port)}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** host:port, with an IPv6 address in brackets. */
export function hostPort(address: string, port: number): string {
  return `${address.includes(':') ? `[${address}]` : address}:${port}`;
}
