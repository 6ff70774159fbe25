// The playground's HTTP server: the page (three files shipped in the package's playground/ folder) and
// a JSON API under /api/. Plain node:http, no framework: four routes do not need one.
//
//   GET  /                 the page (index.html, playground.js, playground.css)
//   GET  /api/policies     the server's policies (what the page offers as checkboxes), and whether it has nodes
//   POST /api/review       one review (playground-input.ts) → its result (playground-review.ts)
//
// Held like the webhook: a bounded body, JSON limits measured before parsing, the evaluation deadline;
// and, because a browser is the client, defended like a local web app: every answer forbids anything but
// this origin (Content-Security-Policy), and the API answers only JSON requests sent to a host name it
// serves, so a web page elsewhere can neither post a form to it nor reach it through DNS rebinding.
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { packageFile } from '../common/package-root.js';
import { measureJson } from '../common/json-limits.js';
import { BodyError, readBody } from '../server/read-body.js';
import { decodePlaygroundRequest } from './playground-input.js';
import { reviewPlayground, type PlaygroundContext } from './playground-review.js';

/** The page's files, by the path they are served at. */
const PAGE_FILES: Readonly<Record<string, { file: string; type: string }>> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/playground.js': { file: 'playground.js', type: 'text/javascript; charset=utf-8' },
  '/playground.css': { file: 'playground.css', type: 'text/css; charset=utf-8' },
};

/**
 * The largest review body: a DaemonSet, an old object, nodes and pasted policies together. Policy files
 * are held to 1 MiB each (MAX_POLICY_FILE_BYTES); the rest of a real request is tens of KiB.
 */
export const DEFAULT_PLAYGROUND_BODY_BYTES = 2 * 1024 * 1024;

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  // Nothing but this server: no CDN, no inline script, no frame around the page.
  'content-security-policy': "default-src 'self'; frame-ancestors 'none'; form-action 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

export interface PlaygroundServerOptions extends PlaygroundContext {
  maxBodyBytes: number;
  /** The host names the API answers to, lower case (the bound address, localhost, and any the user serves). */
  hosts: ReadonlySet<string>;
  /** PEM files for HTTPS; required by the command for an address other than loopback. */
  tls?: { cert: string; key: string };
}

/** The page's files, read once: a broken installation fails at start, not on the first visit. */
function readPage(): Map<string, { body: Buffer; type: string }> {
  const page = new Map<string, { body: Buffer; type: string }>();
  for (const [path, { file, type }] of Object.entries(PAGE_FILES)) page.set(path, { body: readFileSync(packageFile('playground', file)), type });
  return page;
}

function send(response: ServerResponse, status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}): void {
  response.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, 'content-length': String(Buffer.byteLength(body)), ...extra });
  response.end(body);
}

function sendJson(response: ServerResponse, status: number, value: unknown): void {
  send(response, status, 'application/json; charset=utf-8', JSON.stringify(value));
}

function sendError(response: ServerResponse, status: number, message: string, extra: Record<string, string> = {}): void {
  response.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8', ...extra });
  response.end(JSON.stringify({ error: message }));
}

/** The Host header's name without its port ("[::1]:8080" → "[::1]"), lower case. */
function hostName(request: IncomingMessage): string {
  const host = (request.headers.host ?? '').toLowerCase();
  return host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d+$/, '');
}

/** Serves the page and the API; the caller listens. */
export function createPlaygroundServer(options: PlaygroundServerOptions): Server {
  const page = readPage();
  const policyList = options.policySet.policies.map((policy) => ({
    name: policy.name,
    ...(policy.description === undefined ? {} : { description: policy.description }),
    mutates: policy.mutations.length > 0,
    validates: policy.validations.length > 0,
  }));

  async function review(request: IncomingMessage, response: ServerResponse): Promise<void> {
    // A form or a "simple" cross-site request cannot send this type; a script elsewhere would need a
    // CORS preflight, which this server never grants.
    if (!(request.headers['content-type'] ?? '').toLowerCase().startsWith('application/json')) {
      sendError(response, 415, 'send the review as JSON (Content-Type: application/json)');
      return;
    }
    let body: Buffer;
    try {
      body = await readBody(request, options.maxBodyBytes);
    } catch (error) {
      if (!(error instanceof BodyError)) throw error;
      sendError(response, error.statusCode, error.message, error.closeConnection ? { connection: 'close' } : {});
      return;
    }
    const shape = measureJson(body, options.jsonLimits);
    if (shape.violation !== undefined) {
      const { limit, max, path } = shape.violation;
      sendError(response, 400, `the request is over the ${limit} limit (${max}) at ${path.join('.') || 'its top level'}`);
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch (error) {
      sendError(response, 400, `the body is not valid JSON: ${(error as Error).message}`);
      return;
    }
    const decoded = decodePlaygroundRequest(parsed);
    if (!decoded.ok) {
      sendError(response, 400, decoded.message);
      return;
    }
    sendJson(response, 200, await reviewPlayground(decoded.value, options));
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = new URL(request.url ?? '/', 'http://playground.invalid').pathname;
    if (!options.hosts.has(hostName(request))) {
      sendError(response, 421, `this playground answers to ${[...options.hosts].join(', ')}, not "${hostName(request)}"`);
      return;
    }
    if (path.startsWith('/api/')) {
      if (path === '/api/review') {
        if (request.method !== 'POST') return sendError(response, 405, 'POST a review to /api/review', { allow: 'POST' });
        return review(request, response);
      }
      if (path === '/api/policies') {
        if (request.method !== 'GET') return sendError(response, 405, 'GET /api/policies', { allow: 'GET' });
        return sendJson(response, 200, { policies: policyList, nodes: options.nodes?.length ?? 0, namespaces: [...(options.namespaces?.keys() ?? [])] });
      }
      return sendError(response, 404, `no API at ${path}: there are GET /api/policies and POST /api/review`);
    }
    const file = page.get(path);
    if (file === undefined) return sendError(response, 404, `nothing at ${path}; the playground is at /`);
    if (request.method !== 'GET' && request.method !== 'HEAD') return sendError(response, 405, 'the page is read with GET', { allow: 'GET, HEAD' });
    if (request.method === 'HEAD') {
      response.writeHead(200, { ...SECURITY_HEADERS, 'content-type': file.type, 'content-length': String(file.body.length) });
      response.end();
      return;
    }
    send(response, 200, file.type, file.body);
  }

  const listener = (request: IncomingMessage, response: ServerResponse): void => {
    handle(request, response).catch((error: unknown) => {
      // A fault in the engine: said to the page, which shows it, rather than a dropped connection.
      if (!response.headersSent) sendError(response, 500, `the review failed: ${error instanceof Error ? error.message : String(error)}`);
      else response.destroy();
    });
  };
  return options.tls === undefined
    ? createHttpServer(listener)
    : createHttpsServer({ cert: readFileSync(options.tls.cert), key: readFileSync(options.tls.key) }, listener);
}
