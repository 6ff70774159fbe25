// The request heads the own HTTP layer answers itself: the kube-apiserver's, read right; everything else
// left to node; and, over generated heads, every head it takes is read by node's own parser as the same
// request (method, target, body length, keep-alive), so a connection never frames a request otherwise
// than node would.

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { MAX_HEAD_BYTES, readRequestHead } from './request-head.js';

const MAX_BODY = 1024 * 1024;
const read = (head: string, max = MAX_BODY): ReturnType<typeof readRequestHead> => readRequestHead(Buffer.from(head, 'latin1'), max);

const APISERVER_HEAD =
  'POST /validate?timeout=10s HTTP/1.1\r\nHost: daemonguard.daemonguard.svc:443\r\nUser-Agent: kube-apiserver-admission\r\n' +
  'Content-Length: 1234\r\nAccept: application/json, */*\r\nContent-Type: application/json\r\nAccept-Encoding: gzip\r\n\r\n';

describe('reading a request head', () => {
  it('reads the kube-apiserver’s head: endpoint, target with its query, body length, where the body starts', () => {
    assert.deepEqual(read(`${APISERVER_HEAD}{"kind":`), {
      kind: 'review',
      path: '/validate',
      target: '/validate?timeout=10s',
      contentLength: 1234,
      close: false,
      headBytes: Buffer.byteLength(APISERVER_HEAD),
    });
    const mutate = read('POST /mutate HTTP/1.1\r\nhost: x\r\ncontent-length:  7 \r\nCONTENT-TYPE: application/json; charset=UTF-8\r\nConnection: Keep-Alive, close\r\n\r\n');
    assert.equal(mutate.kind, 'review');
    assert.equal(mutate.kind === 'review' && mutate.path, '/mutate');
    assert.equal(mutate.kind === 'review' && mutate.contentLength, 7);
    assert.equal(mutate.kind === 'review' && mutate.close, true);
  });

  it('waits for the rest of a head, and leaves one still unfinished past 16 KB to node', () => {
    for (let cut = 0; cut < APISERVER_HEAD.length; cut += 1) assert.equal(read(APISERVER_HEAD.slice(0, cut)).kind, 'incomplete', `cut at ${cut}`);
    assert.equal(read(`POST /validate HTTP/1.1\r\nX: ${'a'.repeat(MAX_HEAD_BYTES)}`).kind, 'other');
  });

  it('leaves to node whatever it does not take as the apiserver sends it', () => {
    const others: Record<string, string> = {
      'a body over the limit': APISERVER_HEAD.replace('1234', String(MAX_BODY + 1)),
      'a wrong media type': APISERVER_HEAD.replace('application/json\r\nAccept-Encoding', 'text/plain\r\nAccept-Encoding'),
      'a Latin-1 charset': APISERVER_HEAD.replace('application/json\r\nAccept-Encoding', 'application/json; charset=latin1\r\nAccept-Encoding'),
      'HTTP/1.0': APISERVER_HEAD.replace('HTTP/1.1', 'HTTP/1.0'),
      'another path': APISERVER_HEAD.replace('/validate', '/validate/'),
      'a fragment': APISERVER_HEAD.replace('?timeout=10s', '#x'),
      'a negative length': APISERVER_HEAD.replace('1234', '-1'),
      'a 16-digit length': APISERVER_HEAD.replace('1234', '0000000000001234'),
      'an empty header name': APISERVER_HEAD.replace('Accept:', ':'),
      'a space before the colon': APISERVER_HEAD.replace('Accept:', 'Accept :'),
      'a NUL in a value': APISERVER_HEAD.replace('gzip', 'gz\u0000ip'),
      'a bare CR in a value': APISERVER_HEAD.replace('gzip', 'gz\rip'),
      'Expect': APISERVER_HEAD.replace('Accept-Encoding', 'Expect: 100-continue\r\nAccept-Encoding'),
      'Transfer-Encoding': APISERVER_HEAD.replace('Accept-Encoding', 'Transfer-Encoding: identity\r\nAccept-Encoding'),
      'Upgrade': APISERVER_HEAD.replace('Accept-Encoding', 'Upgrade: h2c\r\nAccept-Encoding'),
      'Connection: upgrade': APISERVER_HEAD.replace('Accept-Encoding', 'Connection: upgrade\r\nAccept-Encoding'),
      'two Hosts': APISERVER_HEAD.replace('Accept-Encoding', 'Host: other\r\nAccept-Encoding'),
      'two Content-Types': APISERVER_HEAD.replace('Accept-Encoding', 'Content-Type: application/json\r\nAccept-Encoding'),
      'no Content-Length': APISERVER_HEAD.replace('Content-Length: 1234\r\n', ''),
    };
    for (const [name, head] of Object.entries(others)) assert.equal(read(head).kind, 'other', name);
  });
});

/** What node's HTTP parser made of one request. */
interface NodeReading {
  method: string;
  url: string;
  bodyBytes: number;
  keepAlive: boolean;
}

describe('agreeing with node’s parser', () => {
  let server: Server;
  let port: number;
  before(async () => {
    server = createServer((request, response) => {
      let bodyBytes = 0;
      request.on('data', (chunk: Buffer) => (bodyBytes += chunk.length));
      request.on('end', () => {
        const reading: NodeReading = { method: request.method ?? '', url: request.url ?? '', bodyBytes, keepAlive: response.shouldKeepAlive };
        response.end(JSON.stringify(reading));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  /** Sends one request on a new connection and returns what node read, or undefined when it refused it. */
  function nodeReading(bytes: Buffer): Promise<NodeReading | undefined> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      let received = '';
      socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
      socket.on('error', reject);
      socket.on('close', () => {
        const [head = '', body = ''] = received.split('\r\n\r\n');
        resolve(head.startsWith('HTTP/1.1 200 ') ? (JSON.parse(body) as NodeReading) : undefined);
      });
      // Half-close once sent: node answers, then closes whether the request asked to keep the connection or not.
      socket.end(bytes);
    });
  }

  const pick = <T>(values: readonly T[]): fc.Arbitrary<T> => fc.constantFrom(...values);
  /** Mostly what the apiserver sends, now and then one of the ways a head can differ from it. */
  const usually = <T>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<T>): fc.Arbitrary<T> => fc.oneof({ arbitrary: good, weight: 12 }, { arbitrary: bad, weight: 1 });
  const mixedCase = (word: string): fc.Arbitrary<string> =>
    fc.array(fc.boolean(), { minLength: word.length, maxLength: word.length }).map((upper) => [...word].map((c, i) => (upper[i] ? c.toUpperCase() : c.toLowerCase())).join(''));
  const whitespace = usually(pick(['', ' ']), pick(['  ', '\t', ' \t']));
  const odd = usually(fc.constant(''), pick([' ', '\t', '\r', '\n', '\u0000', '\u007f', '\u00e9', ',', '"', ':', '\r\n ', '\r\n\t']));
  const value = fc.tuple(whitespace, fc.string({ maxLength: 8 }), odd, whitespace).map((parts) => parts.join(''));
  const header = fc.oneof(
    { arbitrary: fc.tuple(pick(['X-Anything', 'Accept', 'User-Agent', 'Accept-Encoding']), value).map(([name, v]) => `${name}:${v}`), weight: 12 },
    fc.tuple(mixedCase('content-length'), whitespace, usually(pick(['0', '5', '17']), pick(['017', '+5', '5 5', '', '99999999999999999', '-0'])), odd).map(([name, ws, length, tail]) => `${name}:${ws}${length}${tail}`),
    fc.tuple(mixedCase('host'), value).map(([name, v]) => `${name}:${v}`),
    fc.tuple(mixedCase('connection'), whitespace, pick(['close', 'keep-alive', 'Close', 'keep-alive, close', 'upgrade', 'close,', ', close', 'te'])).map(([name, ws, v]) => `${name}:${ws}${v}`),
    fc.tuple(mixedCase('content-type'), whitespace, pick(['application/json', 'application/json; charset=utf-8', 'text/plain', 'application/json;charset="UTF-8"'])).map(([name, ws, v]) => `${name}:${ws}${v}`),
    fc.tuple(pick(['Transfer-Encoding', 'Expect', 'Upgrade', 'Te', 'Trailer', 'Content-Encoding']), value).map(([name, v]) => `${name}:${v}`),
    fc.tuple(pick(['bad name', 'a@b', '', ' Lead', 'X-A']), odd, value).map(([name, o, v]) => `${name}${o}:${v}`),
  );
  const requestLine = fc
    .tuple(
      usually(fc.constant('POST'), pick(['post', 'PUT', 'POSTX', 'GET'])),
      usually(fc.constant(' '), pick(['  ', '\t'])),
      usually(pick(['/validate', '/mutate', '/validate?timeout=10s', '/mutate?a=%zz&timeout=1s']), pick(['/validate/', '//validate', '/validate#x', '/Validate', '*', 'http://h/validate', '/validate?x=\u00e9'])),
      odd,
      usually(fc.constant(' HTTP/1.1'), pick([' HTTP/1.0', ' HTTP/1.10', ' http/1.1', 'HTTP/1.1', ' HTTP/2.0'])),
    )
    .map(([method, gap, target, extra, version]) => `${method}${gap}${target}${extra}${version}`);
  const head = fc
    .tuple(requestLine, fc.array(header, { maxLength: 6 }), usually(fc.constant('\r\n'), fc.constant('\n')), usually(fc.constant(true), fc.constant(false)), usually(fc.constant(true), fc.constant(false)))
    .map(([line, headers, eol, withHost, withLength]) => {
      const all = [...(withHost ? ['Host: localhost'] : []), ...headers, ...(withLength ? ['Content-Length: 5'] : [])];
      return `${[line, ...all].join('\r\n')}${eol}\r\n`;
    });

  it('reads every head it takes as node does: the same method, target, body length and keep-alive', { timeout: 120_000 }, async () => {
    let taken = 0;
    await fc.assert(
      fc.asyncProperty(head, async (text) => {
        const bytes = Buffer.from(text, 'latin1');
        const reading = readRequestHead(bytes, MAX_BODY);
        assert.notEqual(reading.kind, 'incomplete');
        if (reading.kind !== 'review') return;
        taken += 1;
        const body = Buffer.alloc(reading.contentLength, 'x');
        const node = await nodeReading(Buffer.concat([bytes, body]));
        assert.deepEqual(node, { method: 'POST', url: reading.target, bodyBytes: reading.contentLength, keepAlive: !reading.close }, JSON.stringify(text));
        assert.equal(reading.headBytes, bytes.length);
      }),
      { numRuns: 600 },
    );
    // The generator must give the check something to check.
    assert.ok(taken >= 100, `only ${taken} of 600 generated heads were reviews`);
  });
});
