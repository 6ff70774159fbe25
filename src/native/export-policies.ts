// `daemonguard export`: every policy of a set as native documents of one format, each policy
// accounted for (exported, not exportable with why, or skipped with why).
import type { PolicySet } from '../policy/types.js';
import { exportMutatingPolicy } from './export-map.js';
import type { ExportFormat, ExportOptions, PolicyExport } from './export-types.js';
import { exportValidatingPolicy } from './export-vap.js';

export const DEFAULT_NAME_PREFIX = 'daemonguard-';

export function exportPolicies(set: PolicySet, format: ExportFormat, options: ExportOptions): PolicyExport[] {
  const exportOne = format === 'vap' ? exportValidatingPolicy : exportMutatingPolicy;
  return set.policies.map((policy) => {
    const result = exportOne(policy.document, options);
    // A native policy has no exceptions: exported alone, it would also hold the DaemonSets an
    // exception lifts it for, so the two would disagree without anyone being told.
    const exceptions = set.exceptionsByPolicy.get(policy.name) ?? [];
    if (result.kind === 'exported' && exceptions.length > 0) {
      return {
        policy: policy.name,
        kind: 'not-exportable',
        reason: `the DaemonSetPolicyException${exceptions.length > 1 ? 's' : ''} ${exceptions.map((e) => e.id).join(', ')} lift${exceptions.length > 1 ? '' : 's'} it for some DaemonSets, and native policies have no exceptions (export without the exceptions, then exclude those DaemonSets with a matchCondition)`,
      };
    }
    return result;
  });
}
