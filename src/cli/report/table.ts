// The human report: one block per DaemonSet (file:line, namespace/name, verdict), its violations and
// warnings, the size of its patch, and a summary line.
import { stringify } from 'yaml';
import { palette } from './color.js';
import { displayPath, isFailure, summarize, type ReportOptions, type TestReport } from './model.js';

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

export function tableReport(report: TestReport, options: ReportOptions): string {
  const c = palette(options.color);
  const lines: string[] = [];
  for (const result of report.results) {
    const { outcome } = result;
    const verdict = !outcome.allowed
      ? c.red('DENIED ')
      : outcome.warnings.length > 0
        ? c.yellow('WARNED ')
        : c.green('ALLOWED');
    const mark = isFailure(result, report.failOn) ? c.red('✗') : c.green('✓');
    lines.push(`${mark} ${c.bold(verdict)} ${displayPath(result.file)}:${result.line}  ${result.namespace}/${result.name || '(generateName)'}`);
    for (const violation of outcome.violations) {
      const action = violation.action === 'Deny' ? c.red('deny ') : violation.action === 'Warn' ? c.yellow('warn ') : c.dim('audit');
      lines.push(`    ${action} ${violation.policy}: ${violation.message}`);
    }
    const violationWarnings = new Set(outcome.violations.filter((v) => v.action === 'Warn').map((v) => `${v.policy}: ${v.message}`));
    for (const warning of outcome.warnings) {
      if (!violationWarnings.has(warning)) lines.push(`    ${c.yellow('warning')} ${warning}`);
    }
    if (outcome.patch.length > 0) {
      lines.push(`    ${c.dim(`${plural(outcome.patch.length, 'patch operation')}`)}`);
      if (options.showPatch) for (const op of outcome.patch) lines.push(`      ${JSON.stringify(op)}`);
    }
    if (options.showMutated && outcome.decision.mutatedObject) {
      lines.push(`    ${c.dim('mutated:')}`);
      for (const line of stringify(outcome.decision.mutatedObject).trimEnd().split('\n')) lines.push(`      ${line}`);
    }
  }
  const s = summarize(report);
  const parts = [`${s.allowed} allowed`, s.denied > 0 ? c.red(`${s.denied} denied`) : `${s.denied} denied`, `${s.warned} with warnings`];
  const skipped = s.skipped > 0 ? `; ${plural(s.skipped, 'other document')} skipped` : '';
  if (lines.length > 0) lines.push('');
  lines.push(`${plural(s.total, 'DaemonSet')}: ${parts.join(', ')}${skipped}`);
  return `${lines.join('\n')}\n`;
}
