// Lists a resource from the kube-apiserver page by page (limit/continue), handing out each page as
// it arrives, so a cluster with 10,000 DaemonSets is never one response in memory. The objects are
// the apiserver's JSON exactly as served, with apiVersion and kind set on each item as kubectl does.
import { isJsonObject, type JsonObject } from '../common/vocabulary.js';
import type { KubeConfig } from './kube-config.js';
import { answerMessage, clusterServer, kubeRequest } from './kube-request.js';

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

/**
 * The pages of `resource`, `pageSize` items at a time. A continue token that expires mid-list (410
 * Gone, when a page takes longer than etcd keeps its revision) is an error that says to run again,
 * not a silently partial list.
 */
export async function* listPages(kubeConfig: KubeConfig, resource: ListedResource, pageSize = DEFAULT_PAGE_SIZE, labelSelector?: string): AsyncGenerator<JsonObject[]> {
  for await (const page of listPagesWithVersion(kubeConfig, resource, pageSize, labelSelector)) yield page.items;
}

/** One page of a list, with the resourceVersion the whole list was read at (the same on every page). */
export interface ListPage {
  items: JsonObject[];
  resourceVersion: string;
}

/**
 * Every item of `resource` read through pages, and the resourceVersion of the list: what an informer
 * lists before it watches from that version. The items are the apiserver's JSON as served.
 */
export async function listAll(kubeConfig: KubeConfig, resource: ListedResource, pageSize = DEFAULT_PAGE_SIZE): Promise<ListPage> {
  const items: JsonObject[] = [];
  let resourceVersion = '';
  for await (const page of listPagesWithVersion(kubeConfig, resource, pageSize)) {
    items.push(...page.items);
    resourceVersion = page.resourceVersion;
  }
  return { items, resourceVersion };
}

async function* listPagesWithVersion(kubeConfig: KubeConfig, resource: ListedResource, pageSize: number, labelSelector?: string): AsyncGenerator<ListPage> {
  let server: string;
  try {
    server = clusterServer(kubeConfig);
  } catch (error) {
    throw new ClusterListError((error as Error).message);
  }
  let continueToken: string | undefined;
  do {
    const url = new URL(`${server}${resource.path}`);
    url.searchParams.set('limit', String(pageSize));
    if (labelSelector !== undefined) url.searchParams.set('labelSelector', labelSelector);
    if (continueToken !== undefined) url.searchParams.set('continue', continueToken);
    let answer;
    try {
      answer = await kubeRequest(kubeConfig, 'GET', url);
    } catch (error) {
      throw new ClusterListError(`cannot list ${resource.kind}s from ${server}: ${(error as Error).message}`, { cause: error });
    }
    if (answer.status === 410) throw new ClusterListError(`listing ${resource.kind}s from ${server}: the list changed too much while it was read (410 Gone: ${answerMessage(answer.body)}); run the command again`);
    if (answer.status !== 200 || !isJsonObject(answer.body) || !Array.isArray(answer.body.items)) {
      const hint = answer.status === 401 || answer.status === 403
        ? ` (the credentials need list on ${resource.path})`
        : answer.status === 404 ? ` (${resource.path} is not served: is its CustomResourceDefinition installed?)` : '';
      throw new ClusterListError(`cannot list ${resource.kind}s from ${server}: HTTP ${answer.status}: ${answerMessage(answer.body)}${hint}`);
    }
    const items = answer.body.items.filter(isJsonObject).map((item) => ({ apiVersion: resource.apiVersion, kind: resource.kind, ...item }));
    const metadata = answer.body.metadata;
    const next = isJsonObject(metadata) ? metadata.continue : undefined;
    const version = isJsonObject(metadata) ? metadata.resourceVersion : undefined;
    continueToken = typeof next === 'string' && next !== '' ? next : undefined;
    yield { items, resourceVersion: typeof version === 'string' ? version : '' };
  } while (continueToken !== undefined);
}
