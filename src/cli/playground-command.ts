// `daemonguard playground`: a page in the browser where a DaemonSet pasted is reviewed as the cluster
// would review it, as you type (src/playground). Loopback and plain HTTP by default; any other address
// only with TLS, because the page carries manifests and policies.
//
//   daemonguard playground --nodes nodes.yaml     # then open http://127.0.0.1:8080/
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { setCelEngine } from '../cel/program.js';
import type { JsonObject } from '../common/vocabulary.js';
import { DEFAULT_PLAYGROUND_BODY_BYTES, createPlaygroundServer } from '../playground/playground-server.js';
import { DEFAULT_EVAL_DEADLINE_MS } from '../server/admission-server.js';
import { formatDuration } from '../server/duration.js';
import { DEFAULT_JSON_LIMITS } from '../server/json-limit-defaults.js';
import { parseNamespaces } from '../server/namespace-catalog.js';
import { InputError } from './exit-codes.js';
import { loadPoliciesForCli } from './load-policy-set.js';
import { readNodeFiles } from './node-reader.js';
import { parseDurationFlag, parsePort } from './options.js';
import { DEFAULT_POLICY_PATH } from './test-command.js';

export interface PlaygroundCommandOptions {
  port: number;
  address: string;
  policies?: string;
  nodes?: string;
  namespaces?: string;
  tlsCert?: string;
  tlsKey?: string;
  evalDeadline: number;
  maxBodyBytes: number;
}

/** Whether `address` reaches this machine only: 127.0.0.0/8, ::1, or the name localhost. */
export function isLoopback(address: string): boolean {
  const bare = address.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (bare === 'localhost') return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  if (isIP(bare) === 6) return bare === '::1' || /^::ffff:127\./.test(bare);
  return false;
}

/** The usage mistakes of the flags, said before anything is read. */
export function playgroundFlagProblem(options: Pick<PlaygroundCommandOptions, 'address' | 'tlsCert' | 'tlsKey'>): string | undefined {
  if ((options.tlsCert === undefined) !== (options.tlsKey === undefined)) return '--tls-cert and --tls-key go together';
  if (!isLoopback(options.address) && options.tlsCert === undefined) {
    return `--address ${options.address} is reachable from other machines: the playground serves it only over HTTPS (give --tls-cert and --tls-key), or use 127.0.0.1`;
  }
  return undefined;
}

function parseByteCount(value: string): number {
  const bytes = Number(value);
  if (!/^\d+$/.test(value.trim()) || bytes < 1024) throw new InvalidArgumentError('expected a number of bytes, at least 1024.');
  return bytes;
}

/** --namespaces FILE, read once; a file that is not Namespace objects is an input error naming it. */
async function readNamespaceFile(file: string): Promise<Map<string, JsonObject>> {
  try {
    return parseNamespaces(await readFile(file, 'utf8'), file);
  } catch (error) {
    throw new InputError(error instanceof Error && error.message.includes(file) ? error.message : `${file}: ${(error as Error).message}`);
  }
}

/** The host names the page is reached by: the browser's Host header must be one of them. */
function servedHosts(address: string): Set<string> {
  const hosts = new Set(['localhost', '127.0.0.1', '[::1]']);
  hosts.add(isIP(address) === 6 ? `[${address.toLowerCase()}]` : address.toLowerCase());
  return hosts;
}

/** The server, or an input error: its page files and the TLS files are read as it is created. */
function serverOrInputError(create: () => Server): Server {
  try {
    return create();
  } catch (error) {
    throw new InputError(`cannot start the playground: ${(error as Error).message} (check --tls-cert and --tls-key, or reinstall daemonguard if its playground/ folder is missing)`);
  }
}

export async function startPlayground(options: PlaygroundCommandOptions): Promise<{ url: string; close: () => Promise<void> }> {
  const problem = playgroundFlagProblem(options);
  if (problem !== undefined) throw new InputError(problem);
  const [policySet, nodes, namespaces] = await Promise.all([
    loadPoliciesForCli([options.policies ?? DEFAULT_POLICY_PATH]),
    options.nodes === undefined ? undefined : readNodeFiles([options.nodes], () => Promise.reject(new InputError('--nodes cannot read stdin here'))),
    options.namespaces === undefined ? undefined : readNamespaceFile(options.namespaces),
  ]);
  const server = serverOrInputError(() => createPlaygroundServer({
    policySet,
    ...(nodes === undefined ? {} : { nodes }),
    ...(namespaces === undefined ? {} : { namespaces }),
    evalDeadlineMs: options.evalDeadline,
    jsonLimits: DEFAULT_JSON_LIMITS,
    maxBodyBytes: options.maxBodyBytes,
    hosts: servedHosts(options.address),
    ...(options.tlsCert === undefined || options.tlsKey === undefined ? {} : { tls: { cert: options.tlsCert, key: options.tlsKey } }),
  }));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => reject(new InputError(`cannot listen on ${options.address}:${options.port}: ${error.message}`)));
    server.listen(options.port, options.address, resolve);
  });
  const { port } = server.address() as AddressInfo;
  const host = isIP(options.address) === 6 ? `[${options.address}]` : options.address;
  return {
    url: `${options.tlsCert === undefined ? 'http' : 'https'}://${host}:${port}/`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        // A browser keeps its connection open; closing must not wait for it.
        server.closeAllConnections();
      }),
  };
}

export function registerPlaygroundCommand(program: Command): void {
  program
    .command('playground')
    .description('serve a page where a pasted DaemonSet is reviewed as you type: verdict, patch, coverage')
    .addOption(new Option('--port <port>', 'port to listen on (0: any free port)').default(8080).argParser(parsePort))
    .addOption(new Option('--address <host>', 'address to listen on; other than loopback only with --tls-cert and --tls-key').default('127.0.0.1'))
    .option('-p, --policies <path>', 'policy file or folder the page offers (default: the built-in library)')
    .option('--nodes <file>', 'the nodes (`kubectl get nodes -o yaml`): each review shows where the DaemonSet runs')
    .option('--namespaces <file>', 'Namespace objects (`kubectl get namespaces -o yaml`): their labels, for namespaceSelector')
    .option('--tls-cert <file>', 'PEM certificate: serve HTTPS')
    .option('--tls-key <file>', 'PEM private key of --tls-cert')
    .addOption(new Option('--eval-deadline <duration>', 'time the policies get per review').default(DEFAULT_EVAL_DEADLINE_MS, formatDuration(DEFAULT_EVAL_DEADLINE_MS)).argParser(parseDurationFlag))
    .addOption(new Option('--max-body-bytes <bytes>', 'largest review request').default(DEFAULT_PLAYGROUND_BODY_BYTES).argParser(parseByteCount))
    .addHelpText('after', '\nExample:\n  $ daemonguard playground --nodes nodes.yaml      # open http://127.0.0.1:8080/\n')
    .action(async (options: PlaygroundCommandOptions, command: Command) => {
      const problem = playgroundFlagProblem(options);
      if (problem !== undefined) command.error(`error: ${problem}`);
      setCelEngine('compiled');
      const { url, close } = await startPlayground(options);
      process.stdout.write(`daemonguard playground: ${url}\n`);
      // The listening server keeps the process running; Ctrl-C or SIGTERM closes it.
      const stop = (): void => {
        void close().then(() => process.exit(0));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
