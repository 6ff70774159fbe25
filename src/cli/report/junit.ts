// JUnit XML for CI dashboards: a test suite per DaemonSet, a test case per policy. Deny fails the case;
// Warn fails it only with --fail-on warn; an evaluation error is an error; a policy that did not apply,
// or that an exception lifted, is skipped (with the exception and its reason as the message).
// An input error (a manifest that cannot be read or parsed, a DaemonSet no cluster would accept) is a
// suite of one test case with an <error>: dashboards (Jenkins, GitLab, the test-report actions) count
// and show errors beside failures, so the run's exit 2 has its reason where people look.
import { formatProblem, type ManifestProblem } from '../manifest-reader.js';
import { attributes, xmlText } from './xml.js';
import { displayPath, type TestReport } from './model.js';

function inputErrorSuite(problem: ManifestProblem): string {
  const file = displayPath(problem.file);
  const where = problem.line > 0 ? `${file}:${problem.line}` : file;
  const testcase = `    <testcase${attributes({ classname: file, name: `read ${where}`, file, ...(problem.line > 0 ? { line: problem.line } : {}) })}>\n` +
    `      <error${attributes({ type: 'input', message: problem.message })}>${xmlText(formatProblem(problem, displayPath))}</error>\n    </testcase>`;
  return `  <testsuite${attributes({ name: `${where} input`, tests: 1, failures: 0, errors: 1, skipped: 0 })}>\n${testcase}\n  </testsuite>`;
}

export function junitReport(report: TestReport): string {
  const suites: string[] = [];
  let tests = 0;
  let failures = 0;
  let errors = 0;
  let skipped = 0;
  for (const result of report.results) {
    const cases: string[] = [];
    let suiteFailures = 0;
    let suiteErrors = 0;
    let suiteSkipped = 0;
    const subject = `${result.namespace}/${result.name}`;
    for (const policy of result.policies) {
      const head = `    <testcase${attributes({ classname: subject, name: policy.policy, file: displayPath(result.file), line: result.line })}`;
      const text = policy.messages.join('\n');
      const fails = policy.verdict === 'deny' || (policy.verdict === 'warn' && report.failOn === 'warn');
      if (fails) {
        suiteFailures++;
        cases.push(`${head}>\n      <failure${attributes({ type: policy.verdict, message: policy.messages[0] ?? policy.verdict })}>${xmlText(text)}</failure>\n    </testcase>`);
      } else if (policy.verdict === 'error') {
        suiteErrors++;
        cases.push(`${head}>\n      <error${attributes({ type: 'error', message: policy.messages[0] ?? 'evaluation error' })}>${xmlText(text)}</error>\n    </testcase>`);
      } else if (policy.verdict === 'skip' || policy.verdict === 'except') {
        suiteSkipped++;
        cases.push(`${head}>\n      <skipped${attributes({ message: policy.messages[0] ?? 'not applicable' })}/>\n    </testcase>`);
      } else if (policy.verdict === 'warn' || policy.verdict === 'audit' || policy.verdict === 'mutate') {
        const out = policy.verdict === 'mutate' ? `${policy.patchOperations} patch operation(s)` : `${policy.verdict}: ${text}`;
        cases.push(`${head}>\n      <system-out>${xmlText(out)}</system-out>\n    </testcase>`);
      } else {
        cases.push(`${head}/>`);
      }
    }
    tests += result.policies.length;
    failures += suiteFailures;
    errors += suiteErrors;
    skipped += suiteSkipped;
    const name = `${displayPath(result.file)}:${result.line} ${subject}`;
    suites.push(`  <testsuite${attributes({ name, tests: result.policies.length, failures: suiteFailures, errors: suiteErrors, skipped: suiteSkipped })}>\n${cases.join('\n')}${cases.length > 0 ? '\n' : ''}  </testsuite>`);
  }
  for (const problem of report.errors) suites.push(inputErrorSuite(problem));
  tests += report.errors.length;
  errors += report.errors.length;
  const head = `<testsuites${attributes({ name: 'daemonguard test', tests, failures, errors, skipped })}>`;
  return `<?xml version="1.0" encoding="UTF-8"?>\n${head}\n${suites.join('\n')}${suites.length > 0 ? '\n' : ''}</testsuites>\n`;
}
