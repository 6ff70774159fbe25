// SARIF 2.1.0 for code scanning: one rule per policy (with its description), one result per violation,
// located at the file and line of the DaemonSet, so the finding shows on the pull request.
import type { Log, ReportingDescriptor, Result } from 'sarif';
import { displayPath, reviewedViolations, type TestReport } from './model.js';

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
    for (const violation of reviewedViolations(result.admission)) {
      const entry: Result = {
        ruleId: violation.policy,
        level: LEVEL[violation.action],
        message: { text: `${result.namespace}/${result.name}: ${violation.message}` },
        locations: [{ physicalLocation: { artifactLocation: { uri }, region: { startLine: Math.max(1, result.line) } } }],
        properties: { action: violation.action, namespace: result.namespace, name: result.name },
      };
      const index = ruleIndex.get(violation.policy);
      if (index !== undefined) entry.ruleIndex = index;
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
