// Reading the kube-apiserver's answers to policies exported with `daemonguard export --format vap`
// and bound with validationActions [Warn]: each failed validation comes back as a Warning header,
// `Validation failed for ValidatingAdmissionPolicy '<policy>' with binding '<binding>': <message>`.

/** The name prefix the e2e suites export with, so their native policies are told from any other. */
export const VAP_PREFIX = 'dg-';

export interface NativeVerdict {
  /** The daemonguard policy's name. */
  policy: string;
  kind: 'violation' | 'error';
  message: string;
}

/**
 * The ValidatingAdmissionPolicy outcomes among a response's warnings: failed validations with their
 * messages, and evaluation errors. Other warnings (Pod Security, deprecations) are skipped.
 */
export function nativeVerdicts(warnings: readonly string[], prefix: string = VAP_PREFIX): NativeVerdict[] {
  const verdicts: NativeVerdict[] = [];
  for (const warning of warnings) {
    const failed = /^Validation failed for ValidatingAdmissionPolicy '([^']+)' with binding '[^']+': ([\s\S]*)$/.exec(warning);
    if (failed && failed[1]!.startsWith(prefix)) {
      verdicts.push({ policy: failed[1]!.slice(prefix.length), kind: 'violation', message: failed[2]! });
      continue;
    }
    const other = /ValidatingAdmissionPolicy '([^']+)'/.exec(warning);
    if (other && other[1]!.startsWith(prefix)) verdicts.push({ policy: other[1]!.slice(prefix.length), kind: 'error', message: warning });
  }
  return verdicts;
}
