// Loading policies for a one-shot command: a broken policy is something the user fixes (exit 2).
import { formatProblem } from '../policy/compile-policy.js';
import { PolicyLoadError, loadPolicySet } from '../policy/load-policies.js';
import type { PolicySet } from '../policy/types.js';
import { InputError } from './exit-codes.js';
import { displayPath } from './report/model.js';

export interface CliPolicyOptions {
  /** Files and folders of param objects for native policies (`--params`). */
  paramPaths?: readonly string[];
  /** Where the set's notes go (native policies skipped, bindings without policy); default stderr. */
  writeNote?: (line: string) => void;
}

/**
 * Loads policies, turning a broken policy into an InputError that lists every problem with file:line.
 * What loading noticed without refusing is said on stderr as `note: file:line:column: ...`.
 */
export async function loadPoliciesForCli(paths: readonly string[], options: CliPolicyOptions = {}): Promise<PolicySet> {
  let set: PolicySet;
  try {
    set = await loadPolicySet(paths, { paramPaths: options.paramPaths });
  } catch (error) {
    if (error instanceof PolicyLoadError) throw new InputError(error.message);
    throw error;
  }
  const write = options.writeNote ?? ((line: string) => process.stderr.write(`${line}\n`));
  for (const note of set.notes ?? []) write(`note: ${formatProblem({ ...note, file: displayPath(note.file), policy: undefined })}`);
  return set;
}
