// The audit as policy reports Policy Reporter and other consumers read: one Report per namespace, in
// the OpenReports API (openreports.io/v1alpha1 Report, as github.com/openreports/reports-api v0.2.1
// defines it) or its predecessor (wgpolicyk8s.io/v1alpha2 PolicyReport). Both share the result shape:
// `policy`, `rule`, `result` (pass | fail | warn | error | skip), `message`, `source`, `timestamp`
// ({seconds, nanos}), the checked objects under `resources`, and a summary counted from the results.
import type { JsonObject } from '../../common/vocabulary.js';
import type { AuditFinding, AuditFindings } from '../audit.js';
import { strongestAction, type PolicyVerdict } from '../outcomes.js';

export type ReportFlavour = 'openreports' | 'policyreport';
export type ReportResultValue = 'pass' | 'fail' | 'warn' | 'error' | 'skip';
export const REPORT_RESULT_VALUES: readonly ReportResultValue[] = ['pass', 'fail', 'warn', 'error', 'skip'];

export const REPORT_SOURCE = 'daemonguard';
/** The name of the one Report daemonguard keeps in each namespace. */
export const REPORT_NAME = 'daemonguard-audit';
const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'daemonguard' };

/**
 * A policy's verdict as a report result. A Deny violation fails; a Warn or Audit violation is `warn`
 * (not met, not enforced: what OpenReports calls "not scored"); a policy a DaemonSetPolicyException
 * lifts is `skip` (as Kyverno reports its exceptions); a mutation the next update would make is no
 * finding, so `pass`.
 */
export function resultValue(verdict: PolicyVerdict): ReportResultValue {
  switch (verdict) {
    case 'deny':
      return 'fail';
    case 'warn':
    case 'audit':
      return 'warn';
    case 'error':
      return 'error';
    case 'skip':
    case 'except':
      return 'skip';
    default:
      return 'pass';
  }
}

export interface ReportResult {
  source: string;
  policy: string;
  rule: string;
  result: ReportResultValue;
  message?: string;
  timestamp: { seconds: number; nanos: number };
  resources: JsonObject[];
  properties?: Record<string, string>;
}

export type ReportSummary = Record<ReportResultValue, number>;

function daemonSetReference(result: AuditFinding): JsonObject {
  const reference: JsonObject = { apiVersion: 'apps/v1', kind: 'DaemonSet', namespace: result.namespace, name: result.name };
  if (result.uid !== undefined) reference.uid = result.uid;
  return reference;
}

/**
 * The report results of one audited DaemonSet: one per violation of a policy that fails (its rule is
 * the validation, `validations[i]`, or `evaluation` when the policy could not be evaluated), and one
 * per other policy (rule `validations`, `mutations`, `match` or `evaluation`, by what decided it).
 */
export function daemonSetResults(result: AuditFinding, timestamp: ReportResult['timestamp']): ReportResult[] {
  const entries: ReportResult[] = [];
  const push = (policy: string, rule: string, value: ReportResultValue, message: string | undefined, properties?: Record<string, string>): void => {
    // Fresh objects per entry: shared ones would come out of the YAML writer as anchors and aliases.
    const entry: ReportResult = { source: REPORT_SOURCE, policy, rule, result: value, timestamp: { ...timestamp }, resources: [daemonSetReference(result)] };
    if (message !== undefined && message !== '') entry.message = message;
    if (properties !== undefined) entry.properties = properties;
    entries.push(entry);
  };
  for (const policy of result.policies) {
    const value = resultValue(policy.verdict);
    if (value === 'fail' || value === 'warn') {
      for (const violation of result.admission.violations.filter((v) => v.policy === policy.policy)) {
        const rule = violation.validation < 0 ? 'evaluation' : `validations[${violation.validation}]`;
        push(policy.policy, rule, value, violation.message, { action: strongestAction(violation.actions) });
      }
      continue;
    }
    const message = policy.messages.join('; ');
    if (policy.verdict === 'mutate') {
      push(policy.policy, 'mutations', value, `the next update of this DaemonSet gets ${policy.patchOperations} patch operation(s) from this policy`, { patchOperations: String(policy.patchOperations) });
    } else if (policy.verdict === 'except') {
      const exception = result.admission.exceptions.find((use) => use.policy === policy.policy);
      push(policy.policy, 'exception', value, policy.messages[0], exception === undefined ? undefined : { exception: `${exception.namespace}/${exception.name}` });
    } else if (value === 'error') {
      // Under failurePolicy Fail the error is a violation with the policy's actions: say which, since it decides the admission.
      const actions = result.admission.violations.filter((v) => v.policy === policy.policy).flatMap((v) => v.actions);
      push(policy.policy, 'evaluation', value, message, actions.length > 0 ? { action: strongestAction(actions) } : undefined);
    } else {
      push(policy.policy, value === 'skip' ? 'match' : 'validations', value, message);
    }
  }
  return entries;
}

/** Counts of each result value: what `summary` must say of `results`. */
export function summarizeResults(results: readonly Pick<ReportResult, 'result'>[]): ReportSummary {
  const summary: ReportSummary = { pass: 0, fail: 0, warn: 0, error: 0, skip: 0 };
  for (const entry of results) summary[entry.result]++;
  return summary;
}

export function reportTimestamp(date: Date): ReportResult['timestamp'] {
  const millis = date.getTime();
  return { seconds: Math.floor(millis / 1000), nanos: (millis % 1000) * 1_000_000 };
}

/** The audit's results grouped by namespace, in namespace order (DaemonSets in the order they were read). */
export function resultsByNamespace<R extends AuditFinding>(report: { results: readonly R[] }): Map<string, R[]> {
  const groups = new Map<string, R[]>();
  for (const namespace of [...new Set(report.results.map((r) => r.namespace))].sort()) groups.set(namespace, []);
  for (const result of report.results) groups.get(result.namespace)!.push(result);
  return groups;
}

/** One Report (or PolicyReport) for the DaemonSets of one namespace. */
export function namespaceReport(namespace: string, results: readonly AuditFinding[], auditedAt: Date, flavour: ReportFlavour): JsonObject {
  const timestamp = reportTimestamp(auditedAt);
  const entries = results.flatMap((result) => daemonSetResults(result, timestamp));
  const metadata = { name: REPORT_NAME, namespace, labels: { ...MANAGED_BY } };
  const summary = summarizeResults(entries);
  const plain = entries as unknown as JsonObject[];
  if (flavour === 'openreports') {
    return { apiVersion: 'openreports.io/v1alpha1', kind: 'Report', metadata, source: REPORT_SOURCE, summary, results: plain };
  }
  // v1alpha2 has no report-level source: each result names it.
  return { apiVersion: 'wgpolicyk8s.io/v1alpha2', kind: 'PolicyReport', metadata, summary, results: plain };
}

/** Every namespace's Report of an audit. */
export function auditReports(report: AuditFindings, flavour: ReportFlavour): JsonObject[] {
  return [...resultsByNamespace(report)].map(([namespace, results]) => namespaceReport(namespace, results, report.auditedAt, flavour));
}
