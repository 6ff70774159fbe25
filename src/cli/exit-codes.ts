// Exit codes every daemonguard command shares, so scripts and CI can tell "the policies said no"
// from "the command could not run".

/** Everything was admitted (or every expectation held). */
export const EXIT_OK = 0;
/** At least one denial (or, with --fail-on warn, a warning); for `verify`, a failed expectation. */
export const EXIT_FAILED = 1;
/** Bad usage, unreadable input, a broken manifest or policy: nothing was decided. */
export const EXIT_USAGE = 2;

/**
 * An error the user can fix: a bad flag value, a missing file, a YAML syntax error, a broken policy.
 * Its message already says where (file:line) and what; the command prints it and exits 2.
 */
export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}
