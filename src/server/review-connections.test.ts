// The admission port's own HTTP/1.1 layer, over real TLS connections with hand-written bytes: a review is
// answered however its bytes are split or batched; every request it does not take goes, on the same
// connection, to node's HTTP server, and each byte stream gets the very answers it gets from a server
// that leaves everything to node; the timeouts, aborted bodies and closing behave as node's do.

import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type TLSSocket } from 'node:tls';
import fc from 'fast-check';
import type { PolicySet } from '../policy/types.js';
import type { AdmissionServer, AdmissionServerOptions, HttpLayer } from './admission-server.js';
import { MAX_HEAD_BYTES } from './request-head.js';
import { admissionReview, daemonSet } from '../../test/support/server-fixtures.js';
import { admissionServerTestBed } from '../../test/support/test-admission-server.js';

const bed = admissionServerTestBed();

function start(httpLayer: HttpLayer, overrides: Partial<AdmissionServerOptions<PolicySet>> = {}): Promise<AdmissionServer> {
  return bed.start({ httpLayer, ...overrides });
}

/** One review request as the kube-apiserver writes it. */
function reviewRequest(endpoint: '/validate' | '/mutate', uid: string, extraHeaders = ''): string {
  const body = JSON.stringify(admissionReview('CREATE', daemonSet({ memoryLimit: '1Gi', privileged: uid.includes('privileged') }), { uid }));
  return (
    `POST ${endpoint}?timeout=10s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: kube-apiserver-admission\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nAccept: application/json, */*\r\nContent-Type: application/json\r\n` +
    `${extraHeaders}Accept-Encoding: gzip\r\n\r\n${body}`
  );
}

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** The answers in `bytes`, in order: each head, and a body of its Content-Length. */
function parseAnswers(bytes: Buffer): Answer[] {
  const answers: Answer[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const headEnd = bytes.indexOf('\r\n\r\n', offset);
    if (headEnd < 0) break;
    const [statusLine = '', ...lines] = bytes.toString('latin1', offset, headEnd).split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = Number(headers['content-length'] ?? 0);
    const bodyStart = headEnd + 4;
    answers.push({ status: Number(statusLine.split(' ')[1]), headers, body: bytes.toString('utf8', bodyStart, bodyStart + length) });
    offset = bodyStart + length;
  }
  return answers;
}

interface RawConnection {
  socket: TLSSocket;
  /** Resolves once `count` answers are in (or the connection closed first), with every answer so far. */
  answers(count: number, timeoutMs?: number): Promise<Answer[]>;
  closed: Promise<void>;
  isClosed(): boolean;
}

async function openRaw(server: AdmissionServer): Promise<RawConnection> {
  const socket = connect({ host: '127.0.0.1', port: server.port, ca: bed.certificates.ca.certPem, servername: 'localhost' });
  await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
  let received = Buffer.alloc(0);
  let isClosed = false;
  const listeners = new Set<() => void>();
  socket.on('data', (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
    for (const listener of listeners) listener();
  });
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      isClosed = true;
      for (const listener of listeners) listener();
      resolve();
    }),
  );
  return {
    socket,
    closed,
    isClosed: () => isClosed,
    answers(count, timeoutMs = 10_000) {
      return new Promise((resolve) => {
        const check = (): void => {
          const answers = parseAnswers(received).filter((answer) => answer.status !== 100);
          if (answers.length >= count || isClosed) {
            listeners.delete(check);
            clearTimeout(timer);
            resolve(answers);
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          resolve(parseAnswers(received).filter((answer) => answer.status !== 100));
        }, timeoutMs);
        listeners.add(check);
        check();
      });
    },
  };
}

/** Polls until `check` holds (the server sees a close a moment after the client does). */
async function eventually(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${timeoutMs} ms`);
    await sleep(20);
  }
}

/** Writes `parts` one after another, `gapMs` apart, each in its own TLS record. */
async function writeParts(socket: TLSSocket, parts: readonly (string | Buffer)[], gapMs = 5): Promise<void> {
  for (const part of parts) {
    socket.write(part);
    await sleep(gapMs);
  }
}

/** How many connections `server` handed to node's HTTP server for `reason` (daemonguard_http_handovers_total). */
async function handovers(server: AdmissionServer, reason: string): Promise<number> {
  return (await server.metrics.httpHandovers.get()).values.find((value) => value.labels['reason'] === reason)?.value ?? 0;
}

/** What a test compares between servers: the answers without their Date. */
function comparable(answers: readonly Answer[]): Answer[] {
  return answers.map(({ status, headers, body }) => ({ status, headers: Object.fromEntries(Object.entries(headers).filter(([name]) => name !== 'date')), body }));
}

describe('the own HTTP layer', () => {
  it('answers a review the same however its bytes come; a head in many pieces is read by node', { timeout: 60_000 }, async () => {
    const server = await start('own');
    const request = reviewRequest('/validate', 'uid-split-privileged');
    const headEnd = request.indexOf('\r\n\r\n') + 4;
    const splits: Record<string, { parts: string[]; layer: HttpLayer }> = {
      whole: { parts: [request], layer: 'own' },
      'head and body apart': { parts: [request.slice(0, headEnd), request.slice(headEnd)], layer: 'own' },
      'the blank line cut in two': { parts: [request.slice(0, headEnd - 2), request.slice(headEnd - 2)], layer: 'own' },
      'the body in 100-byte pieces': { parts: [request.slice(0, headEnd), ...(request.slice(headEnd).match(/[\s\S]{1,100}/g) ?? [])], layer: 'own' },
      // Past MAX_HEAD_READS reads for one head, node's incremental parser takes the connection.
      'the head 3 bytes at a time': { parts: [...(request.slice(0, headEnd).match(/[\s\S]{1,3}/g) ?? []), request.slice(headEnd)], layer: 'node' },
    };
    const seen: Answer[][] = [];
    for (const [name, { parts, layer }] of Object.entries(splits)) {
      const connection = await openRaw(server);
      await writeParts(connection.socket, parts, parts.length > 10 ? 1 : 20);
      const answers = await connection.answers(1);
      assert.equal(answers.length, 1, name);
      assert.equal(answers[0]?.status, 200, name);
      const size = layer === 'own' ? 1 : 0;
      await eventually(() => server.reviewConnections?.size === size, `${name}: ${layer === 'own' ? 'the own layer serves the connection' : 'node serves the connection'}`);
      seen.push(comparable(answers));
      connection.socket.destroy();
      await connection.closed;
      await eventually(() => server.reviewConnections?.size === 0, `${name}: the connection is gone`);
    }
    const answer = JSON.parse(seen[0]?.[0]?.body ?? '') as { response: { uid: string; allowed: boolean } };
    assert.equal(answer.response.uid, 'uid-split-privileged');
    assert.equal(answer.response.allowed, false);
    for (const other of seen.slice(1)) assert.deepEqual(other, seen[0]);
    assert.deepEqual([await handovers(server, 'slow-head'), await handovers(server, 'other-request')], [1, 0]);
  });

  it('answers reviews sent ahead of their turn, in order, on one connection, and closes after Connection: close', { timeout: 30_000 }, async () => {
    const server = await start('own');
    const connection = await openRaw(server);
    connection.socket.write(
      reviewRequest('/validate', 'uid-1') + reviewRequest('/mutate', 'uid-2') + reviewRequest('/validate', 'uid-3-privileged') + reviewRequest('/mutate', 'uid-4', 'Connection: close\r\n'),
    );
    const answers = await connection.answers(4);
    await connection.closed;
    await eventually(() => server.reviewConnections?.size === 0, 'the connection is gone');
    assert.deepEqual(
      answers.map((answer) => [answer.status, (JSON.parse(answer.body) as { response: { uid: string } }).response.uid, answer.headers['connection']]),
      [
        [200, 'uid-1', 'keep-alive'],
        [200, 'uid-2', 'keep-alive'],
        [200, 'uid-3-privileged', 'keep-alive'],
        [200, 'uid-4', 'close'],
      ],
    );
    assert.equal(server.reviewConnections?.size, 0);
  });

  it('answers any split of a stream of reviews, one answer per review, in order', { timeout: 120_000 }, async () => {
    const server = await start('own');
    const requests = Array.from({ length: 6 }, (_, i) => reviewRequest(i % 2 === 0 ? '/validate' : '/mutate', `uid-${i}${i % 3 === 0 ? '-privileged' : ''}`));
    const stream = Buffer.from(requests.join(''), 'latin1');
    const expected = new Map<string, Answer>();
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 12 }), async (cuts) => {
        const points = [0, ...cuts.sort((a, b) => a - b), stream.length];
        const connection = await openRaw(server);
        await writeParts(
          connection.socket,
          points.slice(1).map((point, index) => stream.subarray(points[index], point)),
          1,
        );
        const answers = comparable(await connection.answers(requests.length));
        connection.socket.destroy();
        assert.equal(answers.length, requests.length);
        answers.forEach((answer, index) => {
          const uid = (JSON.parse(answer.body) as { response: { uid: string } }).response.uid;
          assert.equal(uid, `uid-${index}${index % 3 === 0 ? '-privileged' : ''}`);
          const first = expected.get(uid);
          if (first === undefined) expected.set(uid, answer);
          else assert.deepEqual(answer, first);
        });
      }),
      { numRuns: 40 },
    );
  });

  it('answers 300 reviews sent at once by a client that reads nothing until it has sent them all', { timeout: 60_000 }, async () => {
    const server = await start('own');
    const connection = await openRaw(server);
    connection.socket.pause();
    const count = 300;
    for (let i = 0; i < count; i += 1) connection.socket.write(reviewRequest('/validate', `uid-slow-reader-${i}`));
    await sleep(500);
    connection.socket.resume();
    const answers = await connection.answers(count, 30_000);
    assert.deepEqual(
      answers.map((answer) => (JSON.parse(answer.body) as { response: { uid: string } }).response.uid),
      Array.from({ length: count }, (_, i) => `uid-slow-reader-${i}`),
    );
    connection.socket.destroy();
  });

  it('gauges its open connections and those handed to node, and counts none once they close', { timeout: 30_000 }, async () => {
    const server = await start('own');
    const gauge = async (): Promise<Record<string, number>> => {
      const values = (await server.metrics.registry.getSingleMetric('daemonguard_admission_connections')?.get())?.values ?? [];
      return Object.fromEntries(values.map((value) => [String(value.labels['layer']), value.value]));
    };
    assert.deepEqual(await gauge(), { own: 0, node: 0 });
    const reviewing = await Promise.all([openRaw(server), openRaw(server)]);
    for (const [i, connection] of reviewing.entries()) connection.socket.write(reviewRequest('/validate', `uid-gauge-${i}`));
    for (const connection of reviewing) assert.equal((await connection.answers(1))[0]?.status, 200);
    const other = await openRaw(server);
    other.socket.write('GET /validate HTTP/1.1\r\nHost: localhost\r\n\r\n');
    assert.equal((await other.answers(1))[0]?.status, 405);
    assert.deepEqual(await gauge(), { own: 2, node: 1 });
    for (const connection of [...reviewing, other]) connection.socket.destroy();
    await eventually(() => server.reviewConnections?.size === 0, 'the own layer forgets closed connections');
    const deadline = Date.now() + 5_000;
    let last = await gauge();
    while ((last['own'] !== 0 || last['node'] !== 0) && Date.now() < deadline) {
      await sleep(20);
      last = await gauge();
    }
    assert.deepEqual(last, { own: 0, node: 0 });
  });

  describe('hands every other request to node, on the same connection, and answers each byte stream as a server of node alone does', () => {
    const body = JSON.stringify(admissionReview('CREATE', daemonSet({ memoryLimit: '1Gi' }), { uid: 'uid-other' }));
    const length = Buffer.byteLength(body);
    const chunked = `${length.toString(16)}\r\n${body}\r\n0\r\n\r\n`;
    const cases: Record<string, string> = {
      'a chunked body': `POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${chunked}`,
      'Expect: 100-continue': `POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: ${length}\r\n\r\n${body}`,
      'GET /validate': 'GET /validate HTTP/1.1\r\nHost: localhost\r\n\r\n',
      'a trailing slash': `POST /validate/ HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n${body}`,
      'an unknown path': 'POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{}',
      'a text/plain body': `POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nContent-Length: ${length}\r\n\r\n${body}`,
      'a body over --max-body-bytes': `POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${length + 20_000}\r\n\r\n${body}${' '.repeat(20_000)}`,
      'no Host': `POST /validate HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n${body}`,
      'two Content-Lengths': `POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${length}\r\nContent-Length: ${length}\r\n\r\n${body}`,
      'Content-Length and Transfer-Encoding': `POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${length}\r\nTransfer-Encoding: chunked\r\n\r\n${chunked}`,
      'a Content-Length with a sign': `POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Length: +${length}\r\n\r\n${body}`,
      'a header folded onto two lines': `POST /validate HTTP/1.1\r\nHost: localhost\r\nX-Folded: a\r\n b\r\nContent-Length: ${length}\r\n\r\n${body}`,
      'a bare LF': `POST /validate HTTP/1.1\nHost: localhost\r\nContent-Length: ${length}\r\n\r\n${body}`,
      'a head over 16 KB': `POST /validate HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(MAX_HEAD_BYTES)}\r\nContent-Length: ${length}\r\n\r\n${body}`,
      'lower-case method': `post /validate HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${length}\r\n\r\n${body}`,
      'an absolute URL': `POST https://localhost/validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n${body}`,
      'Connection: upgrade': `POST /validate HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nContent-Length: ${length}\r\n\r\n${body}`,
    };
    let own: AdmissionServer;
    let node: AdmissionServer;
    before(async () => {
      const limits = { maxBodyBytes: length + 10_000 };
      own = await start('own', limits);
      node = await start('node', limits);
    });
    for (const [name, request] of Object.entries(cases)) {
      it(`${name}, between two reviews`, { timeout: 30_000 }, async () => {
        const results: Answer[][] = [];
        const handedOver = await handovers(own, 'other-request');
        for (const server of [own, node]) {
          const connection = await openRaw(server);
          await writeParts(connection.socket, [reviewRequest('/validate', 'uid-before'), request, reviewRequest('/mutate', 'uid-after')], 50);
          const answers = await connection.answers(3, 3_000);
          if (server === own && answers.length === 3) await eventually(() => own.reviewConnections?.size === 0, 'node serves the connection from then on');
          connection.socket.destroy();
          await connection.closed;
          results.push(comparable(answers));
        }
        assert.equal(await handovers(own, 'other-request'), handedOver + 1, 'counted as handed over');
        const [fromOwn, fromNode] = results as [Answer[], Answer[]];
        assert.ok(fromNode.length >= 2, `node answered ${fromNode.length} of the requests`);
        assert.deepEqual(fromOwn, fromNode);
      });
    }
  });

  it('cuts off a head that never ends (408) and an idle connection after the keep-alive timeout, as node does', { timeout: 30_000 }, async () => {
    const server = await start('own', { headersTimeoutMs: 1_000, requestTimeoutMs: 2_000, keepAliveTimeoutMs: 1_500 });
    const slowHead = await openRaw(server);
    slowHead.socket.write('POST /validate HTTP/1.1\r\nHost: localhost\r\n');
    const idle = await openRaw(server);
    idle.socket.write(reviewRequest('/validate', 'uid-idle'));
    assert.equal((await idle.answers(1))[0]?.headers['keep-alive'], 'timeout=1');
    const started = Date.now();
    await Promise.all([slowHead.closed, idle.closed]);
    const elapsed = Date.now() - started;
    assert.equal((await slowHead.answers(1))[0]?.status, 408);
    assert.ok(elapsed < 8_000, `closed after ${elapsed} ms`);
    await eventually(() => server.reviewConnections?.size === 0, 'both connections are gone');
  });

  it('counts a body cut off by the request timeout or by the client going away, and gives its bytes back', { timeout: 30_000 }, async () => {
    const server = await start('own', { headersTimeoutMs: 1_000, requestTimeoutMs: 2_000 });
    const request = reviewRequest('/validate', 'uid-cut');
    const partial = request.slice(0, request.length - 10);
    const slowBody = await openRaw(server);
    slowBody.socket.write(partial);
    const goneAway = await openRaw(server);
    goneAway.socket.write(partial);
    await sleep(200);
    const inFlight = async (): Promise<number> => (await server.metrics.registry.getSingleMetric('daemonguard_inflight_request_bytes')?.get())?.values[0]?.value ?? -1;
    assert.equal(await inFlight(), 2 * (Buffer.byteLength(partial) + 10 - request.indexOf('\r\n\r\n') - 4));
    goneAway.socket.destroy();
    await slowBody.closed;
    assert.equal((await slowBody.answers(1))[0]?.status, 408);
    const refusals = (await server.metrics.refusals.get()).values.filter((value) => value.labels['reason'] === 'body-incomplete');
    assert.equal(refusals.reduce((sum, value) => sum + value.value, 0), 2);
    assert.equal(await inFlight(), 0);
    const after = await openRaw(server);
    after.socket.write(reviewRequest('/validate', 'uid-after'));
    assert.equal((await after.answers(1))[0]?.status, 200);
    after.socket.destroy();
  });

  it('on close, closes its idle connections at once and answers a review in flight with Connection: close', { timeout: 30_000 }, async () => {
    const server = await start('own');
    const idle = await openRaw(server);
    idle.socket.write(reviewRequest('/validate', 'uid-idle'));
    await idle.answers(1);
    const busy = await openRaw(server);
    const request = reviewRequest('/validate', 'uid-busy');
    busy.socket.write(request.slice(0, -5));
    await sleep(100);
    const closing = server.close(10_000);
    await idle.closed;
    busy.socket.write(request.slice(-5));
    const answers = await busy.answers(1);
    await busy.closed;
    await closing;
    assert.equal(answers[0]?.status, 200);
    assert.equal(answers[0]?.headers['connection'], 'close');
  });
});
