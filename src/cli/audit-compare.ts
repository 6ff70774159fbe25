// The impact preview of `daemonguard audit --compare-with CURRENT`: the same DaemonSets audited under
// the current policies and under the proposed ones (-p), and what changes between the two: which
// DaemonSets would newly fail, which would newly pass, and whose findings (fail, warn, error
// results, with their messages) change while the verdict stays.
import type { AuditReport, AuditResult } from './audit.js';
import { palette } from './report/color.js';
import { isFailure } from './report/model.js';
import { daemonSetResults, reportTimestamp, type ReportResultValue } from './report/openreports.js';

export interface Finding {
  policy: string;
  /** The result, with the action that decides it for a failure or an error (`fail/Deny`, `warn/Warn`, `error/Deny`). */
  result: string;
  message: string;
}

export interface DaemonSetImpact {
  namespace: string;
  name: string;
  nodes: number | undefined;
  /** Findings under the proposed policies that the current ones do not have. */
  added: Finding[];
  /** Findings under the current policies that the proposed ones no longer have. */
  removed: Finding[];
  /** The same finding (policy and message) with another result: a Warn policy switched to Deny, say. */
  changed: ResultChange[];
}

export interface ResultChange {
  policy: string;
  message: string;
  from: string;
  to: string;
}

export interface AuditComparison {
  newlyFailing: DaemonSetImpact[];
  newlyPassing: DaemonSetImpact[];
  findingsChanged: DaemonSetImpact[];
  unchanged: number;
}

const FINDINGS: ReadonlySet<ReportResultValue> = new Set(['fail', 'warn', 'error']);

function findingsOf(result: AuditResult, report: AuditReport): Finding[] {
  return daemonSetResults(result, reportTimestamp(report.auditedAt))
    .filter((entry) => FINDINGS.has(entry.result))
    .map((entry) => {
      // fail is always Deny and warn mostly Warn; an error's action is what tells a Deny-er from a Warn-er.
      const action = entry.result === 'error' ? entry.properties?.action : undefined;
      return { policy: entry.policy, result: action === undefined ? entry.result : `${entry.result} (${action})`, message: entry.message ?? '' };
    });
}

const keyOf = (finding: Finding): string => JSON.stringify([finding.policy, finding.result, finding.message]);
const withoutResult = (finding: Finding): string => JSON.stringify([finding.policy, finding.message]);

/** The differences between two lists of findings: a finding whose result alone changed is one change, not a removal and an addition. */
function findingChanges(was: readonly Finding[], is: readonly Finding[]): Pick<DaemonSetImpact, 'added' | 'removed' | 'changed'> {
  const wasKeys = new Set(was.map(keyOf));
  const isKeys = new Set(is.map(keyOf));
  const removed = was.filter((finding) => !isKeys.has(keyOf(finding)));
  const added = is.filter((finding) => !wasKeys.has(keyOf(finding)));
  const changed: ResultChange[] = [];
  for (const finding of [...added]) {
    const before = removed.findIndex((old) => withoutResult(old) === withoutResult(finding));
    if (before < 0) continue;
    changed.push({ policy: finding.policy, message: finding.message, from: removed[before]!.result, to: finding.result });
    removed.splice(before, 1);
    added.splice(added.indexOf(finding), 1);
  }
  return { added, removed, changed };
}
const subjectOf = (result: AuditResult): string => `${result.namespace}/${result.name}`;

/** Compares the audit under the proposed policies with the audit of the same DaemonSets under the current ones. */
export function compareAudits(current: AuditReport, proposed: AuditReport): AuditComparison {
  const before = new Map(current.results.map((result) => [subjectOf(result), result]));
  const comparison: AuditComparison = { newlyFailing: [], newlyPassing: [], findingsChanged: [], unchanged: 0 };
  for (const after of proposed.results) {
    const previous = before.get(subjectOf(after));
    if (previous === undefined) continue;
    const impact: DaemonSetImpact = {
      namespace: after.namespace,
      name: after.name,
      nodes: after.nodes,
      ...findingChanges(findingsOf(previous, current), findingsOf(after, proposed)),
    };
    const failedBefore = isFailure(previous, current.failOn);
    const failsAfter = isFailure(after, proposed.failOn);
    if (failsAfter && !failedBefore) comparison.newlyFailing.push(impact);
    else if (failedBefore && !failsAfter) comparison.newlyPassing.push(impact);
    else if (impact.added.length + impact.removed.length + impact.changed.length > 0) comparison.findingsChanged.push(impact);
    else comparison.unchanged++;
  }
  return comparison;
}

export function comparisonText(comparison: AuditComparison, color: boolean): string {
  const c = palette(color);
  const lines: string[] = [];
  const section = (title: string, impacts: readonly DaemonSetImpact[]): void => {
    if (impacts.length === 0) return;
    lines.push(c.bold(`${title} (${impacts.length}):`));
    for (const impact of impacts) {
      const nodes = impact.nodes === undefined ? '' : ` (${impact.nodes} node${impact.nodes === 1 ? '' : 's'})`;
      lines.push(`  ${impact.namespace}/${impact.name}${nodes}`);
      for (const finding of impact.removed) lines.push(`    ${c.green('-')} ${finding.result} ${finding.policy}: ${finding.message}`);
      for (const change of impact.changed) lines.push(`    ${c.yellow('~')} ${change.from} → ${change.to} ${change.policy}: ${change.message}`);
      for (const finding of impact.added) lines.push(`    ${c.red('+')} ${finding.result} ${finding.policy}: ${finding.message}`);
    }
    lines.push('');
  };
  section('newly failing', comparison.newlyFailing);
  section('newly passing', comparison.newlyPassing);
  section('findings changed', comparison.findingsChanged);
  const total = comparison.newlyFailing.length + comparison.newlyPassing.length + comparison.findingsChanged.length + comparison.unchanged;
  lines.push(`${total} DaemonSets compared: ${comparison.newlyFailing.length} newly failing, ${comparison.newlyPassing.length} newly passing, ${comparison.findingsChanged.length} with changed findings, ${comparison.unchanged} unchanged`);
  return `${lines.join('\n')}\n`;
}
