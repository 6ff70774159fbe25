// `daemonguard serve` as a real subprocess: flags and their exit codes, development certificates,
// environment variables, and SIGTERM with a review in flight.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { connect, type TLSSocket } from 'node:tls';
import { runCli } from '../../test/support/cli-process.js';
import { admissionReview, BASELINE_HOST_NETWORK_POLICY, callHttps, daemonSet, temporaryDirectory, TEST_POLICIES, writeFiles } from '../../test/support/server-fixtures.js';
import { startServe, stopAllServes } from '../../test/support/serve-process.js';

after(stopAllServes);

describe('daemonguard serve: flags', () => {
  it('documents every flag and its environment variable in --help', async () => {
    const result = await runCli(['serve', '--help']);
    assert.equal(result.code, 0);
    for (const text of [
      '--address <host>',
      'DAEMONGUARD_ADDRESS',
      '--port <port>',
      'DAEMONGUARD_PORT',
      '--tls-cert <file>',
      'DAEMONGUARD_TLS_CERT',
      '--tls-key <file>',
      '--client-ca <file>',
      '--policies <path>',
      'DAEMONGUARD_POLICIES',
      'default: the built-in library',
      '--eval-deadline <duration>',
      'DAEMONGUARD_EVAL_DEADLINE',
      '--log-level <level>',
      '--shutdown-grace <duration>',
      'default: "0.0.0.0"',
      'default: 8443',
      'default: 2s',
      '--max-body-bytes <size>',
      'default: 12Mi',
      '--max-json-elements <n>',
      '--max-json-nodes <n>',
      '--max-json-string-bytes <size>',
      '--max-json-depth <n>',
      '--max-inflight-bytes <size>',
      'DAEMONGUARD_MAX_INFLIGHT_BYTES',
    ]) {
      assert.ok(result.stdout.includes(text), `--help mentions ${text}`);
    }
  });

  it('prints usage and exits 2 on a bad flag or value', async () => {
    const cases = [
      ['serve', '--bogus'],
      ['serve', '--port', 'https'],
      ['serve', '--eval-deadline', 'soon'],
      ['serve', '--log-level', 'loud'],
      ['serve', '--max-body-bytes', '12Xi'],
      ['serve', '--max-inflight-bytes', '0'],
      ['serve', '--max-json-nodes', '0'],
      ['serve', '--max-json-elements', '1.5'],
    ];
    const results = await Promise.all(cases.map((args) => runCli(args)));
    results.forEach((result, index) => {
      assert.equal(result.code, 2, `${(cases[index] ?? []).join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, /^error: /);
      assert.match(result.stderr, /Usage: daemonguard serve \[options\]/);
    });
  });

  it('exits 2 when only one of --tls-cert and --tls-key is given', async () => {
    const result = await runCli(['serve', '--tls-cert', 'tls.crt']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--tls-cert and --tls-key go together/);
  });

  it('exits 2 without serving when the policies are broken, pointing at file:line', async () => {
    const dir = await temporaryDirectory('daemonguard-cli-');
    await writeFiles(dir, { 'policies/bad.yaml': TEST_POLICIES.replace('validationActions: [Deny]', 'validationActions: [Deny, Block]') });
    const result = await runCli(['serve', '--address', '127.0.0.1', '--port', '0', '--policies', 'policies'], { cwd: dir });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^error: the policies did not load, so the server was not started:/);
    assert.match(result.stderr, new RegExp(`${path.join(dir, 'policies', 'bad.yaml').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: `));
  });
});

/** Policies that read the request's namespace (one by its labels, one through namespaceObject), and one that does not. */
const NAMESPACE_POLICIES = `${BASELINE_HOST_NETWORK_POLICY}---
apiVersion: daemonguard.dev/v1alpha1
kind: DaemonSetPolicy
metadata:
  name: team-label
spec:
  validations:
    - expression: "object.metadata.?labels[?'team'].hasValue()"
      messageExpression: "'label the DaemonSet with its team, e.g. team: ' + namespaceObject.metadata.?labels[?'team'].orValue('unknown')"
---
apiVersion: daemonguard.dev/v1alpha1
kind: DaemonSetPolicy
metadata:
  name: every-namespace
spec:
  match:
    namespaceSelector: {}
  validations:
    - expression: "!object.spec.template.spec.?hostPID.orValue(false)"
`;

describe('daemonguard serve: namespaces', () => {
  it('exits 2 without serving when policies read the namespace and no namespace source is given, naming each policy and why', async () => {
    const dir = await temporaryDirectory('daemonguard-cli-');
    await writeFiles(dir, { 'policies/namespaces.yaml': NAMESPACE_POLICIES, 'policies/base.yaml': TEST_POLICIES });
    const result = await runCli(['serve', '--address', '127.0.0.1', '--port', '0', '--policies', 'policies'], { cwd: dir });
    assert.equal(result.code, 2, result.stderr);
    const file = path.join(dir, 'policies', 'namespaces.yaml');
    assert.equal(
      result.stderr,
      "error: the server was not started:\n2 policies read the labels of the request's namespace, but the server was given no namespaces: " +
        'pass --namespaces FILE (Namespace objects, e.g. from kubectl get namespaces -o yaml) or --namespaces-from-cluster\n' +
        `${file}:1:1: policy "baseline-host-network" selects namespaces by label (spec.match.namespaceSelector)\n` +
        `${file}:13:1: policy "team-label" reads namespaceObject (spec.validations[0].messageExpression)\n`,
    );
    assert.equal(result.stdout.includes('daemonguard admission server listening'), false);
  });

  it('serves the same policies when given the namespaces', { timeout: 30_000 }, async () => {
    const dir = await temporaryDirectory('daemonguard-cli-');
    await writeFiles(dir, {
      'policies/namespaces.yaml': NAMESPACE_POLICIES,
      'namespaces.yaml': 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: monitoring\n  labels:\n    pod-security.kubernetes.io/enforce: baseline\n',
    });
    const served = await startServe({ args: ['--address', '127.0.0.1', '--port', '0', '--namespaces', 'namespaces.yaml', '--policies', 'policies'], cwd: dir });
    const ca = await readFile(path.join(dir, 'certs', 'ca.crt'), 'utf8');
    const body = JSON.stringify(admissionReview('CREATE', daemonSet({ namespace: 'monitoring', hostNetwork: true }), { uid: 'uid-namespaces' }));
    const answer = await callHttps(`https://127.0.0.1:${served.port}/validate`, { ca, body, agent: false });
    const response = answer.json<{ response: { allowed: boolean; status: { message: string } } }>().response;
    assert.equal(response.allowed, false);
    assert.match(response.status.message, /^baseline-host-network: /);
    assert.deepEqual(await served.stop(), { code: 0, signal: null });
  });
});

describe('daemonguard serve: running', () => {
  it('generates development certificates, serves reviews, and takes its settings from the environment', { timeout: 30_000 }, async () => {
    const dir = await temporaryDirectory('daemonguard-cli-');
    await writeFiles(dir, { 'rules/all.yaml': TEST_POLICIES });
    const served = await startServe({
      cwd: dir,
      env: { DAEMONGUARD_ADDRESS: '127.0.0.1', DAEMONGUARD_PORT: '0', DAEMONGUARD_POLICIES: 'rules', DAEMONGUARD_LOG_LEVEL: 'info' },
    });
    const generated = served.logLines().find((line) => line['generated'] === 'all');
    assert.ok(generated, 'the certificate generation is logged');
    assert.equal(generated['caCertificate'], path.join('certs', 'ca.crt'));
    const ca = await readFile(path.join(dir, 'certs', 'ca.crt'), 'utf8');

    const body = JSON.stringify(admissionReview('CREATE', daemonSet({ privileged: true, memoryLimit: '1Gi' }), { uid: 'uid-cli' }));
    for (const host of ['127.0.0.1', 'localhost']) {
      const answer = await callHttps(`https://${host}:${served.port}/validate`, { ca, body, agent: false });
      assert.equal(answer.status, 200);
      const response = answer.json<{ response: { uid: string; allowed: boolean; status: { message: string } } }>().response;
      assert.equal(response.uid, 'uid-cli');
      assert.equal(response.allowed, false);
      assert.match(response.status.message, /^privileged-namespaces: container "agent" is privileged/);
    }
    const decision = await served.waitForLog((line) => line['msg'] === 'admission decision' && line['uid'] === 'uid-cli');
    assert.equal(decision['decision'], 'denied');
    assert.equal(served.stdout().includes('registry.example'), false, 'request bodies are not logged');

    assert.deepEqual(await served.stop(), { code: 0, signal: null });
  });

  it('on SIGTERM stops accepting, finishes the review in flight, and exits 0', { timeout: 30_000 }, async () => {
    const dir = await temporaryDirectory('daemonguard-cli-');
    await writeFiles(dir, { 'policies/all.yaml': TEST_POLICIES });
    const served = await startServe({ args: ['--address', '127.0.0.1', '--port', '0', '--shutdown-grace', '10s', '--policies', 'policies'], cwd: dir });
    const ca = await readFile(path.join(dir, 'certs', 'ca.crt'), 'utf8');

    const body = JSON.stringify(admissionReview('CREATE', daemonSet({ memoryLimit: '1Gi' }), { uid: 'uid-in-flight' }));
    const socket: TLSSocket = connect({ host: '127.0.0.1', port: served.port, ca, servername: 'localhost' });
    await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('utf8')));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    const half = Math.floor(body.length / 2);
    socket.write(`POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, half)}`);

    const signalledAt = Date.now();
    const stopped = served.stop({ signal: 'SIGTERM' });
    await served.waitForLog((line) => line['signal'] === 'SIGTERM');
    await assert.rejects(callHttps(`https://127.0.0.1:${served.port}/healthz`, { ca, agent: false }), /ECONNREFUSED/);

    socket.write(body.slice(half));
    await closed;
    const [head, payload] = received.split('\r\n\r\n');
    assert.match(head ?? '', /^HTTP\/1\.1 200 OK/);
    assert.deepEqual(JSON.parse(payload ?? '{}'), {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: 'uid-in-flight', allowed: true },
    });
    assert.deepEqual(await stopped, { code: 0, signal: null });
    assert.ok(Date.now() - signalledAt < 10_000, 'exits within the grace period');
    assert.ok(served.logLines().some((line) => line['msg'] === 'admission decision' && line['uid'] === 'uid-in-flight'));
  });
});
