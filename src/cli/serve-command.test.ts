// `daemonguard serve` as a real subprocess: flags and their exit codes, development certificates,
// environment variables, and SIGTERM with a review in flight.

import assert from 'node:assert/strict';
import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { connect, type TLSSocket } from 'node:tls';
import { runCli } from '../../test/support/cli-process.js';
import {
  admissionReview,
  BASELINE_HOST_NETWORK_POLICY,
  callHttp,
  callHttps,
  daemonSet,
  temporaryDirectory,
  TEST_POLICIES,
  writeFiles,
  writeTestCertificates,
} from '../../test/support/server-fixtures.js';
import { freePort, signalWhenFirstReady, startServe, stopAllServes } from '../../test/support/serve-process.js';
import { POLICIES_DIR } from '../../test/support/library-paths.js';
import { listManifestFiles } from '../common/yaml-documents.js';

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
      '--gc-duration-metric',
      'DAEMONGUARD_GC_DURATION_METRIC',
      '--shutdown-grace <duration>',
      'default: "0.0.0.0"',
      'default: 8443',
      'default: 2s',
      '--probe-address <[host]:port>',
      'DAEMONGUARD_PROBE_ADDRESS',
      'default: :8081',
      '--tls-min-version <version>',
      'DAEMONGUARD_TLS_MIN_VERSION',
      'default: VersionTLS12',
      '--tls-cipher-suites <names>',
      'DAEMONGUARD_TLS_CIPHER_SUITES',
      'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256',
      'SIGHUP reloads',
      'during start-up it stops the start',
      '--max-body-bytes <size>',
      'default: 12Mi',
      '--max-json-elements <n>',
      '--max-json-nodes <n>',
      '--max-json-string-bytes <size>',
      '--max-json-depth <n>',
      '--max-inflight-bytes <size>',
      'DAEMONGUARD_MAX_INFLIGHT_BYTES',
      '--audit-niceness <n>',
      '--audit-duty-cycle <fraction>',
      '--http-layer <layer>',
      'DAEMONGUARD_HTTP_LAYER',
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
      ['serve', '--audit-niceness', '20'],
      ['serve', '--audit-niceness', '-1'],
      ['serve', '--audit-duty-cycle', '0'],
      ['serve', '--audit-duty-cycle', 'half'],
      ['serve', '--http-layer', 'fast'],
    ];
    const results = await Promise.all(cases.map((args) => runCli(args)));
    results.forEach((result, index) => {
      assert.equal(result.code, 2, `${(cases[index] ?? []).join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, /^error: /);
      assert.match(result.stderr, /Usage: daemonguard serve \[options\]/);
    });
  });

  it('refuses unknown, insecure or contradictory TLS settings and a malformed probe address with usage, exit 2, naming the value', async () => {
    const cases: [string[], RegExp][] = [
      [['--tls-cipher-suites', 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_MADE_UP_SUITE'], /option '--tls-cipher-suites <names>' argument '.*' is invalid\. unknown cipher suite "TLS_MADE_UP_SUITE"/],
      [['--tls-cipher-suites', 'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA'], /cipher suite TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA is not allowed: CBC mode/],
      [['--tls-cipher-suites', 'TLS_RSA_WITH_AES_128_GCM_SHA256'], /TLS_RSA_WITH_AES_128_GCM_SHA256 is not allowed: RSA key exchange without forward secrecy/],
      [['--tls-cipher-suites', 'TLS_RSA_WITH_3DES_EDE_CBC_SHA'], /is not allowed: a broken cipher \(3DES\)/],
      [['--tls-min-version', 'VersionTLS11'], /VersionTLS11 is not allowed: TLS 1\.0 and 1\.1 are deprecated/],
      [['--tls-min-version', 'TLSv1.3'], /unknown TLS version "TLSv1\.3"; use VersionTLS12 or VersionTLS13/],
      // TLS flags that contradict each other: the message names the flag to change.
      [['--tls-cipher-suites', 'TLS_AES_128_GCM_SHA256'], /names only TLS 1\.3 suites \(TLS_AES_128_GCM_SHA256\).*add --tls-min-version VersionTLS13/],
      [['--tls-min-version', 'VersionTLS13', '--tls-cipher-suites', 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256'], /names only TLS 1\.2 suites, which --tls-min-version VersionTLS13 never negotiates/],
      [['--probe-address', '8081'], /option '--probe-address <\[host\]:port>' argument '8081' is invalid\. expected \[host\]:port/],
      [['--probe-address', '127.0.0.1:70000'], /expected \[host\]:port/],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(['serve', ...args])));
    results.forEach((result, index) => {
      const [args, message] = cases[index]!;
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, message);
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

describe('daemonguard serve: SIGHUP and the namespaces file', () => {
  it('reloads --namespaces on SIGHUP (logged with its trigger), and keeps the last good namespaces when the file is empty', { timeout: 30_000 }, async () => {
    const dir = await temporaryDirectory('daemonguard-cli-');
    const monitoring = (labels: string): string => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: monitoring\n  labels:\n${labels}`;
    await writeFiles(dir, { 'policies/namespaces.yaml': NAMESPACE_POLICIES, 'namespaces.yaml': monitoring('    team: observability\n') });
    const served = await startServe({ args: ['--address', '127.0.0.1', '--port', '0', '--namespaces', 'namespaces.yaml', '--policies', 'policies', '--watch-interval', '0'], cwd: dir });
    const ca = await readFile(path.join(dir, 'certs', 'ca.crt'), 'utf8');
    const hostNetworkAllowed = async (uid: string): Promise<boolean> => {
      const body = JSON.stringify(admissionReview('CREATE', daemonSet({ namespace: 'monitoring', hostNetwork: true, labels: { team: 'x' } }), { uid }));
      return (await callHttps(`${served.url}/validate`, { ca, body, agent: false })).json<{ response: { allowed: boolean } }>().response.allowed;
    };
    assert.equal(await hostNetworkAllowed('before'), true, 'monitoring does not enforce baseline yet');

    await writeFile(path.join(dir, 'namespaces.yaml'), monitoring('    pod-security.kubernetes.io/enforce: baseline\n'));
    served.child.kill('SIGHUP');
    const done = await served.waitForLog((line) => line['msg'] === 'reload on SIGHUP done');
    assert.equal(done['namespaces'], 'reloaded');
    assert.ok(
      served.logLines().some((line) => line['msg'] === 'namespaces reloaded' && line['trigger'] === 'SIGHUP'),
      'the namespaces file was read again because of the signal',
    );
    assert.equal(await hostNetworkAllowed('after'), false, 'the relabelled namespace is now selected');

    // A writer has truncated the file and not written it yet: SIGHUP refuses the empty file, the labels stay.
    await writeFile(path.join(dir, 'namespaces.yaml'), '');
    served.child.kill('SIGHUP');
    await served.waitForLog((line) => line['msg'] === 'reload on SIGHUP done' && line['namespaces'] === 'refused');
    assert.equal(served.child.exitCode, null);
    assert.equal(await hostNetworkAllowed('still'), false);
    assert.deepEqual(await served.stop(), { code: 0, signal: null });
  });
});

describe('daemonguard serve: running', () => {
  it('generates development certificates, serves reviews, and takes its settings from the environment', { timeout: 30_000 }, async () => {
    const dir = await temporaryDirectory('daemonguard-cli-');
    await writeFiles(dir, { 'rules/all.yaml': TEST_POLICIES });
    const served = await startServe({
      cwd: dir,
      env: {
        DAEMONGUARD_ADDRESS: '127.0.0.1',
        DAEMONGUARD_PORT: '0',
        DAEMONGUARD_POLICIES: 'rules',
        DAEMONGUARD_LOG_LEVEL: 'info',
        DAEMONGUARD_GC_DURATION_METRIC: 'true',
        DAEMONGUARD_HTTP_LAYER: 'node',
      },
    });
    assert.equal(served.logLines().find((line) => line['msg'] === 'daemonguard admission server listening')?.['httpLayer'], 'node');
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
    // Asked for through the environment: the histogram of garbage-collection pauses is exported.
    assert.match((await callHttp(`${served.probeUrl}/metrics`)).text, /^# TYPE nodejs_gc_duration_seconds histogram$/m);

    assert.deepEqual(await served.stop(), { code: 0, signal: null });
  });

  it('keeps answering /healthz while it reloads a large policy set', { timeout: 120_000 }, async () => {
    const dir = await temporaryDirectory('daemonguard-cli-');
    // The library's Pod Security policies read namespace labels: the server needs namespaces for them.
    await writeFiles(dir, { 'policies/small.yaml': TEST_POLICIES, 'namespaces.yaml': 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: monitoring\n' });
    const served = await startServe({ args: ['--address', '127.0.0.1', '--port', '0', '--policies', 'policies', '--namespaces', 'namespaces.yaml'], cwd: dir });

    // The built-in library four times over, renamed: 64 legal policies in one file, well under the size
    // limit, that take the loader seconds to type-check on a busy machine.
    const library = await Promise.all((await listManifestFiles([POLICIES_DIR])).map((file) => readFile(file, 'utf8')));
    const copies = [1, 2, 3, 4].map((copy) => library.map((text) => text.replace(/^( {2}name: )(\S+)$/gm, `$1$2-copy-${copy}`)).join('\n---\n'));
    await writeFile(path.join(dir, 'large.yaml'), copies.join('\n---\n'));

    // An answer counts when it arrives after the server said it started loading and before it said it finished.
    const count = (message: string): number => served.logLines().filter((line) => line['msg'] === message).length;
    const loadingBefore = count('reloading the policy files');
    let during = 0;
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const answer = await fetch(`${served.probeUrl}/healthz`);
        assert.equal(answer.status, 200);
        await answer.arrayBuffer();
        if (count('reloading the policy files') > loadingBefore && count('policies reloaded') === 0) during++;
      }
    })();
    try {
      // Moved in whole, so the server never reads half a file.
      await rename(path.join(dir, 'large.yaml'), path.join(dir, 'policies', 'large.yaml'));
      const reloaded = await served.waitForLog((line) => line['msg'] === 'policies reloaded', 90_000);
      const libraryPolicies = library.join('\n').match(/^kind: DaemonSetPolicy$/gm)?.length ?? 0;
      assert.ok(libraryPolicies >= 16);
      assert.equal((reloaded['policies'] as string[]).length, 6 + 4 * libraryPolicies);
    } finally {
      polling = false;
      await poller;
    }
    assert.ok(during >= 10, `only ${during} /healthz answers arrived while the policies loaded`);
    assert.deepEqual(await served.stop(), { code: 0, signal: null });
  });

  it('on SIGTERM stops accepting, finishes the review in flight, and exits 0', { timeout: 90_000 }, async () => {
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

    // Only a hang guard: a server that does not exit by itself is killed (and the exit below is then not 0).
    const stopped = served.stop({ signal: 'SIGTERM', graceMs: 60_000 });
    await served.waitForLog((line) => line['signal'] === 'SIGTERM');
    await assert.rejects(callHttps(`https://127.0.0.1:${served.port}/validate`, { ca, agent: false, body: '{}' }), /ECONNREFUSED/);

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
    // Within the grace period: the review finished, so no connection had to be cut, and the stop ran to its end.
    const messages = served.logLines().map((line) => line['msg']);
    assert.equal(messages.includes('grace period over; closing the remaining connections'), false, messages.join('\n'));
    assert.ok(messages.includes('shut down'), messages.join('\n'));
    assert.ok(served.logLines().some((line) => line['msg'] === 'admission decision' && line['uid'] === 'uid-in-flight'));
  });
});

describe('daemonguard serve: SIGTERM the moment /readyz first answers 200', () => {
  // A kubelet (or a rollout) may stop a pod as soon as it is ready. Every optional feature serve starts
  // must be started, or startable no further, by the time /readyz says 200: a server that was still
  // awaiting something then ended on the signal itself (no "shut down" line) instead of draining.
  const cases: { name: string; args: string[]; kubeconfig?: boolean }[] = [
    { name: 'policies from files', args: [] },
    { name: '--namespaces (a file)', args: ['--namespaces', 'namespaces.yaml'] },
    // The audit's Lease election asks a port where nothing listens: it fails and retries, as it would
    // while the apiserver is away; what matters here is everything the audit loads and starts.
    { name: '--audit-interval', args: ['--audit-interval', '1h', '--leader-election-namespace', 'default'], kubeconfig: true },
  ];
  const kubeconfigFor = (server: string): string =>
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'away', cluster: { server, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'away', user: { token: 'unused' } }],
      contexts: [{ name: 'away', context: { cluster: 'away', user: 'away' } }],
      'current-context': 'away',
    });
  for (const { name, args, kubeconfig } of cases) {
    it(`${name}: shuts down cleanly and exits 0`, { timeout: 60_000 }, async () => {
      const dir = await temporaryDirectory('daemonguard-cli-');
      await writeFiles(dir, {
        'policies/all.yaml': TEST_POLICIES,
        'namespaces.yaml': 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: monitoring\n',
        'kubeconfig.yaml': kubeconfigFor(`https://127.0.0.1:${await freePort()}`),
      });
      const port = await freePort();
      const { served, exit } = await signalWhenFirstReady({
        args: ['--address', '127.0.0.1', '--port', String(port), '--policies', 'policies', ...args],
        cwd: dir,
        readyz: { port },
        env: kubeconfig === true ? { KUBECONFIG: path.join(dir, 'kubeconfig.yaml') } : {},
      });
      const messages = served.logLines().map((line) => line['msg']);
      assert.deepEqual(exit, { code: 0, signal: null }, `${served.stdout()}\n${served.stderr()}`);
      assert.ok(messages.includes('shut down'), messages.join('\n'));
      if (kubeconfig === true) assert.ok(messages.includes('background audit on: the replica holding the leader Lease writes the Reports'));
    });
  }
});

describe('daemonguard serve: probe port and TLS settings', () => {
  it('with --client-ca: probes and metrics answer on the probe port without a certificate; the HTTPS port refuses a client without one', { timeout: 30_000 }, async () => {
    const dir = await temporaryDirectory('daemonguard-cli-');
    await writeFiles(dir, { 'policies/all.yaml': TEST_POLICIES });
    const certificates = await writeTestCertificates(dir);
    const served = await startServe({
      args: ['--address', '127.0.0.1', '--port', '0', '--policies', 'policies', '--tls-cert', certificates.certFile, '--tls-key', certificates.keyFile, '--client-ca', certificates.clientCaFile],
      cwd: dir,
    });
    const listening = await served.waitForLog((line) => line['msg'] === 'daemonguard admission server listening');
    assert.equal(listening['clientCertificates'], 'required');
    assert.equal(listening['probeAddress'], '127.0.0.1');
    assert.deepEqual([(await callHttp(`${served.probeUrl}/healthz`)).text, (await callHttp(`${served.probeUrl}/readyz`)).text], ['ok\n', 'ok\n']);
    const metrics = (await callHttp(`${served.probeUrl}/metrics`)).text;
    assert.match(metrics, /^daemonguard_policies_loaded [1-9]\d*$/m);
    // By default prom-client's process and node metrics, without the GC pause histogram (--gc-duration-metric).
    assert.match(metrics, /^# TYPE nodejs_eventloop_lag_seconds gauge$/m);
    assert.doesNotMatch(metrics, /nodejs_gc_duration_seconds/);

    const body = JSON.stringify(admissionReview('CREATE', daemonSet({ memoryLimit: '1Gi' }), { uid: 'uid-client-cert' }));
    await assert.rejects(callHttps(`${served.url}/validate`, { ca: certificates.ca.certPem, body, agent: false }), /certificate required|ECONNRESET|socket hang up|alert/i);
    const answer = await callHttps(`${served.url}/validate`, { ca: certificates.ca.certPem, body, agent: false, cert: certificates.client.certPem, key: certificates.client.keyPem });
    assert.equal(answer.json<{ response: { uid: string } }>().response.uid, 'uid-client-cert');
    assert.deepEqual(await served.stop(), { code: 0, signal: null });
  });

  it('--tls-cipher-suites: only the named TLS 1.2 suites are negotiated; --tls-min-version VersionTLS13 with TLS 1.3 suites named refuses a TLS 1.2 client', { timeout: 30_000 }, async () => {
    const dir = await temporaryDirectory('daemonguard-cli-');
    await writeFiles(dir, { 'policies/all.yaml': TEST_POLICIES });
    const certificates = await writeTestCertificates(dir);
    const common = ['--address', '127.0.0.1', '--port', '0', '--policies', 'policies', '--tls-cert', certificates.certFile, '--tls-key', certificates.keyFile];
    const tls12 = { ca: certificates.ca.certPem, agent: false as const, maxVersion: 'TLSv1.2' as const };

    const restricted = await startServe({ args: [...common, '--tls-cipher-suites', 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384'], cwd: dir });
    await assert.rejects(callHttps(`${restricted.url}/validate`, { ...tls12, ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256', body: '{}' }), /handshake failure|alert|ECONNRESET/i);
    await assert.rejects(callHttps(`${restricted.url}/validate`, { ...tls12, ciphers: 'ECDHE-ECDSA-AES128-SHA', body: '{}' }), /handshake failure|alert|ECONNRESET/i);
    assert.equal((await callHttps(`${restricted.url}/validate`, { ...tls12, ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384', body: '{}' })).status, 400);
    assert.deepEqual(await restricted.stop(), { code: 0, signal: null });

    // Only TLS 1.3 suites named, as the kube-apiserver takes them with VersionTLS13: accepted and served.
    const tls13Only = await startServe({ args: [...common, '--tls-cipher-suites', 'TLS_AES_128_GCM_SHA256,TLS_AES_256_GCM_SHA384'], cwd: dir, env: { DAEMONGUARD_TLS_MIN_VERSION: 'VersionTLS13' } });
    await assert.rejects(callHttps(`${tls13Only.url}/validate`, { ...tls12, body: '{}' }), /protocol|version|alert/i);
    assert.equal((await callHttps(`${tls13Only.url}/validate`, { ca: certificates.ca.certPem, agent: false, minVersion: 'TLSv1.3', body: '{}' })).status, 400);
    assert.deepEqual(await tls13Only.stop(), { code: 0, signal: null });
  });
});

describe('daemonguard serve: SIGHUP', () => {
  it('reloads the policies from disk and the TLS files, logs it, keeps the last good set on a broken change, and never exits', { timeout: 30_000 }, async () => {
    const dir = await temporaryDirectory('daemonguard-cli-');
    await writeFiles(dir, { 'policies/all.yaml': TEST_POLICIES });
    const served = await startServe({ args: ['--address', '127.0.0.1', '--port', '0', '--policies', 'policies', '--watch-interval', '0'], cwd: dir });
    const ca = await readFile(path.join(dir, 'certs', 'ca.crt'), 'utf8');
    const validate = async (uid: string): Promise<{ allowed: boolean; status?: { message: string } }> => {
      const body = JSON.stringify(admissionReview('CREATE', daemonSet({ memoryLimit: '1Gi' }), { uid }));
      return (await callHttps(`${served.url}/validate`, { ca, body, agent: false })).json<{ response: { allowed: boolean; status?: { message: string } } }>().response;
    };
    assert.equal((await validate('before')).allowed, true);

    // A policy added on disk, then the signal: the reload it causes reads the new file.
    await writeFiles(dir, {
      'policies/added.yaml': 'apiVersion: daemonguard.dev/v1alpha1\nkind: DaemonSetPolicy\nmetadata:\n  name: added-on-disk\nspec:\n  validations:\n    - expression: "false"\n      message: read after SIGHUP\n',
    });
    served.child.kill('SIGHUP');
    const done = await served.waitForLog((line) => line['msg'] === 'reload on SIGHUP done');
    assert.deepEqual([done['policies'], done['tls']], ['reloaded', 'unchanged']);
    const reloaded = served.logLines().find((line) => line['msg'] === 'policies reloaded' && line['trigger'] === 'SIGHUP');
    assert.ok(reloaded, 'the SIGHUP reload is logged with its trigger');
    assert.ok((reloaded['policies'] as string[]).includes('added-on-disk'));
    assert.ok(served.logLines().some((line) => line['msg'] === 'reload requested: reading the policies, the TLS files and the namespaces file again' && line['signal'] === 'SIGHUP'));
    const denied = await validate('after');
    assert.equal(denied.allowed, false);
    assert.equal(denied.status?.message, 'added-on-disk: read after SIGHUP');

    // A broken file and another SIGHUP: refused, the last good set keeps serving, the process lives on.
    await writeFiles(dir, { 'policies/added.yaml': 'apiVersion: daemonguard.dev/v1alpha1\nkind: DaemonSetPolicy\nmetadata: [\n' });
    served.child.kill('SIGHUP');
    await served.waitForLog((line) => line['msg'] === 'reload on SIGHUP done' && line['policies'] === 'refused');
    assert.equal(served.child.exitCode, null);
    assert.equal((await validate('still')).status?.message, 'added-on-disk: read after SIGHUP');
    assert.equal((await callHttp(`${served.probeUrl}/readyz`)).status, 200);
    assert.deepEqual(await served.stop(), { code: 0, signal: null });
  });
});
