// The human form of an audit: one row per finding (fail, warn, error), with the nodes the DaemonSet
// runs on, so the rows that matter most are easy to pick out; then a summary line. The rows are the
// report results of openreports.ts, so the table and the Reports cannot disagree.
import type { AuditReport } from '../audit.js';
import { palette } from './color.js';
import { isFailure, summarize, type ReportOptions } from './model.js';
import { daemonSetResults, reportTimestamp, type ReportResultValue } from './openreports.js';

const HEADER = ['NAMESPACE', 'DAEMONSET', 'NODES', 'POLICY', 'RESULT', 'MESSAGE'] as const;
const FINDINGS: ReadonlySet<ReportResultValue> = new Set(['fail', 'warn', 'error']);

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

export function auditTable(report: AuditReport, options: Pick<ReportOptions, 'color'>): string {
  const c = palette(options.color);
  const timestamp = reportTimestamp(report.auditedAt);
  const rows: string[][] = [];
  for (const result of report.results) {
    for (const entry of daemonSetResults(result, timestamp)) {
      if (!FINDINGS.has(entry.result)) continue;
      rows.push([result.namespace, result.name, result.nodes === undefined ? '-' : String(result.nodes), entry.policy, entry.result, entry.message ?? '']);
    }
  }
  const widths = HEADER.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: readonly string[], color: (cell: string, column: number) => string = (cell) => cell): string =>
    cells.map((cell, column) => color(column === cells.length - 1 ? cell : cell.padEnd(widths[column]!), column)).join('  ').trimEnd();
  const resultColor = (cell: string, column: number): string => {
    if (column !== 4) return cell;
    return cell.startsWith('fail') ? c.red(cell) : cell.startsWith('warn') ? c.yellow(cell) : c.bold(cell);
  };
  const lines: string[] = [];
  if (rows.length > 0) {
    lines.push(c.bold(line(HEADER)));
    for (const row of rows) lines.push(line(row, resultColor));
    lines.push('');
  }
  const s = summarize(report);
  const failing = report.results.filter((r) => isFailure(r, report.failOn));
  const nodes = report.results.reduce((sum, r) => sum + (r.nodes ?? 0), 0);
  const failingNodes = failing.reduce((sum, r) => sum + (r.nodes ?? 0), 0);
  const parts = [
    s.denied > 0 ? c.red(`${s.denied} would be denied`) : '0 would be denied',
    `${s.warned} with warnings`,
    `${report.results.filter((r) => r.admission.allowed && r.admission.warnings.length === 0).length} clean`,
  ];
  const errors = report.errors.length > 0 ? `; ${c.red(plural(report.errors.length, 'error'))} (see above)` : '';
  lines.push(`${plural(s.total, 'DaemonSet')} on ${plural(nodes, 'node')} audited against ${report.policySet.policies.length} ${report.policySet.policies.length === 1 ? 'policy' : 'policies'}: ${parts.join(', ')}${errors}`);
  if (failing.length > 0) lines.push(`failing: ${plural(failing.length, 'DaemonSet')}, scheduled on ${plural(failingNodes, 'node')} in all`);
  return `${lines.join('\n')}\n`;
}
