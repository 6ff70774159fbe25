// SARIF 2.1.0 for code scanning: one rule per policy (with its description), one result per violation,
// located at the file and line of the DaemonSet, so the finding shows on the pull request. A violation
// an exception lifted is a result too, suppressed (kind external, the exception's reason as the
// justification), so code scanning lists it as accepted rather than open.
//
// Input errors (a manifest that cannot be read or parsed, a DaemonSet no cluster would accept) are not
// findings of a policy: SARIF's place for them is the run's invocation, as toolExecutionNotifications
// of level error at their file and line, with executionSuccessful false. That tells a consumer the
// analysis is incomplete; GitHub code scanning takes such an upload as an unsuccessful execution
// rather than as a complete one, so it does not close the alerts of the files it could not read.
import type { Invocation, Log, Notification, ReportingDescriptor, Result } from 'sarif';
import type { ManifestProblem } from '../manifest-reader.js';
import { strongestAction } from '../outcomes.js';
import type { AppliedException } from '../../engine/types.js';
import { displayPath, reviewedViolations, type ReviewedViolation, type TestReport } from './model.js';

const LEVEL = { Deny: 'error', Warn: 'warning', Audit: 'note' } as const;

/** The id notifications about input carry (a descriptor of the tool's own, not a policy's rule). */
export const INPUT_ERROR_ID = 'daemonguard/input-error';

function artifactUri(file: string): string {
  return file === '<stdin>' ? 'stdin' : displayPath(file);
}

function inputErrorNotification(problem: ManifestProblem): Notification {
  const region = problem.line > 0 ? { region: { startLine: problem.line, ...(problem.column === undefined ? {} : { startColumn: problem.column }) } } : {};
  return {
    level: 'error',
    message: { text: problem.message },
    descriptor: { id: INPUT_ERROR_ID },
    locations: [{ physicalLocation: { artifactLocation: { uri: artifactUri(problem.file) }, ...region } }],
  };
}

function invocation(errors: readonly ManifestProblem[]): Invocation {
  const entry: Invocation = { executionSuccessful: errors.length === 0 };
  if (errors.length > 0) entry.toolExecutionNotifications = errors.map(inputErrorNotification);
  return entry;
}

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
    const uri = artifactUri(result.file);
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
      tool: { driver: { name: 'daemonguard', version: toolVersion, rules, notifications: [{ id: INPUT_ERROR_ID, shortDescription: { text: 'A manifest that cannot be read or parsed, or a DaemonSet no cluster would accept as written' } }] } },
      invocations: [invocation(report.errors)],
      results,
    }],
  };
}
