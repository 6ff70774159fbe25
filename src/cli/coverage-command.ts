// `daemonguard coverage --nodes NODES DS...`: on which nodes each DaemonSet will run, why the other
// nodes are left out, and what its pods request in all (src/coverage).
//
//   kubectl get nodes -o yaml > nodes.yaml; daemonguard coverage --nodes nodes.yaml agent.yaml
import type { Command } from 'commander';
import { DEFAULT_NAMESPACE, manifestNamespace } from '../apiserver/admission-request.js';
import { computeCoverage, type Coverage } from '../coverage/coverage.js';
import { isJsonObject, type JsonObject } from '../common/vocabulary.js';
import { yamlPackageOnDemand } from '../common/yaml-package.js';
import { EXIT_OK, EXIT_USAGE, InputError } from './exit-codes.js';
import { collectDaemonSets, formatProblem, readManifestSources, readStream, STDIN_PATH, type ManifestProblem } from './manifest-reader.js';
import { readClusterNodes, readNodeFiles } from './node-reader.js';
import { choice } from './options.js';
import { coverageBlock, coverageJson, type CoverageJson } from './report/coverage-report.js';
import { displayPath } from './report/model.js';

export const COVERAGE_FORMATS = ['table', 'json', 'yaml'] as const;

export interface CoverageCommandOptions {
  nodes?: string;
  nodesFromCluster?: boolean;
  output: (typeof COVERAGE_FORMATS)[number];
}

export interface CoverageResult {
  file: string;
  line: number;
  name: string;
  namespace: string;
  coverage: Coverage;
}

export interface CoverageRun {
  results: CoverageResult[];
  errors: ManifestProblem[];
}

/** The usage mistakes of the node flags, said before anything is read. */
export function nodeFlagProblem(options: { nodes?: string; nodesFromCluster?: boolean }, paths: readonly string[], required: boolean): string | undefined {
  if (options.nodes !== undefined && options.nodesFromCluster) return '--nodes and --nodes-from-cluster exclude each other';
  if (required && options.nodes === undefined && !options.nodesFromCluster) return 'say where the nodes come from: --nodes FILE (kubectl get nodes -o yaml) or --nodes-from-cluster';
  if (options.nodes === STDIN_PATH && paths.includes(STDIN_PATH)) return 'stdin can hold the nodes or the DaemonSets, not both';
  return undefined;
}

/** The nodes the flags name, or undefined when neither flag is given. */
export async function loadNodes(options: { nodes?: string; nodesFromCluster?: boolean }, readStdin: () => Promise<string>): Promise<JsonObject[] | undefined> {
  if (options.nodesFromCluster) return readClusterNodes();
  if (options.nodes !== undefined) return readNodeFiles([options.nodes], readStdin);
  return undefined;
}

export async function runCoverage(paths: readonly string[], options: CoverageCommandOptions, readStdin: () => Promise<string>): Promise<CoverageRun> {
  const problem = nodeFlagProblem(options, paths, true);
  if (problem !== undefined) throw new InputError(problem);
  const nodes = (await loadNodes(options, readStdin))!;
  const { daemonSets, problems } = collectDaemonSets(await readManifestSources(paths, readStdin));
  const results = daemonSets.map((manifest): CoverageResult => {
    const metadata = isJsonObject(manifest.object.metadata) ? manifest.object.metadata : {};
    return {
      file: manifest.file,
      line: manifest.line,
      name: typeof metadata.name === 'string' ? metadata.name : '',
      namespace: manifestNamespace(manifest.object) ?? DEFAULT_NAMESPACE,
      coverage: computeCoverage(manifest.object, nodes),
    };
  });
  return { results, errors: problems };
}

export interface CoverageJsonReport {
  results: ({ file: string; name: string; namespace: string } & CoverageJson)[];
}

export function coverageJsonReport(run: CoverageRun): CoverageJsonReport {
  return { results: run.results.map((r) => ({ file: displayPath(r.file), name: r.name, namespace: r.namespace, ...coverageJson(r.coverage) })) };
}

export function formatCoverage(run: CoverageRun, format: CoverageCommandOptions['output']): string {
  if (format === 'json') return `${JSON.stringify(coverageJsonReport(run), null, 2)}\n`;
  if (format === 'yaml') return yamlPackageOnDemand().stringify(coverageJsonReport(run));
  const blocks = run.results.map((r) => coverageBlock(`${r.namespace}/${r.name} (${displayPath(r.file)}:${r.line})`, r.coverage).join('\n'));
  return `${blocks.join('\n\n')}${blocks.length > 0 ? '\n' : ''}`;
}

export function registerCoverageCommand(program: Command): void {
  program
    .command('coverage')
    .description('which nodes each DaemonSet runs on (the DaemonSet controller\'s rules), why the others are left out, and its footprint')
    .argument('<paths...>', 'DaemonSet manifest files or folders; "-" reads stdin')
    .option('--nodes <file>', 'the nodes: `kubectl get nodes -o yaml` output, a List or several Node documents ("-" reads stdin)')
    .option('--nodes-from-cluster', 'list the nodes from the cluster of the current kubeconfig (needs list on nodes)')
    .option('-o, --output <format>', `output format: ${COVERAGE_FORMATS.join(', ')}`, choice(COVERAGE_FORMATS, '--output'), 'table')
    .addHelpText('after', '\nExit codes: 0 computed, 2 usage or input error.')
    .action(async (paths: string[], options: CoverageCommandOptions, command: Command) => {
      const problem = nodeFlagProblem(options, paths, true);
      // A usage error: printed with the usage, exit 2.
      if (problem !== undefined) command.error(`error: ${problem}`);
      const run = await runCoverage(paths, options, () => readStream(process.stdin));
      for (const error of run.errors) process.stderr.write(`error: ${formatProblem(error, displayPath)}\n`);
      process.stdout.write(formatCoverage(run, options.output));
      process.exitCode = run.errors.length > 0 ? EXIT_USAGE : EXIT_OK;
    });
}
