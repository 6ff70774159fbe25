// `daemonguard export --format vap|map [-p POLICIES...]`: the policies as Kubernetes' own
// ValidatingAdmissionPolicies or MutatingAdmissionPolicies with their bindings (src/native/export-*),
// for clusters that run policies without a webhook. What has no native form is named on stderr and
// in a comment at the top of the YAML, and makes the exit code 1 unless --skip-unexportable accepts
// it: a pipeline under `set -o pipefail` then applies the rest, as kyverno/gator users expect a
// partial conversion to behave when they asked for one.
//
//   daemonguard export --format vap -p policies/security | kubectl apply -f -
//   daemonguard export --format vap --skip-unexportable=footprint,control-plane-coverage | kubectl apply -f -
import { InvalidArgumentError, Option, type Command } from 'commander';
import type { ValidationAction } from '../common/vocabulary.js';
import { DEFAULT_NAME_PREFIX, exportPolicies } from '../native/export-policies.js';
import { EXPORT_OUTPUTS, leftOutLines, renderExport, type ExportOutput } from '../native/export-render.js';
import { EXPORT_FORMATS, type ExportFormat, type PolicyExport } from '../native/export-types.js';
import { EXIT_FAILED, EXIT_OK, InputError } from './exit-codes.js';
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
  /** true: every policy not exportable is accepted; a list: only these (others still exit 1). */
  skipUnexportable?: SkipUnexportable;
}

/** What --skip-unexportable accepts: every policy (the flag alone, or "*") or the policies named. */
export type SkipUnexportable = true | readonly string[];

const EVERY_POLICY = '*';

/**
 * --skip-unexportable[=a,b] (repeatable with names): the flag alone is "*", every policy. Mixing the
 * two is refused: one of them would silently widen or narrow what the other said.
 */
export function parseSkipUnexportable(value: string, previous: SkipUnexportable | undefined): SkipUnexportable {
  const names = value.split(',').map((n) => n.trim()).filter((n) => n !== '');
  if (names.length === 0) throw new InvalidArgumentError(`name at least one policy, or give the flag alone (or "${EVERY_POLICY}") to skip every policy that is not exportable`);
  const every = names.includes(EVERY_POLICY);
  const mixed = every ? names.length > 1 || (previous !== undefined && previous !== true) : previous === true;
  if (mixed) throw new InvalidArgumentError('either the flag alone (every policy) or a list of policy names, not both');
  if (every || previous === true) return true;
  return [...new Set([...(previous ?? []), ...names])];
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

export interface ExportVerdict {
  exitCode: number;
  /** Lines for stderr after the not-exportable/skipped ones: what to do about the exit code, or a stale name. */
  notes: string[];
}

/**
 * The exit code of an export: 1 when a policy is not exportable and --skip-unexportable does not
 * accept it. A name given to --skip-unexportable that is no loaded policy is an input error (a typo
 * would otherwise accept nothing and go unseen); one that was exported is only noted, so a list
 * shared between --format vap and map, or kept from an older library, does not fail.
 */
export function exportVerdict(results: readonly PolicyExport[], skip: SkipUnexportable | undefined): ExportVerdict {
  const notExportable = results.filter((r) => r.kind === 'not-exportable').map((r) => r.policy);
  const notes: string[] = [];
  let refused = notExportable;
  if (skip === true) refused = [];
  else if (skip !== undefined) {
    const loaded = new Set(results.map((r) => r.policy));
    const unknown = skip.filter((name) => !loaded.has(name));
    if (unknown.length > 0) {
      const candidates = notExportable.length > 0 ? `the policies not exportable here are: ${notExportable.join(', ')}` : 'every policy loaded is exportable';
      throw new InputError(`--skip-unexportable names ${unknown.map((n) => `"${n}"`).join(', ')}, which ${unknown.length === 1 ? 'is no policy' : 'are no policies'} of those loaded (${candidates})`);
    }
    const exported = new Set(results.filter((r) => r.kind === 'exported').map((r) => r.policy));
    for (const name of skip.filter((n) => exported.has(n))) notes.push(`note: --skip-unexportable names ${name}, which was exported (drop it from the list)`);
    refused = notExportable.filter((name) => !skip.includes(name));
  }
  if (refused.length === 0) return { exitCode: EXIT_OK, notes };
  const accept = skip === undefined ? `--skip-unexportable=${refused.join(',')}` : `add ${refused.join(', ')} to --skip-unexportable`;
  notes.push(`hint: exit 1 because ${refused.length === 1 ? 'a policy is' : `${refused.length} policies are`} not exportable (${refused.join(', ')}); the rest was written: to accept that and exit 0, ${accept}`);
  return { exitCode: EXIT_FAILED, notes };
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
    .addOption(
      new Option('--skip-unexportable [policies]', 'exit 0 although these policies (comma-separated, repeatable; alone: every one) are not exportable; they are still named on stderr')
        .preset(EVERY_POLICY)
        .argParser(parseSkipUnexportable),
    )
    .addHelpText(
      'after',
      '\nPolicies with a construct that has no native form (coverage, namespace globs such as kube-*, ...) are\n' +
        'named with why on stderr and in a comment at the top of the YAML; the rest are still written.\n' +
        'Exit codes: 0 every policy with something for this format was exported (or --skip-unexportable\n' +
        'accepts those that were not), 1 some could not be, 2 usage or input error (a broken policy, a\n' +
        '--skip-unexportable name that is no loaded policy).',
    )
    .action(async (options: ExportCommandOptions) => {
      const run = await runExport(options);
      // Judged before anything is written: a mistyped --skip-unexportable name must not leave half an output.
      const verdict = exportVerdict(run.results, options.skipUnexportable);
      for (const line of [...leftOutLines(run.results), ...verdict.notes]) process.stderr.write(`${line}\n`);
      process.stdout.write(run.text);
      process.exitCode = verdict.exitCode;
    });
}
