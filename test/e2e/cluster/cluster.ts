// A real, throwaway Kubernetes control plane for the end-to-end tests: etcd and kube-apiserver on
// loopback, with free ports, fresh certificates and data in a temporary folder. No scheduler, no
// nodes, and by default no controller manager: objects are stored, defaulted, validated and sent
// through admission exactly as in a cluster, but nothing acts on them (a DaemonSet gets no pods).
// With `controllers`, a kube-controller-manager runs just those controllers (the coverage test runs
// the DaemonSet controller, which then creates a DaemonSet's pods for the Node objects it is given).
//
// The binaries come from test/e2e/cluster/build.sh. Their folder is, in order: opts.binDir,
// $DAEMONGUARD_E2E_BIN, or ${DAEMONGUARD_E2E_CACHE:-~/.cache/daemonguard-e2e}/<version>/bin.
//
// Processes are started each in its own process group and stopped by killing the group. Three
// layers keep them from outliving the test: stop() (call it in `after`), handlers for process exit,
// SIGINT and SIGTERM, and a detached watchdog process (reaper.ts) that cleans up when the test
// process dies without a word (SIGKILL, a crash of Node).
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_K8S_VERSION, e2eCacheDir } from '../../support/go-modules.js';
import { createClusterPki, type ClusterPki } from './pki.js';
import { REAPER_FLAG } from './reaper.js';

export { DEFAULT_K8S_VERSION };

export interface ClusterOptions {
  /** Folder holding kube-apiserver, etcd and kubectl. Default: see defaultBinDir(). */
  binDir?: string;
  /** How long to wait for etcd, /readyz and the default namespace. Default 120 s. */
  startTimeoutMs?: number;
  /** Keep the temporary folder (logs, certificates, etcd data) after stop(). Default: $DAEMONGUARD_E2E_KEEP=1. */
  keepTempDir?: boolean;
  /** Extra kube-apiserver flags, appended after the defaults (a later flag wins). */
  apiserverArgs?: string[];
  /** Extra etcd flags. */
  etcdArgs?: string[];
  /** Also start kube-controller-manager with only these controllers (`--controllers`), e.g. ['daemonset']. */
  controllers?: string[];
  /** Extra kube-controller-manager flags (with `controllers`). */
  controllerManagerArgs?: string[];
  /** Progress messages. Default: none. */
  log?: (message: string) => void;
}

export interface KubectlOptions {
  /** Written to kubectl's stdin (for `apply -f -`). */
  input?: string;
  /** Resolve with the result instead of rejecting when kubectl exits non-zero. */
  allowFailure?: boolean;
  /** Default 60 s. */
  timeoutMs?: number;
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Cluster {
  /** A kubeconfig with the admin (system:masters) client certificate, data inlined. */
  kubeconfigPath: string;
  /** https://127.0.0.1:<port> */
  server: string;
  /** The CA that signed the apiserver's serving certificate (and every certificate in pki). */
  caCertPem: string;
  binDir: string;
  /** Temporary folder with pki/, etcd/, logs/ and the kubeconfig. */
  tempDir: string;
  /** The certificates and keys; pki.ca can sign more (a webhook's serving certificate, say). */
  pki: ClusterPki;
  logFiles: { etcd: string; apiserver: string; controllerManager: string };
  /** The kube-apiserver's process id: a test may SIGSTOP it to play an apiserver that stopped answering (and must SIGCONT it). */
  apiserverPid: number;
  /** Runs kubectl against this cluster; rejects on a non-zero exit unless allowFailure. */
  kubectl(args: string[], opts?: KubectlOptions): Promise<KubectlResult>;
  /** Stops both processes (the whole process group of each) and removes the temporary folder. */
  stop(): Promise<void>;
}

/** The folder build.sh puts the binaries in, computed the same way build.sh does. */
export function defaultBinDir(): string {
  const fromEnv = process.env.DAEMONGUARD_E2E_BIN;
  if (fromEnv) return fromEnv;
  return path.join(e2eCacheDir(), 'bin');
}

// ---- process bookkeeping shared by every cluster of this process ------------------------------

interface Tracked {
  groups: number[];
  tempDir: string;
  keep: boolean;
}

const live = new Set<Tracked>();
let handlersInstalled = false;

function killGroupSync(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}

/** Last-moment cleanup: synchronous, because it also runs from the 'exit' event. */
function cleanupAllSync(): void {
  for (const t of live) {
    for (const g of t.groups) killGroupSync(g, 'SIGKILL');
    if (!t.keep) rmSync(t.tempDir, { recursive: true, force: true });
  }
  live.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  cleanupAllSync();
  process.removeListener('SIGINT', onSignal);
  process.removeListener('SIGTERM', onSignal);
  // Let the signal do what it would have done without us, unless someone else handles it.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', cleanupAllSync);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

// ---- helpers ---------------------------------------------------------------------------------

/** Distinct free TCP ports on 127.0.0.1 (held open together so they differ). */
async function freePorts(count: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const srv = net.createServer();
      servers.push(srv);
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(0, '127.0.0.1', () => resolve());
      });
      ports.push((srv.address() as net.AddressInfo).port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function tail(file: string, lines = 25): Promise<string> {
  try {
    const text = await readFile(file, 'utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

interface HttpAnswer {
  status: number;
  body: string;
}

/** `insecure`: a self-signed serving certificate on loopback (kube-controller-manager's own). */
function get(url: string, tls?: { ca: string; cert: string; key: string; insecure?: boolean }): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const onResponse = (res: http.IncomingMessage): void => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    };
    const req = tls
      ? https.get(url, { ca: tls.ca, cert: tls.cert, key: tls.key, rejectUnauthorized: tls.insecure !== true, timeout: 5000, agent: false }, onResponse)
      : http.get(url, { timeout: 5000, agent: false }, onResponse);
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
  });
}

class ProcessExited extends Error {}

/** Polls check() until it returns true; fails early when one of procs exits. */
async function waitFor(
  what: string,
  deadline: number,
  procs: ChildProcess[],
  check: () => Promise<boolean>,
): Promise<void> {
  let lastError = '';
  while (Date.now() < deadline) {
    const dead = procs.find((p) => p.exitCode !== null || p.signalCode !== null);
    if (dead) {
      throw new ProcessExited(
        `${path.basename(dead.spawnfile)} exited (${dead.exitCode ?? dead.signalCode}) while waiting for ${what}`,
      );
    }
    try {
      if (await check()) return;
    } catch (err) {
      lastError = (err as Error).message;
    }
    await sleep(250);
  }
  throw new Error(`timed out waiting for ${what}${lastError ? ` (last error: ${lastError})` : ''}`);
}

function kubeconfigYaml(server: string, pki: ClusterPki): string {
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: daemonguard-e2e',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority-data: ${b64(pki.ca.certPem)}`,
    'users:',
    '- name: daemonguard-e2e-admin',
    '  user:',
    `    client-certificate-data: ${b64(pki.admin.certPem)}`,
    `    client-key-data: ${b64(pki.admin.keyPem)}`,
    'contexts:',
    '- name: daemonguard-e2e',
    '  context:',
    '    cluster: daemonguard-e2e',
    '    user: daemonguard-e2e-admin',
    'current-context: daemonguard-e2e',
    '',
  ].join('\n');
}

/** Starts the watchdog process; returns a function to send it a line, or undefined if it failed. */
function startReaper(): { send(line: string): void; release(): void } | undefined {
  const script = fileURLToPath(new URL('./reaper.js', import.meta.url));
  if (!existsSync(script)) return undefined;
  const child = spawn(process.execPath, [script, REAPER_FLAG], {
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  child.on('error', () => undefined);
  child.stdin?.on('error', () => undefined);
  child.unref();
  (child.stdin as unknown as net.Socket | null)?.unref();
  return {
    send(line: string) {
      child.stdin?.write(`${line}\n`);
    },
    release() {
      child.stdin?.end('release\n');
    },
  };
}

function exited(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => p.once('exit', () => resolve()));
}

/** SIGTERM to the group, SIGKILL after graceMs, and wait for the leader to be reaped. */
async function stopGroup(p: ChildProcess, graceMs: number): Promise<void> {
  if (p.pid === undefined) return;
  killGroupSync(p.pid, 'SIGTERM');
  const timer = setTimeout(() => killGroupSync(p.pid as number, 'SIGKILL'), graceMs);
  await exited(p);
  clearTimeout(timer);
  // Anything else left in the group (there should be nothing) goes too.
  killGroupSync(p.pid, 'SIGKILL');
}

// ---- the cluster -----------------------------------------------------------------------------

/** Starts etcd and kube-apiserver; resolves once /readyz is ok and the default namespace exists. */
export async function startCluster(opts: ClusterOptions = {}): Promise<Cluster> {
  // A free port can be taken by someone else between our check and the server's bind: try again.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts);
    } catch (err) {
      if (attempt < 3 && /address already in use/i.test((err as Error).message)) continue;
      throw err;
    }
  }
}

async function startOnce(opts: ClusterOptions): Promise<Cluster> {
  const log = opts.log ?? ((): void => undefined);
  const binDir = opts.binDir ?? defaultBinDir();
  const controllers = opts.controllers ?? [];
  for (const bin of ['etcd', 'kube-apiserver', 'kubectl', ...(controllers.length > 0 ? ['kube-controller-manager'] : [])]) {
    if (!existsSync(path.join(binDir, bin))) {
      const flag = bin === 'kube-controller-manager' ? ' --with-controller-manager' : '';
      throw new Error(`${bin} not found in ${binDir}: run \`bash test/e2e/cluster/build.sh${flag}\` first (or set DAEMONGUARD_E2E_BIN)`);
    }
  }
  const keep = opts.keepTempDir ?? process.env.DAEMONGUARD_E2E_KEEP === '1';
  const deadline = Date.now() + (opts.startTimeoutMs ?? 120_000);

  const tempDir = await mkdtemp(path.join(os.tmpdir(), 'daemonguard-e2e-'));
  const logsDir = path.join(tempDir, 'logs');
  const etcdDir = path.join(tempDir, 'etcd');
  await Promise.all([mkdir(logsDir), mkdir(etcdDir, { mode: 0o700 })]);
  const logFiles = { etcd: path.join(logsDir, 'etcd.log'), apiserver: path.join(logsDir, 'kube-apiserver.log'), controllerManager: path.join(logsDir, 'kube-controller-manager.log') };
  const kubeconfigPath = path.join(tempDir, 'kubeconfig');

  installHandlers();
  const tracked: Tracked = { groups: [], tempDir, keep };
  live.add(tracked);
  const reaper = startReaper();
  if (!keep) reaper?.send(`dir ${tempDir}`);

  const procs: ChildProcess[] = [];
  const launch = (name: string, args: string[], logFile: string): ChildProcess => {
    const fd = openSync(logFile, 'a');
    try {
      // detached: its own process group (pgid = pid), so the group can be killed as a whole and
      // a Ctrl-C in the terminal reaches the test process, which then stops the cluster in order.
      const child = spawn(path.join(binDir, name), args, { detached: true, stdio: ['ignore', fd, fd] });
      child.on('error', () => undefined); // surfaces as an exit while waiting
      if (child.pid !== undefined) {
        tracked.groups.push(child.pid);
        reaper?.send(`group ${child.pid}`);
      }
      procs.push(child);
      return child;
    } finally {
      closeSync(fd);
    }
  };

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      // apiserver first, so it does not spend its last seconds retrying a vanished etcd.
      for (const p of [...procs].reverse()) await stopGroup(p, 10_000);
      live.delete(tracked);
      if (!keep) await rm(tempDir, { recursive: true, force: true });
      else log(`kept ${tempDir}`);
      reaper?.release();
    })();
    return stopping;
  };

  try {
    const pki = await createClusterPki(path.join(tempDir, 'pki'));
    const [etcdClientPort, etcdPeerPort, apiPort, controllerManagerPort] = await freePorts(4);
    const etcdUrl = `http://127.0.0.1:${etcdClientPort}`;
    const peerUrl = `http://127.0.0.1:${etcdPeerPort}`;
    const server = `https://127.0.0.1:${apiPort}`;

    log(`starting etcd on ${etcdUrl}`);
    launch(
      'etcd',
      [
        `--data-dir=${etcdDir}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=default=${peerUrl}`,
        '--unsafe-no-fsync=true',
        '--log-level=warn',
        ...(opts.etcdArgs ?? []),
      ],
      logFiles.etcd,
    );
    await waitFor('etcd /health', deadline, procs, async () => {
      const r = await get(`${etcdUrl}/health`);
      return r.status === 200 && r.body.includes('"health":"true"');
    });

    log(`starting kube-apiserver on ${server}`);
    await writeFile(kubeconfigPath, kubeconfigYaml(server, pki), { mode: 0o600 });
    const apiserver = launch(
      'kube-apiserver',
      [
        `--etcd-servers=${etcdUrl}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${apiPort}`,
        `--cert-dir=${path.join(tempDir, 'apiserver-certs')}`,
        `--tls-cert-file=${pki.apiserver.certFile}`,
        `--tls-private-key-file=${pki.apiserver.keyFile}`,
        `--client-ca-file=${pki.ca.certFile}`,
        '--service-cluster-ip-range=10.0.0.0/24',
        `--service-account-issuer=${server}`,
        `--service-account-key-file=${pki.serviceAccountPubFile}`,
        `--service-account-signing-key-file=${pki.serviceAccountKeyFile}`,
        '--authorization-mode=RBAC',
        '--allow-privileged=true',
        // No controller manager creates service accounts or their tokens: without this, every
        // pod would be rejected for lack of the `default` service account.
        '--disable-admission-plugins=ServiceAccount',
        // The endpoint reconciler keeps the `kubernetes` Service's endpoints at the advertise
        // address, and refuses a loopback one. Nothing here needs those endpoints.
        '--endpoint-reconciler-type=none',
        '--profiling=false',
        ...(opts.apiserverArgs ?? []),
      ],
      logFiles.apiserver,
    );
    const tls = { ca: pki.ca.certPem, cert: pki.admin.certPem, key: pki.admin.keyPem };
    await waitFor('kube-apiserver /readyz', deadline, procs, async () => (await get(`${server}/readyz`, tls)).status === 200);
    await waitFor(
      'the default namespace',
      deadline,
      procs,
      async () => (await get(`${server}/api/v1/namespaces/default`, tls)).status === 200,
    );
    if (controllers.length > 0) {
      log(`starting kube-controller-manager (${controllers.join(', ')}) on 127.0.0.1:${controllerManagerPort}`);
      launch(
        'kube-controller-manager',
        [
          `--kubeconfig=${kubeconfigPath}`,
          `--controllers=${controllers.join(',')}`,
          // The admin credentials of the kubeconfig, not one service account per controller (no
          // controller here creates service accounts or tokens).
          '--use-service-account-credentials=false',
          '--leader-elect=false',
          '--bind-address=127.0.0.1',
          `--secure-port=${controllerManagerPort}`,
          `--cert-dir=${path.join(tempDir, 'controller-manager-certs')}`,
          // Its own serving endpoint would otherwise look up the apiserver's authentication
          // configuration; nothing but the readiness check below calls it.
          `--authentication-kubeconfig=${kubeconfigPath}`,
          `--authorization-kubeconfig=${kubeconfigPath}`,
          '--profiling=false',
          ...(opts.controllerManagerArgs ?? []),
        ],
        logFiles.controllerManager,
      );
      await waitFor('kube-controller-manager /healthz', deadline, procs, async () => (await get(`https://127.0.0.1:${controllerManagerPort}/healthz`, { ...tls, insecure: true })).status === 200);
    }
    log('cluster ready');

    const kubectl = (args: string[], kopts: KubectlOptions = {}): Promise<KubectlResult> =>
      runKubectl(binDir, kubeconfigPath, path.join(tempDir, 'kubectl-cache'), args, kopts);

    return {
      kubeconfigPath,
      server,
      caCertPem: pki.ca.certPem,
      binDir,
      tempDir,
      pki,
      logFiles,
      apiserverPid: apiserver.pid ?? -1,
      kubectl,
      stop,
    };
  } catch (err) {
    const [etcdLog, apiLog, controllerLog] = await Promise.all([tail(logFiles.etcd), tail(logFiles.apiserver), controllers.length > 0 ? tail(logFiles.controllerManager) : '']);
    await stop();
    throw new Error(
      `starting the e2e cluster failed: ${(err as Error).message}\n--- etcd log (tail) ---\n${etcdLog}\n` +
        `--- kube-apiserver log (tail) ---\n${apiLog}` +
        (controllers.length > 0 ? `\n--- kube-controller-manager log (tail) ---\n${controllerLog}` : ''),
      { cause: err },
    );
  }
}

function runKubectl(
  binDir: string,
  kubeconfigPath: string,
  cacheDir: string,
  args: string[],
  opts: KubectlOptions,
): Promise<KubectlResult> {
  return new Promise((resolve, reject) => {
    const fullArgs = [`--kubeconfig=${kubeconfigPath}`, `--cache-dir=${cacheDir}`, ...args];
    const env = { ...process.env };
    delete env.KUBECONFIG;
    const child = spawn(path.join(binDir, 'kubectl'), fullArgs, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result = { code: code ?? -1, stdout, stderr };
      if (result.code !== 0 && !opts.allowFailure) {
        reject(
          new Error(`kubectl ${args.join(' ')} failed (${code ?? signal}): ${stderr.trim() || stdout.trim()}`),
        );
      } else {
        resolve(result);
      }
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}
