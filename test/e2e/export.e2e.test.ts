// `daemonguard export` against the kube-apiserver itself: the library exported by the CLI
// (--format vap and --format map), installed with kubectl apply, and every DaemonSet of the
// repository (examples/, the verify suites) created with a server-side dry-run in its namespace. The
// apiserver runs the MutatingAdmissionPolicies and then the ValidatingAdmissionPolicies (bound in
// Warn, so every failed validation comes back as a warning); daemonguard's engine reviews the same
// request with the library. Compared: per (DaemonSet, exported validating policy) the verdict and the
// messages, and per DaemonSet the object the apiserver would store against daemonguard's admitted
// object (its patch applied, defaulted again).
//
// The same is done with test/e2e/testdata/export (constructs the library does not use), in two
// namespaces of their own where every repository DaemonSet is created once more.
//
// Every library policy is accounted for: exported and compared in at least one format, or named by
// the CLI as not exportable with the reason EXPECTED_NOT_EXPORTABLE gives. Agreement counts are printed
// (`agreement: ...`) and at least MINIMUM_COMPARED are asserted (the README's figures).
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { reviewAdmission, type ReviewedAdmission } from '../../src/admission/pipeline.js';
import { buildAdmissionRequest } from '../../src/apiserver/admission-request.js';
import { TEMPLATE_GENERATION_ANNOTATION } from '../../src/apiserver/daemonset-defaults.js';
import { namespaceObjectOf } from '../../src/apiserver/namespace-object.js';
import type { JsonObject } from '../../src/common/vocabulary.js';
import { loadPolicySet } from '../../src/policy/load-policies.js';
import type { PolicySet } from '../../src/policy/types.js';
import { diffObjects, formatDifferences, KubeApi, mapLimit, placeIn, POLICIES_DIR, repositoryDaemonSets, statusMessage, type ApiAnswer, type CorpusDaemonSet } from './admission-support.js';
import { startCluster, type Cluster } from './cluster/cluster.js';
import { daemonguard, parseObjects, REPO_ROOT } from './deploy-tools.js';
import { nativeVerdicts, VAP_PREFIX } from './native-verdicts.js';

/** The library's policies the CLI must name as not exportable, per format, and why. No other may be. */
const EXPECTED_NOT_EXPORTABLE: Record<'vap' | 'map', Record<string, RegExp>> = {
  vap: { footprint: /reads `coverage`/, 'control-plane-coverage': /reads `coverage`/ },
  map: {},
};

/** The least each comparison must count: the figures the README records. */
const MINIMUM_COMPARED = {
  /** (DaemonSet, exported validating policy) pairs, same verdict and same messages. */
  validations: 6_972,
  /** DaemonSets (repository ones, in their namespace and in the edge-case ones) whose stored object equals daemonguard's admitted object. */
  objects: 495,
  /** Of those, DaemonSets the mutations changed (so the mutating export was exercised). */
  mutated: 495,
} as const;

/**
 * Policies with constructs the library does not use (exact namespaces, an object selector,
 * namespaceObject, defaults under keys with "/", forEach defaults creating parents, a jsonPatch),
 * scoped to these namespaces, where every repository DaemonSet is created once more.
 */
const EDGE_POLICIES = path.join(REPO_ROOT, 'test/e2e/testdata/export');
const EDGE_NAMESPACES: Record<string, Record<string, string>> = { 'export-edge': { team: 'platform' }, 'export-edge-bare': {} };

/** Metadata the apiserver generates when it stores an object: never compared. */
const GENERATED_METADATA = new Set(['uid', 'creationTimestamp', 'managedFields', 'resourceVersion', 'generation', 'selfLink']);

interface ExportRun {
  code: number;
  stdout: string;
  /** Policy name to reason, from the CLI's stderr. */
  notExportable: Map<string, string>;
  skipped: Map<string, string>;
  /** The daemonguard policies the documents were exported from. */
  exported: Set<string>;
}

async function runExport(format: 'vap' | 'map', policies: string, extra: readonly string[]): Promise<ExportRun> {
  const cli = await daemonguard(['export', '--format', format, '-p', policies, '--name-prefix', VAP_PREFIX, ...extra]);
  assert.ok(cli.code === 0 || cli.code === 1, `daemonguard export --format ${format} failed (${cli.code}): ${cli.stderr}`);
  const notExportable = new Map<string, string>();
  const skipped = new Map<string, string>();
  // "hint:" and "note:" lines say what to do about the exit code; they name no policy's outcome.
  for (const line of cli.stderr.split('\n').filter((l) => l !== '' && !/^(hint|note): /.test(l))) {
    const match = /^(not exportable|skipped): ([^:]+): (.*)$/.exec(line);
    assert.ok(match, `unexpected line on stderr: ${line}`);
    (match[1] === 'skipped' ? skipped : notExportable).set(match[2]!, match[3]!);
  }
  const accepted = extra.includes('--skip-unexportable');
  assert.equal(cli.code, notExportable.size > 0 && !accepted ? 1 : 0, 'exit code 1 exactly when a policy is not exportable and --skip-unexportable is not given');
  // -o json writes one List; YAML, the documents.
  const objects = parseObjects(cli.stdout).flatMap((o) => (o.kind === 'List' ? (o.items as typeof o[]) : [o]));
  const exported = new Set(objects.map((o) => String((o.metadata as { labels?: Record<string, string> }).labels?.['daemonguard.dev/policy'])));
  // The comment at the top of the YAML names the same policies as stderr.
  for (const [policy, reason] of notExportable) assert.ok(cli.stdout.includes(`# not exportable: ${policy}: ${reason}`), `the YAML comment names ${policy}`);
  return { code: cli.code, stdout: cli.stdout, notExportable, skipped, exported };
}

describe('daemonguard export: the library as native admission policies in a real kube-apiserver', { timeout: 900_000 }, () => {
  let cluster: Cluster;
  let api: KubeApi;
  let work: string;
  let repository: CorpusDaemonSet[];
  let namespaceLabels: Map<string, Record<string, string>>;
  /** The built-in library, whose every policy must be accounted for. */
  let library: PolicySet;
  /** The library and the edge-case policies: what daemonguard reviews with. */
  let reviewed: PolicySet;
  /** Every repository DaemonSet in its namespace, and again in each of EDGE_NAMESPACES. */
  let entries: CorpusDaemonSet[];
  const runs = {} as Record<'vap' | 'map' | 'edgeVap' | 'edgeMap', ExportRun>;
  /** The daemonguard policies exported as ValidatingAdmissionPolicies, library and edge cases. */
  const exportedValidating = new Set<string>();
  const answers = new Map<CorpusDaemonSet, ApiAnswer>();

  before(async () => {
    cluster = await startCluster();
    api = new KubeApi(cluster);
    work = await mkdtemp(path.join(os.tmpdir(), 'daemonguard-export-'));
    ({ daemonSets: repository, namespaceLabels } = await repositoryDaemonSets());
    library = await loadPolicySet([POLICIES_DIR]);
    reviewed = await loadPolicySet([POLICIES_DIR, EDGE_POLICIES]);
    for (const [name, labels] of Object.entries(EDGE_NAMESPACES)) namespaceLabels.set(name, labels);
    entries = [...repository, ...Object.keys(EDGE_NAMESPACES).flatMap((namespace) => repository.map((entry) => ({ ...entry, id: `${entry.id} in ${namespace}`, namespace })))];

    const namespaces = [...new Set(entries.map((d) => d.namespace))].map((name) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: namespaceLabels.get(name) ?? {} } }));
    await cluster.kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: namespaces }) });

    // The CLI's output, as a user would apply it: YAML for the validating policies, JSON for the mutating ones.
    // --skip-unexportable: what a user of `| kubectl apply -f -` under pipefail runs; the left-out policies are still named.
    runs.vap = await runExport('vap', POLICIES_DIR, ['--validation-actions', 'Warn', '--skip-unexportable']);
    runs.map = await runExport('map', POLICIES_DIR, ['-o', 'json']);
    runs.edgeVap = await runExport('vap', EDGE_POLICIES, ['--validation-actions', 'Warn']);
    runs.edgeMap = await runExport('map', EDGE_POLICIES, ['-o', 'json']);
    for (const policy of [...runs.vap.exported, ...runs.edgeVap.exported]) exportedValidating.add(policy);
    for (const format of ['vap', 'map', 'edgeVap', 'edgeMap'] as const) {
      const file = path.join(work, `export-${format}.${format.toLowerCase().endsWith('vap') ? 'yaml' : 'json'}`);
      await writeFile(file, runs[format].stdout);
      // kubectl apply fails on any document the apiserver refuses: a CEL compile error fails the test here.
      await cluster.kubectl(['apply', '-f', file]);
    }
    await waitForNativePolicies();
    await mapLimit(entries, 4, async (entry) => void answers.set(entry, await dryRun(entry)));
  });

  after(async () => {
    api?.close();
    await cluster?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  /**
   * A dry-run create made as the file says it was made, so the mutating policies (which judge what the
   * user chose by field ownership) see the request daemonguard reviews. A file without managedFields
   * is what `daemonguard test` takes for `kubectl apply --server-side`: an apply. A file with exactly
   * one manager is sent by that manager: an apply for an Apply entry, a create for an Update entry (the
   * apiserver writes managedFields itself, from the request). Other files go as a plain create, and
   * their objects are left out of the comparison when the apiserver's managers differ from the file's.
   */
  function dryRun(entry: { object: JsonObject; namespace: string }): Promise<ApiAnswer> {
    const object = placeIn(entry.object, entry.namespace);
    const metadata = object.metadata as JsonObject;
    const managers = Array.isArray(metadata.managedFields) ? (metadata.managedFields as JsonObject[]) : [];
    const only = managers.length === 1 ? managers[0]! : undefined;
    const manager = only === undefined ? 'daemonguard-e2e' : encodeURIComponent(String(only.manager));
    if (managers.length > 1 || typeof metadata.name !== 'string') return api.dryRunCreate(entry.namespace, object);
    delete metadata.managedFields;
    if (only !== undefined && only.operation === 'Update') return api.createDaemonSet(entry.namespace, object, `dryRun=All&fieldManager=${manager}`);
    // Preconditions an apply would check against a stored object (an exported `kubectl get -o yaml`
    // carries them); a create clears them anyway, and so does daemonguard's request.
    delete metadata.uid;
    delete metadata.resourceVersion;
    const query = `dryRun=All&fieldManager=${manager}&force=true`;
    return api.request('PATCH', `/apis/apps/v1/namespaces/${entry.namespace}/daemonsets/${metadata.name}?${query}`, object, 'application/apply-patch+yaml');
  }

  function review(entry: { object: JsonObject; namespace: string }): Promise<ReviewedAdmission> {
    const request = buildAdmissionRequest(placeIn(entry.object, entry.namespace), { operation: 'CREATE', namespace: entry.namespace });
    return reviewAdmission(request, reviewed, { namespaceObject: namespaceObjectOf(entry.namespace, namespaceLabels.get(entry.namespace) ?? {}) });
  }

  /**
   * Why the object the apiserver's mutating policies saw is not the file's: a file written as the
   * request of a server-side apply (its own managedFields with an Apply entry) cannot be sent as such
   * by a create, whose field manager writes managedFields of its own. undefined when they are the file's.
   */
  function rewrittenManagedFields(file: JsonObject, stored: JsonObject): string | undefined {
    const managers = (object: JsonObject): string => {
      const fields = (object.metadata as JsonObject | undefined)?.managedFields;
      return Array.isArray(fields) ? fields.map((f) => `${String((f as JsonObject).manager)}/${String((f as JsonObject).operation)}`).join(', ') : '';
    };
    if (managers(file) === '' || managers(file) === managers(stored)) return undefined;
    return `the file's managedFields [${managers(file)}] became [${managers(stored)}] on create, so the mutating policies judged another request`;
  }

  /** Where daemonguard's admitted object and the apiserver's stored one differ (generated metadata aside). */
  function objectDifferences(admitted: JsonObject, stored: JsonObject): string {
    const ignored = (segments: readonly (string | number)[]): boolean =>
      (segments[0] === 'metadata' && segments.length === 2 && GENERATED_METADATA.has(String(segments[1]))) ||
      (segments.length === 3 && segments[0] === 'metadata' && segments[1] === 'annotations' && segments[2] === TEMPLATE_GENERATION_ANNOTATION);
    return formatDifferences(diffObjects(admitted, stored, ignored), 'daemonguard', 'kube-apiserver');
  }

  /** Per exported validating policy: daemonguard's and the apiserver's verdicts and messages; '' when they agree. */
  function validationDisagreements(decision: ReviewedAdmission, answer: ApiAnswer): Map<string, string> {
    const native = nativeVerdicts(answer.warnings);
    const result = new Map<string, string>();
    for (const policy of exportedValidating) {
      const outcome = decision.outcomes.filter((o) => o.policy === policy).find((o) => o.result === 'error');
      const ours = decision.violations.filter((v) => v.policy === policy && v.validation >= 0).map((v) => v.message).sort();
      const theirs = native.filter((v) => v.policy === policy);
      const ourVerdict = outcome ? 'error' : ours.length > 0 ? 'fail' : 'pass';
      const theirVerdict = theirs.some((v) => v.kind === 'error') ? 'error' : theirs.length > 0 ? 'fail' : 'pass';
      const theirMessages = theirs.map((v) => v.message).sort();
      const agree = ourVerdict === theirVerdict && ours.length === theirMessages.length && ours.every((m, i) => m === theirMessages[i] || ([...theirMessages[i]!].length >= 200 && m.startsWith(theirMessages[i]!)));
      result.set(policy, agree ? '' : `daemonguard ${ourVerdict} [${ours.join(' | ')}]${outcome ? ` (${outcome.message ?? ''})` : ''}; kube-apiserver ${theirVerdict} [${theirMessages.join(' | ')}]`);
    }
    return result;
  }

  /**
   * Polls with a DaemonSet most policies refuse and mutate until the apiserver answers as daemonguard
   * does, in `default` and in each edge namespace (the edge policies match only those: a probe in
   * `default` alone let the corpus run before the edge MutatingAdmissionPolicy was in force there).
   */
  async function waitForNativePolicies(): Promise<void> {
    for (const namespace of ['default', ...Object.keys(EDGE_NAMESPACES)]) await waitForNativePoliciesIn(namespace);
  }

  async function waitForNativePoliciesIn(namespace: string): Promise<void> {
    const probe = {
      object: {
        apiVersion: 'apps/v1',
        kind: 'DaemonSet',
        metadata: { name: 'probe' },
        spec: {
          selector: { matchLabels: { app: 'probe' } },
          template: {
            metadata: { labels: { app: 'probe' } },
            spec: {
              hostPID: true,
              tolerations: [{ operator: 'Exists' }],
              volumes: [{ name: 'pki', hostPath: { path: '/etc/kubernetes' } }],
              containers: [{ name: 'agent', image: 'busybox', ports: [{ name: 'healthz', containerPort: 8080, hostPort: 8080 }], securityContext: { privileged: true } }],
            },
          },
        },
      } as JsonObject,
      namespace,
    };
    const decision = await review(probe);
    const deadline = Date.now() + 60_000;
    let last = '';
    while (Date.now() < deadline) {
      const answer = await dryRun(probe);
      const validations = [...validationDisagreements(decision, answer)].filter(([, why]) => why !== '');
      const objects = answer.status === 201 || answer.status === 200 ? objectDifferences(decision.admittedObject!, answer.body as JsonObject) : statusMessage(answer.body);
      if (validations.length === 0 && objects === '') return;
      last = `${validations.map(([p, why]) => `${p}: ${why}`).join('\n')}\n${objects}`;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    throw new Error(`the native policies never answered the probe in ${namespace} as daemonguard does:\n${last}`);
  }

  it('names every library policy it cannot export, with the expected reason, and exports every other one', () => {
    for (const run of [runs.edgeVap, runs.edgeMap]) assert.deepEqual([...run.notExportable], [], 'every edge-case policy is exportable');
    for (const format of ['vap', 'map'] as const) {
      const expected = EXPECTED_NOT_EXPORTABLE[format];
      assert.deepEqual([...runs[format].notExportable.keys()].sort(), Object.keys(expected).sort(), `--format ${format}: the policies named not exportable`);
      for (const [policy, reason] of runs[format].notExportable) assert.match(reason, expected[policy]!, `--format ${format}: why ${policy} is not exportable`);
    }
    for (const policy of library.policies) {
      const formats = (['vap', 'map'] as const).filter((format) => runs[format].exported.has(policy.name));
      const named = (['vap', 'map'] as const).filter((format) => runs[format].notExportable.has(policy.name));
      assert.ok(formats.length + named.length > 0, `${policy.name} is neither exported nor named as not exportable`);
      // Skipped only for a format it has nothing for, and then it is in the other one (or named there).
      if (policy.validations.length > 0) assert.ok(runs.vap.exported.has(policy.name) || runs.vap.notExportable.has(policy.name), `${policy.name}: validations neither exported nor named`);
      if (policy.mutations.length > 0) assert.ok(runs.map.exported.has(policy.name) || runs.map.notExportable.has(policy.name), `${policy.name}: mutations neither exported nor named`);
    }
  });

  it('the apiserver running the exported policies agrees with daemonguard on every repository DaemonSet: verdicts, messages and the stored object', async () => {
    const disagreements: string[] = [];
    const objectMismatches: string[] = [];
    const refused: string[] = [];
    /** DaemonSets whose object is not compared, and why. */
    const notCompared: string[] = [];
    let validations = 0;
    let failing = 0;
    let objects = 0;
    let mutated = 0;
    let edgeValidations = 0;
    for (const entry of entries) {
      const answer = answers.get(entry)!;
      const decision = await review(entry);
      if (answer.status !== 201 && answer.status !== 200) {
        // The apiserver's own validation refuses a few suite cases on purpose (see differential.e2e);
        // daemonguard must refuse them too.
        assert.equal(answer.status, 422, `${entry.id}: ${answer.status} ${statusMessage(answer.body)}`);
        assert.equal(decision.allowed, false, `${entry.id}: the apiserver refuses it as invalid (${statusMessage(answer.body)}), daemonguard admits it`);
        refused.push(`${entry.id}: ${statusMessage(answer.body)}`);
        continue;
      }
      for (const [policy, why] of validationDisagreements(decision, answer)) {
        validations++;
        if (runs.edgeVap.exported.has(policy)) edgeValidations++;
        if (decision.violations.some((v) => v.policy === policy)) failing++;
        if (why !== '') disagreements.push(`${policy} on ${entry.id}: ${why}`);
      }
      const rewritten = rewrittenManagedFields(entry.object, answer.body as JsonObject);
      if (rewritten !== undefined) {
        notCompared.push(`${entry.id}: ${rewritten}`);
        continue;
      }
      const differences = objectDifferences(decision.admittedObject!, answer.body as JsonObject);
      objects++;
      if (decision.patch.length > 0) mutated++;
      if (differences !== '') objectMismatches.push(`${entry.id}:\n${differences.replace(/^/gm, '    ')}`);
    }
    console.log(
      `agreement: export vap: ${runs.vap.exported.size} library and ${runs.edgeVap.exported.size} edge-case policies, ${validations - disagreements.length}/${validations} (DaemonSet, policy) verdicts and messages ` +
        `(${failing} failing, ${edgeValidations} of edge-case policies); ` +
        `export map: ${runs.map.exported.size} library and ${runs.edgeMap.exported.size} edge-case policies, ${objects - objectMismatches.length}/${objects} stored objects identical (${mutated} mutated); ` +
        `${refused.length} refused as invalid by both, ${notCompared.length} objects not compared`,
    );
    if (notCompared.length > 0) console.log(`objects not compared:\n  ${notCompared.join('\n  ')}`);
    if (refused.length > 0) console.log(`refused by the apiserver (and daemonguard):\n  ${refused.join('\n  ')}`);
    assert.deepEqual(disagreements, [], 'the exported ValidatingAdmissionPolicies and daemonguard disagree');
    assert.deepEqual(objectMismatches, [], 'the exported MutatingAdmissionPolicies and daemonguard make different objects');
    assert.equal(objects + refused.length + notCompared.length, entries.length, 'every repository DaemonSet is compared, refused by both, or named with why not, in each namespace');
    assert.ok(validations >= MINIMUM_COMPARED.validations, `${validations} validations compared, fewer than ${MINIMUM_COMPARED.validations}`);
    assert.ok(objects >= MINIMUM_COMPARED.objects, `${objects} objects compared, fewer than ${MINIMUM_COMPARED.objects}`);
    assert.ok(mutated >= MINIMUM_COMPARED.mutated, `${mutated} DaemonSets mutated, fewer than ${MINIMUM_COMPARED.mutated}`);
  });
});
