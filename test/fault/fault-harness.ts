// What the fault scenarios share: `daemonguard serve` as a real child process, and a load generator
// that sends AdmissionReviews over HTTPS and checks every answer against a reference.
// Traffic goes to 127.0.0.1 only; every load loop is bounded in count and in time.

import { request as httpsRequest, type Agent } from 'node:https';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { freePort, startServe, type ServeProcess } from '../support/serve-process.js';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface FaultServeOptions {
  certFile: string;
  keyFile: string;
  policies: string;
  logFile: string;
  extraArgs?: string[];
}

/** Starts `daemonguard serve` on a free port of 127.0.0.1, logging warnings to `logFile`, and waits until /readyz on its probe port answers 200 (at most 30 s). */
export async function startFaultServe(options: FaultServeOptions): Promise<ServeProcess> {
  const port = await freePort();
  const args = [
    '--address',
    '127.0.0.1',
    '--port',
    String(port),
    '--tls-cert',
    options.certFile,
    '--tls-key',
    options.keyFile,
    '--policies',
    options.policies,
    '--namespaces',
    path.join(ROOT, 'examples', 'namespaces.yaml'),
    '--watch-interval',
    '500ms',
    '--log-level',
    'warn',
    ...(options.extraArgs ?? []),
  ];
  return startServe({ args, logFile: options.logFile, readyz: { port }, readyTimeoutMs: 30_000 });
}

export interface Answer {
  status: number;
  text: string;
  /** Serial number of the certificate the server presented on the connection used. */
  serial: string | undefined;
  /** Whether the request opened a new connection (and so a TLS handshake). */
  newConnection: boolean;
  /** The TLS session was resumed: no certificate was sent on this connection. */
  resumed: boolean;
  error?: string;
}

/** One HTTPS request; never rejects: a failure is an Answer with `error`. Gives up after 15 s. */
export function once(agent: Agent | false, url: string, endpoint: string, body?: string, ca?: string): Promise<Answer> {
  return new Promise((resolve) => {
    let settled = false;
    const finish = (answer: Answer): void => {
      if (settled) return;
      settled = true;
      resolve(answer);
    };
    const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) };
    const request = httpsRequest(`${url}${endpoint}`, { method: body === undefined ? 'GET' : 'POST', headers, agent, ...(ca === undefined ? {} : { ca }), timeout: 15_000 }, (response) => {
      const socket = response.socket as TLSSocket;
      const serial = socket.getPeerCertificate?.()?.serialNumber;
      const resumed = socket.isSessionReused?.() ?? false;
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => finish({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), serial, newConnection, resumed }));
      response.on('error', (error) => finish({ status: 0, text: '', serial, newConnection, resumed, error: error.message }));
    });
    let newConnection = false;
    request.on('socket', (socket) => {
      newConnection = !(socket as TLSSocket & { _daemonguardSeen?: boolean })._daemonguardSeen;
      (socket as TLSSocket & { _daemonguardSeen?: boolean })._daemonguardSeen = true;
    });
    request.on('timeout', () => request.destroy(new Error('timed out after 15 s')));
    request.on('error', (error) => finish({ status: 0, text: '', serial: undefined, newConnection, resumed: false, error: (error as NodeJS.ErrnoException).code ?? error.message }));
    request.end(body);
  });
}

/** A review to send again and again: its JSON with a uid placeholder, and what the answer must say. */
export interface ReviewCase {
  name: string;
  endpoint: '/validate' | '/mutate';
  /** The body with `@@UID@@` where the uid goes. */
  template: string;
  /** The answer's response without its uid, as JSON text: set from a first, calm call. */
  expected?: string;
}

let uidCounter = 0;

/** Sends the case with a fresh uid; says what was wrong with the answer, or undefined when it was right. */
export async function sendCase(agent: Agent | false, url: string, reviewCase: ReviewCase, ca?: string): Promise<{ answer: Answer; problem: string | undefined }> {
  const uid = `fault-${process.pid}-${++uidCounter}`;
  const answer = await once(agent, url, reviewCase.endpoint, reviewCase.template.replace('@@UID@@', uid), ca);
  return { answer, problem: answerProblem(reviewCase, uid, answer) };
}

/** The response without its uid, as JSON text: what must be the same for every call of a case. */
function verdictText(response: Record<string, unknown>): string {
  return JSON.stringify({ ...response, uid: undefined });
}

export function answerProblem(reviewCase: ReviewCase, uid: string, answer: Answer): string | undefined {
  if (answer.error !== undefined) return `request failed: ${answer.error}`;
  if (answer.status !== 200) return `status ${answer.status}: ${answer.text.slice(0, 200)}`;
  let response: Record<string, unknown>;
  try {
    response = (JSON.parse(answer.text) as { response: Record<string, unknown> }).response;
  } catch {
    return 'the answer is not JSON';
  }
  if (response['uid'] !== uid) return `uid ${String(response['uid'])} for ${uid}`;
  const verdict = verdictText(response);
  if (reviewCase.expected !== undefined && verdict !== reviewCase.expected) return `wrong answer: ${verdict.slice(0, 300)} (expected ${reviewCase.expected.slice(0, 300)})`;
  return undefined;
}

/** Sets each case's expected answer from one call (made while nothing is being broken). */
export async function learnExpected(agent: Agent | false, url: string, cases: ReviewCase[], ca?: string): Promise<void> {
  for (const reviewCase of cases) {
    delete reviewCase.expected;
    const { answer, problem } = await sendCase(agent, url, reviewCase, ca);
    if (problem !== undefined) throw new Error(`${reviewCase.name}: ${problem}`);
    reviewCase.expected = verdictText((JSON.parse(answer.text) as { response: Record<string, unknown> }).response);
  }
}

export interface LoadTally {
  sent: number;
  correct: number;
  failed: number;
  /** A few examples of what went wrong. */
  problems: string[];
}

export function newTally(): LoadTally {
  return { sent: 0, correct: 0, failed: 0, problems: [] };
}

export function record(tally: LoadTally, problem: string | undefined): void {
  tally.sent++;
  if (problem === undefined) tally.correct++;
  else {
    tally.failed++;
    if (tally.problems.length < 5) tally.problems.push(problem);
  }
}

export interface LoadOptions {
  concurrency: number;
  /** Stop once this many were sent and `until()` is true ... */
  minRequests: number;
  until?: () => boolean;
  /** ... or at this hard cap, or after this long, whichever comes first. */
  maxRequests: number;
  maxMs: number;
  /** Requests per second across all workers; undefined = as fast as answers come. */
  rate?: number;
  /** Picks the target for each request (default: `url`). */
  target?: (index: number) => string;
  onAnswer?: (result: { index: number; started: number; url: string; reviewCase: ReviewCase; answer: Answer; problem: string | undefined }) => void;
}

/** Runs `concurrency` workers sending the cases round-robin; bounded by count and by time. */
export async function runLoad(agent: Agent | false | ((url: string) => Agent | false), url: string, cases: ReviewCase[], options: LoadOptions): Promise<LoadTally> {
  const tally = newTally();
  const started = performance.now();
  let next = 0;
  const done = (): boolean =>
    next >= options.maxRequests || performance.now() - started > options.maxMs || (next >= options.minRequests && (options.until?.() ?? true));
  const worker = async (): Promise<void> => {
    while (!done()) {
      const index = next++;
      if (options.rate !== undefined) {
        const due = started + (index / options.rate) * 1000;
        const wait = due - performance.now();
        if (wait > 1) await sleep(wait);
      }
      const target = options.target?.(index) ?? url;
      const reviewCase = cases[index % cases.length]!;
      const requestStarted = performance.now();
      const chosen = typeof agent === 'function' ? agent(target) : agent;
      const { answer, problem } = await sendCase(chosen, target, reviewCase);
      record(tally, problem);
      options.onAnswer?.({ index, started: requestStarted, url: target, reviewCase, answer, problem });
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  return tally;
}

export function formatTally(name: string, tally: LoadTally, extra = ''): string {
  const lines = [`${name}: requests sent ${tally.sent}, answered correctly ${tally.correct}, failed ${tally.failed}${extra === '' ? '' : `; ${extra}`}`];
  for (const problem of tally.problems) lines.push(`    e.g. ${problem}`);
  return lines.join('\n');
}
