// `daemonguard export`: every policy of a set as native documents of one format, each policy
// accounted for (exported, not exportable with why, or skipped with why).
import type { PolicySet } from '../policy/types.js';
import { exportMutatingPolicy } from './export-map.js';
import type { ExportFormat, ExportOptions, PolicyExport } from './export-types.js';
import { exportValidatingPolicy } from './export-vap.js';

export const DEFAULT_NAME_PREFIX = 'daemonguard-';

export function exportPolicies(set: PolicySet, format: ExportFormat, options: ExportOptions): PolicyExport[] {
  const exportOne = format === 'vap' ? exportValidatingPolicy : exportMutatingPolicy;
  return set.policies.map((policy) => exportOne(policy.document, options));
}
