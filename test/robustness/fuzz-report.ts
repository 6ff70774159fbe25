// What a fuzzing property says when it fails or is cancelled, so that the case is never lost: the seed
// and path to replay it, the counterexample (cut in the message, whole in a file), and the error. A
// property cancelled by its test's timeout names the input it was on. (Not a test file itself.)
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import fc from 'fast-check';

/** Where a case is cut in messages; the file holds all of it. */
const SHOWN_CHARACTERS = 2_000;

export interface FuzzReportOptions {
  /** The test's context: its name goes into the replay command, its signal tells of a cancellation. */
  t: TestContext;
  /** A short name for the property, for messages and the file name. */
  property: string;
  seed: number;
  /** The compiled test file, for the replay command. */
  testFile: string;
}

function cut(text: string): string {
  return text.length <= SHOWN_CHARACTERS ? text : `${text.slice(0, SHOWN_CHARACTERS)}… (${text.length} characters in all)`;
}

/** Writes `text` next to the other fuzz cases in the temporary folder; returns the file, or why it could not be written. */
function keep(name: string, text: string): string {
  const file = path.join(os.tmpdir(), `daemonguard-fuzz-${name.replace(/[^a-z0-9]+/gi, '-')}.txt`);
  try {
    writeFileSync(file, text);
    return file;
  } catch (error) {
    return `(not written: ${(error as Error).message})`;
  }
}

function replayCommand({ t, seed, testFile }: FuzzReportOptions, counterexamplePath?: string): string {
  const pathVariable = counterexamplePath === undefined ? '' : ` DAEMONGUARD_FUZZ_PATH=${counterexamplePath}`;
  return `DAEMONGUARD_FUZZ_SEED=${seed}${pathVariable} node --test --test-name-pattern=${JSON.stringify(t.name)} ${testFile}`;
}

/**
 * A fast-check plugin for one property: on failure it throws an error that carries the seed, the
 * path, the command that replays the case, the counterexample and the error; while the property runs
 * it keeps the input being tried, and prints it if the test is cancelled (a timeout) before the
 * property ends, when fast-check has no chance to report anything.
 */
export function fuzzReport<Ts>(options: FuzzReportOptions): fc.Plugin<Ts> {
  return () => {
    const { t, property, seed } = options;
    let tried = 0;
    let current: Ts | undefined;
    const onCancel = (): void => {
      const input = current === undefined ? '(none yet)' : fc.stringify(current);
      const file = keep(`${property}-${seed}-cancelled`, input);
      console.log(
        `fuzz ${property}: cancelled while trying input ${tried} (seed ${seed}); replay: ${replayCommand(options)}\n` +
          `the input it was on (whole in ${file}): ${cut(input)}`,
      );
    };
    t.signal.addEventListener('abort', onCancel, { once: true });
    return {
      decorateRun: (run) => (value) => {
        tried++;
        current = value;
        return run(value);
      },
      onAllRunsComplete: (details) => {
        if (!details.failed) return;
        if (details.counterexample === null) {
          // Too many skipped inputs, or interrupted as a failure: fast-check's own words say which.
          throw new Error(`fuzz ${property} (seed ${seed}): ${fc.defaultReportMessage(details) ?? 'failed'}`);
        }
        const counterexample = fc.stringify(details.counterexample);
        const error = details.errorInstance instanceof Error ? details.errorInstance : new Error(String(details.errorInstance));
        const file = keep(`${property}-${seed}`, `${counterexample}\n\n${error.stack ?? error.message}\n`);
        throw new Error(
          `fuzz ${property} failed on input ${details.numRuns} (shrunk ${details.numShrinks} times); seed ${seed}, path ${details.counterexamplePath}\n` +
            `replay: ${replayCommand(options, details.counterexamplePath ?? undefined)}\n` +
            `counterexample (whole in ${file}): ${cut(counterexample)}\n` +
            `error: ${cut(error.message)}`,
          { cause: details.errorInstance },
        );
      },
      afterAll: () => t.signal.removeEventListener('abort', onCancel),
    };
  };
}
