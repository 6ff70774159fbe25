// The cluster node catalog against a small stand-in for the kube-apiserver's node list and watch:
// it keeps only what placement reads, and its snapshot follows the watch.
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { kubeConfigFor } from '../../test/support/fake-kubeconfig.js';
import { captureLogger } from '../../test/support/server-fixtures.js';
import { ClusterNodeCatalog, listClusterNodes } from './node-informer.js';

function node(name: string, resourceVersion: string, labels: Record<string, string> = {}): Record<string, unknown> {
  return {
    metadata: { name, labels, resourceVersion, annotations: { big: 'x'.repeat(1000) } },
    spec: { taints: [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }], podCIDR: '10.0.0.0/24' },
    status: { allocatable: { cpu: '4', memory: '16Gi' }, images: [{ names: ['registry.example/a:1'], sizeBytes: 1 }], conditions: [] },
  };
}

describe('ClusterNodeCatalog', () => {
  it('lists the nodes, keeps what placement reads, and follows the watch', async () => {
    const watchers: ServerResponse[] = [];
    const server = createServer((request, response) => {
      const url = new URL(request.url ?? '/', 'http://localhost');
      if (url.pathname !== '/api/v1/nodes') return void response.writeHead(404).end();
      response.writeHead(200, { 'Content-Type': 'application/json' });
      if (url.searchParams.get('watch') === 'true') {
        response.flushHeaders();
        watchers.push(response);
        return;
      }
      response.end(JSON.stringify({ apiVersion: 'v1', kind: 'NodeList', metadata: { resourceVersion: '10' }, items: [node('b', '5'), node('a', '6', { zone: 'x' })] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const kubeConfig = kubeConfigFor(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    const catalog = new ClusterNodeCatalog({ logger: captureLogger('silent').logger, kubeConfig });
    try {
      await catalog.start();
      const expectedA = {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: 'a', labels: { zone: 'x' } },
        spec: { taints: [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }] },
        status: { allocatable: { cpu: '4', memory: '16Gi' } },
      };
      assert.deepEqual(catalog.nodes(), [expectedA, { ...expectedA, metadata: { name: 'b', labels: {} } }], 'in name order, images and annotations dropped');
      const first = catalog.nodes();
      assert.equal(catalog.nodes(), first, 'the same snapshot until a node changes');
      assert.deepEqual(await listClusterNodes(kubeConfig), first);

      for (let i = 0; i < 50 && watchers.length === 0; i++) await sleep(20);
      assert.ok(watchers[0], 'the catalog watches after listing');
      watchers[0].write(`${JSON.stringify({ type: 'ADDED', object: node('c', '11') })}\n`);
      watchers[0].write(`${JSON.stringify({ type: 'DELETED', object: node('a', '12') })}\n`);
      for (let i = 0; i < 100 && (catalog.get('a') !== undefined || catalog.get('c') === undefined); i++) await sleep(20);
      assert.deepEqual(catalog.nodes().map((n) => (n.metadata as { name: string }).name), ['b', 'c']);
    } finally {
      catalog.close();
      for (const watch of watchers) watch.destroy();
      server.closeAllConnections();
      server.close();
    }
  });
});
