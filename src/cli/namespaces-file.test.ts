// `daemonguard test --namespaces FILE`, run as a real subprocess of the built CLI: namespaceObject is
// the whole Namespace the file holds (the output of a real `kubectl get namespaces -o yaml`), as a
// webhook in the cluster sees it; the short forms still work; bad files and missing namespaces exit 2.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { runCli } from '../../test/support/cli-process.js';
import type { JsonReport } from './report/model.js';

const DIR = 'src/cli/testdata/namespaces';
const POLICIES = `${DIR}/policies.yaml`;
const DAEMONSETS = `${DIR}/daemonsets.yaml`;
const KUBECTL_OUTPUT = `${DIR}/kubectl-get-namespaces.yaml`;

interface Outcome {
  code: number | null;
  stderr: string;
  /** Per DaemonSet name: its Deny and Warn messages, as `policy: message`. */
  messages: Map<string, { deny: string[]; warn: string[] }>;
}

async function review(args: readonly string[]): Promise<Outcome> {
  const run = await runCli(['test', '-o', 'json', '-p', POLICIES, ...args]);
  assert.ok(run.code === 0 || run.code === 1, `exit ${run.code}: ${run.stderr}`);
  const report = JSON.parse(run.stdout) as JsonReport;
  const messages = new Map<string, { deny: string[]; warn: string[] }>();
  for (const result of report.results) {
    const of = (action: string): string[] => result.violations.filter((v) => v.action === action).map((v) => `${v.policy}: ${v.message}`);
    messages.set(result.name, { deny: of('Deny'), warn: of('Warn') });
  }
  return { code: run.code, stderr: run.stderr, messages };
}

async function tempFile(name: string, text: string): Promise<string> {
  const file = join(await mkdtemp(join(tmpdir(), 'daemonguard-namespaces-')), name);
  await writeFile(file, text);
  return file;
}

describe('daemonguard test --namespaces', () => {
  it("gives policies the whole Namespace of `kubectl get namespaces -o yaml`: status.phase, annotations, labels", async () => {
    const withFile = await review(['--namespaces', KUBECTL_OUTPUT, DAEMONSETS]);
    assert.equal(withFile.code, 1);
    assert.deepEqual(withFile.messages.get('node-exporter'), { deny: [], warn: [] }, 'monitoring is Active and names its owner');
    assert.deepEqual(withFile.messages.get('fluent-bit'), {
      deny: [
        'namespace-active: namespace logging is Terminating: nothing new may start there',
        "observability-baseline: privileged containers are not allowed in the observability team's namespaces",
      ],
      warn: ['namespace-owner: namespace logging names no owner (annotation example.com/owner)'],
    });

    // Without the file the CLI knows a name and the labels it is told, nothing more: what it reported before.
    const withLabels = await review(['--namespace-labels', 'team=observability', DAEMONSETS]);
    assert.deepEqual(withLabels.messages.get('fluent-bit')!.deny, ["observability-baseline: privileged containers are not allowed in the observability team's namespaces"]);
    assert.deepEqual(withLabels.messages.get('node-exporter')!.warn, ['namespace-owner: namespace monitoring names no owner (annotation example.com/owner)']);
  });

  it('lays --namespace-labels over the labels of the file', async () => {
    const relabelled = await review(['--namespaces', KUBECTL_OUTPUT, '--namespace-labels', 'team=platform', DAEMONSETS]);
    assert.deepEqual(relabelled.messages.get('fluent-bit')!.deny, ['namespace-active: namespace logging is Terminating: nothing new may start there']);
  });

  it('reads a single Namespace, several Namespace documents and a JSON NamespaceList, and adds the name label the apiserver sets', async () => {
    const written = (parse(readFileSync(new URL(`../../../${KUBECTL_OUTPUT}`, import.meta.url), 'utf8')) as { items: { metadata: { name: string } }[] }).items;
    const monitoring = written.find((n) => n.metadata.name === 'monitoring')!;
    const logging = written.find((n) => n.metadata.name === 'logging')!;
    const single = await tempFile('monitoring.yaml', JSON.stringify(monitoring));
    const documents = await tempFile('namespaces.yaml', `${JSON.stringify(monitoring)}\n---\n${JSON.stringify(logging)}\n`);
    const list = await tempFile('namespaces.json', JSON.stringify({ apiVersion: 'v1', kind: 'NamespaceList', items: [monitoring, logging] }));
    for (const file of [documents, list]) {
      const outcome = await review(['--namespaces', file, DAEMONSETS]);
      assert.equal(outcome.messages.get('fluent-bit')!.deny.length, 2, file);
    }
    assert.equal((await review(['--namespaces', single, '-n', 'monitoring', DAEMONSETS])).code, 1, 'fluent-bit is privileged in monitoring');

    // A hand-written Namespace without the kubernetes.io/metadata.name label: it is there in any cluster.
    const selecting = await tempFile('by-name.yaml', POLICY_BY_NAME);
    const bare = await tempFile('bare.yaml', 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: monitoring\n');
    const run = await runCli(['test', '-p', selecting, '--namespaces', bare, `${DAEMONSETS}`, '-n', 'monitoring']);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(run.stdout, /deny +by-name: selected by the name label/);
  });

  it('exits 2 naming the file and the DaemonSets when the file lacks their namespace, and on a file that is not Namespaces', async () => {
    const missing = await runCli(['test', '-p', POLICIES, '--namespaces', KUBECTL_OUTPUT, '-n', 'agents', DAEMONSETS]);
    assert.equal(missing.code, 2);
    assert.equal(missing.stdout, '');
    assert.match(missing.stderr, new RegExp(`error: --namespaces ${KUBECTL_OUTPUT} has no Namespace for:\\n  namespace "agents" \\(${DAEMONSETS}:1, ${DAEMONSETS}:17\\)\\nadd them to the file`));

    const notNamespaces = await runCli(['test', '-p', POLICIES, '--namespaces', DAEMONSETS, DAEMONSETS]);
    assert.equal(notNamespaces.code, 2);
    assert.match(notNamespaces.stderr, new RegExp(`error: --namespaces ${DAEMONSETS}: expected Namespace objects`));

    const broken = await tempFile('broken.yaml', 'apiVersion: v1\nkind: Namespace\nmetadata: {name: [\n');
    const brokenRun = await runCli(['test', '-p', POLICIES, '--namespaces', broken, DAEMONSETS]);
    assert.equal(brokenRun.code, 2);
    assert.match(brokenRun.stderr, new RegExp(`error: --namespaces ${broken.replace(/[.\\/]/g, '\\$&')}:\\d+:\\d+: `));

    const absent = await runCli(['test', '-p', POLICIES, '--namespaces', 'no/such/namespaces.yaml', DAEMONSETS]);
    assert.equal(absent.code, 2);
    assert.match(absent.stderr, /error: --namespaces no\/such\/namespaces\.yaml: no such file/);
  });
});

describe('daemonguard review --namespaces', () => {
  it('answers an AdmissionReview with the Namespace from the file, as serve --namespaces does', async () => {
    const review = JSON.parse(readFileSync(new URL('../../../examples/create-compliant.json', import.meta.url), 'utf8')) as { request: { namespace: string; object: { metadata: { namespace?: string } } } };
    review.request.namespace = 'logging';
    review.request.object.metadata.namespace = 'logging';
    const file = await tempFile('review.json', JSON.stringify(review));
    const run = await runCli(['review', '-p', POLICIES, '--namespaces', KUBECTL_OUTPUT, file]);
    assert.equal(run.code, 1, run.stderr);
    const answer = JSON.parse(run.stdout) as { response: { allowed: boolean; status?: { message: string } } };
    assert.equal(answer.response.allowed, false);
    assert.match(answer.response.status!.message, /namespace-active: namespace logging is Terminating/);
    const withoutFile = await runCli(['review', '-p', POLICIES, file]);
    assert.equal(withoutFile.code, 0, withoutFile.stdout);
  });
});

const POLICY_BY_NAME = `apiVersion: daemonguard.dev/v1alpha1
kind: DaemonSetPolicy
metadata:
  name: by-name
spec:
  validationActions: [Deny]
  match:
    namespaceSelector:
      matchLabels: {kubernetes.io/metadata.name: monitoring}
  validations:
    - expression: "false"
      message: selected by the name label
`;
