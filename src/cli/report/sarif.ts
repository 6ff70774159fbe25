// SARIF 2.1.0 for code scanning: one rule per policy (with its description), one result per violation,
// located at the file and line of the DaemonSet, so the finding shows on the pull request. A violation
// an exception lifted is a result too, suppressed (kind external, the exception's reason as the
// justification), so code scanning lists it as accepted rather than open.
import type { Log, ReportingDescriptor, Result } from 'sarif';
import { strongestAction } from '../outcomes.js';
import type { AppliedException } from '../../engine/types.js';
import { displayPath, reviewedViolations, type ReviewedViolation, type TestReport } from './model.js';

const LEVEL = { Deny: 'error', Warn: 'warning', Audit: 'note' } as const;

export function sarifReport(report: TestReport, toolVersion: string): Log {
  const policies = report.policySet.policies;
  const ruleIndex = new Map(policies.map((policy, index) => [policy.name, index]));
  const rules: ReportingDescriptor[] = policies.map((policy) => {
    const description = policy.description ?? `daemonguard policy ${policy.name}`;
    const actions = policy.validationActions;
    const level = actions.includes('Deny') ? 'error' : actions.includes('Warn') ? 'warning' : 'note';
    return {
      id: policy.name,
      name: policy.name,
      shortDescription: { text: description },
      fullDescription: { text: description },
      defaultConfiguration: { level },
      properties: { validationActions: [...actions], failurePolicy: policy.failurePolicy, source: `${displayPath(policy.source.file)}:${policy.source.line}` },
    };
  });
  const results: Result[] = [];
  for (const result of report.results) {
    const uri = result.file === '<stdin>' ? 'stdin' : displayPath(result.file);
    const excepted = result.admission.exceptions.flatMap((use) =>
      use.excepted.map((violation) => ({ policy: violation.policy, message: violation.message, action: strongestAction(violation.actions), reason: violation.reason, use })));
    const findings: (ReviewedViolation & { use?: AppliedException })[] = [...reviewedViolations(result.admission), ...excepted];
    for (const violation of findings) {
      const entry: Result = {
        ruleId: violation.policy,
        level: LEVEL[violation.action],
        message: { text: `${result.namespace}/${result.name}: ${violation.message}` },
        locations: [{ physicalLocation: { artifactLocation: { uri }, region: { startLine: Math.max(1, result.line) } } }],
        properties: { action: violation.action, namespace: result.namespace, name: result.name },
      };
      const index = ruleIndex.get(violation.policy);
      if (index !== undefined) entry.ruleIndex = index;
      if (violation.use !== undefined) {
        entry.suppressions = [{ kind: 'external', status: 'accepted', justification: `exception ${violation.use.namespace}/${violation.use.name}: ${violation.use.reason}` }];
      }
      results.push(entry);
    }
  }
  return {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [{
      tool: { driver: { name: 'daemonguard', version: toolVersion, rules } },
      results,
    }],
  };
}
