#!/usr/bin/env node
// The `daemonguard` command line. Each command lives in its own module, which exports one function
// that registers the command on the program; this file only assembles them and maps errors to exit codes.
//
// Exit codes (see exit-codes.ts): 0 success, 1 denied / expectation failed, 2 usage or input error.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { registerCertsCommand } from './certs-command.js';
import { EXIT_OK, EXIT_USAGE, InputError } from './exit-codes.js';
import { registerManifestsCommand } from './manifests-command.js';
import { packageVersion } from './options.js';
import { registerReviewCommand } from './review-command.js';
import { registerServeCommand } from './serve-command.js';
import { registerTestCommand } from './dry-run-command.js';
import { registerVerifyCommand } from './verify-command.js';

/** Builds the program with every command registered. Exported for tests that want to inspect it. */
export function createProgram(): Command {
  const program = new Command('daemonguard')
    .description('Admission webhook and policy engine for Kubernetes DaemonSets')
    .version(packageVersion())
    // Commander would call process.exit(1) on a bad flag; throw instead so main() can exit 2.
    // Set before the commands are added: subcommands inherit it.
    .exitOverride()
    .showHelpAfterError()
    .configureHelp({ sortSubcommands: true });

  registerTestCommand(program);
  registerVerifyCommand(program);
  registerReviewCommand(program);
  registerServeCommand(program);
  registerCertsCommand(program);
  registerManifestsCommand(program);
  return program;
}

export async function main(argv: readonly string[] = process.argv): Promise<number> {
  const program = createProgram();
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
  // Set the exit code rather than calling process.exit(): large outputs to a pipe must finish writing.
  process.exitCode = await main();
}
