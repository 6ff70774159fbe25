// Native MutatingAdmissionPolicies, run by the real kube-apiserver and by `daemonguard test`, must
// leave the same DaemonSet. A set of policies and bindings covering ApplyConfiguration (maps,
// listType=map merges by key, an atomic list refused), JSONPatch (add, replace, remove, test,
// jsonpatch.escapeKey, JSONPatch{} with values of several types and its unset fields read), params,
// matchConditions, variables and both failurePolicies is installed in the apiserver and written to a policy folder; every
// DaemonSet of the corpus goes through a server-side dry-run create (and some through a dry-run
// update) and through the CLI. The resulting objects are compared field by field, denials by verdict
// and by the apiserver's reason. The count compared is printed (`agreement: ...`) and asserted.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import type { JsonObject } from '../../src/common/vocabulary.js';
import { diffObjects, formatDifferences, KubeApi, statusMessage } from './admission-support.js';
import { startCluster, type Cluster } from './cluster/cluster.js';
import { daemonguard } from './deploy-tools.js';
import { mutatingPolicy as sharedMutatingPolicy } from '../support/native-policies.js';

/** The least the comparison must cover (README "Native policies → Mutating" records it). */
const MINIMUM_COMPARED = { creates: 33, updates: 5, denials: 6 } as const;

const NAMESPACE = 'default';
const CASE_LABEL = 'e2e-case';

/** One MutatingAdmissionPolicy (and its binding) that applies to DaemonSets labelled e2e-case=<name>. */
function mutatingPolicy(name: string, spec: string, bindingSpec = ''): string {
  return sharedMutatingPolicy(name, spec, { objectSelector: { [CASE_LABEL]: name }, bindingSpec });
}

const POLICIES = [
  mutatingPolicy(
    'ac-metadata',
    `
  reinvocationPolicy: Never
  mutations:
    - patchType: ApplyConfiguration
      applyConfiguration:
        expression: >-
          Object{
            metadata: Object.metadata{labels: {'team': 'platform'}, annotations: {'example.com/owner': 'sre'}},
            spec: Object.spec{minReadySeconds: 10, template: Object.spec.template{metadata: Object.spec.template.metadata{labels: {'mesh': 'on'}}}}
          }`,
  ),
  mutatingPolicy(
    'ac-containers',
    `
  reinvocationPolicy: IfNeeded
  mutations:
    - patchType: ApplyConfiguration
      applyConfiguration:
        expression: >-
          Object{spec: Object.spec{template: Object.spec.template{spec: Object.spec.template.spec{
            containers: [
              Object.spec.template.spec.containers{name: 'agent', imagePullPolicy: 'Always',
                env: [Object.spec.template.spec.containers.env{name: 'MODE', value: 'mesh'}],
                ports: [Object.spec.template.spec.containers.ports{containerPort: 9100, hostPort: 9100}]},
              Object.spec.template.spec.containers{name: 'proxy', image: 'registry.example/proxy:1.0'}
            ],
            volumes: [Object.spec.template.spec.volumes{name: 'proxy-config', emptyDir: Object.spec.template.spec.volumes.emptyDir{medium: 'Memory'}}]
          }}}}`,
  ),
  mutatingPolicy(
    'ac-atomic',
    `
  mutations:
    - patchType: ApplyConfiguration
      applyConfiguration:
        expression: >-
          Object{spec: Object.spec{template: Object.spec.template{spec: Object.spec.template.spec{
            tolerations: [Object.spec.template.spec.tolerations{operator: 'Exists'}]}}}}`,
  ),
  mutatingPolicy(
    'ac-null',
    `
  mutations:
    - patchType: ApplyConfiguration
      applyConfiguration:
        expression: "Object{metadata: Object.metadata{annotations: {'gone': dyn(null)}}, spec: Object.spec{minReadySeconds: dyn(null)}}"`,
  ),
  mutatingPolicy(
    'jp-ops',
    `
  mutations:
    - patchType: JSONPatch
      jsonPatch:
        expression: >-
          [
            JSONPatch{op: 'add', path: '/metadata/labels/' + jsonpatch.escapeKey('node-role.kubernetes.io/agent'), value: 'true'},
            JSONPatch{op: 'replace', path: '/spec/template/spec/containers/0/image', value: object.spec.template.spec.containers[0].image + '-patched'}
          ] + (has(object.metadata.annotations) && 'remove-me' in object.metadata.annotations
            ? [JSONPatch{op: 'remove', path: '/metadata/annotations/remove-me'}]
            : [])`,
  ),
  mutatingPolicy(
    'jp-values',
    `
  mutations:
    - patchType: JSONPatch
      jsonPatch:
        expression: >-
          [
            JSONPatch{op: 'add', path: '/spec/revisionHistoryLimit', value: 3},
            JSONPatch{op: 'add', path: '/spec/template/spec/automountServiceAccountToken', value: false},
            JSONPatch{op: 'add', path: '/spec/template/spec/nodeSelector', value: {'kubernetes.io/os': 'linux'}},
            JSONPatch{op: 'add', path: '/spec/template/spec/containers/0/args', value: ['--verbose', '--port=9100']},
            JSONPatch{op: 'add', path: '/spec/template/spec/terminationGracePeriodSeconds', value: 45},
            JSONPatch{op: 'add', path: '/spec/template/spec/containers/0/resources', value: Object.spec.template.spec.containers.resources{limits: {'cpu': '100m', 'memory': '64Mi'}}},
            JSONPatch{op: 'add', path: '/metadata/annotations', value: {'example.com/value-types': 'int,bool,map,list,object'}}
          ]`,
  ),
  mutatingPolicy(
    'params',
    `
  paramKind: {apiVersion: v1, kind: ConfigMap}
  mutations:
    - patchType: ApplyConfiguration
      applyConfiguration:
        expression: >-
          Object{metadata: Object.metadata{labels: {'team': params.data.team}},
            spec: Object.spec{template: Object.spec.template{spec: Object.spec.template.spec{
              containers: [Object.spec.template.spec.containers{name: 'agent', image: params.data.image}]}}}}`,
    `  paramRef: {name: mesh-config, namespace: ${NAMESPACE}, parameterNotFoundAction: Deny}\n`,
  ),
  mutatingPolicy(
    'match-conditions',
    `
  matchConditions:
    - name: asked-for
      expression: "has(object.metadata.annotations) && object.metadata.annotations[?'inject'].orValue('') == 'true'"
  variables:
    - name: firstImage
      expression: "object.spec.template.spec.containers[0].image"
  mutations:
    - patchType: JSONPatch
      jsonPatch:
        expression: "[JSONPatch{op: 'add', path: '/metadata/labels/injected', value: 'yes'}, JSONPatch{op: 'add', path: '/metadata/annotations/original-image', value: variables.firstImage}]"`,
  ),
  mutatingPolicy(
    'jp-test',
    `
  mutations:
    - patchType: JSONPatch
      jsonPatch:
        expression: "[JSONPatch{op: 'test', path: '/spec/template/spec/containers/0/name', value: 'agent'}, JSONPatch{op: 'add', path: '/metadata/labels/tested', value: 'yes'}]"`,
  ),
  mutatingPolicy(
    'ignore-failure',
    `
  failurePolicy: Ignore
  mutations:
    - patchType: JSONPatch
      jsonPatch:
        expression: "[JSONPatch{op: 'remove', path: '/metadata/labels/missing'}]"
    - patchType: ApplyConfiguration
      applyConfiguration:
        expression: "Object{metadata: Object.metadata{labels: {'after-failure': 'applied'}}}"`,
  ),
  mutatingPolicy(
    'fail-closed',
    `
  failurePolicy: Fail
  mutations:
    - patchType: JSONPatch
      jsonPatch:
        expression: "[JSONPatch{op: 'replace', path: '/spec/template/spec/affinity/nodeAffinity', value: {}}]"`,
  ),
  mutatingPolicy(
    'jp-replace-missing',
    `
  mutations:
    - patchType: JSONPatch
      jsonPatch:
        expression: "[JSONPatch{op: 'replace', path: '/spec/template/spec/priorityClassName', value: 'system-node-critical'}, JSONPatch{op: 'test', path: '/spec/template/spec/hostname'}, JSONPatch{op: 'add', path: '/metadata/labels/hostname-unset', value: 'true'}]"`,
  ),
  mutatingPolicy(
    'jp-unset-fields',
    `
  mutations:
    - patchType: JSONPatch
      jsonPatch:
        expression: >-
          [JSONPatch{op: 'add', path: '/metadata/labels/unset-read', value: 'read-' + JSONPatch{op: 'add', path: '/x'}.from + JSONPatch{value: 1}.op + 'empty'},
           JSONPatch{op: 'add', path: '/metadata/labels/unset-has', value: has(JSONPatch{op: 'add', path: '/x', from: ''}.from) || has(JSONPatch{path: '/x'}.op) ? 'set' : 'unset'}]`,
  ),
];

const PARAMS = `apiVersion: v1
kind: ConfigMap
metadata: {name: mesh-config, namespace: ${NAMESPACE}}
data: {team: observability, image: 'registry.example/agent:2.0'}
`;

interface Case {
  name: string;
  policy: string;
  object: JsonObject;
}

function container(name: string, extra: JsonObject = {}): JsonObject {
  return { name, image: `registry.example/${name}:1.0`, ...extra };
}

function daemonSet(name: string, policy: string, options: { labels?: Record<string, string>; annotations?: Record<string, string>; spec?: JsonObject; podSpec?: JsonObject; containers?: JsonObject[] } = {}): Case {
  const app = { app: name };
  return {
    name,
    policy,
    object: {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name, namespace: NAMESPACE, labels: { ...app, [CASE_LABEL]: policy, ...(options.labels ?? {}) }, ...(options.annotations ? { annotations: options.annotations } : {}) },
      spec: {
        selector: { matchLabels: app },
        template: { metadata: { labels: app }, spec: { containers: options.containers ?? [container('agent')], ...(options.podSpec ?? {}) } },
        ...(options.spec ?? {}),
      },
    },
  };
}

const AGENT_WITH_PORTS = container('agent', { ports: [{ name: 'metrics', containerPort: 9100 }, { containerPort: 9100, protocol: 'UDP' }], env: [{ name: 'MODE', value: 'plain' }, { name: 'LEVEL', value: 'info' }] });

const CASES: Case[] = [
  daemonSet('meta-plain', 'ac-metadata'),
  daemonSet('meta-existing', 'ac-metadata', { labels: { team: 'other', tier: 'node' }, annotations: { 'example.com/keep': 'yes' }, spec: { minReadySeconds: 5 } }),
  daemonSet('meta-template-labels', 'ac-metadata', { podSpec: {}, spec: {} }),
  daemonSet('meta-annotated', 'ac-metadata', { annotations: { 'example.com/owner': 'someone-else' } }),
  daemonSet('containers-merge', 'ac-containers', { containers: [AGENT_WITH_PORTS] }),
  daemonSet('containers-order', 'ac-containers', { containers: [container('proxy', { image: 'registry.example/proxy:0.9' }), container('agent')] }),
  daemonSet('containers-three', 'ac-containers', { containers: [container('logger'), container('agent'), container('exporter')] }),
  daemonSet('containers-volumes', 'ac-containers', { podSpec: { volumes: [{ name: 'data', hostPath: { path: '/var/lib/data' } }] } }),
  daemonSet('containers-env-only', 'ac-containers', { containers: [container('agent', { env: [{ name: 'OTHER', value: '1' }] })] }),
  daemonSet('containers-init', 'ac-containers', { podSpec: { initContainers: [container('init')] } }),
  daemonSet('atomic-tolerations', 'ac-atomic'),
  daemonSet('atomic-with-existing', 'ac-atomic', { podSpec: { tolerations: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' }] } }),
  daemonSet('null-set', 'ac-null', { annotations: { gone: 'x', kept: 'y' }, spec: { minReadySeconds: 5 } }),
  daemonSet('null-absent', 'ac-null'),
  daemonSet('jp-plain', 'jp-ops'),
  daemonSet('jp-remove', 'jp-ops', { annotations: { 'remove-me': 'x', keep: 'y' } }),
  daemonSet('jp-two-containers', 'jp-ops', { containers: [container('first'), container('second')] }),
  daemonSet('jp-slash-label', 'jp-ops', { labels: { 'example.com/role': 'agent' } }),
  daemonSet('values-plain', 'jp-values'),
  daemonSet('values-existing', 'jp-values', { spec: { revisionHistoryLimit: 10 }, podSpec: { nodeSelector: { disk: 'ssd' }, terminationGracePeriodSeconds: 5 } }),
  daemonSet('values-resources', 'jp-values', { containers: [container('agent', { resources: { requests: { cpu: '10m' } } })] }),
  daemonSet('params-plain', 'params'),
  daemonSet('params-labelled', 'params', { labels: { team: 'before' } }),
  daemonSet('params-sidecar', 'params', { containers: [container('agent'), container('sidecar')] }),
  daemonSet('match-yes', 'match-conditions', { annotations: { inject: 'true' } }),
  daemonSet('match-no', 'match-conditions', { annotations: { inject: 'false' } }),
  daemonSet('match-absent', 'match-conditions'),
  daemonSet('match-yes-other-image', 'match-conditions', { annotations: { inject: 'true' }, containers: [container('main', { image: 'registry.example/main:7' })] }),
  daemonSet('test-passes', 'jp-test'),
  daemonSet('test-fails', 'jp-test', { containers: [container('main')] }),
  daemonSet('test-passes-two', 'jp-test', { containers: [container('agent'), container('other')] }),
  daemonSet('ignore-plain', 'ignore-failure'),
  daemonSet('ignore-labelled', 'ignore-failure', { labels: { existing: 'x' } }),
  daemonSet('fail-plain', 'fail-closed'),
  daemonSet('fail-with-affinity-other', 'fail-closed', { podSpec: { priorityClassName: 'system-node-critical' } }),
  daemonSet('replace-missing', 'jp-replace-missing'),
  daemonSet('replace-existing', 'jp-replace-missing', { podSpec: { priorityClassName: 'system-cluster-critical' } }),
  daemonSet('replace-hostname-set', 'jp-replace-missing', { podSpec: { hostname: 'agent' } }),
  daemonSet('unset-fields', 'jp-unset-fields'),
];

/** Updates: created unlabelled (so no policy runs), then updated with the case's label and changes. */
const UPDATES: { name: string; policy: string; change: (object: JsonObject) => void }[] = [
  { name: 'update-containers', policy: 'ac-containers', change: (o) => void (podSpecOf(o).containers = [AGENT_WITH_PORTS]) },
  { name: 'update-jp-ops', policy: 'jp-ops', change: (o) => void ((o.metadata as JsonObject).annotations = { 'remove-me': 'x' }) },
  { name: 'update-params', policy: 'params', change: () => undefined },
  { name: 'update-metadata', policy: 'ac-metadata', change: (o) => void ((o.spec as JsonObject).minReadySeconds = 1) },
  { name: 'update-values', policy: 'jp-values', change: () => undefined },
];

function podSpecOf(object: JsonObject): JsonObject {
  return ((object.spec as JsonObject).template as JsonObject).spec as JsonObject;
}

/** Fields the apiserver's storage sets, which no admission plugin decides. */
function serverOwned(segments: readonly (string | number)[]): boolean {
  const [first, second, third] = segments;
  if (first === 'status') return true;
  if (first !== 'metadata') return false;
  if (segments.length === 2 && ['uid', 'creationTimestamp', 'resourceVersion', 'generation', 'managedFields'].includes(String(second))) return true;
  return second === 'annotations' && third === 'deprecated.daemonset.template.generation';
}

interface CliResult {
  name: string;
  allowed: boolean;
  violations: { message: string }[];
  mutated?: JsonObject;
}

async function runCli(policyDir: string, manifests: JsonObject[], extra: string[] = []): Promise<CliResult[]> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dg-map-manifests-'));
  try {
    const file = path.join(dir, 'daemonsets.yaml');
    await writeFile(file, manifests.map((m) => stringify(m)).join('---\n'));
    const run = await daemonguard(['test', '-p', policyDir, '-o', 'json', '--show-mutated', ...extra, file]);
    assert.ok(run.stdout.trim().startsWith('{'), `daemonguard test printed no report (exit ${run.code}):\n${run.stderr}`);
    const report = JSON.parse(run.stdout) as { results: CliResult[]; errors: unknown[] };
    assert.deepEqual(report.errors, [], 'the policies and manifests load without problems');
    return report.results;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('native MutatingAdmissionPolicy: daemonguard test against the kube-apiserver', { timeout: 600_000 }, () => {
  let cluster: Cluster;
  let api: KubeApi;
  let policyDir: string;

  before(async () => {
    cluster = await startCluster();
    api = new KubeApi(cluster);
    const resources = await api.request('GET', '/apis/admissionregistration.k8s.io/v1');
    const served = JSON.stringify(resources.body);
    assert.match(served, /"mutatingadmissionpolicies"/, `the apiserver does not serve MutatingAdmissionPolicy in admissionregistration.k8s.io/v1: ${served.slice(0, 400)}`);
    policyDir = await mkdtemp(path.join(os.tmpdir(), 'dg-map-policies-'));
    const policies = POLICIES.join('---\n');
    await writeFile(path.join(policyDir, 'policies.yaml'), policies);
    await writeFile(path.join(policyDir, 'params.yaml'), PARAMS);
    await cluster.kubectl(['apply', '-f', '-'], { input: `${PARAMS}---\n${policies}` });
    // The policy plugin reads policies, bindings and params through informers: wait until every
    // policy acts (its first case is answered differently from the unmutated object, or refused).
    const deadline = Date.now() + 90_000;
    for (const policy of new Set(CASES.map((c) => c.policy))) {
      const probe = CASES.find((c) => c.policy === policy)!;
      const unmatched = structuredClone(probe.object);
      ((unmatched.metadata as JsonObject).labels as JsonObject)[CASE_LABEL] = 'none';
      const baseline = await api.dryRunCreate(NAMESPACE, unmatched);
      for (;;) {
        const answer = await api.dryRunCreate(NAMESPACE, probe.object);
        const differences = answer.status >= 400 ? ['refused'] : diffObjects(baseline.body as JsonObject, answer.body as JsonObject, (s) => serverOwned(s) || (s[1] === 'labels' && s[2] === CASE_LABEL));
        if (differences.length > 0) break;
        if (Date.now() > deadline) assert.fail(`MutatingAdmissionPolicy ${policy} did not act within 90 s on ${probe.name}`);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  });

  after(async () => {
    api?.close();
    await cluster?.stop();
    if (policyDir) await rm(policyDir, { recursive: true, force: true });
  });

  it('leaves every DaemonSet as the apiserver does on create, and refuses the same ones for the same reason', async () => {
    const cli = await runCli(policyDir, CASES.map((c) => c.object));
    assert.equal(cli.length, CASES.length);
    const mismatches: string[] = [];
    let equalObjects = 0;
    let equalDenials = 0;
    for (const [i, testCase] of CASES.entries()) {
      const answer = await api.dryRunCreate(NAMESPACE, testCase.object);
      const ours = cli[i]!;
      assert.equal(ours.name, testCase.name);
      if (answer.status >= 400) {
        // The same verdict and reason: the apiserver's message in full for ApplyConfiguration (the
        // merge and its errors are ours to match), up to the library's own words for JSON Patch.
        const theirs = statusMessage(answer.body);
        const oursText = ours.violations.map((v) => v.message);
        const prefix = /^.*denied request: (JSON Patch: )?/.exec(theirs)?.[0] ?? theirs;
        // A conversion error lists its fields in Go's map order: compared as the set of fields.
        const fields = (text: string): string => [...text.matchAll(/^ *(\.[^\s:]+): /gm), ...text.matchAll(/typed object: (\.[^\s:]+): /g)].map((m) => m[1]).sort().join(' ');
        const converted = theirs.includes('failed to convert patch object to typed object');
        const same =
          !ours.allowed &&
          oursText.some((message) =>
            prefix.endsWith('JSON Patch: ') ? message.startsWith(prefix) : converted ? message.startsWith(prefix) && fields(message) === fields(theirs) && fields(theirs) !== '' : message === theirs,
          );
        if (same) equalDenials++;
        else mismatches.push(`${testCase.name}: the apiserver refused (${theirs}); daemonguard: ${ours.allowed ? 'allowed' : oursText.join('\n')}`);
        continue;
      }
      if (!ours.allowed || ours.mutated === undefined) {
        mismatches.push(`${testCase.name}: the apiserver admitted it; daemonguard: ${ours.violations.map((v) => v.message).join('; ')}`);
        continue;
      }
      const differences = diffObjects(answer.body as JsonObject, ours.mutated, serverOwned);
      if (differences.length === 0) equalObjects++;
      else mismatches.push(`${testCase.name}:\n${formatDifferences(differences, 'apiserver', 'daemonguard')}`);
    }
    console.log(`agreement: native MutatingAdmissionPolicy creates ${equalObjects} equal objects, ${equalDenials} equal denials of ${CASES.length} (${POLICIES.length} policies)`);
    assert.deepEqual(mismatches, []);
    assert.ok(equalObjects >= MINIMUM_COMPARED.creates, `only ${equalObjects} objects compared`);
    assert.ok(equalDenials >= MINIMUM_COMPARED.denials, `only ${equalDenials} denials compared`);
  });

  it('leaves every DaemonSet as the apiserver does on update', async () => {
    let equal = 0;
    const mismatches: string[] = [];
    for (const update of UPDATES) {
      const created = daemonSet(update.name, 'none').object;
      const stored = await api.createDaemonSet(NAMESPACE, created);
      assert.equal(stored.status, 201, statusMessage(stored.body));
      const old = stored.body as JsonObject;
      const changed = structuredClone(old);
      ((changed.metadata as JsonObject).labels as JsonObject)[CASE_LABEL] = update.policy;
      update.change(changed);
      const answer = await api.request('PUT', `/apis/apps/v1/namespaces/${NAMESPACE}/daemonsets/${update.name}?dryRun=All`, changed);
      assert.ok(answer.status < 300, `${update.name}: ${statusMessage(answer.body)}`);
      const oldFile = path.join(policyDir, '..', `${path.basename(policyDir)}-old-${update.name}.yaml`);
      await writeFile(oldFile, stringify(old));
      try {
        const [ours] = await runCli(policyDir, [changed], ['--operation', 'UPDATE', '--old', oldFile]);
        const differences = diffObjects(answer.body as JsonObject, ours!.mutated, serverOwned);
        if (differences.length === 0) equal++;
        else mismatches.push(`${update.name}:\n${formatDifferences(differences, 'apiserver', 'daemonguard')}`);
      } finally {
        await rm(oldFile, { force: true });
      }
    }
    console.log(`agreement: native MutatingAdmissionPolicy updates ${equal} equal objects of ${UPDATES.length}`);
    assert.deepEqual(mismatches, []);
    assert.ok(equal >= MINIMUM_COMPARED.updates, `only ${equal} updates compared`);
  });
});
