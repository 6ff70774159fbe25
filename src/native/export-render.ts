// The text `daemonguard export` writes: YAML documents (with the policies left out named in a
// comment at the top, so a reviewer of the file sees them) or one JSON List.
import { stringify } from 'yaml';
import type { JsonObject } from '../common/vocabulary.js';
import type { ExportFormat, PolicyExport } from './export-types.js';

export const EXPORT_OUTPUTS = ['yaml', 'json'] as const;
export type ExportOutput = (typeof EXPORT_OUTPUTS)[number];

/** The lines naming the policies not exported and why (for stderr and the YAML comment). */
export function leftOutLines(results: readonly PolicyExport[]): string[] {
  const lines: string[] = [];
  for (const result of results) {
    if (result.kind === 'not-exportable') lines.push(`not exportable: ${result.policy}: ${result.reason}`);
    if (result.kind === 'skipped') lines.push(`skipped: ${result.policy}: ${result.reason}`);
  }
  return lines;
}

export function renderExport(results: readonly PolicyExport[], format: ExportFormat, output: ExportOutput): string {
  const documents: JsonObject[] = results.flatMap((r) => (r.kind === 'exported' ? r.documents : []));
  if (output === 'json') return `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items: documents }, null, 2)}\n`;
  const exported = results.filter((r) => r.kind === 'exported').length;
  const header = [
    `# daemonguard export --format ${format}: ${exported} of ${results.length} policies exported`,
    ...leftOutLines(results).map((line) => `# ${line}`),
  ];
  // lineWidth 0: CEL expressions stay on the lines they were written on, never folded.
  const body = documents.map((document) => stringify(document, { lineWidth: 0 })).join('---\n');
  return `${header.join('\n')}\n${documents.length > 0 ? `---\n${body}` : ''}`;
}
