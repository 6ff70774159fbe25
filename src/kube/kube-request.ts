// One JSON request to the kube-apiserver with the credentials, TLS and proxy of a KubeConfig, the
// body handed back as the apiserver sent it. client-node's typed clients would turn timestamps into
// Dates and drop fields they do not know; the audit needs objects exactly as stored.
import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { isJsonObject } from '../common/vocabulary.js';

export interface KubeAnswer {
  status: number;
  /** The parsed JSON body, or the text when it is not JSON (a proxy's error page). */
  body: unknown;
}

/** The server of the kubeconfig's current cluster, without a trailing slash; throws when there is none. */
export function clusterServer(kubeConfig: KubeConfig): string {
  const server = kubeConfig.getCurrentCluster()?.server;
  if (server === undefined || server === '') throw new Error('the kubeconfig names no cluster server: set a current context (--context) or run in a pod');
  return server.replace(/\/+$/, '');
}

/** `method` `url` with a JSON `body`; resolves with any HTTP status, rejects only when no answer came. */
export async function kubeRequest(kubeConfig: KubeConfig, method: string, url: URL, body?: unknown): Promise<KubeAnswer> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const headers: Record<string, string | number> = { Accept: 'application/json' };
  if (payload !== undefined) {
    headers['Content-Type'] = 'application/json';
    headers['Content-Length'] = payload.length;
  }
  const options: https.RequestOptions = { method, headers };
  await kubeConfig.applyToHTTPSOptions(options);
  const transport = url.protocol === 'http:' ? http : https;
  return new Promise((resolve, reject) => {
    const request = transport.request(url, options, (response) => {
      readAnswerBody(response).then((parsed) => resolve({ status: response.statusCode ?? 0, body: parsed }), reject);
    });
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
