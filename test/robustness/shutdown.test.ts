// A review written on an idle keep-alive connection just as the server begins to close is answered,
// not reset: the fault run's SIGTERM scenario lost one in 5,000 that way when close() destroyed idle
// connections at once.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connect, type TLSSocket } from 'node:tls';
import { admissionReview, daemonSet } from '../support/server-fixtures.js';
import { startHostileServer } from './hostile-fixtures.js';

function requestText(uid: string): string {
  const body = JSON.stringify(admissionReview('CREATE', daemonSet(), { uid }));
  return `POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

describe('closing with idle keep-alive connections', { timeout: 30_000 }, () => {
  it('answers a review that arrives on an idle connection right after close() begins, then closes it', async () => {
    const hostile = await startHostileServer({ withoutLibrary: true });
    const socket: TLSSocket = connect({ host: '127.0.0.1', port: hostile.server.port, ca: hostile.certificates.ca.certPem, servername: 'localhost' });
    await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('utf8')));
    socket.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));

    socket.write(requestText('uid-before'));
    const deadline = Date.now() + 5_000;
    while (!received.includes('uid-before') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.match(received, /uid-before/);

    // The connection is idle now. The client writes its next review as the server starts closing.
    const closing = hostile.close();
    socket.write(requestText('uid-racing'));
    await closed;
    await closing;
    const answers = received.split('HTTP/1.1 ').filter((part) => part !== '');
    assert.equal(answers.length, 2, received);
    assert.match(answers[1]!, /^200 OK/);
    assert.match(answers[1]!, /\r\nConnection: close/i);
    assert.match(answers[1]!, /"uid":"uid-racing"/);
  });
});
