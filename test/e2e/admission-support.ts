// What the webhook and differential e2e tests share: a small HTTPS client for the test cluster's API
// that keeps the `Warning` headers (its own agent holds the admin's client certificate; the body is
// read as the product's kube-request reads it), the DaemonSets the repository holds as examples (examples/, the
// verify suites of test/policies and the upstream Pod Security fixtures), and a
// field-by-field comparison of two objects.
import https from 'node:https';
import path from 'node:path';
import { isJsonObject, type JsonObject, type JsonValue } from '../../src/common/vocabulary.js';
import { readAnswerBody } from '../../src/kube/kube-request.js';
import { PSS_LEVELS, PSS_VERSION, type PssLevel } from '../support/pss-fixtures.js';
import type { Cluster } from './cluster/cluster.js';
import { createLeaf } from './cluster/pki.js';
import { REPO_ROOT } from './deploy-tools.js';

export const POLICIES_DIR = path.join(REPO_ROOT, 'policies');
export { EXAMPLES_DIR } from '../support/daemonset-corpus.js';
export const SUITES_DIR = path.join(REPO_ROOT, 'test', 'policies');
export { PSS_LEVELS, PSS_VERSION, type PssLevel };

// ---- the API, with warnings ----------------------------------------------------------------------

export interface ApiAnswer {
  status: number;
  body: unknown;
  /** The texts of the `Warning` response headers, unquoted, in order. */
  warnings: string[];
}

/**
 * Texts of RFC 7234 `Warning` headers (`299 - "text"`), as the kube-apiserver sends them; accepts the
 * headers one by one or joined with ", " (as fetch-based clients such as @kubernetes/client-node do).
 */
export function parseWarningHeaders(headers: string | readonly string[] | undefined): string[] {
  const values = headers === undefined ? [] : typeof headers === 'string' ? [headers] : headers;
  const texts: string[] = [];
  for (const value of values) {
    for (const match of value.matchAll(/\d{3} \S+ "((?:[^"\\]|\\.)*)"/g)) texts.push(match[1]!.replace(/\\(.)/g, '$1'));
  }
  return texts;
}

/** Requests to the test cluster as its admin, over one keep-alive agent. */
export class KubeApi {
  private readonly agent: https.Agent;

  constructor(private readonly cluster: Cluster) {
    const { pki } = cluster;
    this.agent = new https.Agent({ keepAlive: true, maxSockets: 8, ca: pki.ca.certPem, cert: pki.admin.certPem, key: pki.admin.keyPem });
  }

  request(method: string, apiPath: string, body?: unknown, contentType = 'application/json'): Promise<ApiAnswer> {
    return new Promise((resolve, reject) => {
      const request = https.request(
        `${this.cluster.server}${apiPath}`,
        { method, agent: this.agent, headers: { accept: 'application/json', ...(body === undefined ? {} : { 'content-type': contentType }) }, timeout: 60_000 },
        (response) => {
          readAnswerBody(response).then(
            (parsed) => resolve({ status: response.statusCode ?? 0, body: parsed, warnings: parseWarningHeaders(response.headersDistinct['warning']) }),
            reject,
          );
        },
      );
      request.on('timeout', () => request.destroy(new Error(`${method} ${apiPath} timed out`)));
      request.on('error', reject);
      request.end(body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body));
    });
  }

  createDaemonSet(namespace: string, object: JsonObject, query = ''): Promise<ApiAnswer> {
    return this.request('POST', `/apis/apps/v1/namespaces/${namespace}/daemonsets${query === '' ? '' : `?${query}`}`, object);
  }

  /** A server-side dry-run create (`dryRun=All`): the object as it would be stored, and the warnings. */
  dryRunCreate(namespace: string, object: JsonObject): Promise<ApiAnswer> {
    return this.createDaemonSet(namespace, object, 'dryRun=All');
  }

  close(): void {
    this.agent.destroy();
  }
}

/** The `message` of a Kubernetes Status body, or the body as text. */
export function statusMessage(body: unknown): string {
  if (isJsonObject(body as JsonValue) && typeof (body as JsonObject).message === 'string') return (body as JsonObject).message as string;
  return typeof body === 'string' ? body : JSON.stringify(body);
}

/** Runs tasks with at most `limit` in flight; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

// ---- the example DaemonSets ------------------------------------------------------------------------

export { psaFixtureDaemonSets, repositoryDaemonSets, type CorpusDaemonSet, type CorpusOrigin } from '../support/daemonset-corpus.js';

/** A copy of a DaemonSet placed in `namespace`, with a name the apiserver accepts. */
export function placeIn(object: JsonObject, namespace: string, name?: string): JsonObject {
  const copy = structuredClone(object);
  const metadata = isJsonObject(copy.metadata) ? copy.metadata : (copy.metadata = {});
  metadata.namespace = namespace;
  if (name !== undefined) metadata.name = name;
  return copy;
}

// ---- comparing objects -----------------------------------------------------------------------------

export interface FieldDifference {
  /** JSON pointer. */
  path: string;
  expected: JsonValue | undefined;
  actual: JsonValue | undefined;
}

function pointer(segments: readonly (string | number)[]): string {
  return segments.map((s) => `/${String(s).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}

/**
 * Every field where `actual` differs from `expected`, leaf by leaf (a missing side is `undefined`).
 * `ignore` receives the path segments of each field before it is compared.
 */
export function diffObjects(expected: JsonValue | undefined, actual: JsonValue | undefined, ignore: (segments: readonly (string | number)[]) => boolean = () => false): FieldDifference[] {
  const differences: FieldDifference[] = [];
  const walk = (a: JsonValue | undefined, b: JsonValue | undefined, segments: (string | number)[]): void => {
    if (ignore(segments)) return;
    if (Array.isArray(a) && Array.isArray(b)) {
      for (let i = 0; i < Math.max(a.length, b.length); i++) walk(a[i], b[i], [...segments, i]);
      return;
    }
    if (isJsonObject(a as JsonValue) && isJsonObject(b as JsonValue)) {
      const left = a as JsonObject;
      const right = b as JsonObject;
      for (const key of new Set([...Object.keys(left), ...Object.keys(right)])) walk(left[key], right[key], [...segments, key]);
      return;
    }
    if (JSON.stringify(a) !== JSON.stringify(b)) differences.push({ path: pointer(segments), expected: a, actual: b });
  };
  walk(expected, actual, []);
  return differences;
}

export function formatDifferences(differences: readonly FieldDifference[], expectedName: string, actualName: string): string {
  const show = (value: JsonValue | undefined): string => (value === undefined ? '(absent)' : JSON.stringify(value));
  return differences.map((d) => `${d.path}: ${expectedName} ${show(d.expected)}, ${actualName} ${show(d.actual)}`).join('\n');
}

// ---- a webhook inside the test -----------------------------------------------------------------------

export interface TestWebhookRequest {
  /** The URL path the apiserver called (e.g. /mutate), without the query. */
  path: string;
  request: JsonObject;
  /** The size of the AdmissionReview body as the apiserver sent it, in bytes. */
  bytes: number;
}

export interface TestWebhookAnswer {
  allowed?: boolean;
  /** JSON Patch operations (mutating webhooks only). */
  patch?: JsonValue[];
}

export interface TestWebhook {
  /** https://127.0.0.1:<port> */
  url: string;
  /** base64 of the PEM CA that signed its certificate (the test cluster's CA). */
  caBundle: string;
  received: TestWebhookRequest[];
  close(): Promise<void>;
}

/**
 * A minimal admission webhook on 127.0.0.1 with a certificate from the cluster's CA: it records every
 * AdmissionReview request and answers with `answer` (allowed and no patch by default). For seeing
 * exactly what the kube-apiserver sends a webhook, and for mutating next to daemonguard.
 */
export async function startTestWebhook(cluster: Cluster, answer: (received: TestWebhookRequest) => TestWebhookAnswer = () => ({})): Promise<TestWebhook> {
  const dir = path.join(cluster.tempDir, 'test-webhook');
  const leaf = await createLeaf(dir, `webhook-${Date.now()}`, cluster.pki.ca, { commonName: 'test-webhook', ips: ['127.0.0.1'], usage: 'server' });
  const received: TestWebhookRequest[] = [];
  const server = https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const review = JSON.parse(body.toString('utf8')) as { apiVersion: string; kind: string; request: JsonObject };
      // The apiserver adds ?timeout=<n>s to the URL.
      const entry = { path: new URL(req.url ?? '/', 'https://127.0.0.1').pathname, request: review.request, bytes: body.length };
      received.push(entry);
      const result = answer(entry);
      const response: JsonObject = { uid: review.request.uid as string, allowed: result.allowed ?? true };
      if (result.patch !== undefined && result.patch.length > 0) {
        response.patchType = 'JSONPatch';
        response.patch = Buffer.from(JSON.stringify(result.patch)).toString('base64');
      }
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ apiVersion: review.apiVersion, kind: review.kind, response }));
    });
  });
  // The apiserver keeps connections open for 90 s; stay longer so reuse never races a close.
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  return {
    url: `https://127.0.0.1:${port}`,
    caBundle: Buffer.from(cluster.pki.ca.certPem).toString('base64'),
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
