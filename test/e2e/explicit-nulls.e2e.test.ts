// `daemonguard test` and the webhook in a real cluster agree on manifests that write fields as `null`
// (`hostNetwork: null`, `securityContext: null`, `volumes: null`, `ports: null`, a label `x: null`,
// `resources: {limits: null}`...), and on what `namespaceObject` holds.
//
// The kube-apiserver decodes a DaemonSet into its Go types, so a null field reaches a webhook as no
// field at all (or as the zero value: a label `x: null` becomes `x: ""`), and defaulting may fill it.
// But server-side apply records the null fields in the applier's managedFields entry: for the
// cluster, the user wrote them. The CLI must see both, or policies that probe presence (`has`, `.?`,
// `in`) or ownership (default-revision-history, default-rolling-update) decide differently.
//
// Here, against a real kube-apiserver v1.37.2:
// - a recording webhook, called first, keeps the object every request brings (plain create and
//   server-side apply), compared field by field with the object `daemonguard test` builds, managedFields
//   included for server-side apply;
// - `daemonguard serve`, with presence probes, a Deny policy, the library's ownership-reading
//   defaults and a namespaceObject probe, answers server-side applies (dry-run), compared with
//   `daemonguard test -o json --show-mutated --namespaces FILE` on the same manifests: allowed or
//   denied with the same message, the same warnings, the same mutations.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildAdmissionRequest } from '../../src/apiserver/admission-request.js';
import { TEMPLATE_GENERATION_ANNOTATION } from '../../src/apiserver/daemonset-defaults.js';
import { isJsonObject, type JsonObject, type JsonValue } from '../../src/common/vocabulary.js';
import { startServe, type ServeProcess } from '../support/serve-process.js';
import { diffObjects, formatDifferences, KubeApi, POLICIES_DIR, startTestWebhook, statusMessage, type ApiAnswer, type TestWebhook } from './admission-support.js';
import { startCluster, type Cluster } from './cluster/cluster.js';
import { CLI, daemonguard, eventually, REPO_ROOT, run } from './deploy-tools.js';

const NAMESPACE = 'nulls';
const OWNER_ANNOTATION = 'e2e.daemonguard.dev/owner';
const FIELD_MANAGER = 'e2e-apply';

/** A DaemonSet named `name` with the pod spec `pod` and the first container `container` laid over a minimal valid one. */
function daemonSet(name: string, parts: { metadata?: JsonObject; spec?: JsonObject; templateMetadata?: JsonObject; pod?: JsonObject; container?: JsonObject }): JsonObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name, namespace: NAMESPACE, ...parts.metadata, labels: { app: name, ...(parts.metadata?.labels as JsonObject | undefined) } },
    spec: {
      selector: { matchLabels: { app: name } },
      ...parts.spec,
      template: {
        metadata: { ...parts.templateMetadata, labels: { app: name } },
        spec: { ...parts.pod, containers: [{ name: 'agent', image: 'registry.example/agent:1.4.2', ...parts.container }] },
      },
    },
  };
}

/** Manifests with explicit nulls at every depth of the DaemonSet and its pod template, and one without. */
const MANIFESTS: JsonObject[] = [
  daemonSet('nulls-everywhere', {
    metadata: { annotations: null },
    spec: { minReadySeconds: null, updateStrategy: null, selector: { matchLabels: { app: 'nulls-everywhere' }, matchExpressions: null } },
    templateMetadata: { annotations: null },
    pod: {
      hostNetwork: null,
      hostPID: null,
      securityContext: null,
      volumes: null,
      tolerations: null,
      nodeSelector: null,
      affinity: { nodeAffinity: null },
      initContainers: null,
      serviceAccountName: null,
      dnsPolicy: null,
    },
    container: {
      ports: null,
      command: null,
      args: [null, '--verbose'],
      resources: { limits: null, requests: { cpu: null, memory: '32Mi' } },
      securityContext: { privileged: null, capabilities: { add: null, drop: ['ALL'] } },
      env: [{ name: 'MODE', value: null, valueFrom: null }],
      volumeMounts: null,
      livenessProbe: null,
    },
  }),
  // The fields the library's defaults policies read ownership of: null counts as written for server-side apply.
  daemonSet('nulls-owned', {
    spec: { revisionHistoryLimit: null, updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: null } } },
    container: { resources: { limits: { memory: null } } },
  }),
  // Null values inside maps: labels, annotations and the nodeSelector keep the key with an empty value.
  daemonSet('nulls-in-maps', {
    metadata: { labels: { tier: null }, annotations: { note: null } },
    pod: { nodeSelector: { 'kubernetes.io/os': null } },
    container: { resources: { requests: { cpu: null } } },
  }),
  // A projected volume written without sources: the Go type prints a nil list as null, so a webhook
  // does receive a null here (the one place a valid DaemonSet reaches a webhook with one).
  daemonSet('null-reaches-webhook', {
    pod: { volumes: [{ name: 'empty', projected: { sources: null } }], tolerations: [{ key: 'dedicated', operator: null, effect: null }] },
  }),
  daemonSet('no-nulls', {
    pod: { nodeSelector: { 'kubernetes.io/os': 'linux' }, tolerations: [{ operator: 'Exists' }], securityContext: { runAsNonRoot: true } },
    container: { ports: [{ name: 'metrics', containerPort: 9100 }, { name: 'dns', containerPort: 53, protocol: 'UDP' }], resources: { limits: { memory: '64Mi' } } },
  }),
];

/** `'<group>: ' + 'name' or '!name' per probe`: the webhook's view of presence, in a warning. */
function presenceMessage(group: string, probes: Record<string, string>): string {
  const parts = Object.entries(probes).map(([name, expression]) => `((${expression}) ? '${name}' : '!${name}')`);
  return `'${group}: ' + [${parts.join(', ')}].join(' ')`;
}

const POD = 'object.spec.template.spec';
const CONTAINER = `${POD}.containers[0]`;
const APPLY_ENTRY = "object.metadata.?managedFields.orValue([]).filter(m, m.?operation.orValue('') == 'Apply')";

const PRESENCE_GROUPS: Record<string, Record<string, string>> = {
  spec: {
    minReadySeconds: 'has(object.spec.minReadySeconds)',
    updateStrategy: 'has(object.spec.updateStrategy)',
    maxUnavailable: 'object.spec.?updateStrategy.?rollingUpdate.?maxUnavailable.hasValue()',
    revisionHistoryLimit: 'has(object.spec.revisionHistoryLimit)',
    matchExpressions: 'has(object.spec.selector.matchExpressions)',
  },
  pod: {
    hostNetwork: `has(${POD}.hostNetwork)`,
    hostPID: `${POD}.?hostPID.hasValue()`,
    securityContext: `has(${POD}.securityContext)`,
    volumes: `has(${POD}.volumes)`,
    tolerations: `has(${POD}.tolerations)`,
    nodeSelector: `has(${POD}.nodeSelector)`,
    nodeAffinity: `${POD}.?affinity.?nodeAffinity.hasValue()`,
    initContainers: `has(${POD}.initContainers)`,
    serviceAccountName: `has(${POD}.serviceAccountName)`,
    projectedSources: `${POD}.?volumes.orValue([]).exists(v, has(v.projected) && has(v.projected.sources))`,
  },
  container: {
    ports: `has(${CONTAINER}.ports)`,
    command: `has(${CONTAINER}.command)`,
    emptyArg: `${CONTAINER}.?args.orValue([]).exists(a, a == '')`,
    limits: `has(${CONTAINER}.resources.limits)`,
    cpuRequest: `'cpu' in ${CONTAINER}.resources.?requests.orValue({})`,
    privileged: `${CONTAINER}.?securityContext.?privileged.hasValue()`,
    capAdd: `${CONTAINER}.?securityContext.?capabilities.?add.hasValue()`,
    envValue: `${CONTAINER}.?env.orValue([]).exists(e, has(e.value) || has(e.valueFrom))`,
    livenessProbe: `has(${CONTAINER}.livenessProbe)`,
  },
  maps: {
    tierLabel: "'tier' in object.metadata.labels",
    noteAnnotation: "'note' in object.metadata.?annotations.orValue({})",
    templateAnnotations: 'has(object.spec.template.metadata.annotations)',
    osSelector: `'kubernetes.io/os' in ${POD}.?nodeSelector.orValue({})`,
    tolerationOperator: `${POD}.?tolerations.orValue([]).exists(t, has(t.operator))`,
  },
  // What server-side apply says the user wrote (managedFields), as the library's defaults read it.
  applied: {
    hostNetwork: `${APPLY_ENTRY}.exists(m, m.?fieldsV1[?'f:spec'][?'f:template'][?'f:spec'][?'f:hostNetwork'].hasValue())`,
    revisionHistoryLimit: `${APPLY_ENTRY}.exists(m, m.?fieldsV1[?'f:spec'][?'f:revisionHistoryLimit'].hasValue())`,
    maxUnavailable: `${APPLY_ENTRY}.exists(m, m.?fieldsV1[?'f:spec'][?'f:updateStrategy'][?'f:rollingUpdate'][?'f:maxUnavailable'].hasValue())`,
    ports: `${APPLY_ENTRY}.exists(m, m.?fieldsV1[?'f:spec'][?'f:template'][?'f:spec'][?'f:containers'].orValue({}).exists(k, m.fieldsV1['f:spec']['f:template']['f:spec']['f:containers'][k][?'f:ports'].hasValue()))`,
  },
};

/** A DaemonSetPolicy document with these validations, all with one action. */
function policy(name: string, action: 'Deny' | 'Warn', validations: JsonObject[]): JsonObject {
  return { apiVersion: 'daemonguard.dev/v1alpha1', kind: 'DaemonSetPolicy', metadata: { name }, spec: { validationActions: [action], validations } };
}

/** Presence probes (Warn: every request gets them back as warnings), a Deny policy on label values, and a namespaceObject probe. */
function probePolicies(): string {
  const presence = policy(
    'presence',
    'Warn',
    Object.entries(PRESENCE_GROUPS).map(([group, probes]) => ({ expression: 'false', messageExpression: presenceMessage(group, probes) })),
  );
  const labelValues = policy('label-values', 'Deny', [
    {
      expression: "object.metadata.labels.all(k, object.metadata.labels[k] != '')",
      messageExpression: "'label values must not be empty: ' + object.metadata.labels.filter(k, object.metadata.labels[k] == '').join(', ')",
      reason: 'Invalid',
    },
  ]);
  const namespace = policy('namespace-object', 'Warn', [
    {
      expression: 'false',
      messageExpression:
        "'namespace ' + namespaceObject.metadata.name + ': phase ' + namespaceObject.?status.?phase.orValue('unknown') + " +
        "', finalizers ' + namespaceObject.?spec.?finalizers.orValue([]).join(',') + " +
        `', owner ' + namespaceObject.metadata.?annotations[?'${OWNER_ANNOTATION}'].orValue('unknown') + ` +
        "', created ' + (has(namespaceObject.metadata.creationTimestamp) ? 'yes' : 'no')",
    },
  ]);
  return [presence, labelValues, namespace].map((document) => JSON.stringify(document)).join('\n---\n');
}

interface CliResult {
  name: string;
  allowed: boolean;
  violations: { policy: string; message: string; action: 'Deny' | 'Warn' | 'Audit' }[];
  warnings: string[];
  mutated?: JsonObject;
}

const denied = (message: string): string => `admission webhook "validate.daemonguard.dev" denied the request: ${message}`;
const denialLines = (result: CliResult): string => [...new Set(result.violations.filter((v) => v.action === 'Deny').map((v) => `${v.policy}: ${v.message}`))].join('\n');

/**
 * Metadata the apiserver writes when it stores an object (the registry sets templateGeneration after
 * admission), and status: never compared with the CLI's mutated object.
 */
function generatedField(segments: readonly (string | number)[]): boolean {
  if (segments[0] === 'status') return true;
  if (segments[0] !== 'metadata') return false;
  if (segments.length === 3 && segments[1] === 'annotations' && segments[2] === TEMPLATE_GENERATION_ANNOTATION) return true;
  return segments.length === 2 && ['uid', 'creationTimestamp', 'managedFields', 'resourceVersion', 'generation'].includes(String(segments[1]));
}

function applyEntry(object: JsonObject): JsonObject | undefined {
  const metadata = object.metadata as JsonObject;
  const entries = Array.isArray(metadata.managedFields) ? metadata.managedFields : [];
  return entries.find((entry): entry is JsonObject => isJsonObject(entry) && entry.operation === 'Apply');
}

describe('explicit nulls and namespaceObject: `daemonguard test` against the webhook in a real cluster', { timeout: 600_000 }, () => {
  let cluster: Cluster;
  let api: KubeApi;
  let work: string;
  let policies: string;
  let namespacesFile: string;
  let recorder: TestWebhook;
  let server: ServeProcess;

  /** `daemonguard test -o json --show-mutated` with the server's policies and namespaces file. */
  async function cliReview(manifests: readonly JsonObject[], extra: readonly string[] = ['--namespaces', namespacesFile]): Promise<CliResult[]> {
    const args = [CLI, 'test', '-o', 'json', '--show-mutated', '-p', policies, '-n', NAMESPACE, ...extra, '-'];
    const result = await run(process.execPath, args, { input: manifests.map((m) => JSON.stringify(m)).join('\n---\n') });
    assert.ok(result.code === 0 || result.code === 1, `daemonguard test failed (${result.code}): ${result.stderr}`);
    return (JSON.parse(result.stdout) as { results: CliResult[] }).results;
  }

  /** Server-side apply (as `kubectl apply --server-side`), dry-run: the webhooks answer, nothing is stored. */
  function serverSideApply(manifest: JsonObject): Promise<ApiAnswer> {
    const name = (manifest.metadata as JsonObject).name as string;
    return api.request('PATCH', `/apis/apps/v1/namespaces/${NAMESPACE}/daemonsets/${name}?fieldManager=${FIELD_MANAGER}&dryRun=All`, manifest, 'application/apply-patch+yaml');
  }

  /** What the recording webhook received for a DaemonSet name. */
  function received(name: string): JsonObject {
    const found = recorder.received.find((r) => r.request.name === name);
    assert.ok(found && isJsonObject(found.request.object), `the recording webhook saw no request for ${name}`);
    return found.request.object;
  }

  before(async () => {
    cluster = await startCluster();
    api = new KubeApi(cluster);
    work = await mkdtemp(path.join(os.tmpdir(), 'daemonguard-nulls-e2e-'));
    policies = path.join(work, 'policies');
    await mkdir(policies);
    await writeFile(path.join(policies, 'probes.yaml'), probePolicies());
    // The library's two policies that read what the user wrote (managedFields, last-applied).
    for (const name of ['default-revision-history', 'default-rolling-update']) {
      await writeFile(path.join(policies, `${name}.yaml`), await readFile(path.join(POLICIES_DIR, 'defaults', `${name}.yaml`), 'utf8'));
    }
    const certs = path.join(work, 'certs');
    assert.equal((await daemonguard(['certs', '--dir', certs, '--ip', '127.0.0.1'])).code, 0);

    await cluster.kubectl(['apply', '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE, labels: { team: 'edge' }, annotations: { [OWNER_ANNOTATION]: 'platform' } } }),
    });
    // The namespaces file as the README tells users to write it.
    namespacesFile = path.join(work, 'namespaces.yaml');
    await writeFile(namespacesFile, (await cluster.kubectl(['get', 'namespaces', '-o', 'yaml'])).stdout);

    // The recorder is a mutating webhook of a configuration named before "daemonguard": configurations
    // are called in name order, so it sees each object before daemonguard's mutations.
    recorder = await startTestWebhook(cluster);
    const recording = {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: '0-e2e-recorder' },
      webhooks: [
        {
          name: 'record.e2e.daemonguard.dev',
          admissionReviewVersions: ['v1'],
          clientConfig: { url: `${recorder.url}/mutate`, caBundle: recorder.caBundle },
          rules: [{ apiGroups: ['apps'], apiVersions: ['v1'], resources: ['daemonsets'], operations: ['CREATE'], scope: 'Namespaced' }],
          failurePolicy: 'Fail',
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': NAMESPACE } },
          sideEffects: 'None',
          timeoutSeconds: 10,
          reinvocationPolicy: 'Never',
        },
      ],
    };
    await cluster.kubectl(['apply', '-f', '-'], { input: JSON.stringify(recording) });

    server = await startServe({
      args: ['--address', '127.0.0.1', '--port', '0', '--tls-cert', path.join(certs, 'tls.crt'), '--tls-key', path.join(certs, 'tls.key'), '--policies', policies, '--namespaces', namespacesFile],
      cwd: REPO_ROOT,
    });
    const rendered = await daemonguard(['manifests', '--url', `https://127.0.0.1:${server.port}`, '--certs-dir', certs, '--failure-policy', 'Fail', '--timeout', '10', '-o', 'json']);
    assert.equal(rendered.code, 0, rendered.stderr);
    await cluster.kubectl(['apply', '-f', '-'], { input: rendered.stdout });

    const probe = MANIFESTS.at(-1)!;
    let last = '';
    await eventually(
      'daemonguard and the recorder to answer through the apiserver',
      async () => {
        const answer = await serverSideApply(probe);
        last = `${answer.status} ${statusMessage(answer.body).slice(0, 200)} warnings ${answer.warnings.length}`;
        return answer.status < 300 && answer.warnings.some((w) => w.startsWith('namespace-object:')) && recorder.received.length > 0;
      },
      60_000,
    ).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}; last answer: ${last}`);
    });
  });

  after(async () => {
    await server?.stop();
    await recorder?.close();
    api?.close();
    await cluster?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('the object a webhook receives equals the one the CLI builds, for a plain create and for server-side apply (managedFields included)', async () => {
    const mismatches: string[] = [];
    let compared = 0;
    for (const manifest of MANIFESTS) {
      const name = (manifest.metadata as JsonObject).name as string;
      // A plain create (kubectl create, Helm, client libraries): the JSON as written, nulls and all.
      const posted = structuredClone(manifest);
      (posted.metadata as JsonObject).name = `${name}-post`;
      const createAnswer = await api.createDaemonSet(NAMESPACE, posted, 'dryRun=All');
      assert.ok(createAnswer.status === 201 || createAnswer.status === 403, `${name}: create ${createAnswer.status} ${statusMessage(createAnswer.body)}`);
      const applyAnswer = await serverSideApply(manifest);
      assert.ok(applyAnswer.status < 300 || applyAnswer.status === 403, `${name}: apply ${applyAnswer.status} ${statusMessage(applyAnswer.body)}`);

      for (const [client, sent] of [['create', posted], ['server-side apply', manifest]] as const) {
        const sentName = (sent.metadata as JsonObject).name as string;
        const webhook = received(sentName);
        const cli = buildAdmissionRequest(sent, { operation: 'CREATE', namespace: NAMESPACE }).object!;
        const differences = diffObjects(cli, webhook, (segments) => segments[0] === 'metadata' && segments[1] === 'managedFields');
        if (client === 'server-side apply') {
          // The CLI reads a plain manifest as server-side apply sends it: the applier's field set must be the cluster's.
          differences.push(...diffObjects(applyEntry(cli)?.fieldsV1, applyEntry(webhook)?.fieldsV1).map((d) => ({ ...d, path: `/metadata/managedFields/Apply/fieldsV1${d.path}` })));
        }
        compared++;
        if (differences.length > 0) mismatches.push(`${name} (${client}):\n${formatDifferences(differences, 'CLI', 'webhook').replace(/^/gm, '    ')}`);
      }
    }
    assert.deepEqual(mismatches, [], `the CLI's object differs from the webhook's:\n${mismatches.join('\n')}`);
    assert.equal(compared, MANIFESTS.length * 2);

    // What the webhook receives holds no null where the manifest wrote one, but a nil list the Go type
    // prints without omitempty does reach it as null (projected.sources).
    const everywhere = received('nulls-everywhere');
    const pod = (everywhere.spec as JsonObject).template as JsonObject;
    for (const field of ['hostNetwork', 'hostPID', 'volumes', 'tolerations', 'nodeSelector', 'initContainers', 'serviceAccountName']) {
      assert.equal(field in (pod.spec as JsonObject), false, `${field}: null reaches the webhook as no field`);
    }
    assert.deepEqual((pod.spec as JsonObject).securityContext, {}, 'securityContext: null is defaulted to {}');
    assert.equal((pod.spec as JsonObject).dnsPolicy, 'ClusterFirst', 'dnsPolicy: null is defaulted');
    const volumes = ((received('null-reaches-webhook').spec as JsonObject).template as JsonObject).spec as JsonObject;
    assert.deepEqual(volumes.volumes, [{ name: 'empty', projected: { sources: null, defaultMode: 420 } }]);
    assert.deepEqual(((received('nulls-in-maps').metadata as JsonObject).labels as JsonObject).tier, '', 'a label written as null is an empty value');
  });

  it('daemonguard serve and `daemonguard test` give the same decision, warnings and mutations for each manifest (server-side apply)', async () => {
    const expected = await cliReview(MANIFESTS);
    assert.equal(expected.length, MANIFESTS.length);
    const disagreements: string[] = [];
    for (const [index, manifest] of MANIFESTS.entries()) {
      const name = (manifest.metadata as JsonObject).name as string;
      const cli = expected[index]!;
      const answer = await serverSideApply(manifest);
      const allowed = answer.status < 300;
      const problems: string[] = [];
      if (allowed !== cli.allowed) problems.push(`webhook ${allowed ? 'allowed' : `denied (${statusMessage(answer.body)})`}, CLI ${cli.allowed ? 'allowed' : 'denied'}`);
      if (!allowed && statusMessage(answer.body) !== denied(denialLines(cli))) problems.push(`denial: webhook "${statusMessage(answer.body)}", CLI "${denied(denialLines(cli))}"`);
      const theirs = [...answer.warnings].sort();
      const ours = [...cli.warnings].sort();
      if (JSON.stringify(theirs) !== JSON.stringify(ours)) problems.push(`warnings:\n      webhook ${theirs.join('\n              ')}\n      CLI     ${ours.join('\n              ')}`);
      if (allowed) {
        const differences = diffObjects(cli.mutated as JsonValue, answer.body as JsonValue, generatedField);
        if (differences.length > 0) problems.push(`mutated object:\n${formatDifferences(differences, 'CLI', 'webhook').replace(/^/gm, '      ')}`);
      }
      if (problems.length > 0) disagreements.push(`${name}:\n    ${problems.join('\n    ')}`);
    }
    assert.deepEqual(disagreements, [], `daemonguard serve and daemonguard test disagree:\n${disagreements.join('\n')}`);

    // The probes saw what they were written to see: presence answers are not all alike, the label
    // written as null is refused, the defaults leave the fields written as null alone.
    const warningOf = (result: CliResult, prefix: string): string => result.warnings.find((w) => w.startsWith(prefix)) ?? '';
    const [everywhere, owned, inMaps, nullReceived, noNulls] = expected;
    // has() on a field the webhook receives as null is true (a ValidatingAdmissionPolicy says the same).
    assert.match(warningOf(nullReceived!, 'presence: pod:'), / projectedSources$/);
    assert.match(warningOf(everywhere!, 'presence: pod:'), /!hostNetwork !hostPID securityContext !volumes !tolerations !nodeSelector !nodeAffinity/);
    assert.match(warningOf(everywhere!, 'presence: applied:'), /applied: hostNetwork /);
    assert.match(warningOf(noNulls!, 'presence: container:'), /container: ports /);
    assert.equal(inMaps!.allowed, false);
    assert.match(denialLines(inMaps!), /label-values: label values must not be empty: tier/);
    assert.match(warningOf(owned!, 'presence: applied:'), /revisionHistoryLimit maxUnavailable/);
    const ownedSpec = owned!.mutated!.spec as JsonObject;
    assert.equal(ownedSpec.revisionHistoryLimit, 10, 'revisionHistoryLimit: null is the user\'s choice: the apiserver default stays');
    assert.equal(((ownedSpec.updateStrategy as JsonObject).rollingUpdate as JsonObject).maxUnavailable, 1, 'maxUnavailable: null is the user\'s choice');
    assert.equal((noNulls!.mutated!.spec as JsonObject).revisionHistoryLimit, 5, 'a field left out is defaulted by default-revision-history');
  });

  it('namespaceObject: `daemonguard test --namespaces` sees the whole Namespace of `kubectl get namespaces -o yaml`, as the webhook does', async () => {
    const manifest = MANIFESTS.at(-1)!;
    const answer = await serverSideApply(manifest);
    const fromWebhook = answer.warnings.find((w) => w.startsWith('namespace-object:'));
    assert.equal(fromWebhook, `namespace-object: namespace ${NAMESPACE}: phase Active, finalizers kubernetes, owner platform, created yes`);
    const [withFile] = await cliReview([manifest]);
    assert.equal(withFile!.warnings.find((w) => w.startsWith('namespace-object:')), fromWebhook);
    // Without the file, the CLI knows only the name and the labels it is given.
    const [withLabels] = await cliReview([manifest], ['--namespace-labels', 'team=edge']);
    assert.equal(withLabels!.warnings.find((w) => w.startsWith('namespace-object:')), `namespace-object: namespace ${NAMESPACE}: phase unknown, finalizers , owner unknown, created no`);
  });
});
