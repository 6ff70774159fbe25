// The human report: one block per DaemonSet (file:line, namespace/name, verdict), its denials and audit
// findings, its warnings (once each, as the user of the cluster would see them), the size of its
// patch, and a summary line.
import { yamlPackageOnDemand } from '../../common/yaml-package.js';
import { coverageSummary } from '../../coverage/coverage.js';
import { palette } from './color.js';
import { attentionWarnings, displayPath, isFailure, reviewedViolations, summarize, type ReportOptions, type TestReport } from './model.js';

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

export function tableReport(report: TestReport, options: ReportOptions): string {
  const c = palette(options.color);
  const lines: string[] = [];
  for (const result of report.results) {
    const { admission } = result;
    const warnings = attentionWarnings(admission);
    const verdict = !admission.allowed
      ? c.red('DENIED ')
      : warnings.length > 0
        ? c.yellow('WARNED ')
        : c.green('ALLOWED');
    const mark = isFailure(result, report.failOn) ? c.red('✗') : c.green('✓');
    lines.push(`${mark} ${c.bold(verdict)} ${displayPath(result.file)}:${result.line}  ${result.namespace}/${result.name || '(generateName)'}`);
    // Warn violations are shown through the warnings: those are what the apiserver passes on (cleaned
    // up, cut at 256 characters), together with policies ignored after an error, each once.
    for (const violation of reviewedViolations(admission)) {
      if (violation.action === 'Warn') continue;
      const action = violation.action === 'Deny' ? c.red('deny ') : c.dim('audit');
      lines.push(`    ${action} ${violation.policy}: ${violation.message}`);
    }
    for (const warning of warnings) lines.push(`    ${c.yellow('warn ')} ${warning}`);
    // In place of the notice the answer carries: which exception, and the reason it was granted.
    const byException = new Map<string, { policies: string[]; reason: string }>();
    for (const use of admission.exceptions) {
      const id = `${use.namespace}/${use.name}`;
      const entry = byException.get(id) ?? { policies: [], reason: use.reason };
      entry.policies.push(use.policy);
      byException.set(id, entry);
    }
    for (const [id, { policies, reason }] of byException) {
      lines.push(`    ${c.dim('except')} ${policies.join(', ')}: exception ${id} (${reason})`);
    }
    if (result.coverage) lines.push(`    ${c.dim('nodes')} ${coverageSummary(result.coverage)}`);
    if (admission.patch.length > 0) {
      lines.push(`    ${c.dim(`${plural(admission.patch.length, 'patch operation')}`)}`);
      if (options.showPatch) for (const op of admission.patch) lines.push(`      ${JSON.stringify(op)}`);
    }
    if (options.showMutated && admission.admittedObject) {
      lines.push(`    ${c.dim('mutated:')}`);
      for (const line of yamlPackageOnDemand().stringify(admission.admittedObject).trimEnd().split('\n')) lines.push(`      ${line}`);
    }
  }
  const s = summarize(report);
  const parts = [`${s.allowed} allowed`, s.denied > 0 ? c.red(`${s.denied} denied`) : `${s.denied} denied`, `${s.warned} with warnings`];
  const skipped = s.skipped > 0 ? `; ${plural(s.skipped, 'other document')} skipped` : '';
  const errors = report.errors.length > 0 ? `; ${c.red(plural(report.errors.length, 'error'))} (see above)` : '';
  if (lines.length > 0) lines.push('');
  lines.push(`${plural(s.total, 'DaemonSet')}: ${parts.join(', ')}${skipped}${errors}`);
  return `${lines.join('\n')}\n`;
}
