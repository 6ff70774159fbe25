// The probe listener: GET /healthz, /readyz and /metrics over plain HTTP on a port of their own
// (--probe-address, 8081 by default, as controller-runtime does).
//
// They live apart from the admission port because that port may require client certificates
// (--client-ca), which the kubelet's probes and a Prometheus scraper do not present; and because the
// admission port is what the kube-apiserver reaches through the Service, where metrics (policy names,
// decision counts) have no business being served. Plain HTTP: the answers hold nothing secret, the
// kubelet probes the pod's own IP, and keeping a second TLS setup in step with the first would be a
// second thing to rotate.

import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { loadOnFirstRequest } from './load-on-first-request.js';
import type { ServerMetrics } from './metrics.js';
import { requestPath } from './request-query.js';
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

/** The GET handlers of the probe endpoints, by path. */
export type ProbeHandlers = Readonly<Record<string, (request: IncomingMessage, response: ServerResponse) => Promise<void>>>;

function probeHandlers({ readiness, metrics }: ProbeAppOptions): ProbeHandlers {
  return {
    '/healthz': async (_request, response) => {
      response.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
      response.end('ok\n');
    },
    '/readyz': async (_request, response) => {
      const reason = readiness.notReadyReason();
      response.writeHead(reason === undefined ? 200 : 503, { 'Content-Type': 'text/plain; charset=utf-8' });
      response.end(reason === undefined ? 'ok\n' : `not ready: ${reason}\n`);
    },
    '/metrics': async (_request, response) => {
      const text = await metrics.registry.metrics();
      response.writeHead(200, { 'Content-Type': metrics.registry.contentType });
      response.end(text);
    },
  };
}

/** The 500 of a probe whose handler threw, on the fast path and in probe-routes.ts alike. */
export function answerFailedProbe(logger: Logger, request: IncomingMessage, response: ServerResponse, path: string | undefined, error: unknown): void {
  logger.error({ err: error, method: request.method, path }, 'probe request failed');
  if (response.headersSent) response.destroy();
  else sendStatus(response, 500, 'internal error');
}

/**
 * The probe endpoints as a request listener (the probe server's, and tests' through supertest): a GET
 * of /healthz, /readyz or /metrics goes straight to its handler; everything else through express
 * (probe-routes.ts), which is imported on the first such request.
 */
export function createProbeListener(options: ProbeAppOptions): RequestListener {
  const { logger } = options;
  const handlers = probeHandlers(options);
  const routes = loadOnFirstRequest(
    async () => (await import('./probe-routes.js')).buildProbeRoutes(logger, handlers),
    (request, response, error) => answerFailedProbe(logger, request, response, request.url, error),
  );
  return (request, response) => {
    if (request.method === 'GET') {
      const path = requestPath(request.url);
      const handler = Object.hasOwn(handlers, path) ? handlers[path] : undefined;
      if (handler !== undefined) {
        handler(request, response).catch((error: unknown) => answerFailedProbe(logger, request, response, path, error));
        return;
      }
    }
    routes(request, response);
  };
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
