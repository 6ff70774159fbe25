// `daemonguard review FILE|-`: answers a raw AdmissionReview exactly as the server's /validate or
// /mutate endpoint would (same decoder, same answering function), for debugging a request captured
// from the apiserver's audit log or a webhook's debug log.
import type { Command } from 'commander';
import { loadNodes, nodeFlagProblem } from './coverage-command.js';
import { decodeAdmissionReview } from '../admission/admission-review.js';
import { answerAdmissionReview } from '../admission/webhook-answer.js';
import { review } from '../engine/review.js';
import type { ReviewPhase } from '../engine/types.js';
import { EXIT_FAILED, EXIT_OK, InputError } from './exit-codes.js';
import { loadPoliciesForCli } from './load-policy-set.js';
import { namespaceObjectFor, readNamespacesFile } from './namespaces-file.js';
import { readManifestSources, readStream, STDIN_PATH } from './manifest-reader.js';
import { choice, collect, parseLabels } from './options.js';
import { DEFAULT_POLICY_PATH } from './test-command.js';

export interface ReviewCommandOptions {
  policies?: string[];
  endpoint: ReviewPhase;
  namespaceLabels?: Record<string, string>;
  /** Namespace objects (`kubectl get namespaces -o yaml`), as `serve --namespaces` reads them. */
  namespaces?: string;
  /** The nodes (a file, or the cluster): policies read `coverage` as the server with --nodes-from-cluster would give it. */
  nodes?: string;
  nodesFromCluster?: boolean;
}

/** Decodes, reviews and answers one AdmissionReview; throws InputError when the body is not one. */
export async function answerAdmissionReviewFile(path: string, options: ReviewCommandOptions, readStdin: () => Promise<string>) {
  const documents = (await readManifestSources([path], readStdin)).filter((d) => d.value !== null);
  if (documents.length !== 1) throw new InputError(`${path === STDIN_PATH ? '<stdin>' : path}: expected one AdmissionReview, found ${documents.length} documents`);
  const decoded = decodeAdmissionReview(documents[0]!.value);
  if (!decoded.ok) throw new InputError(`${documents[0]!.file}: not an AdmissionReview the server would answer: ${decoded.message}`);
  const policySet = await loadPoliciesForCli(options.policies ?? [DEFAULT_POLICY_PATH]);
  const nodes = await loadNodes(options, readStdin);
  const namespaces = options.namespaces === undefined ? undefined : await readNamespacesFile(options.namespaces);
  // A namespace the file lacks is unknown, as it is to `serve --namespaces` (policies that need it fail by their failurePolicy).
  const namespaceObject = namespaceObjectFor(decoded.request.namespace ?? '', options.namespaceLabels ?? {}, namespaces);
  const context = { phase: options.endpoint, ...(namespaceObject === undefined ? {} : { namespaceObject }), nodes: nodes ?? null };
  return answerAdmissionReview(decoded, (request, reviewContext) => review(request, policySet, reviewContext), context).answer;
}

export function registerReviewCommand(program: Command): void {
  program
    .command('review')
    .description('answer a raw AdmissionReview as the server would (prints the AdmissionReview response)')
    .argument('<file>', 'AdmissionReview request as JSON (or YAML); "-" reads stdin')
    .option('-p, --policies <path>', 'policy file or folder, repeatable (default: the built-in library)', collect)
    .option('--endpoint <endpoint>', 'which webhook answers: validate or mutate', choice(['validate', 'mutate'] as const, '--endpoint'), 'validate')
    .option('--namespace-labels <k=v,...>', "labels of the request's namespace, for namespaceSelector (over those of --namespaces)", parseLabels)
    .option('--namespaces <file>', 'Namespace objects (kubectl get namespaces -o yaml), as serve --namespaces reads them: namespaceObject is the whole Namespace')
    .option('--nodes <file>', 'the nodes (`kubectl get nodes -o yaml`): policies read `coverage`, as the server with --nodes-from-cluster gives it')
    .option('--nodes-from-cluster', 'list the nodes from the cluster of the current kubeconfig instead')
    .addHelpText('after', '\nExit codes: 0 allowed, 1 denied, 2 usage, input or policy error.')
    .action(async (file: string, options: ReviewCommandOptions, command: Command) => {
      // A usage error: printed with the usage, exit 2.
      const nodeProblem = nodeFlagProblem(options, [file], false);
      if (nodeProblem !== undefined) command.error(`error: ${nodeProblem}`);
      const answer = await answerAdmissionReviewFile(file, options, () => readStream(process.stdin));
      process.stdout.write(`${JSON.stringify(answer)}\n`);
      process.exitCode = answer.response.allowed ? EXIT_OK : EXIT_FAILED;
    });
}
