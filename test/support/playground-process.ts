// `daemonguard playground` as a real subprocess: started, waited for until it prints its address, and
// stopped with SIGTERM. The API test, the browser test and the package test share it, and the first
// two the examples they paste.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { CLI_BIN, REPO_ROOT } from './cli-process.js';

/** What the command prints once it listens: `daemonguard playground: http://127.0.0.1:PORT/`. */
const LISTENING = /^daemonguard playground: (https?:\/\/\S+)$/m;

export interface PlaygroundProcess {
  /** The page's address, as the command printed it. */
  url: string;
  child: ChildProcess;
  output(): string;
  /** SIGTERM, then the exit code and signal. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface PlaygroundStart {
  /** Flags after `playground`. */
  args?: readonly string[];
  /** The executable and the arguments before `playground`: default, the repository's build under node. */
  command?: { file: string; args: readonly string[] };
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

const running = new Set<ChildProcess>();

/** Kills any playground a failed test left running (call from `after`). */
export function killPlaygrounds(): void {
  for (const child of running) child.kill('SIGKILL');
}

export function startPlayground(options: PlaygroundStart = {}): Promise<PlaygroundProcess> {
  const command = options.command ?? { file: process.execPath, args: [CLI_BIN] };
  const child = spawn(command.file, [...command.args, 'playground', '--port', '0', ...(options.args ?? [])], {
    cwd: options.cwd ?? REPO_ROOT,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let stdout = '';
  let stderr = '';
  const output = (): string => `--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    }),
  );
  return new Promise((resolve, reject) => {
    // Loading and compiling the library takes seconds on a loaded machine; a minute is "it hangs".
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`daemonguard playground printed no address within ${options.timeoutMs ?? 60_000} ms\n${output()}`));
    }, options.timeoutMs ?? 60_000);
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      const match = LISTENING.exec(stdout);
      if (match === null) return;
      clearTimeout(timer);
      resolve({
        url: match[1]!,
        child,
        output,
        stop: () => {
          child.kill('SIGTERM');
          return exited;
        },
      });
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`daemonguard playground exited (${signal ?? code}) before it listened\n${output()}`));
    });
  });
}

// ---- what the API and browser tests paste ---------------------------------------------------------

/** The nodes the playground tests start with (`--nodes`), so the page and the API show coverage. */
export const PLAYGROUND_NODES_FILE = join(REPO_ROOT, 'test', 'playground', 'testdata', 'nodes.yaml');

/** A policy with a CEL syntax error on its line 7, as a user might paste it; `.replace('hostNetwork ==', 'hostNetwork != true')` fixes it. */
export const BROKEN_POLICY = `apiVersion: daemonguard.dev/v1alpha1
kind: DaemonSetPolicy
metadata:
  name: no-host-network
spec:
  validations:
    - expression: "object.spec.template.spec.hostNetwork =="
      message: hostNetwork is not allowed
`;

/** The DaemonSet of one of examples/*.json (AdmissionReviews), as YAML text a user would paste. */
export async function exampleDaemonSet(name: string): Promise<string> {
  const review = JSON.parse(await readFile(join(REPO_ROOT, 'examples', name), 'utf8')) as { request: { object: unknown } };
  return stringify(review.request.object);
}

/** The three examples both tests paste: admitted as is, denied (privileged), and mutated (kubectl apply's annotation). */
export interface PastedExamples {
  compliant: string;
  privileged: string;
  kubectlApply: string;
}

/** Starts a playground with `args` and reads the three examples meanwhile. */
export async function startPlaygroundWithExamples(args: readonly string[]): Promise<{ playground: PlaygroundProcess; examples: PastedExamples }> {
  const [playground, compliant, privileged, kubectlApply] = await Promise.all([
    startPlayground({ args }),
    exampleDaemonSet('create-compliant.json'),
    exampleDaemonSet('create-privileged.json'),
    exampleDaemonSet('create-kubectl-apply.json'),
  ]);
  return { playground, examples: { compliant, privileged, kubectlApply } };
}
