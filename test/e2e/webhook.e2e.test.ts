// daemonguard's webhooks in front of a real kube-apiserver: `daemonguard serve` as a subprocess on
// 127.0.0.1 with the built-in policy library, registered with `daemonguard manifests --url` and the
// caBundle of `daemonguard certs`, failurePolicy Fail for both webhooks (Ignore would hide protocol
// mistakes) except in the test about Ignore. Requests come from @kubernetes/client-node, kubectl
// (client-side apply, create, server-side apply, patch, replace, delete) and plain HTTPS, and every
// answer is compared with what `daemonguard test` says about the same manifest.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AppsV1Api, KubeConfig, type V1DaemonSet } from '@kubernetes/client-node';
import { TEMPLATE_GENERATION_ANNOTATION } from '../../src/apiserver/daemonset-defaults.js';
import { isJsonObject, type JsonObject, type JsonValue } from '../../src/common/vocabulary.js';
import { startServe, type ServeProcess } from '../support/serve-process.js';
import { diffObjects, formatDifferences, KubeApi, parseWarningHeaders, POLICIES_DIR, startTestWebhook, statusMessage, type TestWebhook } from './admission-support.js';
import { startCluster, type Cluster } from './cluster/cluster.js';
import { CLI, daemonguard, eventually, REPO_ROOT, run } from './deploy-tools.js';

const APPS = 'apps'; // enforce=baseline: pod-security-baseline applies, from the namespaces file
const OPS = 'ops';
const IGNORED = 'ignored'; // daemonguard.dev/ignore=true
const BENCH_WITHOUT = 'bench-without';
const BENCH_WITH = 'bench-with';
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
const REINVOKE_LABEL = 'e2e.daemonguard.dev/reinvoke';
const TOUCHED_LABEL = 'e2e.daemonguard.dev/touched';
const PROTECTED_LABEL = 'e2e.daemonguard.dev/protected';
const DELETE_WEBHOOK = 'validate-delete.e2e.daemonguard.dev';
const BENCH_COUNT = Number(process.env.DAEMONGUARD_E2E_BENCH_N ?? 50);

const NAMESPACES: Record<string, Record<string, string>> = {
  [APPS]: { 'pod-security.kubernetes.io/enforce': 'baseline' },
  [OPS]: {},
  [IGNORED]: { 'daemonguard.dev/ignore': 'true' },
  [BENCH_WITHOUT]: { 'daemonguard.dev/ignore': 'true' },
  [BENCH_WITH]: {},
};

/** A policy on DELETE, next to the library (which has none): protected DaemonSets cannot be deleted. */
const DELETE_POLICY = `apiVersion: daemonguard.dev/v1alpha1
kind: DaemonSetPolicy
metadata:
  name: protected-daemonsets
spec:
  validationActions: [Deny]
  match:
    operations: [DELETE]
  validations:
    - expression: "oldObject.metadata.?labels[?'${PROTECTED_LABEL}'].orValue('') != 'true'"
      messageExpression: "'DaemonSet ' + oldObject.metadata.name + ' is labelled ${PROTECTED_LABEL}=true; remove the label to delete it'"
      reason: Forbidden
`;

interface AgentOptions {
  namespace?: string;
  privileged?: boolean;
  image?: string;
  /** No ports and no resources: the warn-only policies have something to say. */
  bare?: boolean;
  maxUnavailable?: number | string;
  revisionHistoryLimit?: number;
  labels?: Record<string, string>;
}

/** A node agent every Deny policy of the library admits (unless asked otherwise). */
function agent(name: string, options: AgentOptions = {}): JsonObject {
  const container: JsonObject = { name: 'agent', image: options.image ?? 'registry.example/agent:1.4.2' };
  if (!options.bare) {
    // Named for health, so that default-probes has a port it may probe (it does not guess at others).
    container.ports = [{ name: 'healthz', containerPort: 9100 }];
    container.resources = { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '64Mi' } };
  }
  if (options.privileged) container.securityContext = { privileged: true };
  const spec: JsonObject = {
    selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name } }, spec: { containers: [container] } },
  };
  if (options.maxUnavailable !== undefined) spec.updateStrategy = { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: options.maxUnavailable } };
  if (options.revisionHistoryLimit !== undefined) spec.revisionHistoryLimit = options.revisionHistoryLimit;
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name, namespace: options.namespace ?? APPS, labels: { app: name, ...options.labels } },
    spec,
  };
}

/** The manifest as `kubectl apply` sends it: with the last-applied annotation holding the manifest. */
function asClientSideApplied(manifest: JsonObject): JsonObject {
  const copy = structuredClone(manifest);
  const metadata = copy.metadata as JsonObject;
  metadata.annotations = { ...(isJsonObject(metadata.annotations) ? metadata.annotations : {}), [LAST_APPLIED]: `${JSON.stringify(manifest)}\n` };
  return copy;
}

function field(object: unknown, ...keys: (string | number)[]): unknown {
  let current = object;
  for (const key of keys) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string | number, unknown>)[key];
  }
  return current;
}

interface CliResult {
  name: string;
  allowed: boolean;
  violations: { policy: string; message: string; action: 'Deny' | 'Warn' | 'Audit' }[];
  warnings: string[];
  mutated?: JsonObject;
}

/** A line of `daemonguard serve`'s log for one admission decision. */
interface DecisionLog {
  name: string;
  namespace: string;
  operation: string;
  endpoint: '/validate' | '/mutate';
  decision: string;
  dryRun: boolean;
  patchOperations: number;
  durationMs: number;
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

describe('daemonguard webhooks in front of a real kube-apiserver', { timeout: 900_000 }, () => {
  let cluster: Cluster;
  let api: KubeApi;
  let apps: AppsV1Api;
  let work: string;
  let certs: string;
  let extraPolicies: string;
  let namespacesFile: string;
  let server: ServeProcess;
  let touch: TestWebhook;
  /** The admission decisions daemonguard has logged so far. */
  const decisions = (): DecisionLog[] => server.logLines().filter((line) => line['msg'] === 'admission decision') as unknown as DecisionLog[];

  const denied = (message: string): string => `admission webhook "validate.daemonguard.dev" denied the request: ${message}`;

  /** `daemonguard test -o json --show-mutated` with the server's policies and the namespace's labels. */
  async function cliReview(manifests: JsonObject[], namespace: string): Promise<CliResult[]> {
    const labels = Object.entries(NAMESPACES[namespace] ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
    const args = [CLI, 'test', '-o', 'json', '--show-mutated', '-p', POLICIES_DIR, '-p', extraPolicies, '-n', namespace, ...(labels === '' ? [] : ['--namespace-labels', labels]), '-'];
    const result = await run(process.execPath, args, { input: manifests.map((m) => JSON.stringify(m)).join('\n---\n') });
    assert.ok(result.code === 0 || result.code === 1, `daemonguard test failed (${result.code}): ${result.stderr}`);
    return (JSON.parse(result.stdout) as { results: CliResult[] }).results;
  }

  const denialLines = (result: CliResult): string => [...new Set(result.violations.filter((v) => v.action === 'Deny').map((v) => `${v.policy}: ${v.message}`))].join('\n');

  async function readDaemonSet(namespace: string, name: string): Promise<JsonObject | undefined> {
    const answer = await api.request('GET', `/apis/apps/v1/namespaces/${namespace}/daemonsets/${name}`);
    if (answer.status === 404) return undefined;
    assert.equal(answer.status, 200, statusMessage(answer.body));
    return answer.body as JsonObject;
  }

  const kubectlInput = (manifest: JsonObject): { input: string; allowFailure: true } => ({ input: JSON.stringify(manifest), allowFailure: true });

  /** The decisions logged for one DaemonSet (the log is written asynchronously: wait for `count`). */
  async function decisionsFor(name: string, filter: Partial<DecisionLog> = {}, count = 1): Promise<DecisionLog[]> {
    const matching = (): DecisionLog[] =>
      decisions().filter((d) => d.name === name && Object.entries(filter).every(([key, value]) => d[key as keyof DecisionLog] === value));
    await eventually(`${count} logged decision(s) for ${name} ${JSON.stringify(filter)}`, async () => matching().length >= count, 10_000);
    return matching();
  }

  /** Renders the webhook configurations with `daemonguard manifests --url` and applies them. */
  async function register(mutatingFailurePolicy: 'Fail' | 'Ignore'): Promise<JsonObject[]> {
    const rendered = await daemonguard([
      'manifests', '--url', `https://127.0.0.1:${server.port}`, '--certs-dir', certs, '--failure-policy', 'Fail',
      '--mutating-failure-policy', mutatingFailurePolicy, '--timeout', '10', '-o', 'json',
    ]);
    assert.equal(rendered.code, 0, rendered.stderr);
    const list = JSON.parse(rendered.stdout) as { items: JsonObject[] };
    await cluster.kubectl(['apply', '-f', '-'], { input: rendered.stdout });
    return list.items;
  }

  before(async () => {
    const started = Date.now();
    cluster = await startCluster();
    api = new KubeApi(cluster);
    const kc = new KubeConfig();
    kc.loadFromFile(cluster.kubeconfigPath);
    apps = kc.makeApiClient(AppsV1Api);

    work = await mkdtemp(path.join(os.tmpdir(), 'daemonguard-webhook-e2e-'));
    certs = path.join(work, 'certs');
    const created = await daemonguard(['certs', '--dir', certs, '--ip', '127.0.0.1']);
    assert.equal(created.code, 0, created.stderr);
    extraPolicies = path.join(work, 'extra-policies');
    await mkdir(extraPolicies);
    await writeFile(path.join(extraPolicies, 'protected-daemonsets.yaml'), DELETE_POLICY);

    // The test namespaces, and their labels in the file the server reads (as the docs say: kubectl get namespaces -o yaml).
    const namespaces = Object.entries(NAMESPACES).map(([name, labels]) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } }));
    await cluster.kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: namespaces }) });
    namespacesFile = path.join(work, 'namespaces.yaml');
    await writeFile(namespacesFile, (await cluster.kubectl(['get', 'namespaces', '-o', 'yaml'])).stdout);

    server = await startServe({
      args: [
        '--address', '127.0.0.1', '--port', '0', '--tls-cert', path.join(certs, 'tls.crt'), '--tls-key', path.join(certs, 'tls.key'),
        '--policies', POLICIES_DIR, '--policies', extraPolicies, '--namespaces', namespacesFile,
      ],
      cwd: REPO_ROOT,
    });

    const [validating] = await register('Fail');
    // DELETE is not in the shipped configuration; the DELETE test registers it next to it.
    const hook = (validating!.webhooks as JsonObject[])[0]!;
    const deleteHook = { ...structuredClone(hook), name: DELETE_WEBHOOK, matchConditions: [], rules: [{ apiGroups: ['apps'], apiVersions: ['v1'], resources: ['daemonsets'], operations: ['DELETE'], scope: 'Namespaced' }] };
    // A second mutating webhook, called after daemonguard's (configurations run in name order), that
    // labels the DaemonSets that ask for it: the apiserver then calls daemonguard again (IfNeeded).
    touch = await startTestWebhook(cluster, ({ request }) => {
      const labels = field(request.object, 'metadata', 'labels');
      return isJsonObject(labels as JsonValue) && (labels as JsonObject)[TOUCHED_LABEL] === undefined
        ? { patch: [{ op: 'add', path: `/metadata/labels/${TOUCHED_LABEL.replace(/\//g, '~1')}`, value: 'true' }] }
        : {};
    });
    const touchConfiguration = {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: 'e2e-touch' },
      webhooks: [
        {
          name: 'touch.e2e.daemonguard.dev',
          admissionReviewVersions: ['v1'],
          clientConfig: { url: `${touch.url}/mutate`, caBundle: touch.caBundle },
          rules: [{ apiGroups: ['apps'], apiVersions: ['v1'], resources: ['daemonsets'], operations: ['CREATE', 'UPDATE'], scope: 'Namespaced' }],
          failurePolicy: 'Fail',
          objectSelector: { matchLabels: { [REINVOKE_LABEL]: 'true' } },
          sideEffects: 'None',
          timeoutSeconds: 10,
          reinvocationPolicy: 'Never',
        },
      ],
    };
    const extra = [
      { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration', metadata: { name: 'e2e-delete' }, webhooks: [deleteHook] },
      touchConfiguration,
    ];
    await cluster.kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: extra }) });

    let last = '';
    await eventually(
      'the webhooks to answer through the apiserver',
      async () => {
        const refused = await api.dryRunCreate(APPS, agent('probe', { privileged: true }));
        const mutated = await api.dryRunCreate(APPS, agent('probe'));
        const seccomp = field(mutated.body, 'spec', 'template', 'spec', 'securityContext', 'seccompProfile', 'type');
        last = `${refused.status} ${statusMessage(refused.body).slice(0, 300)}; ${mutated.status} seccompProfile ${String(seccomp)}`;
        return statusMessage(refused.body).includes('denied the request') && seccomp === 'RuntimeDefault';
      },
      60_000,
    ).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}; last answers: ${last}`);
    });
    console.log(`webhook e2e: cluster, certificates, daemonguard serve on port ${server.port} and registration in ${Date.now() - started} ms`);
  });

  after(async () => {
    await server?.stop();
    await touch?.close();
    api?.close();
    await cluster?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("refuses a DaemonSet that violates a policy with daemonguard's message, through @kubernetes/client-node", async () => {
    const manifest = agent('root-agent', { privileged: true });
    const [expected] = await cliReview([manifest], APPS);
    assert.equal(expected!.allowed, false);
    // privileged-namespaces, and pod-security-baseline: apps is enforce=baseline in the namespaces file.
    assert.deepEqual([...new Set(expected!.violations.filter((v) => v.action === 'Deny').map((v) => v.policy))].sort(), ['pod-security-baseline', 'privileged-namespaces']);
    await assert.rejects(apps.createNamespacedDaemonSet({ namespace: APPS, body: manifest as V1DaemonSet }), (error: unknown) => {
      const { code, body } = error as { code?: number; body?: unknown };
      assert.equal(code, 403);
      const status = typeof body === 'string' ? (JSON.parse(body) as unknown) : body;
      assert.equal(statusMessage(status), denied(denialLines(expected!)));
      return true;
    });
    assert.equal(await readDaemonSet(APPS, 'root-agent'), undefined);
  });

  it("refuses it with the same message through kubectl apply, and stores nothing", async () => {
    const manifest = agent('root-agent-kubectl', { privileged: true });
    const [expected] = await cliReview([asClientSideApplied(manifest)], APPS);
    const result = await cluster.kubectl(['apply', '-f', '-'], kubectlInput(manifest));
    assert.notEqual(result.code, 0);
    assert.ok(
      result.stderr.includes(`Error from server (Forbidden): error when creating "STDIN": ${denied(denialLines(expected!))}`),
      `kubectl said:\n${result.stderr}`,
    );
    assert.equal(await readDaemonSet(APPS, 'root-agent-kubectl'), undefined);
  });

  it('stores a compliant DaemonSet with the defaults of the mutating webhook, exactly as `daemonguard test` computes them', async () => {
    const manifest = agent('agent');
    const applied = await cluster.kubectl(['apply', '-f', '-'], { input: JSON.stringify(manifest) });
    assert.match(applied.stdout, /daemonset\.apps\/agent created/);
    const stored = (await readDaemonSet(APPS, 'agent'))!;
    assert.equal(field(stored, 'spec', 'updateStrategy', 'rollingUpdate', 'maxUnavailable'), '10%', 'default-rolling-update');
    assert.equal(field(stored, 'spec', 'revisionHistoryLimit'), 5, 'default-revision-history');
    assert.deepEqual(field(stored, 'spec', 'template', 'spec', 'securityContext', 'seccompProfile'), { type: 'RuntimeDefault' }, 'default-seccomp');
    // default-probes writes the handler; the apiserver adds the probe's timing defaults after the patch.
    assert.deepEqual(field(stored, 'spec', 'template', 'spec', 'containers', 0, 'readinessProbe'), {
      tcpSocket: { port: 9100 },
      timeoutSeconds: 1,
      periodSeconds: 10,
      successThreshold: 1,
      failureThreshold: 3,
    });

    const [expected] = await cliReview([asClientSideApplied(manifest)], APPS);
    const differences = diffObjects(expected!.mutated as JsonObject, stored, (segments) => {
      if (segments[0] === 'status') return true;
      if (segments[0] !== 'metadata') return false;
      if (segments.length === 2 && ['uid', 'creationTimestamp', 'managedFields', 'resourceVersion', 'generation'].includes(String(segments[1]))) return true;
      // The registry sets templateGeneration after admission; kubectl writes last-applied in its own key order.
      return segments.length === 3 && segments[1] === 'annotations' && (segments[2] === TEMPLATE_GENERATION_ANNOTATION || segments[2] === LAST_APPLIED);
    });
    assert.deepEqual(differences, [], `stored object and daemonguard test differ:\n${formatDifferences(differences, 'daemonguard test', 'stored')}`);
  });

  it('changes nothing on a second apply or a replace: the mutations are idempotent', async () => {
    const manifest = agent('agent');
    const before = (await readDaemonSet(APPS, 'agent'))!;
    const again = await cluster.kubectl(['apply', '-f', '-'], { input: JSON.stringify(manifest) });
    assert.match(again.stdout, /daemonset\.apps\/agent unchanged/);

    // A replace sends the stored (already mutated) object through both webhooks again.
    await cluster.kubectl(['replace', '-f', '-'], { input: JSON.stringify(before) });
    const [replaced] = await decisionsFor('agent', { operation: 'UPDATE', endpoint: '/mutate' });
    assert.equal(replaced!.patchOperations, 0, 'no patch on an already mutated object');

    // Server-side apply, twice: the second apply is an UPDATE with nothing to add.
    const ssa = agent('agent-ssa');
    await cluster.kubectl(['apply', '--server-side', '-f', '-'], { input: JSON.stringify(ssa) });
    const first = (await readDaemonSet(APPS, 'agent-ssa'))!;
    assert.equal(field(first, 'spec', 'updateStrategy', 'rollingUpdate', 'maxUnavailable'), '10%');
    await cluster.kubectl(['apply', '--server-side', '-f', '-'], { input: JSON.stringify(ssa) });
    const [reapplied] = await decisionsFor('agent-ssa', { operation: 'UPDATE', endpoint: '/mutate' });
    assert.equal(reapplied!.patchOperations, 0);
    assert.deepEqual((await readDaemonSet(APPS, 'agent-ssa'))!.spec, first.spec);

    // Moving the client-side-applied object to server-side apply: kubectl follows the apply with a
    // request that drops the last-applied annotation and the client-side manager, in which the
    // fields only that manager owned come back as the apiserver's defaults; daemonguard writes its
    // own again (the user never chose them), so the stored spec does not change.
    await cluster.kubectl(['apply', '--server-side', '--force-conflicts', '-f', '-'], { input: JSON.stringify(manifest) });
    const after = (await readDaemonSet(APPS, 'agent'))!;
    assert.equal(field(after, 'metadata', 'generation'), field(before, 'metadata', 'generation'), 'the spec never changed');
    assert.deepEqual(after.spec, before.spec);
  });

  it('is called again after another webhook changes the object (reinvocationPolicy IfNeeded), and then returns no patch', async () => {
    const manifest = agent('reinvoked', { labels: { [REINVOKE_LABEL]: 'true' } });
    await cluster.kubectl(['apply', '-f', '-'], { input: JSON.stringify(manifest) });
    const stored = (await readDaemonSet(APPS, 'reinvoked'))!;
    assert.equal(field(stored, 'metadata', 'labels', TOUCHED_LABEL), 'true', 'the second webhook ran');
    assert.equal(field(stored, 'spec', 'updateStrategy', 'rollingUpdate', 'maxUnavailable'), '10%');
    const calls = await decisionsFor('reinvoked', { operation: 'CREATE', endpoint: '/mutate' }, 2);
    assert.equal(calls.length, 2, 'called once, then once more');
    assert.ok(calls[0]!.patchOperations > 0, 'the first call patches');
    assert.equal(calls[1]!.patchOperations, 0, 'the reinvocation returns no patch');
    assert.equal(calls[1]!.decision, 'allowed');
    assert.equal(touch.received.filter((r) => field(r.request.object, 'metadata', 'name') === 'reinvoked').length, 1);
  });

  it('sends warnings as Warning headers: @kubernetes/client-node gets them, kubectl prints them', async () => {
    const manifest = agent('loose', { namespace: OPS, image: 'registry.example/agent:latest', bare: true });
    const [expected] = await cliReview([manifest], OPS);
    assert.equal(expected!.allowed, true);
    assert.deepEqual(
      expected!.warnings.map((w) => w.split(':')[0]).sort(),
      ['default-probes', 'image-references', 'resources'],
      `daemonguard test warns: ${expected!.warnings.join(' | ')}`,
    );
    const info = await apps.createNamespacedDaemonSetWithHttpInfo({ namespace: OPS, body: manifest as V1DaemonSet });
    assert.equal(info.httpStatusCode, 201);
    const headers = info.headers as unknown as Record<string, string>;
    assert.deepEqual(parseWarningHeaders(headers['warning']).sort(), [...expected!.warnings].sort());

    const viaKubectl = agent('loose-kubectl', { namespace: OPS, image: 'registry.example/agent:latest', bare: true });
    const [expectedKubectl] = await cliReview([asClientSideApplied(viaKubectl)], OPS);
    const result = await cluster.kubectl(['apply', '-f', '-'], { input: JSON.stringify(viaKubectl) });
    const printed = result.stderr.split('\n').filter((line) => line.startsWith('Warning: ')).map((line) => line.slice('Warning: '.length));
    assert.deepEqual(printed.sort(), [...expectedKubectl!.warnings].sort(), `kubectl printed:\n${result.stderr}`);
  });

  it('default-rolling-update and default-revision-history write their values only where the user left the field out', async () => {
    type Client = 'kubectl apply' | 'kubectl apply --server-side' | 'kubectl create' | 'client-node create';
    const create = async (client: Client, manifest: JsonObject): Promise<void> => {
      const input = JSON.stringify(manifest);
      if (client === 'kubectl apply') await cluster.kubectl(['apply', '-f', '-'], { input });
      else if (client === 'kubectl apply --server-side') await cluster.kubectl(['apply', '--server-side', '-f', '-'], { input });
      else if (client === 'kubectl create') await cluster.kubectl(['create', '-f', '-'], { input });
      else await apps.createNamespacedDaemonSet({ namespace: APPS, body: manifest as V1DaemonSet });
    };
    // [client, what the user wrote, expected maxUnavailable, expected revisionHistoryLimit, why]
    const cases: [Client, { maxUnavailable?: number; revisionHistoryLimit?: number }, number | string, number, string][] = [
      ['kubectl apply', {}, '10%', 5, 'left out: the last-applied annotation has no such key'],
      ['kubectl apply', { maxUnavailable: 1, revisionHistoryLimit: 10 }, 1, 10, "written, even as the apiserver's own defaults"],
      ['kubectl apply --server-side', {}, '10%', 5, 'left out: no manager owns the field'],
      ['kubectl apply --server-side', { maxUnavailable: 1, revisionHistoryLimit: 10 }, 1, 10, 'written: the Apply manager owns the field'],
      ['kubectl create', {}, 1, 10, 'cannot be known (documented): left alone'],
      ['kubectl create', { maxUnavailable: 2, revisionHistoryLimit: 3 }, 2, 3, 'cannot be known: left alone'],
      ['client-node create', {}, 1, 10, 'cannot be known (documented): left alone'],
      ['client-node create', { maxUnavailable: 2, revisionHistoryLimit: 3 }, 2, 3, 'cannot be known: left alone'],
    ];
    const rows: string[] = [];
    for (const [i, [client, written, maxUnavailable, revisionHistoryLimit, why]] of cases.entries()) {
      const name = `rollout-${i}`;
      await create(client, agent(name, written));
      const stored = (await readDaemonSet(APPS, name))!;
      const got = [field(stored, 'spec', 'updateStrategy', 'rollingUpdate', 'maxUnavailable'), field(stored, 'spec', 'revisionHistoryLimit')];
      rows.push(`${client}, ${written.maxUnavailable === undefined ? 'left out' : `wrote ${written.maxUnavailable}/${written.revisionHistoryLimit}`}: ${JSON.stringify(got)} (${why})`);
      assert.deepEqual(got, [maxUnavailable, revisionHistoryLimit], `${client} ${JSON.stringify(written)}: ${why}`);
    }
    console.log(`default-rolling-update / default-revision-history (maxUnavailable, revisionHistoryLimit):\n  ${rows.join('\n  ')}`);

    // The CLI reads a plain file as server-side apply does: what it writes matches the SSA rows.
    const cli = await cliReview([agent('cli-left-out'), agent('cli-written', { maxUnavailable: 1, revisionHistoryLimit: 10 })], APPS);
    assert.deepEqual(cli.map((r) => [field(r.mutated, 'spec', 'updateStrategy', 'rollingUpdate', 'maxUnavailable'), field(r.mutated, 'spec', 'revisionHistoryLimit')]), [
      ['10%', 5],
      [1, 10],
    ]);
  });

  it('judges an UPDATE with its oldObject: a value the request changes is the user\'s, a bad one is refused', async () => {
    // agent was client-side applied without maxUnavailable and defaulted to 10%. A patch that sets it
    // leaves last-applied alone: only oldObject shows the user changed it, so it must stay.
    const patch = (body: JsonObject, type = 'merge'): Promise<{ code: number; stderr: string }> =>
      cluster.kubectl(['patch', 'daemonset', 'agent', '-n', APPS, '--type', type, '-p', JSON.stringify(body)], { allowFailure: true });
    const set = await patch({ spec: { updateStrategy: { rollingUpdate: { maxUnavailable: 3 } } } });
    assert.equal(set.code, 0, set.stderr);
    assert.equal(field(await readDaemonSet(APPS, 'agent'), 'spec', 'updateStrategy', 'rollingUpdate', 'maxUnavailable'), 3);

    const everyNode = await patch({ spec: { updateStrategy: { rollingUpdate: { maxUnavailable: '100%' } } } });
    assert.notEqual(everyNode.code, 0);
    assert.match(everyNode.stderr, /admission webhook "validate\.daemonguard\.dev" denied the request: rollout-safety: updateStrategy\.rollingUpdate\.maxUnavailable is 100%/);

    const privileged = await patch([{ op: 'add', path: '/spec/template/spec/containers/0/securityContext', value: { privileged: true } }] as unknown as JsonObject, 'json');
    assert.notEqual(privileged.code, 0);
    assert.match(privileged.stderr, /denied the request: .*privileged-namespaces: container "agent" is privileged/s);
    assert.equal(field(await readDaemonSet(APPS, 'agent'), 'spec', 'updateStrategy', 'rollingUpdate', 'maxUnavailable'), 3, 'refused updates store nothing');
    const refused = await decisionsFor('agent', { operation: 'UPDATE', endpoint: '/validate', decision: 'denied' }, 2);
    assert.equal(refused.length, 2);
  });

  it('answers server-side dry-runs (--dry-run=server) like real requests, and nothing is stored', async () => {
    const preview = await cluster.kubectl(['apply', '--dry-run=server', '-o', 'json', '-f', '-'], { input: JSON.stringify(agent('dry-agent')) });
    const previewed = JSON.parse(preview.stdout) as JsonObject;
    assert.equal(field(previewed, 'spec', 'updateStrategy', 'rollingUpdate', 'maxUnavailable'), '10%');
    assert.deepEqual(field(previewed, 'spec', 'template', 'spec', 'securityContext', 'seccompProfile'), { type: 'RuntimeDefault' });
    assert.equal(await readDaemonSet(APPS, 'dry-agent'), undefined);

    const manifest = agent('dry-root', { privileged: true });
    const [expected] = await cliReview([manifest], APPS);
    const refused = await cluster.kubectl(['create', '--dry-run=server', '-f', '-'], kubectlInput(manifest));
    assert.notEqual(refused.code, 0);
    assert.ok(refused.stderr.includes(denied(denialLines(expected!))), refused.stderr);

    for (const name of ['dry-agent', 'dry-root']) {
      const seen = await decisionsFor(name, { endpoint: '/validate' });
      assert.ok(seen.every((d) => d.dryRun), `${name}: the webhook was told it is a dry run`);
    }
  });

  it('lets DELETE through unless a policy asks for it (oldObject is the stored DaemonSet)', async () => {
    await cluster.kubectl(['create', '-f', '-'], { input: JSON.stringify(agent('doomed')) });
    await cluster.kubectl(['delete', 'daemonset', 'doomed', '-n', APPS, '--wait=false']);
    assert.equal(await readDaemonSet(APPS, 'doomed'), undefined);
    const [deleted] = await decisionsFor('doomed', { operation: 'DELETE', endpoint: '/validate' });
    assert.equal(deleted!.decision, 'allowed', 'the webhook was asked and allowed it');

    await cluster.kubectl(['create', '-f', '-'], { input: JSON.stringify(agent('keeper', { labels: { [PROTECTED_LABEL]: 'true' } })) });
    const refused = await cluster.kubectl(['delete', 'daemonset', 'keeper', '-n', APPS, '--wait=false'], { allowFailure: true });
    assert.notEqual(refused.code, 0);
    assert.ok(
      refused.stderr.includes(
        `admission webhook "${DELETE_WEBHOOK}" denied the request: protected-daemonsets: DaemonSet keeper is labelled ${PROTECTED_LABEL}=true; remove the label to delete it`,
      ),
      refused.stderr,
    );
    assert.ok(await readDaemonSet(APPS, 'keeper'), 'still there');
    await cluster.kubectl(['label', 'daemonset', 'keeper', '-n', APPS, `${PROTECTED_LABEL}-`]);
    await cluster.kubectl(['delete', 'daemonset', 'keeper', '-n', APPS, '--wait=false']);
    assert.equal(await readDaemonSet(APPS, 'keeper'), undefined);
  });

  it('never sees a namespace labelled daemonguard.dev/ignore=true', async () => {
    await cluster.kubectl(['create', '-f', '-'], { input: JSON.stringify(agent('unguarded', { namespace: IGNORED, privileged: true })) });
    const stored = (await readDaemonSet(IGNORED, 'unguarded'))!;
    assert.equal(field(stored, 'spec', 'updateStrategy', 'rollingUpdate', 'maxUnavailable'), 1, 'not mutated');
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(decisions().filter((d) => d.name === 'unguarded').length, 0, 'not called');
  });

  it(`benchmark: ${BENCH_COUNT} DaemonSet creates with and without the webhooks`, async () => {
    const timed = async (namespace: string, name: string): Promise<number> => {
      const started = performance.now();
      const answer = await api.createDaemonSet(namespace, agent(name, { namespace }));
      const elapsed = performance.now() - started;
      assert.equal(answer.status, 201, statusMessage(answer.body));
      return elapsed;
    };
    for (let i = 0; i < 3; i++) {
      await timed(BENCH_WITHOUT, `warm-${i}`);
      await timed(BENCH_WITH, `warm-${i}`);
    }
    // Interleaved, so load from elsewhere on the machine falls on both sides alike.
    const without: number[] = [];
    const withWebhooks: number[] = [];
    for (let i = 0; i < BENCH_COUNT; i++) {
      without.push(await timed(BENCH_WITHOUT, `bench-${i}`));
      withWebhooks.push(await timed(BENCH_WITH, `bench-${i}`));
    }
    const sum = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0);
    const line = (values: readonly number[]): string =>
      `${sum(values).toFixed(0)} ms (mean ${(sum(values) / values.length).toFixed(1)} ms, p50 ${percentile(values, 50).toFixed(1)} ms, p95 ${percentile(values, 95).toFixed(1)} ms)`;
    await eventually('the benchmark decisions to be logged', async () => decisions().filter((d) => d.namespace === BENCH_WITH && d.name.startsWith('bench-')).length >= 2 * BENCH_COUNT, 10_000);
    const evaluation = sum(decisions().filter((d) => d.namespace === BENCH_WITH && d.name.startsWith('bench-')).map((d) => d.durationMs));
    console.log(
      `benchmark: ${BENCH_COUNT} DaemonSet creates through the kube-apiserver, one at a time: without webhooks ${line(without)}; ` +
        `with daemonguard's mutating and validating webhooks ${line(withWebhooks)}; ratio ${(sum(withWebhooks) / sum(without)).toFixed(2)} ` +
        `(p50 ${(percentile(withWebhooks, 50) / percentile(without, 50)).toFixed(2)}); ` +
        `daemonguard's own time (both webhooks, from its log) ${evaluation.toFixed(0)} ms`,
    );
  });

  it('with daemonguard stopped: the Fail validating webhook refuses, the Ignore mutating webhook lets requests through, ignored namespaces are untouched', async () => {
    const items = await register('Ignore');
    assert.equal(field(items[1], 'webhooks', 0, 'failurePolicy'), 'Ignore');
    await eventually('the apiserver to use the Ignore mutating webhook', async () => {
      const stored = JSON.parse((await cluster.kubectl(['get', 'mutatingwebhookconfiguration', 'daemonguard', '-o', 'json'])).stdout) as JsonObject;
      return field(stored, 'webhooks', 0, 'failurePolicy') === 'Ignore';
    });
    await server.stop();

    // apps: the mutating call fails and is ignored, the validating one fails and refuses.
    let stderr = '';
    await eventually(
      'the validating webhook to be the one that refuses',
      async () => {
        const result = await cluster.kubectl(['create', '-f', '-'], kubectlInput(agent(`while-down-${Date.now()}`)));
        stderr = result.stderr;
        return result.code !== 0 && stderr.includes('failed calling webhook "validate.daemonguard.dev"');
      },
      30_000,
    );
    assert.doesNotMatch(stderr, /mutate\.daemonguard\.dev/, 'the mutating webhook failed open');
    assert.match(stderr, /failed calling webhook "validate\.daemonguard\.dev": failed to call webhook: Post "https:\/\/127\.0\.0\.1:\d+\/validate/);

    // kube-system: a fail-open namespace (both webhooks Ignore): stored, without daemonguard's defaults.
    await cluster.kubectl(['create', '-f', '-'], { input: JSON.stringify(agent('while-down', { namespace: 'kube-system' })) });
    assert.equal(field(await readDaemonSet('kube-system', 'while-down'), 'spec', 'updateStrategy', 'rollingUpdate', 'maxUnavailable'), 1);

    // The ignore label: nothing is called, so nothing can fail.
    await cluster.kubectl(['create', '-f', '-'], { input: JSON.stringify(agent('while-down', { namespace: IGNORED, privileged: true })) });
    assert.ok(await readDaemonSet(IGNORED, 'while-down'));

    // And the mutating webhook with Fail refuses too: this is what Ignore saved the request from.
    await register('Fail');
    await eventually(
      'the mutating webhook to refuse',
      async () => {
        const result = await cluster.kubectl(['create', '-f', '-'], kubectlInput(agent(`while-down-fail-${Date.now()}`)));
        return result.code !== 0 && result.stderr.includes('failed calling webhook "mutate.daemonguard.dev"');
      },
      30_000,
    );
  });
});
