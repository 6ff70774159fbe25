// The HTTPS server around the express app: TLS (reloaded in place), connection timeouts tuned for the
// kube-apiserver's HTTP/1.1 client, the probe listener beside it with readiness, and a graceful shutdown
// that lets in-flight reviews finish.

import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Server as TlsServer, type TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { createAdmissionListeners } from './app.js';
import type { AdmissionHandlerOptions, ReviewFunction } from './admission-handler.js';
import { createServerMetrics, type ServerMetrics } from './metrics.js';
import type { PolicySetLike, PolicyStore } from './policy-store.js';
import { hostPort, startProbeServer, type ProbeServer } from './probe-server.js';
import { ReviewConnections } from './review-connections.js';
import { loadTlsMaterial, secureContextOptions, TlsReloader, type TlsFiles } from './tls-material.js';
import { DEFAULT_TLS_PROFILE, type TlsProfile } from './tls-profile.js';

/** Longer than Go's http.Transport IdleConnTimeout (90 s), so the apiserver, not us, closes idle connections. */
export const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 120_000;
/** A client has this long to send its request headers. */
export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
/** ... and this long for the whole request; the webhook timeout is at most 30 s anyway. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
export const DEFAULT_EVAL_DEADLINE_MS = 2_000;
export const DEFAULT_SHUTDOWN_GRACE_MS = 20_000;
/** On close, how long idle keep-alive connections stay open for requests already on their way. */
export const DEFAULT_DRAIN_IDLE_MS = 1_000;

const tlsServerClose = TlsServer.prototype.close as (this: Server, callback: () => void) => Server;

export interface AdmissionServerOptions<P extends PolicySetLike> {
  address: string;
  /** 0 picks a free port (tests). */
  port: number;
  tls: TlsFiles;
  /** TLS version floor and TLS 1.2 cipher suites (default: TLS 1.2+, ECDHE AEAD suites only). */
  tlsProfile?: TlsProfile;
  /** Where /healthz, /readyz and /metrics are served over plain HTTP; without it, nowhere (tests). Port 0 picks a free one. */
  probe?: { address: string; port: number };
  /** A store that already holds a loaded set. */
  policies: PolicyStore<P>;
  review: ReviewFunction<P>;
  logger: Logger;
  metrics?: ServerMetrics;
  evalDeadlineMs?: number;
  logRequestBodies?: boolean;
  /** See AdmissionHandlerOptions and AdmissionAppOptions: body and structural limits, bytes in flight. */
  maxBodyBytes?: number;
  jsonLimits?: AdmissionHandlerOptions<P>['jsonLimits'];
  maxInFlightBytes?: number;
  namespaceObject?: AdmissionHandlerOptions<P>['namespaceObject'];
  nodes?: AdmissionHandlerOptions<P>['nodes'];
  keepAliveTimeoutMs?: number;
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** How often TLS files are re-read as a fallback for missed file events (default 10 s; 0 = never). */
  tlsPollIntervalMs?: number;
  tlsDebounceMs?: number;
  /** Watch the TLS files' folders (default true); when off, only polling notices rotations. */
  tlsWatch?: boolean;
  /** On close, idle keep-alive connections are closed after this long (default 1 s). */
  drainIdleMs?: number;
  /**
   * Which HTTP/1.1 layer reads the reviews: `own` (default) answers ordinary `POST /validate` and
   * `/mutate` requests itself (review-connections.ts) and hands every other request to node's; `node`
   * leaves every request to node's HTTP server.
   */
  httpLayer?: HttpLayer;
}

export type HttpLayer = 'own' | 'node';
export const HTTP_LAYERS: readonly HttpLayer[] = ['own', 'node'];

export interface AdmissionServer {
  readonly server: Server;
  readonly metrics: ServerMetrics;
  readonly tls: TlsReloader;
  /** The probe listener, when `probe` was given. */
  readonly probe: ProbeServer | undefined;
  /** The own HTTP layer's connections (httpLayer `own`): those it serves now, not those handed to node's. */
  readonly reviewConnections: ReviewConnections | undefined;
  /** The bound port (useful with port 0). */
  readonly port: number;
  readonly url: string;
  /**
   * Stops accepting connections, lets requests in flight finish (their connections then close), and
   * resolves once everything is closed; connections still open after `graceMs` are cut.
   */
  close(graceMs?: number): Promise<void>;
}

export async function startAdmissionServer<P extends PolicySetLike>(options: AdmissionServerOptions<P>): Promise<AdmissionServer> {
  const { logger } = options;
  const metrics = options.metrics ?? createServerMetrics();
  const material = await loadTlsMaterial(options.tls);
  let draining = false;
  let listening = false;

  const { listener, endpoints } = createAdmissionListeners({
    policies: options.policies,
    review: options.review,
    metrics,
    logger,
    evalDeadlineMs: options.evalDeadlineMs ?? DEFAULT_EVAL_DEADLINE_MS,
    logRequestBodies: options.logRequestBodies ?? false,
    draining: () => draining,
    ...(options.maxBodyBytes === undefined ? {} : { maxBodyBytes: options.maxBodyBytes }),
    ...(options.jsonLimits === undefined ? {} : { jsonLimits: options.jsonLimits }),
    ...(options.maxInFlightBytes === undefined ? {} : { maxInFlightBytes: options.maxInFlightBytes }),
    ...(options.namespaceObject === undefined ? {} : { namespaceObject: options.namespaceObject }),
    ...(options.nodes === undefined ? {} : { nodes: options.nodes }),
  });
  const readiness = {
    notReadyReason(): string | undefined {
      if (draining) return 'shutting down';
      if (options.policies.current() === undefined) return 'policies are not loaded';
      if (!listening) return 'TLS listener is not up';
      return undefined;
    },
  };

  const tlsProfile = options.tlsProfile ?? DEFAULT_TLS_PROFILE;
  const requireClientCertificate = options.tls.clientCaFile !== undefined;
  const server = createServer(
    {
      ...secureContextOptions(material, tlsProfile),
      requestCert: requireClientCertificate,
      rejectUnauthorized: requireClientCertificate,
      ALPNProtocols: ['http/1.1'],
      keepAliveTimeout: options.keepAliveTimeoutMs ?? DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
      headersTimeout: options.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS,
      requestTimeout: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
      // headersTimeout starts only once TLS is up: without this, a client that connects and never says
      // hello holds its socket for Node's default of 120 s.
      handshakeTimeout: options.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS,
      // How often headersTimeout/requestTimeout are checked (Node's default is every 30 s).
      connectionsCheckingInterval: 1_000,
    },
    (request, response) => {
      // While draining, every answer closes its connection so the client reconnects elsewhere. (Reviews
      // already in flight when draining began check again before answering, through the `draining` option.)
      if (draining) response.setHeader('Connection', 'close');
      listener(request, response);
    },
  );
  // Set again as properties: these are what the http server consults on each connection.
  server.keepAliveTimeout = options.keepAliveTimeoutMs ?? DEFAULT_KEEP_ALIVE_TIMEOUT_MS;
  server.headersTimeout = options.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS;
  server.requestTimeout = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;

  // The own layer takes every connection once its TLS handshake is done, in place of node's http
  // connection listener, and gives that listener any connection whose next request it does not answer.
  let reviewConnections: ReviewConnections | undefined;
  if ((options.httpLayer ?? 'own') === 'own') {
    const [httpConnectionListener] = server.listeners('secureConnection') as ((socket: TLSSocket) => void)[];
    if (httpConnectionListener === undefined) throw new Error('node:https has no secureConnection listener to take over');
    server.off('secureConnection', httpConnectionListener);
    reviewConnections = new ReviewConnections({
      endpoints,
      logger,
      headersTimeoutMs: server.headersTimeout,
      requestTimeoutMs: server.requestTimeout,
      keepAliveTimeoutMs: server.keepAliveTimeout,
      handOver(socket, bytes, reason) {
        metrics.httpHandovers.labels(reason).inc();
        httpConnectionListener.call(server, socket);
        // Paused while this layer answered a request: node's listener reads with 'data' events. The
        // bytes already read go first (resume() lets the stream flow only from the next tick on).
        socket.resume();
        if (bytes.length > 0) socket.emit('data', bytes);
      },
    });
    const own = reviewConnections;
    server.on('secureConnection', (socket: TLSSocket) => own.accept(socket));
  }

  metrics.trackConnections({
    connections: () =>
      new Promise((resolve) => {
        // getConnections fails only for a server whose connections live in cluster workers: none counted then.
        server.getConnections((error, total) => resolve({ total: error ? 0 : total, own: reviewConnections?.size ?? 0 }));
      }),
  });

  server.on('tlsClientError', (error, socket) => {
    logger.debug({ err: error, remoteAddress: socket.remoteAddress }, 'TLS handshake failed');
  });

  const tls = new TlsReloader(
    {
      files: options.tls,
      logger,
      metrics,
      debounceMs: options.tlsDebounceMs ?? 250,
      pollIntervalMs: options.tlsPollIntervalMs ?? 10_000,
      watch: options.tlsWatch ?? true,
      // Only new connections use the new context; established ones keep theirs and are not dropped.
      onChange: (next) => server.setSecureContext(secureContextOptions(next, tlsProfile)),
    },
    material,
  );

  // The probe port first: the kubelet may ask /readyz as soon as it is up, and it answers 503 until
  // the TLS listener below is.
  const probe = options.probe === undefined ? undefined : await startProbeServer({ ...options.probe, readiness, metrics, logger });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.address, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    await probe?.close();
    throw error;
  }
  // Ready (/readyz 200) only once the certificate files are watched too: until start() returns, its
  // caller (serve) has not installed its SIGTERM handler, and a kubelet or a test that saw 200 and
  // stopped the process at once would kill it mid-start instead of shutting it down cleanly.
  await tls.start();
  listening = true;
  const port = (server.address() as AddressInfo).port;
  logger.info(
    {
      address: options.address,
      port,
      ...(probe === undefined ? {} : { probeAddress: probe.address, probePort: probe.port }),
      certificate: { subject: material.subject, subjectAltName: material.subjectAltName, notAfter: material.notAfter.toISOString() },
      clientCertificates: requireClientCertificate ? 'required' : 'not requested',
      minTlsVersion: tlsProfile.minVersion,
      httpLayer: reviewConnections === undefined ? 'node' : 'own',
    },
    'daemonguard admission server listening',
  );

  const drainIdleMs = options.drainIdleMs ?? DEFAULT_DRAIN_IDLE_MS;
  let closing: Promise<void> | undefined;
  return {
    server,
    metrics,
    tls,
    probe,
    reviewConnections,
    port,
    url: `https://${hostPort(options.address, port)}`,
    close(graceMs = DEFAULT_SHUTDOWN_GRACE_MS) {
      if (closing !== undefined) return closing;
      draining = true;
      tls.close();
      closing = new Promise<void>((resolve) => {
        const cutOff = setTimeout(() => {
          logger.warn({ graceMs }, 'grace period over; closing the remaining connections');
          server.closeAllConnections();
          reviewConnections?.destroyAll();
        }, graceMs);
        cutOff.unref();
        // Stop accepting connections now, but close the idle keep-alive ones only after a moment: a review
        // the client wrote just before the signal may be on its way on one of them, and closing the
        // connection under it resets it (the fault run saw this). http's own close() closes idle
        // connections at once, so the listener is closed the way net.Server does it instead; reviews
        // that arrive meanwhile are answered with `Connection: close`.
        // The probe port stays up until the end, so /readyz says "shutting down" meanwhile.
        tlsServerClose.call(server, () => {
          clearTimeout(cutOff);
          clearTimeout(idleSweep);
          reviewConnections?.stop();
          listening = false;
          void (probe?.close() ?? Promise.resolve()).then(resolve);
        });
        // Idle keep-alive connections would otherwise hold close() open until keepAliveTimeout.
        const idleSweep = setTimeout(() => {
          server.closeIdleConnections();
          reviewConnections?.closeIdle();
        }, Math.min(drainIdleMs, graceMs));
        idleSweep.unref();
      });
      return closing;
    },
  };
}
