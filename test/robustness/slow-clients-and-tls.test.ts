// Slow clients do not tie up the server: a TCP connection that never starts TLS, a TLS connection that
// never sends a request, headers that never finish and a body that trickles in are all cut off by the
// handshake, header and request timeouts, while other clients are answered promptly meanwhile.
// TLS: every protocol below 1.2 is refused; with a client CA, clients without a certificate or with
// one from another CA are refused.

import assert from 'node:assert/strict';
import { connect as connectTcp, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect as connectTls, type SecureVersion, type TLSSocket } from 'node:tls';
import { createCertificateAuthority, issueCertificate } from '../../src/certs/certificates.js';
import { admissionReview, callHttps, daemonSet } from '../support/server-fixtures.js';
import { startHostileServer, type HostileServer } from './hostile-fixtures.js';

const HEADERS_TIMEOUT_MS = 1_000;
const REQUEST_TIMEOUT_MS = 2_000;
/**
 * The upper bound on when a slow connection must be gone. Not a latency figure: left alone, the silent
 * and header-dripping connections would stay open for ever and the trickled body would take minutes,
 * so closing within this bound proves the server cut them off (its timeouts are checked once a second,
 * and a busy machine delays that check by seconds).
 */
const CUT_OFF_WITHIN_MS = 15_000;

const PERMISSIVE = `apiVersion: daemonguard.dev/v1alpha1
kind: DaemonSetPolicy
metadata:
  name: host-network
spec:
  validations:
    - expression: "!object.spec.template.spec.?hostNetwork.orValue(false)"
      message: "hostNetwork is not allowed"
`;

let server: HostileServer;

before(async () => {
  server = await startHostileServer({ withoutLibrary: true, extraPolicies: PERMISSIVE, headersTimeoutMs: HEADERS_TIMEOUT_MS, requestTimeoutMs: REQUEST_TIMEOUT_MS });
});

after(async () => {
  await server?.close();
});


const reviewBody = (): string => JSON.stringify(admissionReview('CREATE', daemonSet()));

/** Resolves with how long the socket stayed open and what it received. */
function untilClosed(socket: Socket, since: number): Promise<{ ms: number; received: string }> {
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  socket.on('error', () => undefined);
  return new Promise((resolve) => socket.once('close', () => resolve({ ms: performance.now() - since, received })));
}

async function tlsSocket(): Promise<TLSSocket> {
  const socket = connectTls({ host: '127.0.0.1', port: server.server.port, ca: server.certificates.ca.certPem, servername: 'localhost' });
  await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
  return socket;
}

async function assertPromptAnswer(): Promise<void> {
  const started = performance.now();
  const answer = await callHttps(`${server.server.url}/validate`, { ca: server.certificates.ca.certPem, agent: false, body: reviewBody() });
  assert.equal(answer.status, 200);
  // Answered long before the slow clients would let go (see CUT_OFF_WITHIN_MS): they do not block it.
  assert.ok(performance.now() - started < CUT_OFF_WITHIN_MS, 'a well-behaved client waited for the slow ones');
}

describe('slow clients', { timeout: 60_000 }, () => {
  it('cuts off many connections that never finish, of every kind, and answers others meanwhile', async () => {
    const started = performance.now();
    const silentTcp = Array.from({ length: 20 }, () => connectTcp(server.server.port, '127.0.0.1'));
    const silentTls = await Promise.all(Array.from({ length: 10 }, () => tlsSocket()));
    const endlessHeaders = await Promise.all(Array.from({ length: 10 }, () => tlsSocket()));
    const tricklingBodies = await Promise.all(Array.from({ length: 10 }, () => tlsSocket()));
    const closed = [
      ...silentTcp.map((socket) => untilClosed(socket, started)),
      ...silentTls.map((socket) => untilClosed(socket, started)),
      ...endlessHeaders.map((socket) => untilClosed(socket, started)),
      ...tricklingBodies.map((socket) => untilClosed(socket, started)),
    ];

    const body = reviewBody();
    for (const socket of endlessHeaders) socket.write('POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n');
    for (const socket of tricklingBodies) {
      socket.write(`POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
    }
    // One byte every 100 ms: the body would take minutes; the request timeout is 2 s.
    let offset = 0;
    const trickle = setInterval(() => {
      for (const socket of tricklingBodies) if (!socket.destroyed) socket.write(body[offset] ?? ' ');
      offset++;
    }, 100);
    const headerDrip = setInterval(() => {
      for (const socket of endlessHeaders) if (!socket.destroyed) socket.write(`X-Slow-${offset}: x\r\n`);
    }, 100);

    try {
      await sleep(300);
      await assertPromptAnswer();
      const results = await Promise.all(closed);
      const [tcp, quiet, headers, trickled] = [results.slice(0, 20), results.slice(20, 30), results.slice(30, 40), results.slice(40)];
      for (const { ms } of [...tcp, ...quiet, ...headers]) assert.ok(ms < CUT_OFF_WITHIN_MS, `a slow connection stayed open ${ms.toFixed(0)} ms`);
      for (const { ms, received } of headers) {
        assert.ok(ms >= HEADERS_TIMEOUT_MS - 100, `cut off after ${ms.toFixed(0)} ms`);
        assert.match(received, /^HTTP\/1\.1 408 /);
      }
      for (const { ms, received } of trickled) {
        assert.ok(ms >= REQUEST_TIMEOUT_MS - 100 && ms < CUT_OFF_WITHIN_MS, `trickling body cut off after ${ms.toFixed(0)} ms`);
        assert.match(received, /^HTTP\/1\.1 408 /);
      }
    } finally {
      clearInterval(trickle);
      clearInterval(headerDrip);
      for (const socket of [...silentTcp, ...silentTls, ...endlessHeaders, ...tricklingBodies]) socket.destroy();
    }
    await assertPromptAnswer();
  });
});

describe('TLS', () => {
  for (const version of ['TLSv1', 'TLSv1.1'] as SecureVersion[]) {
    it(`refuses ${version}`, async () => {
      await assert.rejects(
        callHttps(`${server.server.url}/validate`, { body: '{}', ca: server.certificates.ca.certPem, agent: false, minVersion: version, maxVersion: version }),
        /protocol|version|alert|ssl|EPROTO|ECONNRESET/i,
      );
    });
  }

  for (const version of ['TLSv1.2', 'TLSv1.3'] as SecureVersion[]) {
    it(`accepts ${version}`, async () => {
      const socket = connectTls({ host: '127.0.0.1', port: server.server.port, ca: server.certificates.ca.certPem, servername: 'localhost', minVersion: version, maxVersion: version });
      await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
      assert.equal(socket.getProtocol(), version);
      socket.destroy();
    });
  }

  it('with a client CA, refuses clients without a certificate or with one from another CA', async () => {
    // A server that requires client certificates from its client CA.
    const mtls = await startHostileServer({
      withoutLibrary: true,
      extraPolicies: PERMISSIVE,
      tls: { certFile: server.certificates.certFile, keyFile: server.certificates.keyFile, clientCaFile: server.certificates.clientCaFile },
    });
    try {
      const url = `${mtls.server.url}/validate`;
      const ca = server.certificates.ca.certPem;
      await assert.rejects(callHttps(url, { ca, agent: false, body: reviewBody() }), /certificate required|alert|ECONNRESET|socket hang up/i);
      const otherCa = await createCertificateAuthority({ commonName: 'another CA' });
      const stranger = await issueCertificate(otherCa, { commonName: 'kube-apiserver', usage: 'client' });
      await assert.rejects(callHttps(url, { ca, agent: false, body: reviewBody(), cert: stranger.certPem, key: stranger.keyPem }), /unknown ca|certificate|alert|ECONNRESET|socket hang up/i);
      // A serving certificate of the right CA is not a client certificate of it either.
      const fromServingCa = await issueCertificate(server.certificates.ca, { commonName: 'kube-apiserver', usage: 'client' });
      await assert.rejects(callHttps(url, { ca, agent: false, body: reviewBody(), cert: fromServingCa.certPem, key: fromServingCa.keyPem }), /unknown ca|certificate|alert|ECONNRESET|socket hang up/i);

      const accepted = await callHttps(url, { ca, agent: false, body: reviewBody(), cert: server.certificates.client.certPem, key: server.certificates.client.keyPem });
      assert.equal(accepted.status, 200);
    } finally {
      await mtls.close();
    }
  });
});
