// The reverse differential: Kubernetes-native ValidatingAdmissionPolicies and bindings, written by
// hand to cover every field daemonguard evaluates (test/e2e/testdata/native/policies), installed
// unchanged in a real kube-apiserver v1.37 and evaluated unchanged by the product CLI
// (`daemonguard test -p <that folder>`). Every DaemonSet of testdata/native/daemonsets.yaml is
// dry-run created in the apiserver and reviewed by the CLI; verdict, denial message (the text after
// `... is forbidden: `), reason, status code and warnings must agree on every one. Nothing is
// dropped: a DaemonSet the CLI did not report is a failure, and at least MINIMUM_COMPARED are compared.
//
// Not comparable through the API (the apiserver writes them only to its audit log): Audit actions and
// auditAnnotations values; their denials (a failed or mistyped valueExpression) are compared.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isJsonObject, type JsonObject } from '../../src/common/vocabulary.js';
import { parseSourceText } from '../../src/common/yaml-documents.js';
import { runCli } from '../support/cli-process.js';
import { startServe, type ServeProcess } from '../support/serve-process.js';
import { admissionReview, callHttps } from '../support/server-fixtures.js';
import { KubeApi, mapLimit, statusMessage, type ApiAnswer } from './admission-support.js';
import { startCluster, type Cluster } from './cluster/cluster.js';
import { REPO_ROOT, daemonguard, eventually, kustomizeBuild, parseObjects } from './deploy-tools.js';

const NATIVE_DIR = path.join(REPO_ROOT, 'test', 'e2e', 'testdata', 'native');
const POLICIES = path.join(NATIVE_DIR, 'policies');
const DAEMONSETS = path.join(NATIVE_DIR, 'daemonsets.yaml');
const NAMESPACES = path.join(NATIVE_DIR, 'namespaces.yaml');
/** A policy whose bindings read ConfigMaps in policy-params (src/cli/testdata/native). */
const PARAMS_POLICY = path.join(REPO_ROOT, 'src', 'cli', 'testdata', 'native', 'policy.yaml');
const PARAMS_DAEMONSETS = path.join(REPO_ROOT, 'src', 'cli', 'testdata', 'native', 'daemonsets.yaml');

/** The README's figure: DaemonSets whose verdict, message, reason and warnings are compared. */
const MINIMUM_COMPARED = 72;

/**
 * DaemonSets for c-cost-contains, made here rather than written out (their annotations are tens of
 * thousands of characters): one whose contains() alone costs 2,000,000 units, over the 1,000,000 an
 * expression may spend, one well under it, and one under it that the validation denies.
 */
function costCases(): JsonObject[] {
  const daemonSet = (name: string, hay: string, needle: string, nativeCase = 'cost-contains'): JsonObject => ({
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name, namespace: 'native-dev', labels: { 'native-case': nativeCase }, annotations: { hay, needle } },
    spec: {
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'agent', image: 'busybox:1.36' }] } },
    },
  });
  return [
    // ceil(20,000 * 0.1) * ceil(10,000 * 0.1) = 2,000 * 1,000
    daemonSet('cost-over', 'x'.repeat(20_000), 'y'.repeat(10_000)),
    // 900 * 100 = 90,000
    daemonSet('cost-under', 'x'.repeat(9_000), 'y'.repeat(1_000)),
    // 301 * 1 = 301, and the needle is there
    daemonSet('cost-found', 'x'.repeat(3_000) + 'needle', 'needle'),
    // c-cost-nodes: over the limit only by what reading fields and comparing costs
    envDaemonSet('cost-nodes-over', 400),
    envDaemonSet('cost-nodes-under', 300),
    // c-cost-budget: eleven searches of 909,000 and 910,000 units (and a few), 9,999,000-odd and
    // 10,010,000-odd together, under and over the budget of one policy evaluation.
    daemonSet('budget-under', 'x'.repeat(9_090), 'y'.repeat(10_000), 'cost-budget'),
    daemonSet('budget-over', 'x'.repeat(9_100), 'y'.repeat(10_000), 'cost-budget'),
    // c-cost-budget-messages: the same, the eleventh search in a passing validation's messageExpression.
    daemonSet('budget-messages-under', 'x'.repeat(9_090), 'y'.repeat(10_000), 'cost-budget-messages'),
    daemonSet('budget-messages-over', 'x'.repeat(9_100), 'y'.repeat(10_000), 'cost-budget-messages'),
    // c-cost-budget-conditions: three matchConditions of 909,000-odd, over the 2,500,000 they may spend.
    daemonSet('budget-conditions-over', 'x'.repeat(9_090), 'y'.repeat(10_000), 'cost-budget-conditions'),
    // c-cost-budget-separate: matchConditions, validations and auditAnnotations each within their own budget.
    daemonSet('budget-separate', 'x'.repeat(9_090), 'y'.repeat(10_000), 'cost-budget-separate'),
  ];
}

/** A DaemonSet for c-cost-nodes: one container with `count` env entries, no value equal to a name. */
function envDaemonSet(name: string, count: number): JsonObject {
  const env = Array.from({ length: count }, (_, i) => ({ name: `NAME_${i}`, value: `value-${i}` }));
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name, namespace: 'native-dev', labels: { 'native-case': 'cost-nodes' } },
    spec: {
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'agent', image: 'busybox:1.36', env }] } },
    },
  };
}
/** HTTP status of a denial by reason, as the apiserver's reasonToCode maps them. */
const CODE_OF_REASON: Record<string, number> = { Unauthorized: 401, Forbidden: 403, Invalid: 422, RequestEntityTooLarge: 413 };

interface Verdict {
  allowed: boolean;
  /** The denial text after `daemonsets.apps "<name>" is forbidden: `. */
  message?: string;
  reason?: string;
  code?: number;
  warnings: string[];
}

interface CliViolation {
  policy: string;
  message: string;
  action: string;
  reason: string;
}
interface CliResult {
  name: string;
  namespace: string;
  allowed: boolean;
  violations: CliViolation[];
  warnings: string[];
}

function apiserverVerdict(name: string, answer: ApiAnswer): Verdict {
  const warnings = [...answer.warnings].sort();
  if (answer.status === 200 || answer.status === 201) return { allowed: true, warnings };
  const body = isJsonObject(answer.body as JsonObject) ? (answer.body as JsonObject) : {};
  const prefix = `daemonsets.apps "${name}" is forbidden: `;
  const message = statusMessage(answer.body);
  return {
    allowed: false,
    message: message.startsWith(prefix) ? message.slice(prefix.length) : `(no "is forbidden" prefix) ${message}`,
    reason: typeof body.reason === 'string' ? body.reason : undefined,
    code: answer.status,
    warnings,
  };
}

function cliVerdict(result: CliResult): Verdict {
  const warnings = [...result.warnings].sort();
  if (result.allowed) return { allowed: true, warnings };
  const denial = result.violations.find((v) => v.action === 'Deny');
  return { allowed: false, message: denial?.message, reason: denial?.reason, code: denial ? CODE_OF_REASON[denial.reason] : undefined, warnings };
}

describe('native policies: daemonguard test and a real kube-apiserver agree', { timeout: 600_000 }, () => {
  let cluster: Cluster;
  let api: KubeApi;
  const daemonSets: JsonObject[] = [];
  const namespaceLabels = new Map<string, Record<string, string>>();
  const fromApiserver = new Map<string, Verdict>();
  const key = (namespace: string, name: string): string => `${namespace}/${name}`;

  before(async () => {
    for (const source of parseSourceText(DAEMONSETS, await readFile(DAEMONSETS, 'utf8'))) daemonSets.push(source.value as JsonObject);
    daemonSets.push(...costCases());
    for (const source of parseSourceText(NAMESPACES, await readFile(NAMESPACES, 'utf8'))) {
      const metadata = (source.value as { metadata: { name: string; labels?: Record<string, string> } }).metadata;
      namespaceLabels.set(metadata.name, metadata.labels ?? {});
    }
    cluster = await startCluster();
    api = new KubeApi(cluster);
    await cluster.kubectl(['apply', '-f', NAMESPACES]);
    // The folder as a user would apply it: policies, bindings and the param ConfigMaps together.
    await cluster.kubectl(['apply', '-f', POLICIES]);
    await waitForStableAnswers();
  });

  let work: string | undefined;
  let served: ServeProcess | undefined;
  after(async () => {
    api?.close();
    await served?.stop();
    await cluster?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const metadataOf = (daemonSet: JsonObject): { name: string; namespace: string } => daemonSet.metadata as { name: string; namespace: string };

  async function dryRunAll(): Promise<Map<string, Verdict>> {
    const verdicts = new Map<string, Verdict>();
    await mapLimit(daemonSets, 4, async (daemonSet) => {
      const { name, namespace } = metadataOf(daemonSet);
      verdicts.set(key(namespace, name), apiserverVerdict(name, await api.dryRunCreate(namespace, daemonSet)));
    });
    return verdicts;
  }

  /**
   * The apiserver picks policies, bindings and params up through informers, each in its own time: its
   * answers are taken once two rounds in a row give the same answer for every DaemonSet, and the
   * probe DaemonSets show the last policies applied (and their params) are in force.
   */
  async function waitForStableAnswers(): Promise<void> {
    const deadline = Date.now() + 120_000;
    let previous = '';
    while (Date.now() < deadline) {
      const verdicts = await dryRunAll();
      const ready = verdicts.get(key('native-dev', 'pn-bad'))?.allowed === false && verdicts.get(key('native-dev', 'bad-both'))?.warnings.length === 2 && verdicts.get(key('native-dev', 'pnull'))?.allowed === false;
      const current = JSON.stringify([...verdicts].sort());
      if (ready && current === previous) {
        for (const [k, v] of verdicts) fromApiserver.set(k, v);
        return;
      }
      previous = ready ? current : '';
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    throw new Error('the native policies never gave stable answers within 120 s');
  }

  it('agrees with the apiserver on every native case: verdict, message, reason, status code and warnings', async () => {
    const fromCli = new Map<string, Verdict>();
    const stderrs: string[] = [];
    // One run per namespace: its labels are the request's namespaceObject and namespaceSelector input.
    for (const [namespace, labels] of namespaceLabels) {
      if (!daemonSets.some((d) => metadataOf(d).namespace === namespace)) continue;
      const labelArgs = Object.keys(labels).length === 0 ? [] : ['--namespace-labels', Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',')];
      const run = await runCli(['test', '-p', POLICIES, '-n', namespace, ...labelArgs, '-o', 'json', '-'], {
        input: daemonSets.filter((d) => metadataOf(d).namespace === namespace).map((d) => JSON.stringify(d)).join('\n---\n'),
        timeoutMs: 120_000,
      });
      assert.ok(run.code === 0 || run.code === 1, `daemonguard test exited ${run.code}: ${run.stderr}`);
      stderrs.push(run.stderr);
      for (const result of (JSON.parse(run.stdout) as { results: CliResult[] }).results) fromCli.set(key(result.namespace, result.name), cliVerdict(result));
    }

    const disagreements: string[] = [];
    let compared = 0;
    const counts = { denied: 0, warned: 0, allowed: 0 };
    for (const daemonSet of daemonSets) {
      const { name, namespace } = metadataOf(daemonSet);
      const expected = fromApiserver.get(key(namespace, name));
      const actual = fromCli.get(key(namespace, name));
      if (expected === undefined || actual === undefined) {
        disagreements.push(`${namespace}/${name}: not reviewed by ${expected === undefined ? 'the apiserver' : 'daemonguard'}`);
        continue;
      }
      compared++;
      if (!expected.allowed) counts.denied++;
      else if (expected.warnings.length > 0) counts.warned++;
      else counts.allowed++;
      try {
        assert.deepEqual(actual, expected);
      } catch {
        disagreements.push(`${namespace}/${name}:\n    apiserver:   ${JSON.stringify(expected)}\n    daemonguard: ${JSON.stringify(actual)}`);
      }
    }
    if (process.env.NATIVE_E2E_SHOW === "1") for (const [k, v] of fromApiserver) console.log(k, JSON.stringify(v));
    console.log(`native agreement: ${compared - disagreements.length}/${daemonSets.length} DaemonSets agree (${counts.denied} denied, ${counts.warned} allowed with warnings, ${counts.allowed} allowed)`);
    assert.deepEqual(disagreements, [], `daemonguard and the apiserver disagree:\n${disagreements.join('\n')}`);
    // The cost cases are what they are meant to be: the apiserver stopped the first at its cost limit.
    assert.match(fromApiserver.get(key('native-dev', 'cost-over'))?.message ?? '', /resulted in error: operation cancelled: actual cost limit exceeded$/);
    assert.equal(fromApiserver.get(key('native-dev', 'cost-under'))?.allowed, true);
    assert.match(fromApiserver.get(key('native-dev', 'cost-found'))?.message ?? '', /the hay annotation contains the needle$/);
    assert.match(fromApiserver.get(key('native-dev', 'cost-nodes-over'))?.message ?? '', /resulted in error: operation cancelled: actual cost limit exceeded$/);
    assert.equal(fromApiserver.get(key('native-dev', 'cost-nodes-under'))?.allowed, true);
    // The budget of one policy evaluation: the apiserver stopped the policies over it, and not those under it.
    const outOfBudget = 'validation failed due to running out of cost budget, no further validation rules will be run';
    assert.equal(fromApiserver.get(key('native-dev', 'budget-over'))?.message, `ValidatingAdmissionPolicy 'c-cost-budget' with binding 'c-cost-budget' denied request: ${outOfBudget}`);
    assert.equal(fromApiserver.get(key('native-dev', 'budget-under'))?.allowed, true);
    assert.equal(fromApiserver.get(key('native-dev', 'budget-messages-over'))?.message, `ValidatingAdmissionPolicy 'c-cost-budget-messages' with binding 'c-cost-budget-messages' denied request: failed messageExpression: ${outOfBudget}`);
    assert.equal(fromApiserver.get(key('native-dev', 'budget-messages-under'))?.allowed, true);
    assert.equal(fromApiserver.get(key('native-dev', 'budget-conditions-over'))?.message, `ValidatingAdmissionPolicy 'c-cost-budget-conditions' with binding 'c-cost-budget-conditions' denied request: ${outOfBudget}`);
    assert.equal(fromApiserver.get(key('native-dev', 'budget-separate'))?.allowed, true);
    assert.ok(compared >= MINIMUM_COMPARED, `compared ${compared}, expected at least ${MINIMUM_COMPARED}`);
    // Each kind of answer is among them, so agreement is not only on the easy one.
    assert.ok(counts.denied >= 20 && counts.warned >= 5 && counts.allowed >= 20, JSON.stringify(counts));
    // The README's figures for the documents compared: policies, bindings and params in the folder.
    const kinds = new Map<string, number>();
    for (const file of ['validations.yaml', 'matching.yaml', 'params.yaml']) {
      for (const source of parseSourceText(file, await readFile(path.join(POLICIES, file), 'utf8'))) {
        const kind = String((source.value as { kind?: unknown }).kind);
        kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
      }
    }
    assert.ok((kinds.get('ValidatingAdmissionPolicy') ?? 0) >= 32 && (kinds.get('ValidatingAdmissionPolicyBinding') ?? 0) >= 38 && (kinds.get('ConfigMap') ?? 0) >= 5, JSON.stringify([...kinds]));
    // What daemonguard skips it says it skips, as the apiserver silently does.
    const notes = stderrs[0] ?? '';
    assert.match(notes, /note: .*ValidatingAdmissionPolicy "c-pods-only" matches no apps\/v1 DaemonSet/);
    assert.match(notes, /note: .*binds ValidatingAdmissionPolicy "c-missing-policy", which is not loaded/);
  });

  it('serve --native-params-from-cluster reads a binding\'s params from the cluster with the opt-in RBAC of deploy/components/native-params, and follows their changes', async () => {
    // daemonguard's service account exactly as deploy/base and the native-params component grant it.
    const base = parseObjects(await kustomizeBuild(path.join(REPO_ROOT, 'deploy', 'base'))).filter((o) => ['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'].includes(o.kind));
    const component = parseObjects(await readFile(path.join(REPO_ROOT, 'deploy', 'components', 'native-params', 'rbac.yaml'), 'utf8'));
    await cluster.kubectl(['apply', '--server-side', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [...base, ...component] }) });
    const configMap = (name: string, max: string): JsonObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'policy-params' }, data: { max } });
    await cluster.kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'policy-params' } }, configMap('strict', '2'), configMap('lenient', '1')] }) });
    const token = (await cluster.kubectl(['create', 'token', 'daemonguard', '-n', 'daemonguard-system'])).stdout.trim();
    work = await mkdtemp(path.join(os.tmpdir(), 'daemonguard-native-params-e2e-'));
    await writeFile(path.join(work, 'kubeconfig'), JSON.stringify({
      apiVersion: 'v1', kind: 'Config',
      clusters: [{ name: 'e2e', cluster: { server: cluster.server, 'certificate-authority-data': Buffer.from(cluster.caCertPem).toString('base64') } }],
      users: [{ name: 'daemonguard', user: { token } }],
      contexts: [{ name: 'daemonguard', context: { cluster: 'e2e', user: 'daemonguard' } }],
      'current-context': 'daemonguard',
    }), { mode: 0o600 });
    const certs = await daemonguard(['certs', '--dir', path.join(work, 'certs'), '--ip', '127.0.0.1']);
    assert.equal(certs.code, 0, certs.stderr);
    const ca = await readFile(path.join(work, 'certs', 'ca.crt'), 'utf8');
    served = await startServe({
      args: ['--address', '127.0.0.1', '--port', '0', '--tls-cert', 'certs/tls.crt', '--tls-key', 'certs/tls.key', '--policies', PARAMS_POLICY, '--native-params-from-cluster'],
      cwd: work,
      env: { KUBECONFIG: path.join(work, 'kubeconfig') },
    });
    const three = parseSourceText(PARAMS_DAEMONSETS, await readFile(PARAMS_DAEMONSETS, 'utf8'))[1]!.value as JsonObject;
    const verdict = async (): Promise<string> => {
      const answer = (await callHttps(`${served!.url}/validate`, { ca, body: JSON.stringify(admissionReview('CREATE', three)) })).json<{ response: { allowed: boolean; status?: { message: string }; warnings?: string[] } }>().response;
      return `${answer.allowed ? 'allowed' : `denied: ${answer.status?.message ?? ''}`} | ${(answer.warnings ?? []).join(' | ')}`;
    };
    const lenientWarning = "Validation failed for ValidatingAdmissionPolicy 'max-containers' with binding 'max-containers-warn': at most 1 containers (lenient)";
    const strictDenial = "denied: ValidatingAdmissionPolicy 'max-containers' with binding 'max-containers-deny' denied request: at most 2 containers (strict)";
    let last = '';
    await eventually('the params from the cluster', async () => (last = await verdict()) === `${strictDenial} | ${lenientWarning}`, 30_000).catch((error: Error) => assert.fail(`${error.message}; last verdict: ${last}`));
    // The ConfigMap changes in the cluster: the next reviews read the new value.
    await cluster.kubectl(['apply', '-f', '-'], { input: JSON.stringify(configMap('strict', '3')) });
    await eventually('the changed params', async () => (last = await verdict()) === `allowed | ${lenientWarning}`, 30_000).catch((error: Error) => assert.fail(`${error.message}; last verdict: ${last}`));
    // Deleted: the Deny binding finds no params and refuses, as the apiserver does.
    await cluster.kubectl(['delete', 'configmap', 'strict', '-n', 'policy-params']);
    await eventually('the deleted params', async () => (last = await verdict()).includes('failed to configure binding: no params found'), 30_000).catch((error: Error) => assert.fail(`${error.message}; last verdict: ${last}`));
  });
});
