// The audit worker thread: judges batches of stored DaemonSets with a policy set compiled here, off
// the event loop that answers /validate (see audit-worker.ts for the side that starts it). It lowers
// its own scheduling priority first, so that on a busy node the webhook's thread gets the CPU first.
import { execFileSync } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { setCelEngine } from '../cel/program.js';
import { parseSourceText } from '../common/yaml-documents.js';
import { formatProblem } from '../policy/compile-policy.js';
import { buildPolicySet, compileDocuments } from '../policy/load-policies.js';
import type { PolicySet } from '../policy/types.js';
import { auditDaemonSet, findingOf, type AuditFinding } from './audit.js';
import type { AuditWorkerData, EvaluateMessage, FromWorker, PolicyDocumentsMessage, ReadyMessage, ToWorker } from './audit-worker-protocol.js';

const port = parentPort;
if (port === null) throw new Error('audit-worker-thread.js runs as a worker thread (node:worker_threads), not on its own');

/** The scheduling policy of this thread (field 41 of its stat): 5 is SCHED_IDLE. */
function schedulingPolicy(): 'idle' | 'normal' {
  const stat = readFileSync('/proc/thread-self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[41 - 3] === '5' ? 'idle' : 'normal';
}

/**
 * Lowers this thread's priority (Linux: setpriority on the thread's own id, which only this thread
 * has). At the lowest niceness it also asks for SCHED_IDLE through chrt(1), where chrt is installed:
 * a niceness only weighs the thread's share, and a woken event loop can still wait out the worker's
 * time slice; an idle-policy thread is preempted as soon as anything else wants the CPU.
 */
function lowerPriority(niceness: number): ReadyMessage['priority'] {
  try {
    // /proc/thread-self links to /proc/<pid>/task/<tid> of the calling thread.
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isInteger(tid) || tid <= 0) return { error: 'no thread id in /proc/thread-self' };
    if (niceness > 0) setPriority(tid, Math.min(19, getPriority(tid) + niceness));
    let idleError: string | undefined;
    if (getPriority(tid) >= 19) {
      try {
        execFileSync('chrt', ['--idle', '--pid', '0', String(tid)], { stdio: 'ignore', timeout: 5_000 });
      } catch (error) {
        idleError = `chrt --idle: ${(error as Error).message}`;
      }
    }
    return { tid, niceness: getPriority(tid), policy: schedulingPolicy(), ...(idleError === undefined ? {} : { idleError }) };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

let compiled: { version: number; set: PolicySet } | { version: number; problem: string } | undefined;

async function compile(message: PolicyDocumentsMessage): Promise<void> {
  try {
    compiled = await compiledSet(message);
  } catch (error) {
    compiled = { version: message.version, problem: `the audit worker could not compile the serving policies (report this): ${(error as Error).message}` };
  }
}

async function compiledSet(message: PolicyDocumentsMessage): Promise<NonNullable<typeof compiled>> {
  const sources = message.documents.flatMap((document) => parseSourceText(document.file, document.text));
  const { policies, exceptions, problems } = await compileDocuments(sources);
  // The serving set compiled from these very documents: a problem here is a bug, said as one.
  return problems.length > 0
    ? { version: message.version, problem: `the audit worker could not compile the serving policies (report this): ${problems.map(formatProblem).join('; ')}` }
    : { version: message.version, set: buildPolicySet(policies, message.files, exceptions) };
}

async function evaluate(message: EvaluateMessage): Promise<FromWorker> {
  if (compiled === undefined || compiled.version !== message.version) return { type: 'failed', id: message.id, message: `the audit worker has no policy set version ${message.version}` };
  if ('problem' in compiled) return { type: 'failed', id: message.id, message: compiled.problem };
  const namespaces = new Map(message.namespaces.filter((entry): entry is [string, NonNullable<(typeof entry)[1]>] => entry[1] !== null));
  const findings: AuditFinding[] = [];
  for (const object of message.daemonSets) {
    findings.push(findingOf(await auditDaemonSet({ file: '<cluster>', line: 0, object }, compiled.set, namespaces)));
  }
  return { type: 'evaluated', id: message.id, findings };
}

// Messages are handled one after the other, in the order they were sent.
let queue = Promise.resolve();
port.on('message', (message: ToWorker) => {
  queue = queue.then(async () => {
    if (message.type === 'policies') await compile(message);
    else port.postMessage(await evaluate(message).catch((error: unknown): FromWorker => ({ type: 'failed', id: message.id, message: `evaluating the batch failed: ${(error as Error).message}` })));
  });
});

const { celEngine, niceness } = workerData as AuditWorkerData;
setCelEngine(celEngine);
port.postMessage({ type: 'ready', priority: lowerPriority(niceness) } satisfies ReadyMessage);
