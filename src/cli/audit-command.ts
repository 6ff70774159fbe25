// `daemonguard audit`: judges the DaemonSets that already run, from the cluster (paged list calls) or
// from a dump (`--input`, the output of `kubectl get ds,ns -A -o yaml`), as an UPDATE that changes
// nothing would be judged, and reports in table, JSON, YAML, JUnit, SARIF, or as one OpenReports
// Report (or wgpolicyk8s.io PolicyReport) per namespace. With --compare-with, shows what changes
// between the current policies and the proposed ones instead.
//
//   kubectl get ds,ns -A -o yaml | daemonguard audit --input - -o openreports | kubectl apply -f -
import { InvalidArgumentError, type Command } from 'commander';
import { stringify } from 'yaml';
import type { JsonObject } from '../common/vocabulary.js';
import { KubeConfig } from '../kube/kube-config.js';
import { ClusterListError, DAEMONSETS, DEFAULT_PAGE_SIZE, NAMESPACES, listPages } from '../kube/paged-list.js';
import type { PolicySet } from '../policy/types.js';
import { compareAudits, comparisonText } from './audit-compare.js';
import { inventoryFromDocuments, namespacesByName } from './audit-input.js';
import { runAudit, type AuditInventory, type AuditReport } from './audit.js';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, InputError } from './exit-codes.js';
import { loadPoliciesForCli } from './load-policy-set.js';
import { formatProblem, readManifestSources, readStream, type ManifestDocument } from './manifest-reader.js';
import { choice, collect, packageVersion } from './options.js';
import { auditTable } from './report/audit-table.js';
import { colorEnabled } from './report/color.js';
import { junitReport } from './report/junit.js';
import { displayPath, isFailure, jsonReport, type FailOn } from './report/model.js';
import { auditReports } from './report/openreports.js';
import { sarifReport } from './report/sarif.js';
import { DEFAULT_POLICY_PATH } from './test-command.js';

export const AUDIT_OUTPUT_FORMATS = ['table', 'json', 'yaml', 'junit', 'sarif', 'openreports', 'policyreport'] as const;
export type AuditOutputFormat = (typeof AUDIT_OUTPUT_FORMATS)[number];
/** What --compare-with prints: the changes, as text or JSON. */
const COMPARE_OUTPUT_FORMATS: readonly AuditOutputFormat[] = ['table', 'json'];

/** A progress line on stderr every this many objects: only a large cluster or dump gets one. */
export const PROGRESS_EVERY = 1000;

export interface AuditCommandOptions {
  input?: string;
  policies?: string[];
  compareWith?: string[];
  output: AuditOutputFormat;
  failOn: FailOn;
  quiet?: boolean;
  context?: string;
  kubeconfig?: string;
  pageSize: number;
}

/** Where progress goes: stderr, unless --quiet. */
type Progress = (line: string) => void;

function parsePageSize(value: string): number {
  const size = Number(value);
  if (!Number.isInteger(size) || size < 1 || size > 10_000) throw new InvalidArgumentError(`--page-size must be a whole number from 1 to 10000, not "${value}"`);
  return size;
}

/** The kubeconfig the live audit uses: --kubeconfig, else $KUBECONFIG or ~/.kube/config, else the pod's service account. */
export function auditKubeConfig(options: Pick<AuditCommandOptions, 'context' | 'kubeconfig'>): KubeConfig {
  let kubeConfig: KubeConfig;
  try {
    // The messages name the file and what is wrong in it.
    kubeConfig = options.kubeconfig !== undefined ? KubeConfig.fromFiles([options.kubeconfig]) : KubeConfig.fromDefault();
  } catch (error) {
    throw new InputError((error as Error).message);
  }
  if (options.context !== undefined) {
    const known = kubeConfig.contextNames();
    if (!known.includes(options.context)) throw new InputError(`--context ${options.context}: the kubeconfig has no such context (it has: ${known.join(', ') || 'none'})`);
    kubeConfig.useContext(options.context);
  }
  return kubeConfig;
}

/** The inventory of a dump: --input FILE, or `-` for stdin. */
async function dumpInventory(input: string, readStdin: () => Promise<string>): Promise<AuditInventory> {
  return inventoryFromDocuments(await readManifestSources([input], readStdin));
}

/** The inventory of a live cluster: every Namespace first (a page at a time), then the DaemonSets as their pages arrive. */
async function clusterInventory(kubeConfig: KubeConfig, pageSize: number, progress: Progress): Promise<AuditInventory> {
  const server = kubeConfig.currentCluster()?.server ?? 'the cluster';
  const namespaces: JsonObject[] = [];
  try {
    for await (const page of listPages(kubeConfig, NAMESPACES, pageSize)) namespaces.push(...page);
  } catch (error) {
    if (error instanceof ClusterListError) throw new InputError(error.message);
    throw error;
  }
  const source = `<${server}>`;
  async function* daemonSetPages(): AsyncGenerator<ManifestDocument[]> {
    let listed = 0;
    try {
      for await (const page of listPages(kubeConfig, DAEMONSETS, pageSize)) {
        const before = listed;
        listed += page.length;
        if (Math.floor(listed / PROGRESS_EVERY) > Math.floor(before / PROGRESS_EVERY)) progress(`listed ${listed} DaemonSets from ${server}`);
        yield page.map((object) => ({ file: source, line: 0, object }));
      }
    } catch (error) {
      if (error instanceof ClusterListError) throw new InputError(error.message);
      throw error;
    }
  }
  return { namespaces: namespacesByName(namespaces), daemonSetPages: daemonSetPages(), problems: [], skipped: 0 };
}

/** Lists every page once, so that two audits (--compare-with) judge the very same DaemonSets. */
async function materialized(inventory: AuditInventory): Promise<AuditInventory> {
  const pages: ManifestDocument[][] = [];
  for await (const page of inventory.daemonSetPages) pages.push([...page]);
  return { ...inventory, daemonSetPages: pages };
}

async function auditWith(inventory: AuditInventory, policySet: PolicySet, failOn: FailOn, progress: Progress): Promise<AuditReport> {
  return runAudit(inventory, policySet, {
    failOn,
    onReviewed: (reviewed) => {
      if (reviewed % PROGRESS_EVERY === 0) progress(`reviewed ${reviewed} DaemonSets`);
    },
  });
}

/** `-o json` and `-o yaml`: test's JSON report, with the nodes of each DaemonSet and the namespaces the input lacked. */
function auditJson(report: AuditReport): JsonObject {
  const base = jsonReport(report, { showMutated: false });
  const results = base.results.map((entry, index) => ({ ...entry, nodes: report.results[index]!.nodes ?? null }));
  return { ...base, results, missingNamespaces: report.missingNamespaces } as unknown as JsonObject;
}

export function formatAuditReport(report: AuditReport, output: AuditOutputFormat, color: boolean): string {
  switch (output) {
    case 'json':
      return `${JSON.stringify(auditJson(report), null, 2)}\n`;
    case 'yaml':
      return stringify(auditJson(report));
    case 'junit':
      return junitReport(report);
    case 'sarif':
      return `${JSON.stringify(sarifReport(report, packageVersion()), null, 2)}\n`;
    case 'openreports':
    case 'policyreport':
      // Several documents, so `kubectl apply -f -` takes them as they are.
      return auditReports(report, output).map((document) => stringify(document, { aliasDuplicateObjects: false, lineWidth: 0 })).join('---\n');
    default:
      return auditTable(report, { color });
  }
}

export interface AuditOutcome {
  stdout: string;
  /** Lines for stderr: the input's problems and missing namespaces. */
  notes: string[];
  exitCode: number;
}

/** Runs `audit` to the point of its output and exit code; throws InputError for what stops the run. */
export async function runAuditCommand(options: AuditCommandOptions, readStdin: () => Promise<string>, progress: Progress, color: boolean): Promise<AuditOutcome> {
  if (options.compareWith !== undefined && !COMPARE_OUTPUT_FORMATS.includes(options.output)) {
    throw new InputError(`--compare-with prints the changes as ${COMPARE_OUTPUT_FORMATS.join(' or ')} (-o ${options.output} is for a plain audit)`);
  }
  if (options.input !== undefined && (options.context !== undefined || options.kubeconfig !== undefined)) {
    throw new InputError('--input audits a dump; --context and --kubeconfig are for auditing a cluster (leave out --input)');
  }
  const [policySet, currentSet] = await Promise.all([
    loadPoliciesForCli(options.policies ?? [DEFAULT_POLICY_PATH]),
    options.compareWith ? loadPoliciesForCli(options.compareWith) : Promise.resolve(undefined),
  ]);
  let inventory = options.input !== undefined
    ? await dumpInventory(options.input, readStdin)
    : await clusterInventory(auditKubeConfig(options), options.pageSize, progress);
  if (currentSet !== undefined) inventory = await materialized(inventory);

  const report = await auditWith(inventory, policySet, options.failOn, progress);
  const notes = report.errors.map((problem) => `error: ${formatProblem(problem, displayPath)}`);
  if (report.missingNamespaces.length > 0) {
    notes.push(`warning: the input has no Namespace object for ${report.missingNamespaces.map((n) => `"${n}"`).join(', ')}: policies with a namespaceSelector or that read namespaceObject could not judge the DaemonSets there (dump with \`kubectl get ds,ns -A -o yaml\`)`);
  }
  if (report.errors.length > 0 && currentSet === undefined) return { stdout: formatAuditReport(report, options.output, color), notes, exitCode: EXIT_USAGE };

  if (currentSet !== undefined) {
    const current = await auditWith(inventory, currentSet, options.failOn, progress);
    const comparison = compareAudits(current, report);
    const stdout = options.output === 'json' ? `${JSON.stringify(comparison, null, 2)}\n` : comparisonText(comparison, color);
    const exitCode = report.errors.length > 0 ? EXIT_USAGE : comparison.newlyFailing.length > 0 ? EXIT_FAILED : EXIT_OK;
    return { stdout, notes, exitCode };
  }
  const exitCode = report.results.some((result) => isFailure(result, report.failOn)) ? EXIT_FAILED : EXIT_OK;
  return { stdout: formatAuditReport(report, options.output, color), notes, exitCode };
}

export function registerAuditCommand(program: Command): void {
  program
    .command('audit')
    .description('judge the DaemonSets that already run (from the cluster, or a dump) against the policies')
    .option('--input <file>', 'a dump of `kubectl get ds,ns -A -o yaml` (a List, or several documents); "-" reads stdin. Without it, the cluster is read')
    .option('-p, --policies <path>', 'policy file or folder, repeatable (default: the built-in library)', collect)
    .option('--compare-with <path>', 'the current policies (repeatable): print what changes from them to --policies instead of the audit', collect)
    .option('-o, --output <format>', `output format: ${AUDIT_OUTPUT_FORMATS.join(', ')}`, choice(AUDIT_OUTPUT_FORMATS, '--output'), 'table')
    .option('--fail-on <level>', 'exit 1 on: deny, or warn (warnings too)', choice(['deny', 'warn'] as const, '--fail-on'), 'deny')
    .option('--context <name>', 'the kubeconfig context of the cluster to read (default: the current one)')
    .option('--kubeconfig <file>', 'the kubeconfig (default: $KUBECONFIG, ~/.kube/config, or the pod\'s service account)')
    .option('--page-size <n>', 'objects per list call', parsePageSize, DEFAULT_PAGE_SIZE)
    .option('-q, --quiet', 'no progress lines on stderr')
    .addHelpText('after', [
      '',
      'Each DaemonSet is judged as an UPDATE that changes nothing: object and oldObject are the object as stored.',
      'Exit codes: 0 nothing would be denied, 1 a Deny-action failure (or a warning with --fail-on warn;',
      'with --compare-with: a DaemonSet newly failing), 2 usage, input, cluster or policy error.',
    ].join('\n'))
    .action(async (options: AuditCommandOptions) => {
      const progress: Progress = options.quiet ? () => undefined : (line) => process.stderr.write(`daemonguard audit: ${line}\n`);
      const outcome = await runAuditCommand(options, () => readStream(process.stdin), progress, colorEnabled(process.stdout));
      for (const note of outcome.notes) process.stderr.write(`${note}\n`);
      process.stdout.write(outcome.stdout);
      process.exitCode = outcome.exitCode;
    });
}
