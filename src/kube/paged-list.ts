// Lists a resource from the kube-apiserver page by page (limit/continue), handing out each page as
// it arrives, so a cluster with 10,000 DaemonSets is never one response in memory. The objects are
// the apiserver's JSON exactly as served (client-node's typed clients would turn timestamps into
// Dates and drop fields they do not know), with apiVersion and kind set on each item as kubectl does.
//
// Authentication, TLS and proxies come from the KubeConfig (kubeconfig file, context, in-cluster).
import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { isJsonObject, type JsonObject } from '../common/vocabulary.js';

export interface ListedResource {
  /** The collection's path, e.g. /apis/apps/v1/daemonsets (all namespaces). */
  path: string;
  apiVersion: string;
  kind: string;
}

export const DAEMONSETS: ListedResource = { path: '/apis/apps/v1/daemonsets', apiVersion: 'apps/v1', kind: 'DaemonSet' };
export const NAMESPACES: ListedResource = { path: '/api/v1/namespaces', apiVersion: 'v1', kind: 'Namespace' };

/** Items per page unless told otherwise: small enough to keep a page's JSON to a few MiB. */
export const DEFAULT_PAGE_SIZE = 500;

/** A list call the apiserver refused or that could not reach it; the message says which and what to do. */
export class ClusterListError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ClusterListError';
  }
}

function serverOf(kubeConfig: KubeConfig): string {
  const server = kubeConfig.getCurrentCluster()?.server;
  if (server === undefined || server === '') throw new ClusterListError('the kubeconfig names no cluster server: set a current context (--context) or run in a pod');
  return server.replace(/\/+$/, '');
}

/** One GET of `url` with the kubeconfig's credentials; resolves with the status and the parsed body. */
async function getJson(kubeConfig: KubeConfig, url: URL): Promise<{ status: number; body: unknown }> {
  const options: https.RequestOptions = { method: 'GET', headers: { Accept: 'application/json' } };
  await kubeConfig.applyToHTTPSOptions(options);
  const transport = url.protocol === 'http:' ? http : https;
  return new Promise((resolve, reject) => {
    const request = transport.request(url, options, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', reject);
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON (a proxy's error page): the caller reports the text
        }
        resolve({ status: response.statusCode ?? 0, body });
      });
    });
    request.on('error', reject);
    request.end();
  });
}

function statusMessage(body: unknown): string {
  if (isJsonObject(body) && typeof body.message === 'string') return body.message;
  return typeof body === 'string' ? body.slice(0, 300) : 'no message';
}

/**
 * The pages of `resource`, `pageSize` items at a time. A continue token that expires mid-list (410
 * Gone, when a page takes longer than etcd keeps its revision) is an error that says to run again,
 * not a silently partial list.
 */
export async function* listPages(kubeConfig: KubeConfig, resource: ListedResource, pageSize = DEFAULT_PAGE_SIZE): AsyncGenerator<JsonObject[]> {
  const server = serverOf(kubeConfig);
  let continueToken: string | undefined;
  do {
    const url = new URL(`${server}${resource.path}`);
    url.searchParams.set('limit', String(pageSize));
    if (continueToken !== undefined) url.searchParams.set('continue', continueToken);
    let answer;
    try {
      answer = await getJson(kubeConfig, url);
    } catch (error) {
      throw new ClusterListError(`cannot list ${resource.kind}s from ${server}: ${(error as Error).message}`, { cause: error });
    }
    if (answer.status === 410) throw new ClusterListError(`listing ${resource.kind}s from ${server}: the list changed too much while it was read (410 Gone: ${statusMessage(answer.body)}); run the command again`);
    if (answer.status !== 200 || !isJsonObject(answer.body) || !Array.isArray(answer.body.items)) {
      const hint = answer.status === 401 || answer.status === 403 ? ` (the credentials need list on ${resource.path})` : '';
      throw new ClusterListError(`cannot list ${resource.kind}s from ${server}: HTTP ${answer.status}: ${statusMessage(answer.body)}${hint}`);
    }
    const items = answer.body.items.filter(isJsonObject).map((item) => ({ apiVersion: resource.apiVersion, kind: resource.kind, ...item }));
    const metadata = answer.body.metadata;
    const next = isJsonObject(metadata) ? metadata.continue : undefined;
    continueToken = typeof next === 'string' && next !== '' ? next : undefined;
    yield items;
  } while (continueToken !== undefined);
}
