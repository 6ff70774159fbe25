// The HTTPS server with real TLS handshakes: versions, keep-alive past Node's defaults, slow clients,
// certificate rotation without restart, client certificates, and a graceful close with a review in flight.

import assert from 'node:assert/strict';
import { mkdir, rename, symlink, writeFile } from 'node:fs/promises';
import { Agent } from 'node:https';
import path from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type TLSSocket } from 'node:tls';
import { createCertificateAuthority, issueCertificate, type CertificateAndKey } from '../certs/certificates.js';
import { DEFAULT_TLS_PROFILE } from './tls-profile.js';
import {
  admissionReview,
  callHttp,
  callHttps,
  captureLogger,
  daemonSet,
  temporaryDirectory,
} from '../../test/support/server-fixtures.js';
import { admissionServerTestBed } from '../../test/support/test-admission-server.js';

const bed = admissionServerTestBed();
const { start } = bed;

function reviewBody(uid?: string): string {
  return JSON.stringify(admissionReview('CREATE', daemonSet({ memoryLimit: '1Gi' }), uid === undefined ? {} : { uid }));
}

/** Polls until `check` holds or the time is up. */
async function eventually(check: () => Promise<boolean>, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(100);
  }
  assert.fail(`condition not met within ${timeoutMs} ms`);
}


describe('TLS', () => {
  it('answers reviews over a verified TLS connection, HTTP/1.1', async () => {
    const server = await start();
    const answer = await callHttps(`${server.url}/validate`, { ca: bed.certificates.ca.certPem, body: reviewBody('uid-tls'), agent: false });
    assert.equal(answer.status, 200);
    assert.equal(answer.json<{ response: { uid: string } }>().response.uid, 'uid-tls');
    assert.equal(answer.peerSerialNumber?.length !== undefined, true);
    const localhost = await callHttps(`https://localhost:${server.port}/validate`, { body: reviewBody('uid-localhost'), ca: bed.certificates.ca.certPem, agent: false });
    assert.equal(localhost.json<{ response: { uid: string } }>().response.uid, 'uid-localhost');
  });

  it('refuses TLS 1.1 and accepts TLS 1.2', async () => {
    const server = await start();
    await assert.rejects(
      callHttps(`${server.url}/validate`, { body: reviewBody(), ca: bed.certificates.ca.certPem, agent: false, minVersion: 'TLSv1', maxVersion: 'TLSv1.1' }),
      /protocol|version|alert/i,
    );
    const tls12 = await callHttps(`${server.url}/validate`, { body: reviewBody(), ca: bed.certificates.ca.certPem, agent: false, maxVersion: 'TLSv1.2' });
    assert.equal(tls12.status, 200);
  });

  it('offers only ECDHE suites with AEAD ciphers on TLS 1.2: a client offering only ECDHE-ECDSA-AES128-SHA fails the handshake', async () => {
    const server = await start();
    await assert.rejects(
      callHttps(`${server.url}/validate`, { body: reviewBody(), ca: bed.certificates.ca.certPem, agent: false, maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA' }),
      /handshake failure|alert|no ciphers|ECONNRESET/i,
    );
    for (const ciphers of ['ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305']) {
      const answer = await callHttps(`${server.url}/validate`, { body: reviewBody(), ca: bed.certificates.ca.certPem, agent: false, maxVersion: 'TLSv1.2', ciphers });
      assert.equal(answer.status, 200, ciphers);
    }
  });

  it('refuses a TLS 1.2 client when the floor is TLS 1.3, and names that floor in its listening log line', async () => {
    const logs = captureLogger('info');
    const server = await start({ tlsProfile: { ...DEFAULT_TLS_PROFILE, minVersion: 'TLSv1.3' }, logger: logs.logger });
    await assert.rejects(
      callHttps(`${server.url}/validate`, { body: reviewBody(), ca: bed.certificates.ca.certPem, agent: false, maxVersion: 'TLSv1.2' }),
      /protocol|version|alert/i,
    );
    const tls13 = await callHttps(`${server.url}/validate`, { body: reviewBody(), ca: bed.certificates.ca.certPem, agent: false, minVersion: 'TLSv1.3' });
    assert.equal(tls13.status, 200);
    assert.equal(logs.records.find((record) => record['msg'] === 'daemonguard admission server listening')?.['minTlsVersion'], 'TLSv1.3');
  });

  it('refuses a client without a certificate when a client CA is set, and serves one with', async () => {
    const server = await start({ tls: { certFile: bed.certificates.certFile, keyFile: bed.certificates.keyFile, clientCaFile: bed.certificates.clientCaFile } });
    await assert.rejects(callHttps(`${server.url}/validate`, { body: reviewBody(), ca: bed.certificates.ca.certPem, agent: false }), /certificate required|ECONNRESET|socket hang up|alert/i);
    // A certificate from another CA (here: the serving CA) is refused too.
    const stranger = await issueCertificate(bed.certificates.ca, { commonName: 'stranger', usage: 'client' });
    await assert.rejects(
      callHttps(`${server.url}/validate`, { body: reviewBody(), ca: bed.certificates.ca.certPem, agent: false, cert: stranger.certPem, key: stranger.keyPem }),
      /unknown ca|certificate|ECONNRESET|socket hang up|alert/i,
    );
    const answer = await callHttps(`${server.url}/validate`, {
      ca: bed.certificates.ca.certPem,
      agent: false,
      cert: bed.certificates.client.certPem,
      key: bed.certificates.client.keyPem,
      body: reviewBody('uid-mtls'),
    });
    assert.equal(answer.status, 200);
    assert.equal(answer.json<{ response: { uid: string } }>().response.uid, 'uid-mtls');
  });
});

describe('certificate rotation', () => {
  /** Lays the files out as kubelet mounts a Secret: tls.crt -> ..data/tls.crt, ..data -> ..<timestamp>. */
  async function mountSecret(dir: string, version: string, pair: CertificateAndKey): Promise<void> {
    const versionDir = path.join(dir, `..${version}`);
    await mkdir(versionDir, { recursive: true });
    await writeFile(path.join(versionDir, 'tls.crt'), pair.certPem);
    await writeFile(path.join(versionDir, 'tls.key'), pair.keyPem);
    // Atomic swap of ..data, as the kubelet's AtomicWriter does it.
    await symlink(`..${version}`, path.join(dir, '..data_tmp'));
    await rename(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
  }

  async function rotationFixture(): Promise<{ dir: string; first: CertificateAndKey; secondCa: CertificateAndKey; second: CertificateAndKey }> {
    const dir = await temporaryDirectory('daemonguard-secret-');
    const first = await issueCertificate(bed.certificates.ca, { commonName: 'first', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    const secondCa = await createCertificateAuthority({ commonName: 'rotated CA' });
    const second = await issueCertificate(secondCa, { commonName: 'second', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], validityDays: 30 });
    await mountSecret(dir, '2025_01_01_00_00_00.000000001', first);
    await symlink('..data/tls.crt', path.join(dir, 'tls.crt'));
    await symlink('..data/tls.key', path.join(dir, 'tls.key'));
    return { dir, first, secondCa, second };
  }

  for (const mode of ['watch', 'poll'] as const) {
    it(`picks up a rotated certificate without restart or dropped connections (${mode})`, async () => {
      const { dir, first, secondCa, second } = await rotationFixture();
      const server = await start({
        tls: { certFile: path.join(dir, 'tls.crt'), keyFile: path.join(dir, 'tls.key') },
        tlsWatch: mode === 'watch',
        tlsPollIntervalMs: mode === 'watch' ? 0 : 200,
        tlsDebounceMs: 50,
      });
      const bothCas = `${bed.certificates.ca.certPem}${secondCa.certPem}`;
      const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const before = await callHttps(`${server.url}/validate`, { ca: bothCas, agent: keepAlive, body: reviewBody() });
        assert.equal(before.peerSerialNumber, new (await import('node:crypto')).X509Certificate(first.certPem).serialNumber);

        await mountSecret(dir, '2025_02_01_00_00_00.000000002', second);
        const secondSerial = new (await import('node:crypto')).X509Certificate(second.certPem).serialNumber;
        await eventually(async () => (await callHttps(`${server.url}/validate`, { body: reviewBody(), ca: bothCas, agent: false })).peerSerialNumber === secondSerial);

        // The connection opened before the rotation still works, on the same socket.
        const afterRotation = await callHttps(`${server.url}/validate`, { ca: bothCas, agent: keepAlive, body: reviewBody() });
        assert.equal(afterRotation.status, 200);
        assert.equal(afterRotation.localPort, before.localPort);
        assert.equal(afterRotation.peerSerialNumber, before.peerSerialNumber);

        // The new secure context keeps the cipher suites: CBC is still refused after the switch.
        await assert.rejects(
          callHttps(`${server.url}/validate`, { body: reviewBody(), ca: bothCas, agent: false, maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA' }),
          /handshake failure|alert|no ciphers|ECONNRESET/i,
        );

        const metrics = await server.metrics.registry.metrics();
        assert.match(metrics, /daemonguard_tls_reloads_total 1/);
        const expiry = Number(/daemonguard_tls_certificate_expiry_timestamp_seconds (\d+)/.exec(metrics)?.[1]);
        assert.ok(Math.abs(expiry - (Date.now() / 1000 + 30 * 86400)) < 3600, `expiry ${expiry}`);
      } finally {
        keepAlive.destroy();
      }
    });
  }

  it('never resumes a TLS session of the old certificate after a rotation: the next handshake presents the new one', async () => {
    const { dir, first, secondCa, second } = await rotationFixture();
    const server = await start({ tls: { certFile: path.join(dir, 'tls.crt'), keyFile: path.join(dir, 'tls.key') }, tlsPollIntervalMs: 200, tlsDebounceMs: 50 });
    const bothCas = `${bed.certificates.ca.certPem}${secondCa.certPem}`;
    const { X509Certificate } = await import('node:crypto');
    // A new connection per request, with the agent's session cache on: later handshakes resume.
    const resuming = new Agent({ keepAlive: false, maxCachedSessions: 10 });
    try {
      const full = await callHttps(`${server.url}/validate`, { body: reviewBody(), ca: bothCas, agent: resuming });
      assert.equal(full.peerSerialNumber, new X509Certificate(first.certPem).serialNumber);
      const resumed = await callHttps(`${server.url}/validate`, { body: reviewBody(), ca: bothCas, agent: resuming });
      assert.equal(resumed.sessionReused, true, 'the client resumes sessions (or this test proves nothing)');

      await mountSecret(dir, '2025_04_01_00_00_00.000000004', second);
      const secondSerial = new X509Certificate(second.certPem).serialNumber;
      await eventually(async () => (await callHttps(`${server.url}/validate`, { body: reviewBody(), ca: bothCas, agent: false })).peerSerialNumber === secondSerial);

      const afterRotation = await callHttps(`${server.url}/validate`, { body: reviewBody(), ca: bothCas, agent: resuming });
      assert.equal(afterRotation.sessionReused, false, 'a session from before the rotation was resumed');
      assert.equal(afterRotation.peerSerialNumber, secondSerial);
    } finally {
      resuming.destroy();
    }
  });

  it('keeps serving the current pair when the new key does not match the new certificate', async () => {
    const { dir, first, second } = await rotationFixture();
    const server = await start({ tls: { certFile: path.join(dir, 'tls.crt'), keyFile: path.join(dir, 'tls.key') }, tlsPollIntervalMs: 200, tlsDebounceMs: 50 });
    await mountSecret(dir, '2025_03_01_00_00_00.000000003', { certPem: second.certPem, keyPem: first.keyPem });
    await eventually(async () => /daemonguard_tls_reload_failures_total 1/.test(await server.metrics.registry.metrics()));
    const answer = await callHttps(`${server.url}/validate`, { body: reviewBody(), ca: bed.certificates.ca.certPem, agent: false });
    assert.equal(answer.peerSerialNumber, new (await import('node:crypto')).X509Certificate(first.certPem).serialNumber);
  });
});

describe('the probe port', () => {
  it('answers /healthz, /readyz and /metrics over plain HTTP without a client certificate while the admission port requires one', async () => {
    const server = await start({
      tls: { certFile: bed.certificates.certFile, keyFile: bed.certificates.keyFile, clientCaFile: bed.certificates.clientCaFile },
      probe: { address: '127.0.0.1', port: 0 },
    });
    assert.ok(server.probe !== undefined);
    assert.notEqual(server.probe.port, server.port);
    assert.equal((await callHttp(`${server.probe.url}/healthz`)).text, 'ok\n');
    assert.equal((await callHttp(`${server.probe.url}/readyz`)).text, 'ok\n');
    const metrics = await callHttp(`${server.probe.url}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(metrics.text, /# TYPE daemonguard_admission_requests_total counter/);
    assert.equal((await callHttp(`${server.probe.url}/validate`)).status, 404, 'no reviews on the probe port');
    // The admission port: no certificate, no handshake; with one, reviews but no probes.
    await assert.rejects(callHttps(`${server.url}/readyz`, { ca: bed.certificates.ca.certPem, agent: false }), /certificate required|ECONNRESET|socket hang up|alert/i);
    const withCertificate = { ca: bed.certificates.ca.certPem, agent: false as const, cert: bed.certificates.client.certPem, key: bed.certificates.client.keyPem };
    assert.equal((await callHttps(`${server.url}/readyz`, withCertificate)).status, 404);
    assert.equal((await callHttps(`${server.url}/validate`, { ...withCertificate, body: reviewBody() })).status, 200);
  });

  it('counts every review answered on either endpoint in the review-turn metrics, reviews sent together in one turn', async () => {
    const server = await start({ probe: { address: '127.0.0.1', port: 0 } });
    const keepAlive = new Agent({ keepAlive: true, maxSockets: 4, ca: bed.certificates.ca.certPem });
    try {
      const answers = await Promise.all(
        ['validate', 'mutate', 'validate', 'mutate', 'validate', 'validate'].map((endpoint, i) => callHttps(`${server.url}/${endpoint}`, { body: reviewBody(`uid-turn-${i}`), agent: keepAlive })),
      );
      assert.deepEqual(answers.map((answer) => answer.status), [200, 200, 200, 200, 200, 200]);
    } finally {
      keepAlive.destroy();
    }
    const text = (await callHttp(`${server.probe!.url}/metrics`)).text;
    const value = (series: string): number => Number(text.split('\n').find((line) => line.startsWith(`${series} `))?.split(' ')[1]);
    const first = value('daemonguard_reviews_evaluated_total{position="first"}');
    const later = value('daemonguard_reviews_evaluated_total{position="later"}');
    assert.equal(first + later, 6, text);
    assert.equal(value('daemonguard_review_turns_total'), first, 'each turn has one first review');
    assert.ok(value('daemonguard_review_evaluation_seconds_total{position="first"}') > 0);
  });

  it('says "shutting down" on /readyz while reviews drain, and closes with the server', { timeout: 20_000 }, async () => {
    const server = await start({ probe: { address: '127.0.0.1', port: 0 } });
    const probeUrl = server.probe?.url ?? assert.fail('no probe server');
    // A connection that holds the server open: its request is never finished.
    const socket: TLSSocket = connect({ host: '127.0.0.1', port: server.port, ca: bed.certificates.ca.certPem, servername: 'localhost' });
    await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
    socket.write('POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{');
    await sleep(100);
    const closing = server.close(1_000);
    const draining = await callHttp(`${probeUrl}/readyz`);
    assert.deepEqual([draining.status, draining.text], [503, 'not ready: shutting down\n']);
    await closing;
    socket.destroy();
    await assert.rejects(callHttp(`${probeUrl}/healthz`), /ECONNREFUSED/);
  });
});

describe('connections', () => {
  it('keeps an idle connection open past Node’s 5 s default and reuses it', { timeout: 20_000 }, async () => {
    const server = await start();
    assert.equal(server.server.keepAliveTimeout, 120_000);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await callHttps(`${server.url}/validate`, { ca: bed.certificates.ca.certPem, agent, body: reviewBody() });
      assert.equal(first.headers['keep-alive'], 'timeout=120');
      await sleep(6_000);
      const second = await callHttps(`${server.url}/validate`, { ca: bed.certificates.ca.certPem, agent, body: reviewBody() });
      assert.equal(second.status, 200);
      assert.equal(second.localPort, first.localPort, 'the second request must reuse the first connection');
    } finally {
      agent.destroy();
    }
  });

  it('still cuts off a client that never finishes its headers', { timeout: 20_000 }, async () => {
    const server = await start({ headersTimeoutMs: 1_000, requestTimeoutMs: 2_000 });
    const socket: TLSSocket = connect({ host: '127.0.0.1', port: server.port, ca: bed.certificates.ca.certPem, servername: 'localhost' });
    await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
    const started = Date.now();
    socket.write('POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n');
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('utf8')));
    await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    const elapsed = Date.now() - started;
    assert.match(received, /^HTTP\/1\.1 408 /);
    assert.ok(elapsed >= 900 && elapsed < 5_000, `closed after ${elapsed} ms`);
  });
});

describe('close', () => {
  it('stops accepting, lets a review in flight finish, then closes', { timeout: 20_000 }, async () => {
    const server = await start();
    const body = reviewBody('uid-in-flight');
    const socket: TLSSocket = connect({ host: '127.0.0.1', port: server.port, ca: bed.certificates.ca.certPem, servername: 'localhost' });
    await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('utf8')));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    const half = Math.floor(body.length / 2);
    socket.write(`POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, half)}`);
    await sleep(100);

    const closing = server.close(10_000);
    await sleep(100);
    await assert.rejects(callHttps(`${server.url}/validate`, { body: reviewBody(), ca: bed.certificates.ca.certPem, agent: false }), /ECONNREFUSED/);

    socket.write(body.slice(half));
    await closed;
    await closing;
    const [head, payload] = received.split('\r\n\r\n');
    assert.match(head ?? '', /^HTTP\/1\.1 200 OK/);
    assert.match(head ?? '', /\r\nConnection: close/i);
    const answer = JSON.parse(payload ?? '') as { response: { uid: string; allowed: boolean } };
    assert.deepEqual(answer.response, { uid: 'uid-in-flight', allowed: true });
  });
});
