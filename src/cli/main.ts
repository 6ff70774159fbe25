#!/usr/bin/env node
// The `daemonguard` command line. Each command lives in its own module, which exports one function
// that registers the command on the program; this file only assembles them and maps errors to exit codes.
//
// Exit codes (see exit-codes.ts): 0 success, 1 denied / expectation failed, 2 usage or input error.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { EXIT_OK, EXIT_USAGE, InputError } from './exit-codes.js';
import { packageVersion } from './options.js';

type RegisterCommand = (program: Command) => void;

/**
 * Commands load on demand: `serve` pulls in pino, prom-client and the server (about half a second of
 * module loading), which `daemonguard test` in a CI loop should not pay for.
 */
const COMMANDS: Record<string, () => Promise<RegisterCommand>> = {
  audit: async () => (await import('./audit-command.js')).registerAuditCommand,
  test: async () => (await import('./test-command.js')).registerTestCommand,
  coverage: async () => (await import('./coverage-command.js')).registerCoverageCommand,
  export: async () => (await import('./export-command.js')).registerExportCommand,
  verify: async () => (await import('./verify-command.js')).registerVerifyCommand,
  review: async () => (await import('./review-command.js')).registerReviewCommand,
  serve: async () => (await import('./serve-command.js')).registerServeCommand,
  playground: async () => (await import('./playground-command.js')).registerPlaygroundCommand,
  certs: async () => (await import('./certs-command.js')).registerCertsCommand,
  manifests: async () => (await import('./webhook-manifests-command.js')).registerManifestsCommand,
};

/** The command named on the command line, if it is one of ours; otherwise every command is needed (help, typos). */
function invokedCommand(argv: readonly string[]): string | undefined {
  const first = argv.slice(2).find((arg) => !arg.startsWith('-'));
  return first !== undefined && Object.hasOwn(COMMANDS, first) ? first : undefined;
}

/**
 * Builds the program. With `argv`, only the invoked command is loaded and registered; without it (or
 * when no known command is named) every command is, so help and "unknown command" messages list all.
 */
export async function createProgram(argv?: readonly string[]): Promise<Command> {
  const program = new Command('daemonguard')
    .description('Admission webhook and policy engine for Kubernetes DaemonSets')
    .version(packageVersion())
    // Commander would call process.exit(1) on a bad flag; throw instead so main() can exit 2.
    // Set before the commands are added: subcommands inherit it.
    .exitOverride()
    .showHelpAfterError()
    .configureHelp({ sortSubcommands: true });

  const invoked = argv ? invokedCommand(argv) : undefined;
  const names = invoked ? [invoked] : Object.keys(COMMANDS);
  const registrars = await Promise.all(names.map((name) => COMMANDS[name]!()));
  for (const register of registrars) register(program);
  return program;
}

export async function main(argv: readonly string[] = process.argv): Promise<number> {
  const program = await createProgram(argv);
  try {
    await program.parseAsync([...argv]);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT_OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version "fail" with exit code 0; everything else is a usage error.
      return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    if (error instanceof InputError) {
      process.stderr.write(`error: ${error.message}\n`);
      return EXIT_USAGE;
    }
    process.stderr.write(`error: ${(error as Error).stack ?? String(error)}\n`);
    return EXIT_USAGE;
  }
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    // npm's bin links are symlinks: compare real paths.
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  // `daemonguard test ... | head` closes the pipe early: that is the reader's choice, not a crash.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? EXIT_OK);
    throw error;
  });
  // Set the exit code rather than calling process.exit(): large outputs to a pipe must finish writing.
  process.exitCode = await main();
}
