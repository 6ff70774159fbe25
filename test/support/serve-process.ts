// `daemonguard serve` (the test build, build/src/cli/main.js) as a real child process, for the unit
// tests, the e2e tests, the fault runner and the benchmarks: started with given arguments, environment
// and working folder, awaited until it is ready, its output kept (JSON log lines parsed on request),
// and stopped with a signal within a bound. A server still running when the process that started it
// ends is killed: by stop(), by stopAllServes() (call it in `after`), or on exit, SIGINT or SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { CLI_BIN } from './cli-process.js';
import { callHttp } from './server-fixtures.js';

/** The message of the log line the server writes once its HTTPS listener is up (it carries `port` and `probePort`). */
export const LISTENING_MESSAGE = 'daemonguard admission server listening';

/** One JSON log line (pino): `msg`, `level`, and whatever fields the line carries. */
export type LogLine = Record<string, unknown>;

export interface ServeExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ServeOptions {
  /** The CLI to run; default: the test build's (build/src/cli/main.js). */
  cli?: string;
  /**
   * The arguments after `serve`. Without --probe-address (or DAEMONGUARD_PROBE_ADDRESS in `env`), the
   * probe port is put on 127.0.0.1 and a free port, so that servers started side by side never collide on :8081.
   */
  args?: readonly string[];
  /** Working folder; default: this process's. */
  cwd?: string;
  /** Set on top of this process's environment (an undefined value removes a variable). */
  env?: NodeJS.ProcessEnv;
  /** Flags for node itself, before the CLI (e.g. --cpu-prof, --trace-gc). */
  nodeFlags?: readonly string[];
  /**
   * Append stdout and stderr to this file, which the child writes directly, instead of keeping them in
   * memory: for long runs that log every review, where a pipe through this process would cost memory
   * and could slow the server down.
   */
  logFile?: string;
  /**
   * Ready once GET /readyz on the probe port (plain HTTP, 127.0.0.1) answers 200; `port` is the HTTPS
   * port given to the server (--port), `probePort` the probe port when the arguments set --probe-address
   * (else one is picked). Without this, ready at the "listening" log line, whose ports are used: that
   * needs --port 0 or a known port, and log level info or lower.
   */
  readyz?: { port: number; probePort?: number };
  /**
   * Ready at the first log line for which this holds, instead of the listening line or /readyz: for a
   * test that stops the server while it is still starting (the ports are then unknown: 0).
   */
  readyAtLog?: (line: LogLine) => boolean;
  /** How often /readyz is asked (with `readyz`); default 100 ms. A test that acts the moment the server is ready asks more often. */
  readyzPollMs?: number;
  /** How long to wait for readiness before the process is killed; default 60 s. */
  readyTimeoutMs?: number;
}

export interface ServeProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly port: number;
  /** https://127.0.0.1:<port> */
  readonly url: string;
  /** The probe port (/healthz, /readyz, /metrics over plain HTTP). */
  readonly probePort: number;
  /** http://127.0.0.1:<probePort> */
  readonly probeUrl: string;
  /** Resolves once the process has ended and its output is all read. */
  readonly exited: Promise<ServeExit>;
  /** What the process wrote to stdout so far; with `logFile`, what it wrote to the file (stdout and stderr interleaved). */
  stdout(): string;
  /** What the process wrote to stderr so far; '' with `logFile` (see stdout()). */
  stderr(): string;
  /** The JSON log lines of stdout() so far, in order; other lines (--trace-gc, say) are left out. */
  logLines(): LogLine[];
  /** The first log line for which `match` holds, waiting up to `timeoutMs` (default 15 s); rejects if the process exits first. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Sends `signal` (default SIGTERM) and awaits the exit; SIGKILL once `graceMs` (default 15 s) have passed. */
  stop(options?: { signal?: NodeJS.Signals; graceMs?: number }): Promise<ServeExit>;
}

/** Where the child's output goes and how to read it back. */
interface Output {
  stdio: ['pipe', 'pipe'] | [number, number];
  attach(child: ChildProcess): void;
  stdout(): string;
  stderr(): string;
  /** Calls `listener` when there may be new output; returns the function that stops it. */
  onChange(listener: () => void): () => void;
  /** Where to look when something went wrong. */
  describe(): string;
}

function memoryOutput(): Output {
  let stdout = '';
  let stderr = '';
  const listeners = new Set<() => void>();
  const changed = (): void => listeners.forEach((listener) => listener());
  return {
    stdio: ['pipe', 'pipe'],
    attach(child) {
      child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk;
        changed();
      });
      child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
        stderr += chunk;
        changed();
      });
    },
    stdout: () => stdout,
    stderr: () => stderr,
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    describe: () => (stderr.trim() === '' ? 'stderr: (empty)' : `stderr:\n${stderr.trim()}`),
  };
}

function fileOutput(file: string): Output {
  const fd = openSync(file, 'a');
  // The file may hold earlier runs: this process's output starts at today's end.
  const start = fstatSync(fd).size;
  return {
    stdio: [fd, fd],
    // The child has its own copy of the descriptor.
    attach: () => closeSync(fd),
    stdout: () => readFileSync(file).subarray(start).toString('utf8'),
    stderr: () => '',
    onChange(listener) {
      const timer = setInterval(listener, 100);
      return () => clearInterval(timer);
    },
    describe: () => `see ${file}`,
  };
}

/** Parses complete JSON lines as they arrive, each once. */
function logLineReader(text: () => string): () => LogLine[] {
  const lines: LogLine[] = [];
  let consumed = 0;
  return () => {
    const current = text();
    const end = current.lastIndexOf('\n') + 1;
    for (const line of current.slice(consumed, end).split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        const parsed: unknown = JSON.parse(line);
        if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) lines.push(parsed as LogLine);
      } catch {
        // not a log line
      }
    }
    consumed = Math.max(consumed, end);
    return [...lines];
  };
}

function describeExit(exit: ServeExit): string {
  return exit.signal === null ? `with code ${exit.code}` : `on ${exit.signal}`;
}

// ---- every server this process started, killed when it ends ------------------------------------------

const running = new Set<ServeProcess>();
let cleanupInstalled = false;

function killAllSync(): void {
  for (const served of running) served.child.kill('SIGKILL');
}

function onSignal(signal: NodeJS.Signals): void {
  killAllSync();
  process.removeListener('SIGINT', onSignal);
  process.removeListener('SIGTERM', onSignal);
  // Let the signal do what it would have done, unless someone else handles it.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function installCleanup(): void {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  process.on('exit', killAllSync);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

/**
 * Kills every server this process started that is still running, and waits for them to end. Call it
 * in a test file's `after`: a running child keeps the test process (and so the test run) from ending.
 */
export async function stopAllServes(): Promise<void> {
  await Promise.all([...running].map((served) => served.stop({ signal: 'SIGKILL' })));
}

// ---- starting one ----------------------------------------------------------------------------------------

/** Starts `daemonguard serve` and resolves once it is ready (see ServeOptions.readyz); kills it and rejects if it is not. */
export async function startServe(options: ServeOptions = {}): Promise<ServeProcess> {
  installCleanup();
  const args = [...(options.args ?? [])];
  let probePort = options.readyz?.probePort ?? 0;
  const probeGiven = args.some((arg) => arg === '--probe-address' || arg.startsWith('--probe-address=')) || options.env?.['DAEMONGUARD_PROBE_ADDRESS'] !== undefined;
  if (!probeGiven) {
    // Known in advance when readiness is polled (the log may be quiet); else read from the listening line.
    if (options.readyz !== undefined) probePort = await freePort();
    args.push('--probe-address', `127.0.0.1:${probePort}`);
  }
  const output = options.logFile === undefined ? memoryOutput() : fileOutput(options.logFile);
  const child = spawn(process.execPath, [...(options.nodeFlags ?? []), options.cli ?? CLI_BIN, 'serve', ...args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', ...output.stdio],
  });
  output.attach(child);

  let exit: ServeExit | undefined;
  const exited = new Promise<ServeExit>((resolve) => {
    child.once('close', (code, signal) => {
      exit = { code, signal };
      running.delete(served);
      resolve(exit);
    });
  });
  const spawnFailed = new Promise<Error>((resolve) => child.once('error', resolve));
  const logLines = logLineReader(output.stdout);

  const waitForLog = (match: (line: LogLine) => boolean, timeoutMs = 15_000): Promise<LogLine> =>
    new Promise((resolve, reject) => {
      let stopWatching = (): void => undefined;
      const finish = (outcome: () => void): void => {
        clearTimeout(timer);
        stopWatching();
        outcome();
      };
      const check = (): boolean => {
        const found = logLines().find(match);
        if (found !== undefined) finish(() => resolve(found));
        return found !== undefined;
      };
      const timer = setTimeout(() => finish(() => reject(new Error(`daemonguard serve wrote no such log line within ${timeoutMs} ms; ${output.describe()}`))), timeoutMs);
      if (check()) return;
      stopWatching = output.onChange(check);
      void exited.then((ended) => {
        if (!check()) finish(() => reject(new Error(`daemonguard serve exited ${describeExit(ended)} before writing the log line; ${output.describe()}`)));
      });
    });

  const stop = async ({ signal = 'SIGTERM', graceMs = 15_000 }: { signal?: NodeJS.Signals; graceMs?: number } = {}): Promise<ServeExit> => {
    if (exit !== undefined) return exit;
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    try {
      return await exited;
    } finally {
      clearTimeout(killer);
    }
  };

  let port = options.readyz?.port ?? 0;
  const served: ServeProcess = {
    child,
    pid: child.pid ?? -1,
    get port() {
      return port;
    },
    get url() {
      return `https://127.0.0.1:${port}`;
    },
    get probePort() {
      return probePort;
    },
    get probeUrl() {
      return `http://127.0.0.1:${probePort}`;
    },
    exited,
    stdout: output.stdout,
    stderr: output.stderr,
    logLines,
    waitForLog,
    stop,
  };
  running.add(served);

  const timeoutMs = options.readyTimeoutMs ?? 60_000;
  try {
    const ready =
      options.readyAtLog !== undefined
        ? waitForLog(options.readyAtLog, timeoutMs).then(() => undefined)
        : options.readyz === undefined
        ? waitForLog((line) => line['msg'] === LISTENING_MESSAGE && typeof line['port'] === 'number', timeoutMs).then((line) => {
            port = line['port'] as number;
            probePort = line['probePort'] as number;
          })
        : pollReadyz(served, timeoutMs, options.readyzPollMs ?? 100, () => exit, output);
    await Promise.race([ready, spawnFailed.then((error) => Promise.reject(error))]);
  } catch (error) {
    await stop({ signal: 'SIGKILL' });
    throw error;
  }
  return served;
}

/** A port on 127.0.0.1 that was free a moment ago, for a server started with a known port (see ServeOptions.readyz). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** Resident memory of a process in bytes (VmRSS in /proc); undefined without /proc or once it has ended. */
export function residentBytes(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Asks /readyz on the probe port every `intervalMs` until it answers 200. */
async function pollReadyz(served: ServeProcess, timeoutMs: number, intervalMs: number, exit: () => ServeExit | undefined, output: Output): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  for (;;) {
    const ended = exit();
    if (ended !== undefined) throw new Error(`daemonguard serve exited ${describeExit(ended)} before it was ready; ${output.describe()}`);
    try {
      const answer = await callHttp(`${served.probeUrl}/readyz`);
      if (answer.status === 200) return;
      last = `${answer.status} ${answer.text.trim()}`;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() > deadline) throw new Error(`daemonguard serve was not ready within ${timeoutMs} ms (last /readyz: ${last}); ${output.describe()}`);
    await sleep(intervalMs);
  }
}

/**
 * Starts `daemonguard serve` and sends `signal` (default SIGTERM) the moment /readyz first answers 200
 * (asked every 5 ms), as a kubelet may during a rollout; resolves with the exit once the process has
 * ended. A server that is ready but has not yet installed its signal handlers ends on the signal itself
 * (`signal: 'SIGTERM'`) instead of shutting down (`code: 0`).
 */
export async function signalWhenFirstReady(options: ServeOptions & { readyz: { port: number; probePort?: number } }, signal: NodeJS.Signals = 'SIGTERM'): Promise<{ served: ServeProcess; exit: ServeExit }> {
  const served = await startServe({ ...options, readyzPollMs: 5 });
  const exit = await served.stop({ signal });
  return { served, exit };
}
