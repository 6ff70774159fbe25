// Processes for the webhook benchmarks: the floor server, the hand-written webhook, `daemonguard serve`, the load generator, and
// what the kernel says about them (CPU time from /proc; resident memory: residentBytes in
// test/support/serve-process.ts).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { freePort, startServe as startServeProcess } from '../test/support/serve-process.js';
import type { LoadResult, LoadSpec } from './load-client.js';

const FLOOR_BIN = fileURLToPath(new URL('./floor-server.js', import.meta.url));
const LOAD_BIN = fileURLToPath(new URL('./load-client.js', import.meta.url));
const HAND_WRITTEN_BIN = fileURLToPath(new URL('./hand-written/server.js', import.meta.url));

export interface TlsFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
}

export interface RunningServer {
  readonly name: string;
  readonly pid: number;
  readonly url: string;
  /** daemonguard's probe port (/metrics), http://127.0.0.1:<port>; the floor has none. */
  readonly probeUrl?: string;
  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

function stopper(child: ChildProcess): (graceMs?: number) => Promise<void> {
  return async (graceMs = 10_000) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited(child);
    clearTimeout(killer);
  };
}

/** A server that prints {"port": N} once listening (the floor, the hand-written webhook), on bare node. */
async function startPortPrinter(name: string, bin: string, args: readonly string[]): Promise<RunningServer> {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let text = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      text += chunk;
      const line = /^\{.*\}$/m.exec(text);
      if (line) resolve((JSON.parse(line[0]) as { port: number }).port);
    });
    child.once('exit', (code) => reject(new Error(`the ${name} server exited (${code}) before listening`)));
  });
  return { name, pid: child.pid!, url: `https://127.0.0.1:${port}`, stop: stopper(child) };
}

export function startFloor(tls: TlsFiles): Promise<RunningServer> {
  return startPortPrinter('floor', FLOOR_BIN, ['--cert', tls.certFile, '--key', tls.keyFile, '--port', '0']);
}

/**
 * The built-in library's checks written by hand (bench/hand-written/server.ts), told the same
 * namespaces as serve. On bare node, like the floor: it is a floor too, the one for the checks.
 */
export function startHandWritten(tls: TlsFiles, namespacesFile: string): Promise<RunningServer> {
  return startPortPrinter('hand-written', HAND_WRITTEN_BIN, ['--cert', tls.certFile, '--key', tls.keyFile, '--port', '0', '--namespaces', namespacesFile]);
}

export interface ServeSpec {
  tls: TlsFiles;
  policies: string;
  namespacesFile: string;
  /** serve's stdout and stderr (its JSON log, and --trace-gc lines when asked). */
  logFile: string;
  /** Flags for node itself, e.g. --cpu-prof. */
  nodeFlags?: string[];
  /** Set on top of this process's environment (an undefined value removes a variable). */
  env?: NodeJS.ProcessEnv;
  logLevel?: string;
  /** The CLI to run (default: this build's); `npm run bench -- --baseline DIR` runs another build's. */
  cli?: string;
  /** The name the results give it (default `daemonguard`). */
  name?: string;
  /** More serve flags after the usual ones (e.g. --warm-up-budget 0). */
  extraArgs?: readonly string[];
}

/** `daemonguard serve` as deployed: the built-in library, info logging, its defaults otherwise. */
export async function startServe(spec: ServeSpec): Promise<RunningServer> {
  const port = await freePort();
  const args = [
    '--address',
    '127.0.0.1',
    '--port',
    String(port),
    '--tls-cert',
    spec.tls.certFile,
    '--tls-key',
    spec.tls.keyFile,
    '--policies',
    spec.policies,
    '--namespaces',
    spec.namespacesFile,
    '--log-level',
    spec.logLevel ?? 'info',
    ...(spec.extraArgs ?? []),
  ];
  const served = await startServeProcess({
    ...(spec.cli === undefined ? {} : { cli: spec.cli }),
    args,
    nodeFlags: spec.nodeFlags,
    env: spec.env,
    logFile: spec.logFile,
    readyz: { port },
  });
  return { name: spec.name ?? 'daemonguard', pid: served.pid, url: served.url, probeUrl: served.probeUrl, stop: async (graceMs = 10_000) => void (await served.stop({ graceMs })) };
}

export interface HttpsAnswer {
  status: number;
  body: string;
}

export function httpsRequest(url: string, method: string, body: string | undefined, caFile: string): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      url,
      { method, ca: readFileSync(caFile), headers: body === undefined ? {} : { 'content-type': 'application/json' }, timeout: 10_000 },
      (response) => {
        let text = '';
        response.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
      },
    );
    outgoing.on('timeout', () => outgoing.destroy(new Error(`${method} ${url} timed out`)));
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

/** Runs the load generator in its own process and returns what it measured. */
export function runLoad(spec: LoadSpec): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [LOAD_BIN, JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`load generator exited ${code}: ${stderr.trim()}`));
      else resolve(JSON.parse(stdout.trim().split('\n').at(-1)!) as LoadResult);
    });
  });
}

let clockTicks: number | undefined;

function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** CPU time (user + system, all threads) the process has used so far, in microseconds; undefined without /proc. */
export function processCpuMicros(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its closing one.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
    return (ticks / ticksPerSecond()) * 1e6;
  } catch {
    return undefined;
  }
}

export function median(values: readonly number[]): number {
  const sorted = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** The machine, as the README's Performance section records it. */
export function machineDescription(): string {
  let model = cpus()[0]?.model ?? 'unknown CPU';
  try {
    model = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? model;
  } catch {
    // not Linux: os.cpus() is good enough
  }
  const load = loadavg().map((value) => value.toFixed(1)).join(' ');
  return `nproc ${availableParallelism()}, ${model}, node ${process.version}, load average ${load}`;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
