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

// Long enough that a TLS handshake completes within them on a loaded machine (the server's handshake
// timeout is its headers timeout), short enough to keep the test quick.
const HEADERS_TIMEOUT_MS = 3_000;
const REQUEST_TIMEOUT_MS = 5_000;
/** The trickling clients send one body byte this often: a whole review body would take minutes. */
const TRICKLE_INTERVAL_MS = 100;
/**
 * The upper bound on when a slow connection must be gone. Not a latency figure: left alone, the silent
 * and header-dripping connections would stay open for ever and the trickled body would take
 * TRICKLE_INTERVAL_MS per byte (over 90 s), so closing within this bound proves the server cut them
 * off (its timeouts are checked once a second, and a busy machine delays that check by seconds). It
 * is also how long the test waits for them at most: a connection still open then fails the test
 * instead of holding it (and the test process) open.
 */
const CUT_OFF_WITHIN_MS = 30_000;

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

/** How one of the test's client connections ended: `ms` after it was opened, or still open at the deadline. */
interface Ending {
  closed: boolean;
  ms: number;
  received: string;
}

/** A client connection, watched from the moment it is created so that no close goes unseen. */
interface Watched<S extends Socket> {
  socket: S;
  /** Resolves when the socket closes, or CUT_OFF_WITHIN_MS after it opened (`closed: false`): never later. */
  ending: Promise<Ending>;
}

function watch<S extends Socket>(socket: S): Watched<S> {
  const opened = performance.now();
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  socket.on('error', () => undefined);
  const ending = new Promise<Ending>((resolve) => {
    const deadline = setTimeout(() => resolve({ closed: false, ms: performance.now() - opened, received }), CUT_OFF_WITHIN_MS);
    deadline.unref();
    socket.once('close', () => {
      clearTimeout(deadline);
      resolve({ closed: true, ms: performance.now() - opened, received });
    });
  });
  return { socket, ending };
}

/**
 * A TLS connection to the server, handshake done. A handshake the server cut off (its handshake timeout,
 * when the machine is too busy to finish one in time) is tried again, up to three times in all.
 */
async function tlsConnection(): Promise<Watched<TLSSocket>> {
  for (let attempt = 1; ; attempt++) {
    const watched = watch(connectTls({ host: '127.0.0.1', port: server.server.port, ca: server.certificates.ca.certPem, servername: 'localhost' }));
    const outcome = await Promise.race([
      new Promise<'connected'>((resolve) => watched.socket.once('secureConnect', () => resolve('connected'))),
      watched.ending.then((ending) => (ending.closed ? 'cut off' : 'no handshake')),
    ]);
    if (outcome === 'connected') return watched;
    watched.socket.destroy();
    if (attempt === 3 || outcome === 'no handshake') throw new Error(`the TLS handshake did not complete (${outcome}, attempt ${attempt})`);
  }
}

/** One review from a well-behaved client; bounded, so that a server that never answers fails the test rather than holding it. */
async function answerToWellBehavedClient(): Promise<void> {
  const answer = await callHttps(`${server.server.url}/validate`, { ca: server.certificates.ca.certPem, agent: false, body: reviewBody(), timeoutMs: CUT_OFF_WITHIN_MS });
  assert.equal(answer.status, 200);
}

const describeEnding = ({ closed, ms, received }: Ending): string => `${closed ? 'closed' : 'still open'} after ${ms.toFixed(0)} ms, having received ${JSON.stringify(received.slice(0, 80))}`;

// The test's own bound: every wait above ends by CUT_OFF_WITHIN_MS, so this one only catches a bug in the test.
describe('slow clients', { timeout: 3 * CUT_OFF_WITHIN_MS }, () => {
  it('cuts off many connections that never finish, of every kind, and answers others meanwhile', async () => {
    const body = reviewBody();
    assert.ok(CUT_OFF_WITHIN_MS < body.length * TRICKLE_INTERVAL_MS / 2, 'a trickled body that was not cut off would arrive within the bound');
    const opened: Watched<Socket>[] = [];
    const timers: NodeJS.Timeout[] = [];
    try {
      const silentTcp = Array.from({ length: 20 }, () => watch(connectTcp(server.server.port, '127.0.0.1')));
      opened.push(...silentTcp);
      const connectGroup = async (): Promise<Watched<TLSSocket>[]> => {
        const group = await Promise.allSettled(Array.from({ length: 10 }, () => tlsConnection()));
        const connected = group.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
        opened.push(...connected);
        const failed = group.find((result) => result.status === 'rejected');
        if (failed !== undefined) throw failed.reason;
        return connected;
      };
      const silentTls = await connectGroup();
      const endlessHeaders = await connectGroup();
      const tricklingBodies = await connectGroup();

      for (const { socket } of endlessHeaders) socket.write('POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n');
      for (const { socket } of tricklingBodies) {
        socket.write(`POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
      }
      let offset = 0;
      timers.push(setInterval(() => {
        for (const { socket } of tricklingBodies) if (!socket.destroyed) socket.write(body[offset] ?? ' ');
        offset++;
      }, TRICKLE_INTERVAL_MS));
      timers.push(setInterval(() => {
        for (const { socket } of endlessHeaders) if (!socket.destroyed) socket.write(`X-Slow-${offset}: x\r\n`);
      }, TRICKLE_INTERVAL_MS));
      // Never allowed to hold the process open, whatever happens to the test.
      for (const timer of timers) timer.unref();

      await sleep(300);
      // Answered while slow connections are still open (the trickling ones last REQUEST_TIMEOUT_MS): they do not block it.
      await answerToWellBehavedClient();
      const stillOpen = opened.filter(({ socket }) => !socket.destroyed && !socket.closed).length;
      assert.ok(stillOpen > 0, 'the well-behaved client was answered only once every slow connection was gone');

      const [tcp, quiet, headers, trickled] = await Promise.all([silentTcp, silentTls, endlessHeaders, tricklingBodies].map((group) => Promise.all(group.map(({ ending }) => ending))));
      for (const ending of [...tcp!, ...quiet!, ...headers!, ...trickled!]) assert.ok(ending.closed, `a slow connection was not cut off: ${describeEnding(ending)}`);
      for (const ending of headers!) {
        // Timed from before the request began, so the server's timer cannot have run longer than this.
        assert.ok(ending.ms >= HEADERS_TIMEOUT_MS - 100, `cut off too early: ${describeEnding(ending)}`);
        assert.match(ending.received, /^HTTP\/1\.1 408 /, describeEnding(ending));
      }
      for (const ending of trickled!) {
        assert.ok(ending.ms >= REQUEST_TIMEOUT_MS - 100, `cut off too early: ${describeEnding(ending)}`);
        assert.match(ending.received, /^HTTP\/1\.1 408 /, describeEnding(ending));
      }
    } finally {
      for (const timer of timers) clearInterval(timer);
      for (const { socket } of opened) socket.destroy();
    }
    await answerToWellBehavedClient();
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
