// What `daemonguard test` found, in the form every output format is written from.
import { relative, sep } from 'node:path';
import type { JsonObject, PatchOperation } from '../../engine/types.js';
import type { PolicySet } from '../../policy/types.js';
import type { DryRunOutcome, ReviewedViolation } from '../dry-run-request.js';
import type { PolicyReport } from '../outcomes.js';

export type FailOn = 'deny' | 'warn';

export interface TestResult {
  file: string;
  line: number;
  name: string;
  namespace: string;
  outcome: DryRunOutcome;
  policies: PolicyReport[];
}

export interface TestReport {
  results: TestResult[];
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

export function summarize(report: TestReport): Summary {
  const { results } = report;
  return {
    total: results.length,
    allowed: results.filter((r) => r.outcome.allowed).length,
    denied: results.filter((r) => !r.outcome.allowed).length,
    warned: results.filter((r) => r.outcome.warnings.length > 0).length,
    skipped: report.skipped,
  };
}

/** A result fails the run when it is denied, or (with --fail-on warn) carries a warning. */
export function isFailure(result: TestResult, failOn: FailOn): boolean {
  return !result.outcome.allowed || (failOn === 'warn' && result.outcome.warnings.length > 0);
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
    mutated?: JsonObject | null;
  }[];
  summary: Summary;
}

export function jsonReport(report: TestReport, options: Pick<ReportOptions, 'showMutated'>): JsonReport {
  return {
    results: report.results.map((r) => {
      const entry: JsonReport['results'][number] = {
        file: displayPath(r.file),
        name: r.name,
        namespace: r.namespace,
        allowed: r.outcome.allowed,
        violations: r.outcome.violations,
        warnings: r.outcome.warnings,
        patch: r.outcome.patch,
      };
      if (options.showMutated) entry.mutated = r.outcome.decision.mutatedObject;
      return entry;
    }),
    summary: summarize(report),
  };
}
