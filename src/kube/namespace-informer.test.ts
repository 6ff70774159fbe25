// The cluster namespace catalog against a small stand-in for the kube-apiserver's namespace list and
// watch (the e2e suite runs it against a real one, with deploy/base's RBAC).
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { kubeConfigFor } from '../../test/support/fake-kubeconfig.js';
import { captureLogger } from '../../test/support/server-fixtures.js';
import { ClusterNamespaceCatalog } from './namespace-informer.js';

function namespace(name: string, labels: Record<string, string>, resourceVersion: string): Record<string, unknown> {
  return { metadata: { name, labels, resourceVersion, creationTimestamp: '2026-01-01T00:00:00Z' } };
}

describe('ClusterNamespaceCatalog', () => {
  const catalogs: ClusterNamespaceCatalog[] = [];
  after(() => {
    for (const catalog of catalogs) catalog.close();
  });

  it('lists namespaces as plain JSON objects, then follows the watch', async () => {
    const watchers: ServerResponse[] = [];
    const server = createServer((request, response) => {
      const url = new URL(request.url ?? '/', 'http://localhost');
      if (url.pathname !== '/api/v1/namespaces') {
        response.writeHead(404).end();
        return;
      }
      if (url.searchParams.get('watch') === 'true') {
        response.writeHead(200, { 'Content-Type': 'application/json' });
        response.flushHeaders();
        watchers.push(response);
        return;
      }
      response.writeHead(200, { 'Content-Type': 'application/json' });
      response.end(
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'NamespaceList',
          metadata: { resourceVersion: '10' },
          items: [namespace('kube-system', { 'kubernetes.io/metadata.name': 'kube-system' }, '5'), namespace('team', { tier: 'a' }, '6')],
        }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const catalog = new ClusterNamespaceCatalog({ logger: captureLogger('silent').logger, kubeConfig: kubeConfigFor(`http://127.0.0.1:${(server.address() as AddressInfo).port}`) });
      catalogs.push(catalog);
      await catalog.start();
      assert.equal(catalog.size, 2);
      assert.deepEqual(catalog.get('team'), {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: 'team', labels: { tier: 'a' }, resourceVersion: '6', creationTimestamp: '2026-01-01T00:00:00Z' },
      });
      assert.equal(catalog.get('missing'), undefined);

      for (let i = 0; i < 50 && watchers.length === 0; i++) await sleep(20);
      const watch = watchers[0];
      assert.ok(watch, 'the catalog watches after listing');
      watch.write(`${JSON.stringify({ type: 'MODIFIED', object: namespace('team', { tier: 'b' }, '11') })}\n`);
      watch.write(`${JSON.stringify({ type: 'ADDED', object: namespace('later', {}, '12') })}\n`);
      watch.write(`${JSON.stringify({ type: 'DELETED', object: namespace('kube-system', {}, '13') })}\n`);
      for (let i = 0; i < 100 && catalog.get('later') === undefined; i++) await sleep(20);
      assert.deepEqual((catalog.get('team')?.metadata as { labels?: unknown }).labels, { tier: 'b' });
      assert.ok(catalog.get('later'));
      assert.equal(catalog.get('kube-system'), undefined);
      catalog.close();
    } finally {
      for (const watch of watchers) watch.destroy();
      server.closeAllConnections();
      server.close();
    }
  });

  it('gives up with a message naming the cluster when namespaces cannot be listed', async () => {
    const server = createServer((_request, response) => response.writeHead(403, { 'Content-Type': 'application/json' }).end('{"kind":"Status","message":"forbidden"}'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const catalog = new ClusterNamespaceCatalog({ logger: captureLogger('silent').logger, kubeConfig: kubeConfigFor(url), startAttempts: 2, retryDelayMs: 10 });
      catalogs.push(catalog);
      await assert.rejects(catalog.start(), (error: Error) => error.message.startsWith(`cannot list namespaces from ${url}`));
    } finally {
      server.close();
    }
  });
});
