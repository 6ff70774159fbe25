// Loading policies for a one-shot command: a broken policy is something the user fixes (exit 2).
import { PolicyLoadError, loadPolicySet } from '../policy/load-policies.js';
import type { PolicySet } from '../policy/types.js';
import { InputError } from './exit-codes.js';

/** Loads policies, turning a broken policy into an InputError that lists every problem with file:line. */
export async function loadPoliciesForCli(paths: readonly string[]): Promise<PolicySet> {
  try {
    return await loadPolicySet(paths);
  } catch (error) {
    if (error instanceof PolicyLoadError) throw new InputError(error.message);
    throw error;
  }
}
