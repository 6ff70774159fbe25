// The hand-written webhook (bench/hand-written/server.ts) and `daemonguard serve`, both real processes
// started as `npm run bench` starts them (same certificate, same namespaces file, serve with the node
// flags and environment it ships with), answer the same reviews over real TLS with the same bytes: the
// bench payloads, a denied review, a warned one, a patched one, a v1beta1 review, a DELETE. And the
// hand-written server refuses to start, naming the policy, when a library policy has no twin.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { httpsRequest, startHandWritten, startServe, type RunningServer, type TlsFiles } from '../../bench/bench-processes.js';
import { BUILT_IN_POLICIES, NAMESPACES_YAML, reviewBodies, reviewTemplate, withUid } from '../../bench/webhook-payloads.js';
import { ensureDevCertificates } from '../../src/certs/dev-certificates.js';
import type { JsonObject } from '../../src/common/vocabulary.js';
import { policyYaml } from '../support/admission-fixtures.js';
import { imageEnvironment, shippedNodeFlags } from '../support/shipped-node-flags.js';

const SERVER_BIN = fileURLToPath(new URL('../../bench/hand-written/server.js', import.meta.url));

/** The small payload's review with its object changed by `edit` (a fresh copy each time). */
function smallWith(uid: string, edit: (object: JsonObject, request: JsonObject) => void): string {
  const review = withUid(reviewTemplate('small'), uid);
  const request = review.request as JsonObject;
  edit(request.object as JsonObject, request);
  return JSON.stringify(review);
}

function podSpec(object: JsonObject): JsonObject {
  return ((object.spec as JsonObject).template as JsonObject).spec as JsonObject;
}

describe('the hand-written webhook and daemonguard serve', () => {
  let work = '';
  let tls: TlsFiles;
  const servers: RunningServer[] = [];
  let serve: RunningServer;
  let handWritten: RunningServer;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'daemonguard-hw-server-'));
    const certs = await ensureDevCertificates(join(work, 'certs'));
    tls = { caFile: certs.caCertFile, certFile: certs.certFile, keyFile: certs.keyFile };
    const namespacesFile = join(work, 'namespaces.yaml');
    await writeFile(namespacesFile, NAMESPACES_YAML);
    serve = await startServe({ tls, policies: BUILT_IN_POLICIES, namespacesFile, logFile: join(work, 'serve.log'), nodeFlags: shippedNodeFlags(), env: imageEnvironment() });
    servers.push(serve);
    handWritten = await startHandWritten(tls, namespacesFile);
    servers.push(handWritten);
  });

  after(async () => {
    await Promise.all(servers.map((server) => server.stop()));
    await rm(work, { recursive: true, force: true });
  });

  it('answer every review with the same bytes, on /validate and /mutate', async () => {
    const bodies: { id: string; body: string }[] = [
      ...reviewBodies('small', 2, 'same-bytes').map((body, i) => ({ id: `small payload ${i}`, body })),
      ...reviewBodies('large', 2, 'same-bytes').map((body, i) => ({ id: `large payload ${i}`, body })),
      {
        id: 'a privileged agent with hostPID in monitoring (denied)',
        body: smallWith('denied', (object) => {
          const pod = podSpec(object);
          pod.hostPID = true;
          const container = (pod.containers as JsonObject[])[0]!;
          container.securityContext = { privileged: true };
          container.image = 'docker.io/library/busybox:latest';
        }),
      },
      {
        id: 'an agent with updateStrategy OnDelete and no readinessProbe (warned)',
        body: smallWith('warned', (object) => {
          (object.spec as JsonObject).updateStrategy = { type: 'OnDelete' };
        }),
      },
      {
        id: 'an agent with a health port, without a seccompProfile and maxUnavailable (patched)',
        body: smallWith('patched', (object) => {
          const spec = object.spec as JsonObject;
          delete spec.updateStrategy;
          delete (podSpec(object).securityContext as JsonObject).fsGroup;
          const container = (podSpec(object).containers as JsonObject[])[0]!;
          container.ports = [{ name: 'metrics', containerPort: 9100, protocol: 'TCP' }, { name: 'healthz', containerPort: 9101, protocol: 'TCP' }];
        }),
      },
      {
        id: 'a v1beta1 review',
        body: (() => {
          const review = withUid(reviewTemplate('small'), 'v1beta1');
          review.apiVersion = 'admission.k8s.io/v1beta1';
          return JSON.stringify(review);
        })(),
      },
      {
        id: 'a DELETE',
        body: smallWith('delete', (object, request) => {
          request.operation = 'DELETE';
          request.oldObject = object;
          request.object = null;
        }),
      },
    ];
    const seen = { denied: 0, warned: 0, patched: 0, compared: 0 };
    for (const { id, body } of bodies) {
      for (const endpoint of ['validate', 'mutate'] as const) {
        const expected = await httpsRequest(`${serve.url}/${endpoint}?timeout=10s`, 'POST', body, tls.caFile);
        const actual = await httpsRequest(`${handWritten.url}/${endpoint}?timeout=10s`, 'POST', body, tls.caFile);
        assert.equal(expected.status, 200, `${id} /${endpoint}: serve answered ${expected.status}: ${expected.body}`);
        assert.equal(actual.status, expected.status, `${id} /${endpoint}: status`);
        assert.equal(actual.body, expected.body, `${id} /${endpoint}: the hand-written server's answer differs from serve's`);
        const response = (JSON.parse(expected.body) as { response: { allowed: boolean; warnings?: string[]; patch?: string } }).response;
        seen.compared++;
        if (!response.allowed) seen.denied++;
        if (response.warnings !== undefined) seen.warned++;
        if (response.patch !== undefined) seen.patched++;
      }
    }
    assert.equal(seen.compared, bodies.length * 2);
    assert.ok(seen.denied >= 1 && seen.warned >= 2 && seen.patched >= 2, `not every kind of answer was compared: ${JSON.stringify(seen)}`);
  });

  it('refuses to start when a library policy has no twin, naming the policy', async () => {
    const copy = join(work, 'library');
    await cp(BUILT_IN_POLICIES, copy, { recursive: true });
    await writeFile(join(copy, 'rollout', 'zz-labels.yaml'), policyYaml('agent-labels', `
validationActions: [Warn]
validations:
  - expression: "has(object.metadata.labels)"
    message: "label the agent"
`));
    const child = spawn(process.execPath, [SERVER_BIN, '--cert', tls.certFile, '--key', tls.keyFile, '--port', '0', '--policies', copy], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(code, 1);
    assert.equal(stdout, '', 'it never listened');
    assert.match(stderr, /zz-labels\.yaml: policy "agent-labels" has validations but no validating twin/);
  });
});
