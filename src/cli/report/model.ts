// What `daemonguard test` found, in the form every output format is written from.
import { relative, sep } from 'node:path';
import type { ReviewedAdmission } from '../../admission/pipeline.js';
import { exceptionNoticePrefix } from '../../engine/exceptions.js';
import type { JsonObject, PatchOperation, ValidationAction } from '../../engine/types.js';
import type { Coverage } from '../../coverage/coverage.js';
import type { PolicySet } from '../../policy/types.js';
import type { ManifestProblem } from '../manifest-reader.js';
import { strongestAction, type PolicyReport } from '../outcomes.js';
import { coverageJson, type CoverageJson } from './coverage-report.js';

export type FailOn = 'deny' | 'warn';

export interface TestResult {
  file: string;
  line: number;
  name: string;
  namespace: string;
  admission: ReviewedAdmission;
  policies: PolicyReport[];
  /** With --nodes: where the admitted DaemonSet lands. */
  coverage?: Coverage;
}

/** A violation as reports show it: with the one action it is reported under. */
export interface ReviewedViolation {
  policy: string;
  message: string;
  action: ValidationAction;
  /** The Kubernetes StatusReason a denial carries (Invalid, Forbidden, ...). */
  reason: string;
}

export function reviewedViolations(admission: ReviewedAdmission): ReviewedViolation[] {
  return admission.violations.map((v) => ({ policy: v.policy, message: v.message, action: strongestAction(v.actions), reason: v.reason }));
}

export interface TestReport {
  results: TestResult[];
  /** Documents that could not be reviewed and must be fixed (the run exits 2). */
  errors: ManifestProblem[];
  skipped: number;
  policySet: PolicySet;
  failOn: FailOn;
}

export interface ReportOptions {
  showPatch: boolean;
  showMutated: boolean;
  color: boolean;
}

export interface Summary {
  total: number;
  allowed: number;
  denied: number;
  warned: number;
  skipped: number;
}

/**
 * The warnings that call for attention: all but the notices that an exception applied, which say
 * that a reviewed, granted exception did its job (they are still in the answer and in -o json).
 */
export function attentionWarnings(admission: Pick<ReviewedAdmission, 'warnings' | 'exceptions'>): string[] {
  if (admission.exceptions.length === 0) return admission.warnings;
  const prefixes = admission.exceptions.map(exceptionNoticePrefix);
  return admission.warnings.filter((warning) => !prefixes.some((prefix) => warning.startsWith(prefix)));
}

export function summarize(report: TestReport): Summary {
  const { results } = report;
  return {
    total: results.length,
    allowed: results.filter((r) => r.admission.allowed).length,
    denied: results.filter((r) => !r.admission.allowed).length,
    warned: results.filter((r) => attentionWarnings(r.admission).length > 0).length,
    skipped: report.skipped,
  };
}

/** A result fails the run when it is denied, or (with --fail-on warn) carries a warning other than an exception's notice. */
export function isFailure(result: TestResult, failOn: FailOn): boolean {
  return !result.admission.allowed || (failOn === 'warn' && attentionWarnings(result.admission).length > 0);
}

/** Paths as a user and code-scanning tools want them: relative to the working directory, with `/`. */
export function displayPath(file: string): string {
  if (file.startsWith('<')) return file;
  const relativePath = relative(process.cwd(), file);
  const shown = relativePath === '' || relativePath.startsWith('..') ? file : relativePath;
  return sep === '/' ? shown : shown.split(sep).join('/');
}

/** The stable JSON document of `-o json` (and `-o yaml`): scripts depend on this shape. */
export interface JsonReport {
  results: {
    file: string;
    name: string;
    namespace: string;
    allowed: boolean;
    violations: ReviewedViolation[];
    warnings: string[];
    patch: PatchOperation[];
    /** The exceptions that let the DaemonSet through a policy, one per policy. */
    exceptions: { name: string; namespace: string; policy: string }[];
    mutated?: JsonObject | null;
    /** With --nodes: the same object as `daemonguard coverage -o json` has. */
    nodes?: CoverageJson['nodes'];
  }[];
  /** Documents that could not be reviewed, with the file and line and what to do (the run exits 2). */
  errors: ManifestProblem[];
  summary: Summary;
}

export function jsonReport(report: TestReport, options: Pick<ReportOptions, 'showMutated'>): JsonReport {
  return {
    results: report.results.map((r) => {
      const entry: JsonReport['results'][number] = {
        file: displayPath(r.file),
        name: r.name,
        namespace: r.namespace,
        allowed: r.admission.allowed,
        violations: reviewedViolations(r.admission),
        warnings: r.admission.warnings,
        patch: r.admission.patch,
        exceptions: r.admission.exceptions.map(({ name, namespace, policy }) => ({ name, namespace, policy })),
      };
      if (options.showMutated) entry.mutated = r.admission.admittedObject;
      if (r.coverage) entry.nodes = coverageJson(r.coverage).nodes;
      return entry;
    }),
    errors: report.errors.map((problem) => ({ file: displayPath(problem.file), line: problem.line, message: problem.message })),
    summary: summarize(report),
  };
}
