// readAnswerBody, which the product's apiserver requests and the e2e suite's client both read bodies
// with, and kubeRequest's timeout, against a real HTTP server on the loopback.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { kubeConfigFor } from '../../test/support/fake-kubeconfig.js';
import { kubeRequest, readAnswerBody } from './kube-request.js';

describe('readAnswerBody', () => {
  let server: http.Server;
  let base = '';

  before(async () => {
    server = http.createServer((request, response) => {
      if (request.url === '/json') {
        response.setHeader('Content-Type', 'application/json');
        // In two writes, so the body arrives in more than one chunk.
        response.write('{"kind":"Status","message":"daemonsets.apps \\"a\\" ');
        response.end('already exists","code":409}');
      } else if (request.url === '/hang') {
        response.writeHead(200, { 'Content-Type': 'application/json' });
        response.write('{"items":[');
      } else if (request.url === '/text') {
        response.statusCode = 502;
        response.end('<html>bad gateway</html>');
      } else {
        response.setHeader('Content-Length', '100');
        response.write('{"kind":');
        setImmediate(() => response.destroy());
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => server.close());

  const get = (path: string): Promise<unknown> =>
    new Promise((resolve, reject) => {
      http.get(`${base}${path}`, (response) => readAnswerBody(response).then(resolve, reject)).on('error', reject);
    });

  it('parses a JSON body that arrives in pieces', async () => {
    assert.deepEqual(await get('/json'), { kind: 'Status', message: 'daemonsets.apps "a" already exists', code: 409 });
  });

  it('hands back the text of a body that is not JSON (a proxy’s error page), for the caller to report', async () => {
    assert.equal(await get('/text'), '<html>bad gateway</html>');
  });

  it('rejects when the response breaks off', async () => {
    await assert.rejects(get('/cut'), /aborted|ECONNRESET|socket hang up/);
  });

  it('gives up on an answer that stops coming (a hung connection), naming the request and the time it waited', async () => {
    const started = Date.now();
    await assert.rejects(kubeRequest(kubeConfigFor(base), 'GET', new URL(`${base}/hang`), undefined, { timeoutMs: 300 }), /^Error: GET \/hang: no answer from the apiserver within 300 ms$/);
    assert.ok(Date.now() - started < 5_000);
  });
});
