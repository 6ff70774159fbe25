// `daemonguard test [PATH...]`: dry-runs DaemonSet manifests through the policies, as the cluster would
// review them, and reports in table, JSON, YAML, JUnit or SARIF form.
//
//   helm template agent ./chart | daemonguard test -p policies/ -
import { InvalidArgumentError, type Command } from 'commander';
import { setCelEngine, type CelEngine } from '../cel/program.js';
import { packageFile } from '../common/package-root.js';
import { yamlPackageOnDemand } from '../common/yaml-package.js';
import { reviewAdmission } from '../admission/pipeline.js';
import { DEFAULT_NAMESPACE, buildAdmissionRequest, manifestNamespace } from '../apiserver/admission-request.js';
import { isJsonObject, type JsonObject, type Operation } from '../common/vocabulary.js';
import { computeCoverage } from '../coverage/coverage.js';
import type { PolicySet } from '../policy/types.js';
import type { SourceDocument } from '../common/yaml-documents.js';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, InputError } from './exit-codes.js';
import { loadPoliciesForCli } from './load-policy-set.js';
import { collectDaemonSets, formatProblem, readManifestSources, readManifestSourcesWithProblems, readStream, type ManifestProblem } from './manifest-reader.js';
import { loadNodes, nodeFlagProblem } from './coverage-command.js';
import { missingNamespacesError, namespaceObjectFor, readNamespacesFile } from './namespaces-file.js';
import { choice, collect, packageVersion, parseGroups, parseLabels } from './options.js';
import { policyReports } from './outcomes.js';
import { colorEnabled } from './report/color.js';
import { junitReport } from './report/junit.js';
import { displayPath, isFailure, jsonReport, type FailOn, type TestReport, type TestResult } from './report/model.js';
import { sarifReport } from './report/sarif.js';
import { tableReport } from './report/table.js';

export const OUTPUT_FORMATS = ['table', 'json', 'yaml', 'junit', 'sarif'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];
/** Without --policies: the built-in library shipped in the package, wherever the command runs from. */
export const DEFAULT_POLICY_PATH = packageFile('policies');

/** Without paths, `test` once read stdin silently and reported "0 DaemonSets": now it says what it wants. */
export const NO_PATHS = 'no manifests given: name manifest files or folders, or "-" to read stdin (helm template agent ./chart | daemonguard test -)';

/** A webhook sees DaemonSets created and updated; a DELETE is never reviewed, so testing one means nothing. */
const TEST_OPERATIONS = ['CREATE', 'UPDATE'] as const;

function parseOperation(value: string): (typeof TEST_OPERATIONS)[number] {
  const match = TEST_OPERATIONS.find((operation) => operation === value.toUpperCase());
  if (match === undefined) throw new InvalidArgumentError(`--operation must be CREATE or UPDATE, the operations DaemonSets are reviewed on (a DELETE or CONNECT is never reviewed)`);
  return match;
}

export interface TestCommandOptions {
  policies?: string[];
  /** Param objects for native policies' paramRefs (besides those in the policy folders). */
  params?: string[];
  engine?: CelEngine;
  namespace?: string;
  namespaceLabels?: Record<string, string>;
  /** Namespace objects (`kubectl get namespaces -o yaml`): namespaceObject is the request's namespace from it. */
  namespaces?: string;
  operation: 'CREATE' | 'UPDATE';
  old?: string;
  user?: string;
  groups?: string[];
  output: OutputFormat;
  showPatch?: boolean;
  showMutated?: boolean;
  failOn: FailOn;
  /** The nodes (a file, or the cluster): each result gains its coverage, and policies read `coverage`. */
  nodes?: string;
  nodesFromCluster?: boolean;
}

/** The old object for --operation UPDATE: the one DaemonSet in --old FILE. */
async function readOldObject(file: string): Promise<JsonObject> {
  const { daemonSets, problems } = collectDaemonSets(await readManifestSources([file], () => Promise.reject(new InputError('--old cannot read stdin'))));
  if (problems.length > 0) throw new InputError(problems.map((problem) => formatProblem(problem)).join('\n'));
  if (daemonSets.length !== 1) throw new InputError(`${file}: --old must hold exactly one apps/v1 DaemonSet, found ${daemonSets.length}`);
  return daemonSets[0]!.object;
}

/**
 * Runs `test` and returns the report; throws InputError for anything that stops the run. Manifest
 * files that cannot be read or parsed, and DaemonSets no cluster would accept as written (a legacy
 * apiVersion, or one the apiserver's validation refuses) are the report's errors, not reviewed: the
 * others still are, and the command exits 2.
 */
export async function runTest(paths: readonly string[], options: TestCommandOptions, readStdin: () => Promise<string>): Promise<TestReport> {
  if (paths.length === 0) throw new InputError(NO_PATHS);
  if (options.operation === 'UPDATE' && !options.old) throw new InputError('--operation UPDATE needs --old FILE (the DaemonSet as it is in the cluster)');
  if (options.operation !== 'UPDATE' && options.old) throw new InputError('--old is only meaningful with --operation UPDATE');
  const nodeProblem = nodeFlagProblem(options, paths, false);
  if (nodeProblem !== undefined) throw new InputError(nodeProblem);
  const policyPaths = options.policies ?? [DEFAULT_POLICY_PATH];
  const nodes = await loadNodes(options, readStdin);
  // Manifests and policies are read at the same time: both mostly wait on the disk.
  const [read, policySet, namespaceFile]: [{ documents: SourceDocument[]; problems: ManifestProblem[] }, PolicySet, Map<string, JsonObject> | undefined] = await Promise.all([
    readManifestSourcesWithProblems(paths, readStdin),
    loadPoliciesForCli(policyPaths, { paramPaths: options.params }),
    options.namespaces === undefined ? undefined : readNamespacesFile(options.namespaces),
  ]);
  const collected = collectDaemonSets(read.documents);
  const { daemonSets, skipped } = collected;
  // Files that could not be read come first, then the DaemonSets no cluster would accept.
  const problems = [...read.problems, ...collected.problems];
  const oldObject = options.old ? await readOldObject(options.old) : null;
  const namespaceLabels = options.namespaceLabels ?? {};

  // Each DaemonSet's namespace and its Namespace object; one the --namespaces file lacks does not
  // exist in that cluster: say so before reviewing anything.
  const placed = daemonSets.map((manifest) => {
    const namespace = options.namespace ?? manifestNamespace(manifest.object) ?? DEFAULT_NAMESPACE;
    return { manifest, namespace, namespaceObject: namespaceObjectFor(namespace, namespaceLabels, namespaceFile) };
  });
  const missing = new Map<string, string[]>();
  for (const { manifest, namespace, namespaceObject } of placed) {
    if (namespaceObject === undefined) missing.set(namespace, [...(missing.get(namespace) ?? []), `${displayPath(manifest.file)}:${manifest.line}`]);
  }
  if (missing.size > 0) throw missingNamespacesError(options.namespaces!, missing);

  const results: TestResult[] = [];
  for (const { manifest, namespace, namespaceObject } of placed) {
    const request = buildAdmissionRequest(manifest.object, { operation: options.operation as Operation, namespace, oldObject, user: options.user, groups: options.groups });
    const admission = await reviewAdmission(request, policySet, { namespaceObject: namespaceObject ?? null, nodes: nodes ?? null });
    const metadata = manifest.object.metadata;
    const name = isJsonObject(metadata) && typeof metadata.name === 'string' ? metadata.name : '';
    const result: TestResult = { file: manifest.file, line: manifest.line, name, namespace, admission, policies: policyReports(admission, policySet) };
    // Where the DaemonSet lands as the cluster would store it: after the policies' mutations.
    if (nodes !== undefined) result.coverage = computeCoverage(admission.admittedObject ?? manifest.object, nodes);
    results.push(result);
  }
  return { results, errors: problems, skipped, policySet, failOn: options.failOn };
}

export function formatReport(report: TestReport, options: TestCommandOptions, color: boolean): string {
  const reportOptions = { showPatch: options.showPatch === true, showMutated: options.showMutated === true, color };
  switch (options.output) {
    case 'json':
      return `${JSON.stringify(jsonReport(report, reportOptions), null, 2)}\n`;
    case 'yaml':
      return yamlPackageOnDemand().stringify(jsonReport(report, reportOptions));
    case 'junit':
      return junitReport(report);
    case 'sarif':
      return `${JSON.stringify(sarifReport(report, packageVersion()), null, 2)}\n`;
    default:
      return tableReport(report, reportOptions);
  }
}

export function registerTestCommand(program: Command): void {
  program
    .command('test')
    .description('dry-run DaemonSet manifests through the policies, as the cluster would admit them')
    .argument('[paths...]', 'manifest files or folders (YAML or JSON, several documents, Lists); "-" reads stdin; at least one', [])
    .option('-p, --policies <path>', 'policy file or folder, repeatable (default: the built-in library)', collect)
    .option('--params <path>', 'file or folder of param objects for native policies (paramKind/paramRef), repeatable; objects of a paramKind in the policy folders count too', collect)
    .option('-n, --namespace <name>', "namespace of the request (default: the manifest's, else default)")
    .option('--namespace-labels <k=v,...>', 'labels of the namespace, for namespaceSelector (over those of --namespaces)', parseLabels)
    .option('--namespaces <file>', 'Namespace objects (kubectl get namespaces -o yaml): namespaceObject is the whole Namespace, as in the cluster')
    .option('--operation <op>', 'CREATE or UPDATE', parseOperation, 'CREATE')
    .option('--old <file>', 'the DaemonSet as stored in the cluster (for --operation UPDATE)')
    .option('--user <name>', 'request.userInfo.username')
    .option('--groups <g1,g2>', 'request.userInfo.groups (repeatable)', parseGroups)
    .option('-o, --output <format>', `output format: ${OUTPUT_FORMATS.join(', ')}`, choice(OUTPUT_FORMATS, '--output'), 'table')
    .option('--show-patch', 'print the JSON patch of the mutations (relative to the object as the apiserver defaults it)')
    .option('--show-mutated', 'print each DaemonSet after mutation, as YAML')
    .option('--nodes <file>', 'the nodes (`kubectl get nodes -o yaml`): adds where each DaemonSet runs, and gives policies `coverage`')
    .option('--nodes-from-cluster', 'list the nodes from the cluster of the current kubeconfig instead')
    .option('--engine <engine>', 'how CEL runs: compiled, or interpreted (the reference, for debugging)', choice(['compiled', 'interpreted'] as const, '--engine'), 'compiled')
    .option('--fail-on <level>', 'exit 1 on: deny, or warn (warnings too)', choice(['deny', 'warn'] as const, '--fail-on'), 'deny')
    .addHelpText('after', '\nExit codes: 0 all admitted, 1 a denial (or a warning with --fail-on warn), 2 usage, input or policy error.')
    .action(async (paths: string[], options: TestCommandOptions, command: Command) => {
      // A usage error: printed with the usage, exit 2.
      if (paths.length === 0) command.error(`error: ${NO_PATHS}`);
      const nodeProblem = nodeFlagProblem(options, paths, false);
      if (nodeProblem !== undefined) command.error(`error: ${nodeProblem}`);
      setCelEngine(options.engine ?? 'compiled');
      const report = await runTest(paths, options, () => readStream(process.stdin));
      // Said on stderr whatever the format, like every input error; -o json and yaml also carry them.
      for (const problem of report.errors) process.stderr.write(`error: ${formatProblem(problem, displayPath)}\n`);
      process.stdout.write(formatReport(report, options, colorEnabled(process.stdout)));
      if (report.errors.length > 0) process.exitCode = EXIT_USAGE;
      else process.exitCode = report.results.some((r) => isFailure(r, report.failOn)) ? EXIT_FAILED : EXIT_OK;
    });
}
