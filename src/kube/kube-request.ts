// One JSON request to the kube-apiserver with the credentials, TLS and proxy of a KubeConfig, the
// body handed back as the apiserver sent it: objects exactly as stored (typed clients would turn
// timestamps into Dates and drop fields they do not know), and no generated API models in memory.
import http from 'node:http';
import https from 'node:https';
import { isJsonObject } from '../common/vocabulary.js';
import type { KubeConfig } from './kube-config.js';

export interface KubeAnswer {
  status: number;
  /** The parsed JSON body, or the text when it is not JSON (a proxy's error page). */
  body: unknown;
}

/** The server of the kubeconfig's current cluster, without a trailing slash; throws when there is none. */
export function clusterServer(kubeConfig: KubeConfig): string {
  const server = kubeConfig.currentCluster()?.server;
  if (server === undefined || server === '') {
    throw new Error('the kubeconfig names no cluster server: set a current context (--context), point $KUBECONFIG or ~/.kube/config at the cluster, or run in a pod');
  }
  return server.replace(/\/+$/, '');
}

/** An answer the apiserver gave with an unexpected status; `code` is the HTTP status (404, 409, 410...). */
export class KubeApiError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

/** The error for an answer with an unexpected status: what was asked, the status, the apiserver's own message. */
export function kubeApiError(method: string, path: string, answer: KubeAnswer): KubeApiError {
  return new KubeApiError(answer.status, `${method} ${path}: HTTP ${answer.status}: ${answerMessage(answer.body)}`);
}

export interface KubeRequestOptions {
  /** Default application/json; a merge patch says application/merge-patch+json. */
  contentType?: string;
  /** The whole exchange, body included, must end within this (default 60 s): a connection that hangs is an error, not a stall. */
  timeoutMs?: number;
}

export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;

/** `method` `url` with a JSON `body`; resolves with any HTTP status, rejects only when no answer came. */
export async function kubeRequest(kubeConfig: KubeConfig, method: string, url: URL, body?: unknown, requestOptions: KubeRequestOptions = {}): Promise<KubeAnswer> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const headers: Record<string, string | number> = { Accept: 'application/json' };
  if (payload !== undefined) {
    headers['Content-Type'] = requestOptions.contentType ?? 'application/json';
    headers['Content-Length'] = payload.length;
  }
  const timeoutMs = requestOptions.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const response = await openKubeRequest(kubeConfig, method, url, headers, payload, signal);
    return { status: response.statusCode ?? 0, body: await readAnswerBody(response) };
  } catch (error) {
    if (signal.aborted) throw new Error(`${method} ${url.pathname}: no answer from the apiserver within ${timeoutMs} ms`, { cause: error });
    throw error;
  }
}

/**
 * Sends a request and resolves with the response as soon as its headers are in (a watch streams its
 * body for minutes). `signal` aborts it at any point, the body stream included.
 */
export async function openKubeRequest(
  kubeConfig: KubeConfig,
  method: string,
  url: URL,
  headers: Record<string, string | number>,
  payload?: Buffer,
  signal?: AbortSignal,
): Promise<http.IncomingMessage> {
  const options: https.RequestOptions = { method, headers: { ...headers }, ...(signal === undefined ? {} : { signal }) };
  await kubeConfig.applyToHTTPSOptions(options);
  const transport = url.protocol === 'http:' ? http : https;
  return new Promise((resolve, reject) => {
    const request = transport.request(url, options, resolve);
    request.on('error', reject);
    request.end(payload);
  });
}

/**
 * An apiserver response's body: the parsed JSON, or the text when it is not JSON (a proxy's error
 * page), which the caller reports. Rejects when the response breaks off.
 */
export function readAnswerBody(response: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    response.on('data', (chunk: Buffer) => chunks.push(chunk));
    response.on('error', reject);
    response.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      try {
        resolve(JSON.parse(text));
      } catch {
        resolve(text);
      }
    });
  });
}

/** The apiserver's own explanation of a refusal (a Status object's message), or the start of the body. */
export function answerMessage(body: unknown): string {
  if (isJsonObject(body) && typeof body.message === 'string') return body.message;
  return typeof body === 'string' ? body.slice(0, 300) : 'no message';
}
