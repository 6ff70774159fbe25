// What the server tests share: real policy files, real certificates, real HTTPS requests, and
// AdmissionReview bodies shaped as the kube-apiserver sends them. (Not a test file itself.)

import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest, type Agent, type RequestOptions } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { pino, type Logger } from 'pino';
import { createCertificateAuthority, issueCertificate, type CertificateAndKey } from '../../src/certs/certificates.js';
import { writeCertificatePair } from '../../src/certs/dev-certificates.js';
import type { JsonObject, Operation } from '../../src/engine/types.js';

/**
 * A policy that fails to evaluate on every DaemonSet it validates with fewer than eight containers (an
 * index past the end): an evaluation error, settled by failurePolicy Fail.
 */
export const ALWAYS_ERRORING_POLICY = `apiVersion: daemonguard.dev/v1alpha1
kind: DaemonSetPolicy
metadata:
  name: always-errors
spec:
  validations:
    - expression: "object.spec.template.spec.containers[7].name != ''"
      message: never evaluated
`;

/** A policy that reads the namespace's labels (namespaceSelector): it needs a server that knows the namespaces. */
export const BASELINE_HOST_NETWORK_POLICY = `apiVersion: daemonguard.dev/v1alpha1
kind: DaemonSetPolicy
metadata:
  name: baseline-host-network
spec:
  match:
    namespaceSelector:
      matchLabels:
        pod-security.kubernetes.io/enforce: baseline
  validations:
    - expression: "!object.spec.template.spec.?hostNetwork.orValue(false)"
`;

/** The policies most server tests run with: Deny, Warn, Audit, a DELETE-only policy and a mutation. */
export const TEST_POLICIES = `apiVersion: daemonguard.dev/v1alpha1
kind: DaemonSetPolicy
metadata:
  name: privileged-namespaces
spec:
  validationActions: [Deny]
  match:
    operations: [CREATE, UPDATE]
  params:
    allowedNamespaces: [kube-system, monitoring]
  variables:
    - name: privileged
      expression: "object.spec.template.spec.containers.filter(c, c.?securityContext.?privileged.orValue(false)).map(c, c.name)"
  validations:
    - expression: "request.namespace in params.allowedNamespaces || size(variables.privileged) == 0"
      messageExpression: "'container \\"' + variables.privileged.join('\\", \\"') + '\\" is privileged; privileged containers are allowed only in: ' + params.allowedNamespaces.join(', ')"
      reason: Forbidden
---
apiVersion: daemonguard.dev/v1alpha1
kind: DaemonSetPolicy
metadata:
  name: host-network
spec:
  validationActions: [Deny]
  match:
    operations: [CREATE, UPDATE]
  validations:
    - expression: "!object.spec.template.spec.?hostNetwork.orValue(false)"
      message: "hostNetwork is not allowed; remove spec.template.spec.hostNetwork"
---
apiVersion: daemonguard.dev/v1alpha1
kind: DaemonSetPolicy
metadata:
  name: memory-limits
spec:
  validationActions: [Warn]
  match:
    operations: [CREATE, UPDATE]
  validations:
    - expression: "object.spec.template.spec.containers.all(c, 'memory' in c.?resources.?limits.orValue({}))"
      message: "every container should set resources.limits.memory"
---
apiVersion: daemonguard.dev/v1alpha1
kind: DaemonSetPolicy
metadata:
  name: tolerate-everything
spec:
  validationActions: [Audit]
  match:
    operations: [CREATE, UPDATE]
  validations:
    - expression: "!object.spec.template.spec.?tolerations.orValue([]).exists(t, t.?operator.orValue('') == 'Exists' && !has(t.key))"
      message: "tolerates every taint"
---
apiVersion: daemonguard.dev/v1alpha1
kind: DaemonSetPolicy
metadata:
  name: protected-delete
spec:
  validationActions: [Deny]
  match:
    operations: [DELETE]
  validations:
    - expression: "oldObject.metadata.?labels[?'daemonguard.dev/protected'].orValue('') != 'true'"
      message: "this DaemonSet is protected; remove the label daemonguard.dev/protected before deleting it"
---
apiVersion: daemonguard.dev/v1alpha1
kind: DaemonSetPolicy
metadata:
  name: rollout-defaults
spec:
  match:
    operations: [CREATE, UPDATE]
  mutations:
    - name: default-max-unavailable
      when: "object.spec.?updateStrategy.?type.orValue('RollingUpdate') == 'RollingUpdate'"
      defaults:
        - path: /spec/updateStrategy/rollingUpdate/maxUnavailable
          value: "10%"
        - path: /metadata/annotations/daemonguard.dev~1reviewed
          value: "true"
`;

export async function temporaryDirectory(prefix = 'daemonguard-server-'): Promise<string> {
  return mkdtemp(path.join(tmpdir(), prefix));
}

/** Writes files (relative path -> content) under `root`. */
export async function writeFiles(root: string, files: Record<string, string>): Promise<void> {
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, name)), { recursive: true });
    await writeFile(path.join(root, name), content);
  }
}

export interface TestCertificates {
  ca: CertificateAndKey;
  caFile: string;
  certFile: string;
  keyFile: string;
  /** A second CA that signs client certificates, and a client certificate from it. */
  clientCa: CertificateAndKey;
  clientCaFile: string;
  client: CertificateAndKey;
}

/** A CA, a serving certificate for localhost/127.0.0.1/::1, and a client CA with one client certificate. */
export async function writeTestCertificates(dir: string): Promise<TestCertificates> {
  const ca = await createCertificateAuthority({ commonName: 'daemonguard test CA' });
  const serving = await issueCertificate(ca, { commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'] });
  const clientCa = await createCertificateAuthority({ commonName: 'daemonguard test client CA' });
  const client = await issueCertificate(clientCa, { commonName: 'kube-apiserver', usage: 'client' });
  const caFile = path.join(dir, 'ca.crt');
  const certFile = path.join(dir, 'tls.crt');
  const keyFile = path.join(dir, 'tls.key');
  const clientCaFile = path.join(dir, 'client-ca.crt');
  await writeFile(caFile, ca.certPem);
  await writeCertificatePair(certFile, keyFile, serving);
  await writeFile(clientCaFile, clientCa.certPem);
  return { ca, caFile, certFile, keyFile, clientCa, clientCaFile, client };
}

export interface CapturedLogger {
  logger: Logger;
  /** Every log line written so far, parsed. */
  records: Record<string, unknown>[];
}

/** A pino logger writing into memory, so tests can read what was logged. */
export function captureLogger(level = 'info'): CapturedLogger {
  const records: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() !== '') records.push(JSON.parse(line) as Record<string, unknown>);
      }
      callback();
    },
  });
  return { logger: pino({ level }, sink), records };
}

export interface DaemonSetOptions {
  name?: string;
  namespace?: string;
  privileged?: boolean;
  hostNetwork?: boolean;
  memoryLimit?: string;
  labels?: Record<string, string>;
  tolerateEverything?: boolean;
  maxUnavailable?: string;
}

/** An apps/v1 DaemonSet as a client would submit it. */
export function daemonSet(options: DaemonSetOptions = {}): JsonObject {
  const name = options.name ?? 'node-agent';
  const container: JsonObject = { name: 'agent', image: 'registry.example/node-agent:1.4.2' };
  if (options.privileged) container['securityContext'] = { privileged: true };
  if (options.memoryLimit !== undefined) container['resources'] = { limits: { memory: options.memoryLimit } };
  const podSpec: JsonObject = { containers: [container] };
  if (options.hostNetwork) podSpec['hostNetwork'] = true;
  if (options.tolerateEverything) podSpec['tolerations'] = [{ operator: 'Exists' }];
  const spec: JsonObject = {
    selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name } }, spec: podSpec },
  };
  if (options.maxUnavailable !== undefined) spec['updateStrategy'] = { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: options.maxUnavailable } };
  const metadata: JsonObject = { name, namespace: options.namespace ?? 'default', labels: options.labels ?? { app: name } };
  return { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata, spec };
}

let uidCounter = 0;

export interface ReviewOptions {
  uid?: string;
  apiVersion?: string;
  oldObject?: JsonObject | null;
  dryRun?: boolean;
  namespace?: string;
}

/** An AdmissionReview request body for a DaemonSet, as the apiserver sends it. */
export function admissionReview(operation: Operation, object: JsonObject | null, options: ReviewOptions = {}): JsonObject {
  const source = (object ?? options.oldObject ?? {}) as JsonObject;
  const metadata = (source['metadata'] ?? {}) as JsonObject;
  const uid = options.uid ?? `00000000-0000-4000-8000-${String(++uidCounter).padStart(12, '0')}`;
  const operationKind = { CREATE: 'CreateOptions', UPDATE: 'UpdateOptions', DELETE: 'DeleteOptions', CONNECT: 'CreateOptions' }[operation];
  return {
    apiVersion: options.apiVersion ?? 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: 'apps', version: 'v1', kind: 'DaemonSet' },
      resource: { group: 'apps', version: 'v1', resource: 'daemonsets' },
      requestKind: { group: 'apps', version: 'v1', kind: 'DaemonSet' },
      requestResource: { group: 'apps', version: 'v1', resource: 'daemonsets' },
      name: (metadata['name'] as string | undefined) ?? '',
      namespace: options.namespace ?? (metadata['namespace'] as string | undefined) ?? 'default',
      operation,
      userInfo: { username: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] },
      object,
      oldObject: options.oldObject ?? null,
      dryRun: options.dryRun ?? false,
      options: { apiVersion: 'meta.k8s.io/v1', kind: operationKind },
    },
  };
}

export interface HttpsResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** Local port of the TCP connection used: the same port twice means the connection was reused. */
  localPort: number | undefined;
  /** Serial number of the certificate the server presented on this connection (none on a resumed session). */
  peerSerialNumber: string | undefined;
  /** The TLS handshake resumed an earlier session instead of presenting a certificate. */
  sessionReused: boolean;
  json<T = JsonObject>(): T;
}

export interface HttpsCallOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  ca?: string;
  agent?: Agent | false;
  cert?: string;
  key?: string;
  servername?: string;
  minVersion?: RequestOptions['minVersion'];
  maxVersion?: RequestOptions['maxVersion'];
  /** OpenSSL cipher list the client offers on TLS 1.2 (e.g. 'ECDHE-ECDSA-AES128-SHA'). */
  ciphers?: string;
  /** Give up (reject) when the socket has been idle this long; default: wait. */
  timeoutMs?: number;
}

/** One real HTTPS request, resolving with the whole answer. */
export function callHttps(url: string, options: HttpsCallOptions = {}): Promise<HttpsResult> {
  return new Promise((resolve, reject) => {
    const body = options.body;
    const headers: Record<string, string> = { ...(options.headers ?? {}) };
    if (body !== undefined) {
      headers['content-type'] ??= 'application/json';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    const requestOptions: RequestOptions = { method: options.method ?? (body === undefined ? 'GET' : 'POST'), headers };
    if (options.ca !== undefined) requestOptions.ca = options.ca;
    if (options.agent !== undefined) requestOptions.agent = options.agent;
    if (options.cert !== undefined) requestOptions.cert = options.cert;
    if (options.key !== undefined) requestOptions.key = options.key;
    if (options.servername !== undefined) requestOptions.servername = options.servername;
    if (options.minVersion !== undefined) requestOptions.minVersion = options.minVersion;
    if (options.maxVersion !== undefined) requestOptions.maxVersion = options.maxVersion;
    if (options.ciphers !== undefined) requestOptions.ciphers = options.ciphers;
    const request = httpsRequest(url, requestOptions, (response) => {
      // Read from the socket now: a keep-alive agent takes it back once the response ends.
      const socket = response.socket as TLSSocket;
      const localPort = socket.localPort;
      const peerSerialNumber = socket.getPeerCertificate().serialNumber;
      const sessionReused = socket.isSessionReused();
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({
          status: response.statusCode ?? 0,
          headers: response.headers,
          text,
          localPort,
          peerSerialNumber,
          sessionReused,
          json: <T>() => JSON.parse(text) as T,
        });
      });
      response.on('error', reject);
    });
    if (options.timeoutMs !== undefined) {
      const timeoutMs = options.timeoutMs;
      request.setTimeout(timeoutMs, () => request.destroy(new Error(`${url}: no answer within ${timeoutMs} ms`)));
    }
    request.on('error', reject);
    request.end(body);
  });
}

/** Decodes a mutating answer's base64 JSON patch. */
export function decodePatch(patch: string): { op: string; path: string; value?: unknown }[] {
  return JSON.parse(Buffer.from(patch, 'base64').toString('utf8')) as { op: string; path: string; value?: unknown }[];
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** One plain HTTP GET (the probe port), resolving with the whole answer; rejects after `timeoutMs` (default 5 s) without one. */
export function callHttp(url: string, timeoutMs = 5_000): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, text: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', reject);
    });
    request.setTimeout(timeoutMs, () => request.destroy(new Error(`${url}: no answer within ${timeoutMs} ms`)));
    request.on('error', reject);
    request.end();
  });
}
