// The informer loop against a stand-in for the kube-apiserver's list and watch of one collection, to
// show the moments a real apiserver produces only rarely: an expired resourceVersion (410 Gone as a
// watch event), a watch the server ends (resumed from the last version seen, bookmarks included), a
// refused watch. The e2e suites run it against a real kube-apiserver (namespaces, cluster-policies, audit).
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { kubeConfigFor } from '../../test/support/fake-kubeconfig.js';
import type { JsonObject } from '../common/vocabulary.js';
import { KubeApiError } from './kube-request.js';
import { ListWatch } from './list-watch.js';
import { listAll } from './paged-list.js';

const PATH = '/api/v1/namespaces';

function namespace(name: string, resourceVersion: string): JsonObject {
  return { metadata: { name, resourceVersion } };
}

/** A stand-in apiserver: the list it serves can change; each watch request is kept for the test to write to. */
class StandIn {
  items: JsonObject[] = [];
  listVersion = '10';
  lists = 0;
  readonly watches: { url: URL; response: ServerResponse }[] = [];
  watchStatus = 200;
  private server: Server | undefined;

  async start(): Promise<string> {
    this.server = createServer((request: IncomingMessage, response: ServerResponse) => {
      const url = new URL(request.url ?? '/', 'http://localhost');
      if (url.searchParams.get('watch') === 'true') {
        if (this.watchStatus !== 200) return void response.writeHead(this.watchStatus, { 'Content-Type': 'application/json' }).end('{"kind":"Status","message":"namespaces is forbidden"}');
        response.writeHead(200, { 'Content-Type': 'application/json' });
        response.flushHeaders();
        this.watches.push({ url, response });
        return;
      }
      this.lists++;
      response.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ kind: 'NamespaceList', metadata: { resourceVersion: this.listVersion }, items: this.items }));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async nextWatch(count: number): Promise<{ url: URL; response: ServerResponse }> {
    for (let i = 0; i < 200 && this.watches.length < count; i++) await sleep(10);
    const watch = this.watches[count - 1];
    assert.ok(watch, `watch request ${count} arrived`);
    return watch;
  }

  send(watch: { response: ServerResponse }, type: string, object: JsonObject): void {
    watch.response.write(`${JSON.stringify({ type, object })}\n`);
  }

  stop(): void {
    for (const watch of this.watches) watch.response.destroy();
    this.server?.closeAllConnections();
    this.server?.close();
  }
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await sleep(10);
  assert.ok(condition(), what);
}

describe('ListWatch', () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const cleanup of cleanups.splice(0)) cleanup();
  });

  async function started(standIn: StandIn): Promise<{ informer: ListWatch; events: string[]; errors: unknown[] }> {
    const server = await standIn.start();
    const kubeConfig = kubeConfigFor(server);
    const informer = new ListWatch({ kubeConfig, path: PATH, list: () => listAll(kubeConfig, { path: PATH, apiVersion: 'v1', kind: 'Namespace' }) });
    const events: string[] = [];
    const errors: unknown[] = [];
    for (const event of ['add', 'update', 'delete'] as const) informer.on(event, (_object, key) => events.push(`${event} ${key}`));
    informer.on('error', (error) => errors.push(error));
    cleanups.push(() => void informer.stop(), () => standIn.stop());
    await informer.start();
    return { informer, events, errors };
  }

  it('watches from the list’s version, and lists again when the version expired (410 as an event), reporting what vanished', async () => {
    const standIn = new StandIn();
    standIn.items = [namespace('a', '5'), namespace('b', '6')];
    const { informer, events } = await started(standIn);
    const first = await standIn.nextWatch(1);
    assert.equal(first.url.searchParams.get('resourceVersion'), '10');
    assert.equal(first.url.searchParams.get('allowWatchBookmarks'), 'true');
    assert.deepEqual(events, ['add a', 'add b']);

    standIn.items = [namespace('b', '6'), namespace('c', '21')];
    standIn.listVersion = '30';
    standIn.send(first, 'ERROR', { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version: 10 (25)' });
    first.response.end();
    const second = await standIn.nextWatch(2);
    assert.equal(standIn.lists, 2, 'listed again');
    assert.equal(second.url.searchParams.get('resourceVersion'), '30');
    assert.deepEqual(events, ['add a', 'add b', 'add c', 'delete a'], 'b is unchanged (same resourceVersion): no event');
    assert.deepEqual(informer.list().map((object) => (object.metadata as JsonObject).name).sort(), ['b', 'c']);
  });

  it('reads events that arrive in pieces, and resumes a watch the server ended from the last version it saw, bookmarks included, without listing again', async () => {
    const standIn = new StandIn();
    standIn.items = [namespace('a', '5')];
    const { events } = await started(standIn);
    const first = await standIn.nextWatch(1);
    // An event can arrive in pieces: it counts once its line is complete.
    const modified = `${JSON.stringify({ type: 'MODIFIED', object: namespace('a', '12') })}\n`;
    first.response.write(modified.slice(0, 20));
    await sleep(50);
    assert.deepEqual(events, ['add a']);
    first.response.write(modified.slice(20));
    standIn.send(first, 'BOOKMARK', { kind: 'Namespace', metadata: { resourceVersion: '15' } });
    await until(() => events.length === 2, 'the update arrived');
    first.response.end();
    const second = await standIn.nextWatch(2);
    assert.equal(second.url.searchParams.get('resourceVersion'), '15');
    assert.equal(standIn.lists, 1);
    standIn.send(second, 'DELETED', namespace('a', '16'));
    await until(() => events.length === 3, 'the delete arrived');
    assert.deepEqual(events, ['add a', 'update a', 'delete a']);
  });

  it('tells a refused watch to its error listeners, with the status and the apiserver’s message, and stops', async () => {
    const standIn = new StandIn();
    standIn.watchStatus = 403;
    const { errors } = await started(standIn);
    await until(() => errors.length === 1, 'the error was told');
    const error = errors[0] as KubeApiError;
    assert.ok(error instanceof KubeApiError);
    assert.equal(error.code, 403);
    assert.match(error.message, /watching \/api\/v1\/namespaces: HTTP 403: namespaces is forbidden/);
    await sleep(1_200);
    assert.equal(errors.length, 1, 'no retry of its own: the owner (RestartingWatch) restarts it');
    assert.equal(standIn.lists, 1);
  });
});
