// `daemonguard audit` against a live cluster large enough for progress lines: the built CLI as a
// subprocess, reading 2,500 DaemonSets in pages of 500 (limit/continue) from a stand-in for the
// kube-apiserver's list API, says on stderr how far listing and reviewing got, and --quiet says nothing.
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../../test/support/cli-process.js';
import { PROGRESS_EVERY } from './audit-command.js';

const DAEMONSETS = 2_500;
const PAGE_SIZE = 500;

function daemonSet(i: number): Record<string, unknown> {
  const labels = { app: `agent-${i}` };
  return {
    metadata: { name: `agent-${i}`, namespace: 'logging', uid: `uid-${i}`, generation: 1, labels: { ...labels, team: 'observability' } },
    spec: { selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name: 'agent', image: 'registry.example/agent:1.0' }] } } },
    status: { desiredNumberScheduled: 3 },
  };
}

describe('daemonguard audit progress lines (live cluster)', () => {
  const requests: URL[] = [];
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    requests.push(url);
    const json = (body: unknown): void => void response.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
    if (url.pathname === '/api/v1/namespaces') return json({ metadata: { resourceVersion: '7' }, items: [{ metadata: { name: 'logging', labels: { 'kubernetes.io/metadata.name': 'logging' } } }] });
    if (url.pathname !== '/apis/apps/v1/daemonsets') return void response.writeHead(404).end();
    const limit = Number(url.searchParams.get('limit'));
    const from = Number(url.searchParams.get('continue') ?? '0');
    const to = Math.min(DAEMONSETS, from + limit);
    json({ metadata: { resourceVersion: '7', ...(to < DAEMONSETS ? { continue: String(to) } : {}) }, items: Array.from({ length: to - from }, (_, k) => daemonSet(from + k)) });
  });
  let kubeconfig = '';
  let url = '';
  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    kubeconfig = join(await mkdtemp(join(tmpdir(), 'daemonguard-audit-progress-')), 'kubeconfig');
    await writeFile(kubeconfig, [
      'apiVersion: v1', 'kind: Config', 'current-context: standin',
      'clusters: [{name: standin, cluster: {server: "' + url + '", insecure-skip-tls-verify: true}}]',
      'users: [{name: standin, user: {}}]',
      'contexts: [{name: standin, context: {cluster: standin, user: standin}}]', '',
    ].join('\n'));
  });
  after(() => server.close());

  it(`says every ${PROGRESS_EVERY} DaemonSets how many were listed and reviewed, and reads them in pages`, async () => {
    requests.length = 0;
    const run = await runCli(['audit', '--kubeconfig', kubeconfig, '--page-size', String(PAGE_SIZE), '-p', 'src/cli/testdata/audit/current-policies.yaml', '-o', 'json']);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stderr.split('\n').filter((line) => line.startsWith('daemonguard audit: '));
    assert.deepEqual([...lines].sort(), [
      `daemonguard audit: listed 1000 DaemonSets from ${url}`,
      `daemonguard audit: listed 2000 DaemonSets from ${url}`,
      'daemonguard audit: reviewed 1000 DaemonSets',
      'daemonguard audit: reviewed 2000 DaemonSets',
    ]);
    // Listing runs ahead of reviewing, a page at a time: each count is listed before it is reviewed.
    assert.ok(lines.indexOf(`daemonguard audit: listed 1000 DaemonSets from ${url}`) < lines.indexOf('daemonguard audit: reviewed 1000 DaemonSets'));
    assert.ok(lines.indexOf(`daemonguard audit: listed 2000 DaemonSets from ${url}`) < lines.indexOf('daemonguard audit: reviewed 2000 DaemonSets'));
    const pages = requests.filter((request) => request.pathname === '/apis/apps/v1/daemonsets');
    assert.equal(pages.length, DAEMONSETS / PAGE_SIZE);
    assert.ok(pages.every((request) => request.searchParams.get('limit') === String(PAGE_SIZE)));
    assert.equal((JSON.parse(run.stdout) as { results: unknown[] }).results.length, DAEMONSETS);
  });

  it('prints no progress line with --quiet', async () => {
    const run = await runCli(['audit', '--kubeconfig', kubeconfig, '--page-size', String(PAGE_SIZE), '-p', 'src/cli/testdata/audit/current-policies.yaml', '-o', 'json', '--quiet']);
    assert.equal(run.code, 0, run.stderr);
    assert.doesNotMatch(run.stderr, /daemonguard audit: (listed|reviewed)/);
  });
});
