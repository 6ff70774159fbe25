// What each policy would do to the DaemonSets an audit saw, for the `impact` a DaemonSetPolicy's
// status carries (src/server/object-status.ts defines the counts): a policy in Warn or Audit shows how
// many DaemonSets switching it to Deny would refuse on their next update.
import type { PolicyImpact } from '../server/object-status.js';
import type { AuditFindings } from './audit.js';

/** How many DaemonSets a status names at most; the counts are complete. */
export const IMPACT_SAMPLE_SIZE = 5;

export function impactByPolicy(report: Pick<AuditFindings, 'results'>): Map<string, PolicyImpact> {
  const violators = new Map<string, { all: string[]; warned: number }>();
  for (const result of report.results) {
    for (const { policy, verdict } of result.policies) {
      const violations = result.admission.violations.filter((violation) => violation.policy === policy);
      // An evaluation error counts when it is a violation (failurePolicy Fail); an exception takes the DaemonSet out.
      const violates = verdict === 'deny' || verdict === 'warn' || verdict === 'audit' || (verdict === 'error' && violations.length > 0);
      if (!violates) continue;
      const entry = violators.get(policy) ?? { all: [], warned: 0 };
      entry.all.push(`${result.namespace}/${result.name}`);
      if (violations.some((violation) => violation.actions.includes('Warn'))) entry.warned++;
      violators.set(policy, entry);
    }
  }
  const impacts = new Map<string, PolicyImpact>();
  for (const [policy, { all, warned }] of violators) {
    impacts.set(policy, { wouldDeny: all.length, wouldWarn: warned, sample: [...all].sort().slice(0, IMPACT_SAMPLE_SIZE) });
  }
  return impacts;
}
