// What the hostile-input tests share: a real HTTPS admission server with the built-in policy library
// (plus any extra policies a test needs), realistic DaemonSets to start from, and the check every answer
// must pass whatever was sent. (Not a test file itself.)

import { readdirSync, readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { isJsonObject, type JsonObject } from '../../src/common/vocabulary.js';
import { loadPolicySet } from '../../src/policy/load-policies.js';
import type { PolicySet } from '../../src/policy/types.js';
import { POLICIES_DIR, repoRoot, SUITES_DIR } from '../support/library-paths.js';
import { startTestAdmissionServer } from '../support/test-admission-server.js';
import type { AdmissionServer, AdmissionServerOptions } from '../../src/server/admission-server.js';
import { parseNamespaces } from '../../src/server/namespace-catalog.js';
import {
  callHttps,
  callHttp,
  captureLogger,
  temporaryDirectory,
  writeFiles,
  writeTestCertificates,
  type CapturedLogger,
  type HttpResult,
  type HttpsResult,
  type TestCertificates,
} from '../support/server-fixtures.js';

export interface HostileServer {
  server: AdmissionServer;
  certificates: TestCertificates;
  policySet: PolicySet;
  log: CapturedLogger;
  /** POSTs `body` to `endpoint` over a shared keep-alive agent. */
  post(endpoint: '/validate' | '/mutate' | string, body: string | Buffer, headers?: Record<string, string>): Promise<HttpsResult>;
  /** GETs `endpoint` (/healthz, /readyz, /metrics) from the probe port, over plain HTTP. */
  probe(endpoint: string): Promise<HttpResult>;
  close(): Promise<void>;
}

export interface HostileServerOptions extends Partial<AdmissionServerOptions<PolicySet>> {
  /** More policy documents (YAML), loaded beside the built-in library. */
  extraPolicies?: string;
  /** Leave the built-in library out. */
  withoutLibrary?: boolean;
}

const NAMESPACES = parseNamespaces(readFileSync(path.join(repoRoot(), 'examples', 'namespaces.yaml'), 'utf8'), 'examples/namespaces.yaml');

/** The namespaces of examples/namespaces.yaml, so the pod-security policies' namespaceSelector can match. */
export function exampleNamespace(name: string): JsonObject | undefined {
  return NAMESPACES.get(name);
}

export async function startHostileServer(options: HostileServerOptions = {}): Promise<HostileServer> {
  const { extraPolicies, withoutLibrary, ...overrides } = options;
  const dir = await temporaryDirectory('daemonguard-hostile-');
  const certificates = await writeTestCertificates(dir);
  const paths = withoutLibrary === true ? [] : [POLICIES_DIR];
  if (extraPolicies !== undefined) {
    await writeFiles(dir, { 'extra/policies.yaml': extraPolicies });
    paths.push(path.join(dir, 'extra'));
  }
  const policySet = await loadPolicySet(paths);
  const log = captureLogger('warn');
  const server = await startTestAdmissionServer(policySet, { certFile: certificates.certFile, keyFile: certificates.keyFile }, {
    logger: log.logger,
    namespaceObject: exampleNamespace,
    tlsWatch: false,
    tlsPollIntervalMs: 0,
    probe: { address: '127.0.0.1', port: 0 },
    ...overrides,
  });
  const agent = new Agent({ keepAlive: true, maxSockets: 4, ca: certificates.ca.certPem });
  return {
    server,
    certificates,
    policySet,
    log,
    post: (endpoint, body, headers) => callHttps(`${server.url}${endpoint}`, { agent, ca: certificates.ca.certPem, body, ...(headers ? { headers } : {}) }),
    probe: (endpoint) => (server.probe === undefined ? Promise.reject(new Error('this server was started without a probe port')) : callHttp(`${server.probe.url}${endpoint}`)),
    async close() {
      agent.destroy();
      await server.close(200);
    },
  };
}

/** The DaemonSets of the library's verify suites (calico, cilium, kube-proxy, ...): real shapes to start from. */
export function seedDaemonSets(): JsonObject[] {
  const dir = path.join(SUITES_DIR, 'resources');
  return readdirSync(dir)
    .filter((name) => name.endsWith('.yaml'))
    .sort()
    .map((name) => parseYaml(readFileSync(path.join(dir, name), 'utf8')) as unknown)
    .filter(isJsonObject);
}

/** What the answer to a review body must look like, whatever the body was. */
export interface SentBody {
  /** The parsed body when it was JSON (undefined when it was not). */
  parsed: unknown;
}

function field(value: unknown, key: string): unknown {
  return isJsonObject(value) && Object.hasOwn(value, key) ? value[key] : undefined;
}

/**
 * Checks one answer against the protocol, whatever was sent: either a 400/413 that carries a
 * Kubernetes Status with a reason, or a well-formed AdmissionReview in the version asked, echoing the
 * uid, with `allowed`, a status on denials, no patch on /validate, patch and patchType together on
 * /mutate — and never a 5xx, nor an answer that says the engine itself failed. Returns the problem, or
 * undefined when the answer is fine.
 */
export function answerProblem(endpoint: string, sent: SentBody, answer: HttpsResult): string | undefined {
  let body: unknown;
  try {
    body = JSON.parse(answer.text);
  } catch {
    return `status ${answer.status} with a body that is not JSON: ${answer.text.slice(0, 200)}`;
  }
  if (answer.status === 400 || answer.status === 413) {
    if (field(body, 'kind') !== 'Status' || field(body, 'code') !== answer.status) return `a ${answer.status} without a Status body`;
    const message = field(body, 'message');
    if (typeof message !== 'string' || message.trim() === '') return `a ${answer.status} without a reason`;
    return undefined;
  }
  if (answer.status !== 200) return `status ${answer.status}: ${answer.text.slice(0, 300)}`;

  const request = field(sent.parsed, 'request');
  const uid = field(request, 'uid');
  if (field(body, 'apiVersion') !== field(sent.parsed, 'apiVersion')) return `answered in ${String(field(body, 'apiVersion'))}, asked in ${String(field(sent.parsed, 'apiVersion'))}`;
  if (field(body, 'kind') !== 'AdmissionReview') return 'the answer is not an AdmissionReview';
  const response = field(body, 'response');
  if (!isJsonObject(response)) return 'the answer has no response';
  if (typeof uid !== 'string' || response['uid'] !== uid) return `response.uid ${JSON.stringify(response['uid'])} for request.uid ${JSON.stringify(uid)}`;
  if (typeof response['allowed'] !== 'boolean') return 'response.allowed is missing';
  const status = response['status'];
  if (response['allowed'] === false) {
    if (!isJsonObject(status) || typeof status['code'] !== 'number' || typeof status['message'] !== 'string') return 'a denial without status.code and status.message';
    if (status['code'] >= 500) return `the engine failed: ${String(status['message']).slice(0, 300)}`;
  }
  const hasPatch = response['patch'] !== undefined;
  if (hasPatch !== (response['patchType'] !== undefined)) return 'patch and patchType must come together';
  if (endpoint === '/validate' && hasPatch) return 'a validating answer carries a patch';
  if (hasPatch) {
    if (response['patchType'] !== 'JSONPatch' || typeof response['patch'] !== 'string') return 'a patch that is not a base64 JSONPatch';
    try {
      const operations = JSON.parse(Buffer.from(response['patch'], 'base64').toString('utf8')) as unknown;
      if (!Array.isArray(operations) || operations.length === 0) return 'a patch that is not a non-empty JSON array';
    } catch {
      return 'a patch that does not decode';
    }
  }
  const warnings = response['warnings'];
  if (warnings !== undefined && (!Array.isArray(warnings) || !warnings.every((w) => typeof w === 'string' && ![...w].some((ch) => ch.charCodeAt(0) < 0x20)))) {
    return 'warnings that are not single-line strings';
  }
  return undefined;
}

/** Samples resident memory while `run` is running; resolves with the peak (bytes) and run's result. */
export async function withPeakRss<T>(run: () => Promise<T>): Promise<{ value: T; peakRss: number }> {
  let peakRss = process.memoryUsage.rss();
  const timer = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
  }, 5);
  try {
    const value = await run();
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
    return { value, peakRss };
  } finally {
    clearInterval(timer);
  }
}
