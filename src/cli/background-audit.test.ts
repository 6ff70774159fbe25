// The background audit against a small stand-in for the kube-apiserver (list and watch of DaemonSets
// and Namespaces, the Reports API): it audits from its informer caches, judges on the worker thread,
// and audits again after a DaemonSet's or a Namespace's labels change (one audit for a burst), but not
// after a status update. The e2e suite runs the same against a real kube-apiserver.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { parse } from 'yaml';
import { kubeConfigFor } from '../../test/support/fake-kubeconfig.js';
import { captureLogger } from '../../test/support/server-fixtures.js';
import { repoRoot } from '../../test/support/library-paths.js';
import type { JsonObject } from '../common/vocabulary.js';
import { loadPolicySet } from '../policy/load-policies.js';
import type { AuditFindings } from './audit.js';
import { BackgroundAudit } from './background-audit.js';
import { changeMattersToAudit } from './audit-triggers.js';

const TESTDATA = join(repoRoot(), 'src/cli/testdata/audit');

/** A stand-in that lists the dump's objects and hands out the open watch responses. */
async function standIn(items: JsonObject[]): Promise<{ url: string; watches: Map<string, ServerResponse>; requests: string[]; close(): void }> {
  const watches = new Map<string, ServerResponse>();
  const requests: string[] = [];
  const lists: Record<string, JsonObject[]> = {
    '/apis/apps/v1/daemonsets': items.filter((item) => item.kind === 'DaemonSet'),
    '/api/v1/namespaces': items.filter((item) => item.kind === 'Namespace'),
  };
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    requests.push(`${request.method} ${url.pathname}${url.searchParams.get('watch') === 'true' ? ' watch' : ''}`);
    const json = (status: number, body: unknown): void => void response.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
    if (url.pathname.startsWith('/apis/openreports.io/')) {
      request.resume();
      json(request.method === 'POST' ? 201 : 200, request.method === 'GET' ? { items: [], metadata: {} } : {});
      return;
    }
    const listed = lists[url.pathname];
    if (listed === undefined) return json(404, { kind: 'Status', message: 'not here' });
    if (url.searchParams.get('watch') === 'true') {
      response.writeHead(200, { 'Content-Type': 'application/json' });
      response.flushHeaders();
      watches.set(url.pathname, response);
      return;
    }
    // List items carry no apiVersion and kind, as the apiserver serves them.
    json(200, { metadata: { resourceVersion: '100' }, items: listed.map(({ apiVersion: _a, kind: _k, ...rest }) => rest) });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    watches,
    requests,
    close() {
      for (const watch of watches.values()) watch.destroy();
      server.closeAllConnections();
      server.close();
    },
  };
}

async function until(what: string, condition: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('changeMattersToAudit', () => {
  const object = (metadata: JsonObject, status: JsonObject = {}): JsonObject => ({ metadata, status });
  it('counts an add, a delete, a new generation, labels and annotations; not a status update', () => {
    const base = object({ name: 'a', generation: 1, labels: { team: 'x' } }, { numberReady: 1 });
    assert.equal(changeMattersToAudit(undefined, base), true);
    assert.equal(changeMattersToAudit(base, undefined), true);
    assert.equal(changeMattersToAudit(base, object({ name: 'a', generation: 2, labels: { team: 'x' } })), true);
    assert.equal(changeMattersToAudit(base, object({ name: 'a', generation: 1, labels: { team: 'y' } })), true);
    assert.equal(changeMattersToAudit(base, object({ name: 'a', generation: 1, labels: { team: 'x' }, annotations: { a: 'b' } })), true);
    assert.equal(changeMattersToAudit(base, object({ name: 'a', generation: 1, labels: { team: 'x' }, resourceVersion: '9' }, { numberReady: 3 })), false);
  });
});

describe('BackgroundAudit', () => {
  const items = (parse(readFileSync(join(TESTDATA, 'dump.yaml'), 'utf8')) as { items: JsonObject[] }).items;
  let apiserver: Awaited<ReturnType<typeof standIn>>;
  let audit: BackgroundAudit | undefined;
  before(async () => {
    apiserver = await standIn(items);
  });
  after(async () => {
    audit?.close();
    await audit?.idle();
    apiserver.close();
  });

  it('audits from its caches on the worker, and again after label changes (once per burst), not after a status update', async () => {
    const { logger, records } = captureLogger();
    const policySet = await loadPolicySet([join(TESTDATA, 'current-policies.yaml')]);
    const audits: AuditFindings[] = [];
    audit = new BackgroundAudit({
      kubeConfig: kubeConfigFor(apiserver.url),
      logger,
      registry: new Registry(),
      policies: () => policySet,
      intervalMs: 3_600_000,
      isLeader: () => true,
      changeDelayMs: 100,
      batchSize: 2,
      onAudited: (findings) => audits.push(findings),
    });
    audit.start();
    await until('the first audit', () => audits.length === 1);
    const daemonSets = items.filter((item) => item.kind === 'DaemonSet');
    assert.equal(audits[0]!.results.length, daemonSets.length);
    const fluentBit = (findings: AuditFindings): string | undefined => findings.results.find((r) => r.name === 'fluent-bit')?.policies.find((p) => p.policy === 'team-label')?.verdict;
    assert.equal(fluentBit(audits[0]!), 'warn');
    assert.ok(records.some((record) => record['msg'] === 'audit worker thread started'), 'judged on the worker thread');
    await until('both watches', () => apiserver.watches.size === 2);

    // A status update: nothing to audit again.
    const stored = daemonSets.find((item) => (item.metadata as JsonObject).name === 'fluent-bit')!;
    const send = (path: string, type: string, object: JsonObject): void => void apiserver.watches.get(path)!.write(`${JSON.stringify({ type, object })}\n`);
    send('/apis/apps/v1/daemonsets', 'MODIFIED', { ...stored, metadata: { ...(stored.metadata as JsonObject), resourceVersion: '101' }, status: { numberReady: 1 } });
    await sleep(500);
    assert.equal(audits.length, 1, 'a status update does not make an audit');

    // Labels: fluent-bit gets a team (its team-label warning goes), and three more label changes in the burst.
    const metadata = stored.metadata as JsonObject;
    send('/apis/apps/v1/daemonsets', 'MODIFIED', { ...stored, metadata: { ...metadata, resourceVersion: '102', labels: { ...(metadata.labels as JsonObject), team: 'logging' } } });
    for (const [i, namespace] of items.filter((item) => item.kind === 'Namespace').slice(0, 3).entries()) {
      send('/api/v1/namespaces', 'MODIFIED', { ...namespace, metadata: { ...(namespace.metadata as JsonObject), resourceVersion: String(110 + i), labels: { ...((namespace.metadata as JsonObject).labels as JsonObject), touched: 'yes' } } });
    }
    await until('the audit after the label changes', () => audits.length === 2);
    assert.equal(fluentBit(audits[1]!), 'pass');
    await sleep(500);
    assert.equal(audits.length, 2, 'one audit for the burst');
    await until('the Reports written', () => records.filter((record) => record['msg'] === 'background audit done').length === 2);
    // The DaemonSets were listed once, in pages, then only watched.
    assert.equal(apiserver.requests.filter((request) => request === 'GET /apis/apps/v1/daemonsets').length, 1);
    audit.close();
    await audit.idle();
  });

  it('audits as soon as the first policy set loads when the first request for an audit found none', async () => {
    const policySet = await loadPolicySet([join(TESTDATA, 'current-policies.yaml')]);
    const serving: { set?: typeof policySet } = {};
    const audits: AuditFindings[] = [];
    audit = new BackgroundAudit({
      kubeConfig: kubeConfigFor(apiserver.url),
      logger: captureLogger('silent').logger,
      registry: new Registry(),
      policies: () => serving.set,
      intervalMs: 3_600_000,
      policyCheckMs: 50,
      isLeader: () => true,
      onAudited: (findings) => audits.push(findings),
    });
    audit.start();
    await sleep(300);
    assert.equal(audits.length, 0, 'nothing to audit with yet');
    serving.set = policySet;
    await until('the audit once the policies are there (the interval is an hour)', () => audits.length === 1);
  });
});
