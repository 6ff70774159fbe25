// `daemonguard serve` stopped by a signal while it is still starting, as a real subprocess: while its
// policies load, while the first list of a cluster catalog hangs (a kube-apiserver stand-in over TLS
// that holds the request), with the leader Lease already won, and with a Lease release that never gets
// an answer. Each signal is sent once the server's own log (or the stand-in) shows it in that stage.
// The same against a real kube-apiserver, after start-up: test/e2e/serve-shutdown.e2e.test.ts.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { temporaryDirectory, TEST_POLICIES, writeFiles, writeTestCertificates } from '../../test/support/server-fixtures.js';
import { LISTENING_MESSAGE, startServe, stopAllServes, type LogLine, type ServeExit, type ServeProcess } from '../../test/support/serve-process.js';
import { POLICIES_DIR } from '../../test/support/library-paths.js';
import { listManifestFiles } from '../common/yaml-documents.js';
import { LEADER_LEASE_NAME, type Lease } from '../kube/lease-election.js';
import { SHUTDOWN_MARGIN_MS } from './serve-lifecycle.js';

after(stopAllServes);

const STARTUP_SHUTDOWN_MESSAGE = 'shutting down during start-up: the server is not started; releasing what start-up acquired';
const NAMESPACE = 'daemonguard-system';

/** Starts serve without waiting for it to be ready (it never is, here): resolves at its first log line. */
function startStarting(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<ServeProcess> {
  return startServe({ args: ['--address', '127.0.0.1', '--port', '0', '--log-level', 'debug', ...args], cwd, env, readyAtLog: () => true });
}

function messages(served: ServeProcess): unknown[] {
  return served.logLines().map((line) => line['msg']);
}

/** A clean stop during start-up: exit 0, the start-up shutdown line naming `stage` and `signal`, "shut down", and never a listener. */
function assertStoppedDuringStartup(served: ServeProcess, exit: ServeExit, stage: string, signal: NodeJS.Signals): LogLine {
  const log = `${served.stdout()}\n${served.stderr()}`;
  assert.deepEqual(exit, { code: 0, signal: null }, log);
  const line = served.logLines().find((each) => each['msg'] === STARTUP_SHUTDOWN_MESSAGE);
  assert.ok(line, log);
  assert.deepEqual([line['stage'], line['signal']], [stage, signal], log);
  assert.ok(served.logLines().some((each) => each['msg'] === 'shut down' && each['startup'] === 'interrupted'), log);
  assert.equal(messages(served).includes(LISTENING_MESSAGE), false, log);
  return line;
}

/**
 * A kube-apiserver stand-in over TLS: it keeps one Lease (GET, POST, PUT with resourceVersion checks,
 * as the apiserver does) and holds every other request without answering, as an apiserver whose list
 * is slow would. `hang()` makes it hold the Lease calls too (an apiserver that stopped answering).
 */
interface StandIn {
  url: string;
  /** The paths of the requests held so far. */
  held: string[];
  /** Every Lease the replica wrote (POST and PUT bodies), in order. */
  leaseWrites: Lease[];
  /** Resolves once a request whose path starts with `prefix` is held. */
  holding(prefix: string): Promise<void>;
  hang(): void;
  close(): Promise<void>;
}

async function startStandIn(certificates: { certFile: string; keyFile: string }): Promise<StandIn> {
  const [cert, key] = await Promise.all([readFile(certificates.certFile), readFile(certificates.keyFile)]);
  const leasePath = `/apis/coordination.k8s.io/v1/namespaces/${NAMESPACE}/leases`;
  let lease: Lease | undefined;
  let version = 0;
  let hanging = false;
  const held: string[] = [];
  const waiters: { prefix: string; resolve: () => void }[] = [];
  const leaseWrites: Lease[] = [];
  const answer = (response: ServerResponse, status: number, body: unknown): void => {
    response.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
  };
  const store = (body: Lease): Lease => {
    leaseWrites.push(body);
    lease = { ...body, metadata: { ...body.metadata, name: LEADER_LEASE_NAME, namespace: NAMESPACE, resourceVersion: String(++version) } };
    return lease;
  };
  const server: Server = createServer({ cert, key }, (request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? '/', 'https://stand-in');
    let text = '';
    request.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    request.on('end', () => {
      const isLease = url.pathname === leasePath || url.pathname === `${leasePath}/${LEADER_LEASE_NAME}`;
      if (!isLease || hanging) {
        held.push(url.pathname);
        for (const waiter of waiters.filter((each) => url.pathname.startsWith(each.prefix))) waiter.resolve();
        return; // never answered
      }
      const body = text === '' ? undefined : (JSON.parse(text) as Lease);
      if (request.method === 'GET') return lease === undefined ? answer(response, 404, { kind: 'Status', code: 404 }) : answer(response, 200, lease);
      if (request.method === 'POST' && body !== undefined) return lease === undefined ? answer(response, 201, store(body)) : answer(response, 409, { kind: 'Status', code: 409 });
      if (request.method === 'PUT' && body !== undefined) {
        return body.metadata?.resourceVersion === lease?.metadata?.resourceVersion ? answer(response, 200, store(body)) : answer(response, 409, { kind: 'Status', code: 409 });
      }
      answer(response, 405, { kind: 'Status', code: 405 });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    held,
    leaseWrites,
    holding: (prefix) =>
      held.some((each) => each.startsWith(prefix)) ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ prefix, resolve })),
    hang: () => (hanging = true),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function kubeconfigFor(server: string, caFile: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'stand-in', cluster: { server, 'certificate-authority': caFile } }],
    users: [{ name: 'stand-in', user: { token: 'unused' } }],
    contexts: [{ name: 'stand-in', context: { cluster: 'stand-in', user: 'stand-in' } }],
    'current-context': 'stand-in',
  });
}

describe('daemonguard serve: SIGTERM or SIGINT during start-up', () => {
  it('while the policies load: stops the load, exits 0, and says it stopped during start-up', { timeout: 120_000 }, async () => {
    const dir = await temporaryDirectory('daemonguard-lifecycle-');
    // The built-in library sixteen times over, renamed: a set the loader takes seconds to type-check
    // (about 3 s for eight copies on a busy 2-core machine), yielding between policies, so a signal sent
    // on the stage's log line finds it loading with a wide margin.
    const library = await Promise.all((await listManifestFiles([POLICIES_DIR])).map((file) => readFile(file, 'utf8')));
    const copies = Array.from({ length: 16 }, (_, index) => index + 1).map((copy) => library.map((text) => text.replace(/^( {2}name: )(\S+)$/gm, `$1$2-copy-${copy}`)).join('\n---\n'));
    // One file per copy: a policy file may be at most 1 MiB.
    await writeFiles(dir, {
      'namespaces.yaml': 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: monitoring\n',
      ...Object.fromEntries(copies.map((text, index) => [`large/copy-${index + 1}.yaml`, text])),
    });
    const served = await startStarting(['--policies', 'large', '--namespaces', 'namespaces.yaml'], dir);
    await served.waitForLog((line) => line['msg'] === 'start-up stage' && line['stage'] === 'policies', 60_000);
    const exit = await served.stop({ signal: 'SIGTERM', graceMs: 60_000 });
    assertStoppedDuringStartup(served, exit, 'policies', 'SIGTERM');
    assert.equal(messages(served).includes('policies loaded'), false, 'the load was abandoned, not finished');
  });

  const catalogs: { stage: string; args: string[]; path: string; signal: NodeJS.Signals }[] = [
    { stage: 'namespaces', args: ['--namespaces-from-cluster'], path: '/api/v1/namespaces', signal: 'SIGINT' },
    { stage: 'nodes', args: ['--namespaces', 'namespaces.yaml', '--nodes-from-cluster'], path: '/api/v1/nodes', signal: 'SIGTERM' },
  ];
  for (const { stage, args, path: listPath, signal } of catalogs) {
    it(`while the first list of ${stage} from the cluster hangs (${signal}): exits 0 without waiting for the list`, { timeout: 60_000 }, async () => {
      const dir = await temporaryDirectory('daemonguard-lifecycle-');
      const certificates = await writeTestCertificates(dir);
      const standIn = await startStandIn(certificates);
      try {
        await writeFiles(dir, {
          'policies/all.yaml': TEST_POLICIES,
          'namespaces.yaml': 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: monitoring\n',
          'kubeconfig.yaml': kubeconfigFor(standIn.url, certificates.caFile),
        });
        const served = await startStarting(['--policies', 'policies', ...args], dir, { KUBECONFIG: path.join(dir, 'kubeconfig.yaml') });
        await standIn.holding(listPath);
        const exit = await served.stop({ signal, graceMs: 30_000 });
        assertStoppedDuringStartup(served, exit, stage, signal);
      } finally {
        await standIn.close();
      }
    });
  }

  it('with the leader Lease won and the namespaces list hanging: releases the Lease on the way out, exits 0', { timeout: 60_000 }, async () => {
    const dir = await temporaryDirectory('daemonguard-lifecycle-');
    const certificates = await writeTestCertificates(dir);
    const standIn = await startStandIn(certificates);
    try {
      await writeFiles(dir, { 'kubeconfig.yaml': kubeconfigFor(standIn.url, certificates.caFile) });
      const served = await startStarting(
        ['--policies-from-cluster', '--namespaces-from-cluster', '--leader-election-namespace', NAMESPACE, '--leader-election-identity', 'replica-a', '--tls-cert', certificates.certFile, '--tls-key', certificates.keyFile],
        dir,
        { KUBECONFIG: path.join(dir, 'kubeconfig.yaml') },
      );
      await Promise.all([standIn.holding('/api/v1/namespaces'), served.waitForLog((line) => line['msg'] === 'leading: this replica writes status')]);
      const exit = await served.stop({ signal: 'SIGTERM', graceMs: 30_000 });
      assertStoppedDuringStartup(served, exit, 'namespaces', 'SIGTERM');
      assert.ok(messages(served).includes('released the leader Lease'), served.stdout());
      const last = standIn.leaseWrites.at(-1);
      assert.equal(standIn.leaseWrites[0]?.spec?.holderIdentity, 'replica-a');
      assert.equal(last?.spec?.holderIdentity, undefined, 'the last write empties the Lease for the next replica');
    } finally {
      await standIn.close();
    }
  });

  it('when the Lease release gets no answer: gives up after --shutdown-grace plus the margin, names what did not finish, exits 0', { timeout: 60_000 }, async () => {
    const dir = await temporaryDirectory('daemonguard-lifecycle-');
    const certificates = await writeTestCertificates(dir);
    const standIn = await startStandIn(certificates);
    try {
      await writeFiles(dir, { 'kubeconfig.yaml': kubeconfigFor(standIn.url, certificates.caFile) });
      // A lease duration of 60s gives each Lease call 40s (the renew deadline) before it times out on
      // its own: only the shutdown bound (1s + the margin) can end this stop within the 30s this test waits.
      const served = await startStarting(
        [
          '--policies-from-cluster', '--namespaces-from-cluster', '--leader-election-namespace', NAMESPACE, '--leader-election-identity', 'replica-b',
          '--lease-duration', '60s', '--shutdown-grace', '1s', '--tls-cert', certificates.certFile, '--tls-key', certificates.keyFile,
        ],
        dir,
        { KUBECONFIG: path.join(dir, 'kubeconfig.yaml') },
      );
      await Promise.all([standIn.holding('/api/v1/namespaces'), served.waitForLog((line) => line['msg'] === 'leading: this replica writes status')]);
      standIn.hang();
      const exit = await served.stop({ signal: 'SIGTERM', graceMs: 30_000 });
      const log = served.stdout();
      assert.deepEqual(exit, { code: 0, signal: null }, log);
      assert.equal(served.logLines().find((line) => line['msg'] === STARTUP_SHUTDOWN_MESSAGE)?.['stage'], 'namespaces', log);
      const gaveUp = served.logLines().find((line) => typeof line['msg'] === 'string' && line['msg'].startsWith('shutdown did not finish within --shutdown-grace'));
      assert.ok(gaveUp, log);
      assert.deepEqual([gaveUp['graceMs'], gaveUp['marginMs']], [1_000, SHUTDOWN_MARGIN_MS]);
      assert.deepEqual(gaveUp['unfinished'], ['cluster policy watches and the leader Lease'], log);
      assert.equal(messages(served).includes('released the leader Lease'), false, log);
      assert.equal(messages(served).includes('shut down'), false, 'the stop did not finish: it was cut short');
    } finally {
      await standIn.close();
    }
  });
});
