// `daemonguard export --format vap|map [-p POLICIES...]`: the policies as Kubernetes' own
// ValidatingAdmissionPolicies or MutatingAdmissionPolicies with their bindings (src/native/export-*),
// for clusters that run policies without a webhook. What has no native form is named on stderr and
// in a comment at the top of the YAML, and makes the exit code 1.
//
//   daemonguard export --format vap -p policies/security | kubectl apply -f -
import { InvalidArgumentError, type Command } from 'commander';
import type { ValidationAction } from '../common/vocabulary.js';
import { DEFAULT_NAME_PREFIX, exportPolicies } from '../native/export-policies.js';
import { EXPORT_OUTPUTS, leftOutLines, renderExport, type ExportOutput } from '../native/export-render.js';
import { EXPORT_FORMATS, type ExportFormat, type PolicyExport } from '../native/export-types.js';
import { EXIT_FAILED, EXIT_OK } from './exit-codes.js';
import { loadPoliciesForCli } from './load-policy-set.js';
import { choice, collect, parseGroups } from './options.js';
import { packageFile } from '../common/package-root.js';

export interface ExportCommandOptions {
  format: ExportFormat;
  policies?: string[];
  output: ExportOutput;
  namespaceExclusions?: string[];
  validationActions?: ValidationAction[];
  namePrefix: string;
}

const ACTIONS: readonly ValidationAction[] = ['Deny', 'Warn', 'Audit'];

/** --validation-actions Warn,Audit: the actions every binding gets, checked as the apiserver checks them. */
export function parseValidationActions(value: string): ValidationAction[] {
  const actions = value.split(',').map((a) => a.trim()).filter((a) => a !== '');
  const parsed = actions.map((action) => {
    const match = ACTIONS.find((a) => a.toLowerCase() === action.toLowerCase());
    if (match === undefined) throw new InvalidArgumentError(`"${action}" is not one of ${ACTIONS.join(', ')}`);
    return match;
  });
  if (parsed.length === 0) throw new InvalidArgumentError('name at least one of Deny, Warn, Audit');
  if (parsed.includes('Deny') && parsed.includes('Warn')) throw new InvalidArgumentError('Deny and Warn cannot be combined (the apiserver refuses such a binding)');
  return [...new Set(parsed)];
}

const NAMESPACE_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** --namespace-exclusions a,b (repeatable): namespace names, which the bindings select by their name label. */
export function parseNamespaceExclusions(value: string, previous: string[] | undefined): string[] {
  const names = parseGroups(value, previous);
  const bad = names.find((name) => !NAMESPACE_NAME.test(name));
  if (bad !== undefined) throw new InvalidArgumentError(`"${bad}" is not a namespace name (globs have no native form: name each namespace)`);
  return names;
}

const DNS_LABEL_PREFIX = /^[a-z0-9]([-a-z0-9.]*)?$/;

function parseNamePrefix(value: string): string {
  if (value !== '' && !DNS_LABEL_PREFIX.test(value)) throw new InvalidArgumentError('the prefix must be lower-case letters, digits, "-" or ".", starting with a letter or digit');
  return value;
}

export interface ExportRun {
  results: PolicyExport[];
  text: string;
}

export async function runExport(options: ExportCommandOptions): Promise<ExportRun> {
  const set = await loadPoliciesForCli(options.policies ?? [packageFile('policies')]);
  const results = exportPolicies(set, options.format, {
    namePrefix: options.namePrefix,
    excludeNamespaces: options.namespaceExclusions ?? [],
    ...(options.validationActions ? { validationActions: options.validationActions } : {}),
  });
  return { results, text: renderExport(results, options.format, options.output) };
}

export function registerExportCommand(program: Command): void {
  program
    .command('export')
    .description('write the policies as Kubernetes ValidatingAdmissionPolicies (vap) or MutatingAdmissionPolicies (map) with bindings, and name what has no native form')
    .requiredOption('-f, --format <format>', `what to write: ${EXPORT_FORMATS.join(' (validations), ')} (mutations)`, choice(EXPORT_FORMATS, '--format'))
    .option('-p, --policies <path>', 'policy file or folder, repeatable (default: the built-in library)', collect)
    .option('-o, --output <output>', `output format: ${EXPORT_OUTPUTS.join(', ')}`, choice(EXPORT_OUTPUTS, '--output'), 'yaml')
    .option('--namespace-exclusions <names>', 'namespaces no binding selects, comma-separated, repeatable (e.g. kube-system)', parseNamespaceExclusions)
    .option('--validation-actions <actions>', 'vap: the bindings\' validationActions for every policy, e.g. Warn or Audit to try them first (default: each policy\'s own)', parseValidationActions)
    .option('--name-prefix <prefix>', 'put before each policy\'s name to name the native documents', parseNamePrefix, DEFAULT_NAME_PREFIX)
    .addHelpText(
      'after',
      '\nPolicies with a construct that has no native form (coverage, namespace globs such as kube-*, ...) are\n' +
        'named with why on stderr and in a comment at the top of the YAML; the rest are still written.\n' +
        'Exit codes: 0 every policy with something for this format was exported, 1 some could not be,\n' +
        '2 usage or input error (a broken policy).',
    )
    .action(async (options: ExportCommandOptions) => {
      const run = await runExport(options);
      for (const line of leftOutLines(run.results)) process.stderr.write(`${line}\n`);
      process.stdout.write(run.text);
      process.exitCode = run.results.some((r) => r.kind === 'not-exportable') ? EXIT_FAILED : EXIT_OK;
    });
}
