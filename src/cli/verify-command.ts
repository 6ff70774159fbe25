// `daemonguard verify [PATH...]`: runs PolicyTest suites. Each resource is reviewed (mutation then
// validation, on the object as the apiserver defaults it) and compared with its expectations; every
// mutation is also checked for idempotence (a second review of the mutated object must not patch).
import { isDeepStrictEqual } from 'node:util';
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { reviewAdmission, type ReviewedAdmission } from '../admission/pipeline.js';
import { DEFAULT_NAMESPACE, buildAdmissionRequest, manifestNamespace } from '../apiserver/admission-request.js';
import { namespaceObjectOf } from '../apiserver/namespace-object.js';
import { parsePointer } from '../common/json-pointer.js';
import { packageFile } from '../common/package-root.js';
import { isJsonObject, type JsonValue } from '../common/vocabulary.js';
import type { PolicySet } from '../policy/types.js';
import { SourceReadError, listManifestFiles } from '../common/yaml-documents.js';
import { EXIT_FAILED, EXIT_OK, InputError } from './exit-codes.js';
import { loadPoliciesForCli } from './load-policy-set.js';
import { sourceReadMessage } from './manifest-reader.js';
import { choice, collect } from './options.js';
import { policyReports } from './outcomes.js';
import { colorEnabled, palette } from './report/color.js';
import { displayPath } from './report/model.js';
import { attributes, xmlText } from './report/xml.js';
import { findSuites, type PolicyTestSuite, type SuiteResource } from './policy-test-suite.js';

export interface Mismatch {
  /** What was checked, e.g. `policies.privileged-namespaces` or `mutated /spec/minReadySeconds`. */
  check: string;
  expected: string;
  actual: string;
}

export interface ResourceVerdict {
  suite: string;
  resource: string;
  where: string;
  mismatches: Mismatch[];
}

export interface VerifyReport {
  suites: { suite: PolicyTestSuite; resources: ResourceVerdict[] }[];
}

const show = (value: unknown): string => (value === undefined ? '(absent)' : JSON.stringify(value));

function valueAt(object: JsonValue | null, pointer: string): JsonValue | undefined {
  let current: JsonValue | undefined = object ?? undefined;
  for (const segment of parsePointer(pointer)) {
    if (Array.isArray(current)) current = /^\d+$/.test(segment) ? current[Number(segment)] : undefined;
    else if (isJsonObject(current)) current = Object.prototype.hasOwnProperty.call(current, segment) ? current[segment] : undefined;
    else return undefined;
  }
  return current;
}

function checkResource(resource: SuiteResource, admission: ReviewedAdmission, policySet: PolicySet, idempotence: ReviewedAdmission | undefined): Mismatch[] {
  const { expect } = resource;
  const mismatches: Mismatch[] = [];
  if (expect.allowed !== undefined && expect.allowed !== admission.allowed) {
    const why = admission.violations.filter((v) => v.actions.includes('Deny')).map((v) => `${v.policy}: ${v.message}`);
    mismatches.push({ check: 'allowed', expected: String(expect.allowed), actual: `${admission.allowed}${why.length > 0 ? ` (${why.join('; ')})` : ''}` });
  }
  if (expect.policies) {
    const reports = new Map(policyReports(admission, policySet).map((r) => [r.policy, r]));
    for (const [policy, expected] of Object.entries(expect.policies)) {
      const report = reports.get(policy);
      if (!report) {
        mismatches.push({ check: `policies.${policy}`, expected, actual: `no policy named "${policy}" is loaded (loaded: ${[...reports.keys()].join(', ') || 'none'})` });
      } else if (report.verdict !== expected) {
        const detail = report.messages.length > 0 ? ` (${report.messages.join('; ')})` : '';
        mismatches.push({ check: `policies.${policy}`, expected, actual: `${report.verdict}${detail}` });
      }
    }
  }
  const messages = admission.violations.map((v) => v.message);
  for (const substring of expect.messages ?? []) {
    if (!messages.some((m) => m.includes(substring))) {
      mismatches.push({ check: 'messages', expected: `a violation message containing ${show(substring)}`, actual: messages.length > 0 ? messages.map(show).join(', ') : '(no violations)' });
    }
  }
  for (const substring of expect.warnings ?? []) {
    if (!admission.warnings.some((w) => w.includes(substring))) {
      mismatches.push({ check: 'warnings', expected: `a warning containing ${show(substring)}`, actual: admission.warnings.length > 0 ? admission.warnings.map(show).join(', ') : '(no warnings)' });
    }
  }
  for (const [pointer, expected] of Object.entries(expect.mutated ?? {})) {
    const actual = valueAt(admission.admittedObject, pointer);
    const matches = expected === null ? actual === undefined : isDeepStrictEqual(actual, expected);
    if (!matches) mismatches.push({ check: `mutated ${pointer}`, expected: expected === null ? '(absent)' : show(expected), actual: show(actual) });
  }
  if (idempotence && idempotence.patch.length > 0) {
    mismatches.push({ check: 'idempotence', expected: 'no patch when the mutated object is reviewed again', actual: `patch ${JSON.stringify(idempotence.patch)}` });
  }
  return mismatches;
}

/** Runs every suite; `extraPolicies` (-p) are loaded in addition to each suite's own. */
export async function runVerify(paths: readonly string[], extraPolicies: readonly string[]): Promise<VerifyReport> {
  const suites = await findSuites(paths);
  if (suites.length === 0) throw new InputError(`no PolicyTest documents found in ${paths.join(', ')}`);
  const policySets = new Map<string, PolicySet>();
  const report: VerifyReport = { suites: [] };
  for (const suite of suites) {
    // A suite that names no policies, run without -p, tests the built-in library (an installed
    // package's suites have no stable path to it).
    const named = [...suite.policies, ...extraPolicies];
    const policyPaths = named.length > 0 ? named : [packageFile('policies')];
    let files: string[];
    try {
      files = [...new Set(await listManifestFiles(policyPaths))];
    } catch (error) {
      if (!(error instanceof SourceReadError)) throw error;
      throw new InputError(`suite "${suite.name}" (${suite.file}:${suite.line}): ${sourceReadMessage(error)}`);
    }
    const key = files.join('\n');
    let policySet = policySets.get(key);
    if (!policySet) {
      policySet = await loadPoliciesForCli(files);
      policySets.set(key, policySet);
    }
    const resources: ResourceVerdict[] = [];
    for (const resource of suite.resources) {
      const namespace = resource.namespace ?? manifestNamespace(resource.object ?? resource.oldObject) ?? DEFAULT_NAMESPACE;
      const options = { operation: resource.operation, namespace, oldObject: resource.oldObject, user: resource.user, groups: resource.groups };
      const context = { namespaceObject: namespaceObjectOf(namespace, suite.namespaces[namespace]), nodes: suite.nodes };
      const admission = await reviewAdmission(buildAdmissionRequest(resource.object, options), policySet, context);
      let idempotence: ReviewedAdmission | undefined;
      if (admission.patch.length > 0 && admission.admittedObject) {
        // The admitted object is already as the apiserver encodes it; review it as the reinvocation would.
        idempotence = await reviewAdmission(buildAdmissionRequest(admission.admittedObject, options), policySet, context);
      }
      resources.push({ suite: suite.name, resource: resource.name, where: resource.where, mismatches: checkResource(resource, admission, policySet, idempotence) });
    }
    report.suites.push({ suite, resources });
  }
  return report;
}

export function verifyText(report: VerifyReport, color: boolean): string {
  const c = palette(color);
  const lines: string[] = [];
  let passed = 0;
  let failed = 0;
  for (const { suite, resources } of report.suites) {
    lines.push(c.bold(`${suite.name}`) + c.dim(`  ${displayPath(suite.file)}:${suite.line}`));
    for (const resource of resources) {
      if (resource.mismatches.length === 0) {
        passed++;
        lines.push(`  ${c.green('✓')} ${resource.resource}`);
        continue;
      }
      failed++;
      lines.push(`  ${c.red('✗')} ${resource.resource}  ${c.dim(displayPath(resource.where))}`);
      for (const mismatch of resource.mismatches) {
        lines.push(`      ${mismatch.check}:`);
        lines.push(`        ${c.green(`- expected: ${mismatch.expected}`)}`);
        lines.push(`        ${c.red(`+ actual:   ${mismatch.actual}`)}`);
      }
    }
  }
  lines.push('');
  const suites = report.suites.length;
  lines.push(`${suites} suite${suites === 1 ? '' : 's'}, ${passed + failed} resources: ${c.green(`${passed} passed`)}, ${failed > 0 ? c.red(`${failed} failed`) : '0 failed'}`);
  return `${lines.join('\n')}\n`;
}

export function verifyJunit(report: VerifyReport): string {
  let tests = 0;
  let failures = 0;
  const suites = report.suites.map(({ suite, resources }) => {
    const failed = resources.filter((r) => r.mismatches.length > 0).length;
    tests += resources.length;
    failures += failed;
    const cases = resources.map((r) => {
      const head = `    <testcase${attributes({ classname: suite.name, name: r.resource, file: displayPath(suite.file) })}`;
      if (r.mismatches.length === 0) return `${head}/>`;
      const text = r.mismatches.map((m) => `${m.check}:\n- expected: ${m.expected}\n+ actual:   ${m.actual}`).join('\n');
      const message = r.mismatches.map((m) => `${m.check}: expected ${m.expected}, got ${m.actual}`).join('; ');
      return `${head}>\n      <failure${attributes({ type: 'mismatch', message })}>${xmlText(text)}</failure>\n    </testcase>`;
    });
    return `  <testsuite${attributes({ name: suite.name, file: displayPath(suite.file), tests: resources.length, failures: failed, errors: 0, skipped: 0 })}>\n${cases.join('\n')}\n  </testsuite>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites${attributes({ name: 'daemonguard verify', tests, failures, errors: 0 })}>\n${suites.join('\n')}\n</testsuites>\n`;
}

export function registerVerifyCommand(program: Command): void {
  program
    .command('verify')
    .description('run PolicyTest suites: review each resource and compare with its expected outcome')
    .argument('<paths...>', 'files or folders holding PolicyTest documents (other documents are ignored)')
    .option('-p, --policies <path>', "policy file or folder added to every suite's own (repeatable; default: the built-in library, for suites that name none)", collect)
    .option('-o, --output <format>', 'output format: text, junit, yaml', choice(['text', 'junit', 'yaml'] as const, '--output'), 'text')
    .addHelpText('after', '\nExit codes: 0 every expectation held, 1 a mismatch, 2 usage, input or policy error.')
    .action(async (paths: string[], options: { policies?: string[]; output: 'text' | 'junit' | 'yaml' }) => {
      const report = await runVerify(paths, options.policies ?? []);
      const output = options.output === 'junit'
        ? verifyJunit(report)
        : options.output === 'yaml'
          ? stringify({ suites: report.suites.map((s) => ({ name: s.suite.name, file: displayPath(s.suite.file), resources: s.resources.map((r) => ({ name: r.resource, passed: r.mismatches.length === 0, mismatches: r.mismatches })) })) })
          : verifyText(report, colorEnabled(process.stdout));
      process.stdout.write(output);
      process.exitCode = report.suites.some((s) => s.resources.some((r) => r.mismatches.length > 0)) ? EXIT_FAILED : EXIT_OK;
    });
}
