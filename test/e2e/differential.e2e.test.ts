// daemonguard against Kubernetes itself, on every DaemonSet the repository holds as an example
// (examples/, the verify suites' resources and inline objects) and, when the shared folder is there,
// the upstream Pod Security fixtures. No daemonguard webhook is registered in this cluster.
//
// - Defaulting: the CLI's copy of the apiserver's defaulting (applyApiserverDefaults) against a
//   server-side dry-run create, field by field, and against the objects a webhook really receives
//   (a recording webhook inside the test, in a namespace of its own).
// - Pod Security: Pod Security Admission's warnings (namespace label pod-security.kubernetes.io/warn)
//   against `daemonguard test -o json` with pod-security-<level>, by verdict and by control.
// - CEL: every validating policy of the library installed as a native ValidatingAdmissionPolicy
//   (validationActions [Warn]) against daemonguard's engine, by verdict and by message.
//
// Agreement counts are printed (`agreement: ...` lines); test/e2e/README.md records them. Each check
// accounts for every entry of its corpus (compared, or left out with a reason that is printed) and
// compares at least as many as the README records (MINIMUM_COMPARED).
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { reviewAdmission } from '../../src/admission/pipeline.js';
import { buildAdmissionRequest } from '../../src/apiserver/admission-request.js';
import { applyApiserverDefaults, TEMPLATE_GENERATION_ANNOTATION } from '../../src/apiserver/daemonset-defaults.js';
import { namespaceObjectOf } from '../../src/apiserver/namespace-object.js';
import { isJsonObject, type JsonObject, type JsonValue } from '../../src/common/vocabulary.js';
import { loadPolicySet } from '../../src/policy/load-policies.js';
import { exportValidatingPolicy } from '../../src/native/export-vap.js';
import type { PolicySet } from '../../src/policy/types.js';
import {
  diffObjects,
  formatDifferences,
  KubeApi,
  mapLimit,
  placeIn,
  POLICIES_DIR,
  psaFixtureDaemonSets,
  PSS_LEVELS,
  PSS_VERSION,
  repositoryDaemonSets,
  statusMessage,
  type ApiAnswer,
  type CorpusDaemonSet,
  type PssLevel,
  startTestWebhook,
  type TestWebhook,
} from './admission-support.js';
import { startCluster, type Cluster } from './cluster/cluster.js';
import { daemonguard } from './deploy-tools.js';
import { nativeVerdicts, VAP_PREFIX } from './native-verdicts.js';

const PSA_NAMESPACE = (level: PssLevel): string => `psa-${level}`;
const VAP_NAMESPACE = (level: PssLevel): string => `vap-${level}`;
const PSS_POLICY = (level: PssLevel): string => `pod-security-${level}`;
const ENFORCE = 'pod-security.kubernetes.io/enforce';
const CAPTURE_NAMESPACE = 'capture';

/**
 * The least each check must compare: the figures test/e2e/README.md records. Fewer means entries were
 * lost on the way (a corpus that no longer loads, fixtures that were not read, objects refused).
 */
const MINIMUM_COMPARED = {
  /** Repository DaemonSets and Pod Security fixtures, against the dry-run and both webhooks' objects. */
  defaulting: 310,
  /** Repository DaemonSets and the fixtures of the level. */
  podSecurity: { baseline: 213, restricted: 263 },
  /** (DaemonSet, policy) pairs over the 12 validating policies. */
  cel: 2_136,
} as const;

/** The library's policies that read `coverage` and so have no native equivalent; no other is left out. */
const COVERAGE_POLICIES = ['control-plane-coverage', 'footprint'];
const readingCoverage: string[] = [];

/** An entry a check left out, and why. */
interface Exclusion {
  id: string;
  reason: string;
}

/**
 * Every entry of a check's corpus is compared or left out with a reason (printed here), and at least
 * `minimum` are compared.
 */
function accountFor(check: string, total: number, compared: number, excluded: readonly Exclusion[], minimum: number): void {
  if (excluded.length > 0) console.log(`${check}: not compared (${excluded.length}):\n  ${excluded.map((e) => `${e.id}: ${e.reason}`).join('\n  ')}`);
  assert.equal(compared + excluded.length, total, `${check}: of ${total} entries ${compared} were compared and ${excluded.length} left out with a reason; the rest were dropped silently`);
  assert.ok(compared >= minimum, `${check}: ${compared} compared, fewer than the ${minimum} test/e2e/README.md records`);
}

/** Why the apiserver did not store a dry-run create. */
function refusal(answer: ApiAnswer): string {
  return `refused by the apiserver: ${answer.status} ${statusMessage(answer.body)}`;
}

/** Metadata the apiserver generates when it stores an object: never compared. */
const GENERATED_METADATA = new Set(['uid', 'creationTimestamp', 'managedFields', 'resourceVersion', 'generation', 'selfLink']);

/**
 * Pod Security Admission's reasons (pod-security-admission policy/check_*.go, v1.37) and the control
 * names daemonguard's pod-security policies start their messages with.
 */
const PSA_REASON_TO_CONTROL: [RegExp, string][] = [
  [/^host namespaces$/, 'Host Namespaces'],
  [/^privileged$/, 'Privileged Containers'],
  [/^(non-default|unrestricted) capabilities$/, 'Capabilities'],
  [/^hostPath volumes$/, 'HostPath Volumes'],
  [/^restricted volume types$/, 'Volume Types'],
  [/^hostPort$/, 'Host Ports'],
  [/^forbidden AppArmor profiles?$/, 'AppArmor'],
  [/^seLinuxOptions$/, 'SELinux'],
  [/^procMount$/, '/proc Mount Type'],
  [/^seccompProfile$/, 'Seccomp'],
  [/^forbidden sysctls$/, 'Sysctls'],
  [/^hostProcess$/, 'HostProcess'],
  [/^probe or lifecycle host$/, 'Host Probes / Lifecycle Hooks'],
  [/^allowPrivilegeEscalation != false$/, 'Privilege Escalation'],
  [/^runAsNonRoot != true$/, 'Running as Non-root'],
  [/^runAsUser=0$/, 'Running as Non-root user'],
];

/** The controls a Pod Security Admission warning names, as daemonguard names them; undefined: no PSA warning. */
function psaControls(warnings: readonly string[], level: PssLevel): string[] | undefined {
  const prefix = `would violate PodSecurity "${level}:${PSS_VERSION}": `;
  const warning = warnings.find((w) => w.startsWith(prefix));
  if (warning === undefined) return undefined;
  const reasons: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of warning.slice(prefix.length)) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      reasons.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  reasons.push(current);
  return [
    ...new Set(
      reasons.map((text) => {
        const reason = text.trim().replace(/ \([\s\S]*$/, '');
        return PSA_REASON_TO_CONTROL.find(([pattern]) => pattern.test(reason))?.[1] ?? `unknown PSA reason "${reason}"`;
      }),
    ),
  ].sort();
}

interface JsonReportResult {
  name: string;
  namespace: string;
  allowed: boolean;
  violations: { policy: string; message: string; action: string }[];
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && [...a].sort().every((value, i) => value === [...b].sort()[i]);
}

/** The warning a failed native validation produces for a daemonguard message. */
function nativeWarning(policy: string, message: string): string {
  return `Validation failed for ValidatingAdmissionPolicy '${VAP_PREFIX}${policy}' with binding '${VAP_PREFIX}${policy}': ${message}`;
}

/** The apiserver cuts each warning to 256 characters once a response's warnings pass 4,096. */
function warningMatches(expected: string, received: string): boolean {
  return received === expected || ([...received].length === 256 && expected.startsWith(received));
}

function percent(part: number, whole: number): string {
  return `${part}/${whole}`;
}


/**
 * Suite cases the apiserver refuses on purpose: they prove a policy refuses what the apiserver's own
 * validation refuses (for the CLI and older clusters). Each is named with the refusal it must get.
 */
const REFUSED_SUITE_CASES: readonly { id: RegExp; reason: RegExp }[] = [
  { id: /host-path-escapes\.test\.yaml:\d+:\d+ "+\.\." is refused/, reason: /hostPath\.path: Invalid value: .*must not contain '\.\.'/ },
  { id: /privileged-namespaces\.test\.yaml:\d+:\d+ "procMount Unmasked/, reason: /procMount: Invalid value: "Unmasked": `hostUsers` must be false/ },
];

/** Whether the apiserver's refusal of `entry` is one the comparison expects (an invalid object, 422). */
function expectedRefusal(entry: CorpusDaemonSet, answer: ApiAnswer): boolean {
  if (answer.status !== 422) return false;
  if (entry.origin === 'psa-fixtures') return true;
  return REFUSED_SUITE_CASES.some(({ id, reason }) => id.test(entry.id) && reason.test(refusal(answer)));
}

describe('differential: daemonguard against Kubernetes itself', { timeout: 900_000 }, () => {
  let cluster: Cluster;
  let api: KubeApi;
  let work: string;
  let repository: CorpusDaemonSet[];
  let fixtures: CorpusDaemonSet[];
  let namespaceLabels: Map<string, Record<string, string>>;
  /** The library's validating policies as exported by the product (`daemonguard export --format vap`). */
  let nativePolicies: { policy: string; documents: JsonObject[] }[];
  /** Per corpus entry: the dry-run create in its own namespace, and in the psa-* and vap-* namespaces. */
  const own = new Map<CorpusDaemonSet, ApiAnswer>();
  const inPsa = new Map<PssLevel, Map<CorpusDaemonSet, ApiAnswer>>();
  const inVap = new Map<PssLevel, Map<CorpusDaemonSet, ApiAnswer>>();
  /** Per corpus entry: the dry-run in the capture namespace, with the name it was given there. */
  const inCapture = new Map<CorpusDaemonSet, { name: string; answer: ApiAnswer }>();
  let recorder: TestWebhook;
  const summary: string[] = [];

  const report = (line: string): void => {
    summary.push(line);
    console.log(`agreement: ${line}`);
  };

  /** Entries reviewed at `level`: every repository DaemonSet, and the fixtures of that level. */
  const atLevel = (level: PssLevel): CorpusDaemonSet[] => [...repository, ...fixtures.filter((f) => f.fixture?.level === level)];

  before(async () => {
    const started = Date.now();
    cluster = await startCluster();
    api = new KubeApi(cluster);
    work = await mkdtemp(path.join(os.tmpdir(), 'daemonguard-differential-'));
    ({ daemonSets: repository, namespaceLabels } = await repositoryDaemonSets());
    fixtures = await psaFixtureDaemonSets();

    // Namespaces: each one an example is reviewed in (with the labels its suite gives it, Pod Security
    // labels aside), and two per Pod Security level: psa-<level> where Pod Security Admission warns,
    // vap-<level> where daemonguard's pod-security policy applies (enforce label; PSA kept quiet).
    const namespaces: JsonObject[] = [];
    for (const name of new Set(repository.map((d) => d.namespace))) {
      namespaces.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: namespaceLabels.get(name) ?? {} } });
    }
    for (const level of PSS_LEVELS) {
      namespaces.push({
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: PSA_NAMESPACE(level), labels: { 'pod-security.kubernetes.io/warn': level, 'pod-security.kubernetes.io/warn-version': PSS_VERSION } },
      });
      namespaces.push({
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: {
          name: VAP_NAMESPACE(level),
          labels: { [ENFORCE]: level, 'pod-security.kubernetes.io/enforce-version': PSS_VERSION, 'pod-security.kubernetes.io/warn': 'privileged' },
        },
      });
    }
    namespaces.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: CAPTURE_NAMESPACE } });
    await cluster.kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: namespaces }) });

    // A recording webhook, mutating and validating, for the capture namespace only.
    recorder = await startTestWebhook(cluster);
    await cluster.kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: recordingWebhookConfigurations(recorder) }) });

    // Every validating policy of the library as a native policy. The pod-security ones keep their
    // namespaceSelector (the enforce label: vap-* only); the others stay out of psa-* and vap-*.
    const levelNamespaces = [...PSS_LEVELS.flatMap((level) => [PSA_NAMESPACE(level), VAP_NAMESPACE(level)]), CAPTURE_NAMESPACE];
    nativePolicies = [];
    for (const group of ['security', 'rollout', 'pod-security']) {
      for (const policy of (await loadPolicySet([path.join(POLICIES_DIR, group)])).policies) {
        if (policy.mutations.length > 0) continue;
        // The product's export, with the bindings in Warn so every failed validation comes back.
        const exported = exportValidatingPolicy(policy.document, {
          namePrefix: VAP_PREFIX,
          excludeNamespaces: group === 'pod-security' ? [] : levelNamespaces,
          validationActions: ['Warn'],
        });
        if (exported.kind !== 'exported') {
          // `coverage` is daemonguard's own (the cluster's nodes); a native policy has nothing like it.
          console.log(`cel: not compared: ${policy.name}: ${exported.reason}`);
          assert.match(exported.reason, /reads `coverage`/, `${policy.name} is left out of the export for another reason than coverage`);
          readingCoverage.push(policy.name);
          continue;
        }
        nativePolicies.push(exported);
      }
    }
    const objects = nativePolicies.flatMap((p) => p.documents);
    await cluster.kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }) });
    await waitForNativePolicies();
    await waitForRecorder();

    // The dry-runs, a few at a time.
    const jobs: (() => Promise<void>)[] = [];
    for (const entry of repository) {
      jobs.push(async () => void own.set(entry, await api.dryRunCreate(entry.namespace, placeIn(entry.object, entry.namespace))));
    }
    for (const [index, entry] of [...repository, ...fixtures].entries()) {
      const name = `capture-${index}`;
      jobs.push(async () => void inCapture.set(entry, { name, answer: await api.dryRunCreate(CAPTURE_NAMESPACE, placeIn(entry.object, CAPTURE_NAMESPACE, name)) }));
    }
    for (const level of PSS_LEVELS) {
      inPsa.set(level, new Map());
      inVap.set(level, new Map());
      for (const entry of atLevel(level)) {
        jobs.push(async () => void inPsa.get(level)!.set(entry, await api.dryRunCreate(PSA_NAMESPACE(level), placeIn(entry.object, PSA_NAMESPACE(level)))));
        jobs.push(async () => void inVap.get(level)!.set(entry, await api.dryRunCreate(VAP_NAMESPACE(level), placeIn(entry.object, VAP_NAMESPACE(level)))));
      }
    }
    const dryRunsStarted = Date.now();
    await mapLimit(jobs, 4, (job) => job());
    console.log(
      `differential: ${repository.length} repository DaemonSets, ${fixtures.length} Pod Security fixtures; ` +
        `${jobs.length} dry-run creates in ${Date.now() - dryRunsStarted} ms; set up in ${Date.now() - started} ms`,
    );
  });

  after(async () => {
    api?.close();
    await recorder?.close();
    await cluster?.stop();
    if (work) await rm(work, { recursive: true, force: true });
    if (summary.length > 0) console.log(`agreement summary:\n  ${summary.join('\n  ')}`);
  });

  function recordingWebhookConfigurations(webhook: TestWebhook): JsonObject[] {
    const hook = (kind: 'mutate' | 'validate'): JsonObject => ({
      name: `${kind}.recorder.e2e.daemonguard.dev`,
      admissionReviewVersions: ['v1'],
      clientConfig: { url: `${webhook.url}/${kind}`, caBundle: webhook.caBundle },
      rules: [{ apiGroups: ['apps'], apiVersions: ['v1'], resources: ['daemonsets'], operations: ['CREATE'], scope: 'Namespaced' }],
      failurePolicy: 'Fail',
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': CAPTURE_NAMESPACE } },
      sideEffects: 'None',
      timeoutSeconds: 10,
      ...(kind === 'mutate' ? { reinvocationPolicy: 'Never' } : {}),
    });
    return [
      { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: { name: 'e2e-recorder' }, webhooks: [hook('mutate')] },
      { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration', metadata: { name: 'e2e-recorder' }, webhooks: [hook('validate')] },
    ];
  }

  async function waitForRecorder(): Promise<void> {
    const probe = { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'recorder-probe', namespace: CAPTURE_NAMESPACE }, spec: { selector: { matchLabels: { app: 'p' } }, template: { metadata: { labels: { app: 'p' } }, spec: { containers: [{ name: 'c', image: 'busybox:1' }] } } } };
    const deadline = Date.now() + 60_000;
    let last = '';
    while (Date.now() < deadline) {
      const answer = await api.dryRunCreate(CAPTURE_NAMESPACE, probe);
      last = `${answer.status} ${statusMessage(answer.body)}`;
      const paths = new Set(recorder.received.filter((r) => r.request.name === 'recorder-probe').map((r) => r.path));
      if (paths.has('/mutate') && paths.has('/validate')) return;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    throw new Error(`the recording webhook was never called (last answer: ${last})`);
  }

  /** The object the recording webhook received for a DaemonSet name, on /mutate or /validate. */
  function received(name: string, kind: '/mutate' | '/validate'): JsonObject | undefined {
    const found = recorder.received.find((r) => r.path === kind && r.request.name === name);
    return found && isJsonObject(found.request.object) ? found.request.object : undefined;
  }

  /** Polls with DaemonSets that every native policy refuses until each has answered once. */
  async function waitForNativePolicies(): Promise<void> {
    const probe = (name: string, spec: JsonObject, podSpec: JsonObject): JsonObject => ({
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name },
      spec: { selector: { matchLabels: { app: name } }, ...spec, template: { metadata: { labels: { app: name } }, spec: podSpec } },
    });
    const everything = probe(
      'probe',
      { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '100%' } } },
      {
        hostPID: true,
        tolerations: [{ operator: 'Exists' }],
        volumes: [{ name: 'pki', hostPath: { path: '/etc/kubernetes' } }],
        containers: [
          {
            name: 'agent',
            image: 'busybox',
            ports: [{ containerPort: 8080, hostPort: 8080 }],
            securityContext: { privileged: true, capabilities: { add: ['SYS_ADMIN', 'SYS_TIME'] } },
          },
        ],
      },
    );
    const onDelete = probe('probe-on-delete', { updateStrategy: { type: 'OnDelete' } }, { containers: [{ name: 'agent', image: 'busybox:1' }] });
    const expected = new Set(nativePolicies.map((p) => p.policy));
    const seen = new Set<string>();
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const answers = await Promise.all([
        api.dryRunCreate('default', placeIn(everything, 'default')),
        api.dryRunCreate('default', placeIn(onDelete, 'default')),
        ...PSS_LEVELS.map((level) => api.dryRunCreate(VAP_NAMESPACE(level), placeIn(everything, VAP_NAMESPACE(level)))),
      ]);
      for (const answer of answers) for (const verdict of nativeVerdicts(answer.warnings)) seen.add(verdict.policy);
      if ([...expected].every((p) => seen.has(p))) return;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    throw new Error(`native policies never answered: ${[...expected].filter((p) => !seen.has(p)).join(', ')}`);
  }

  it('the CLI defaults every example DaemonSet as the kube-apiserver does: server-side dry-run, and what webhooks receive', () => {
    const isGenerated = (segments: readonly (string | number)[]): boolean => segments[0] === 'metadata' && segments.length === 2 && GENERATED_METADATA.has(String(segments[1]));
    const isTemplateGeneration = (segments: readonly (string | number)[]): boolean =>
      segments.length === 3 && segments[0] === 'metadata' && segments[1] === 'annotations' && segments[2] === TEMPLATE_GENERATION_ANNOTATION;
    const annotation = (object: JsonObject | undefined): string => {
      const metadata = object?.metadata;
      const annotations = isJsonObject(metadata as JsonValue) ? (metadata as JsonObject).annotations : undefined;
      return String(isJsonObject(annotations as JsonValue) ? (annotations as JsonObject)[TEMPLATE_GENERATION_ANNOTATION] : undefined);
    };
    const refused: Exclusion[] = [];
    /** Refusals other than the apiserver's validation refusing an upstream fixture (422). */
    const unexpectedlyRefused: string[] = [];
    const mismatches = { dryRun: [] as string[], mutating: [] as string[], validating: [] as string[] };
    const roundTrips: string[] = [];
    const generations = { mutating: new Set<string>(), validating: new Set<string>(), stored: new Set<string>() };
    let compared = 0;
    let fromRepository = 0;

    for (const entry of [...repository, ...fixtures]) {
      // 1. Server-side dry-run in a namespace no webhook is registered for.
      const namespace = entry.fixture ? PSA_NAMESPACE(entry.fixture.level) : entry.namespace;
      const answer = entry.fixture ? inPsa.get(entry.fixture.level)!.get(entry)! : own.get(entry)!;
      if (answer.status !== 201) {
        refused.push({ id: entry.id, reason: refusal(answer) });
        if (!expectedRefusal(entry, answer)) unexpectedlyRefused.push(`${entry.id}: ${refusal(answer)}`);
        continue;
      }
      compared++;
      if (entry.origin !== 'psa-fixtures') fromRepository++;
      const cli = applyApiserverDefaults(placeIn(entry.object, namespace), { namespace });
      const stored = answer.body as JsonObject;
      const captured = inCapture.get(entry)!;
      // The object `daemonguard test` reviews: the request it builds for the manifest.
      const cliForCapture = buildAdmissionRequest(placeIn(entry.object, CAPTURE_NAMESPACE, captured.name), { operation: 'CREATE', namespace: CAPTURE_NAMESPACE }).object!;
      const mutating = received(captured.name, '/mutate');
      const validating = received(captured.name, '/validate');
      assert.ok(mutating && validating, `${entry.id}: the recording webhook saw no request (${captured.answer.status} ${statusMessage(captured.answer.body)})`);

      const dryRunDifferences = diffObjects(cli, stored, (segments) => isGenerated(segments) || isTemplateGeneration(segments)).filter((d) => {
        // Storage is protobuf, which has no empty list apart from an absent one: a `[]` in a field
        // without omitempty comes back as null from the dry-run. Webhooks get the [] (checked below).
        const storageRoundTrip = Array.isArray(d.expected) && d.expected.length === 0 && d.actual === null;
        if (storageRoundTrip) roundTrips.push(`${entry.id} ${d.path}`);
        return !storageRoundTrip;
      });
      if (dryRunDifferences.length > 0) mismatches.dryRun.push(`${entry.id}:\n${formatDifferences(dryRunDifferences, 'CLI', 'dry-run').replace(/^/gm, '    ')}`);

      // 2. What the mutating webhook receives: the CLI's object, managedFields aside (the field
      // manager's entry names the client and the time; the CLI writes the Apply entry of the file).
      const mutatingDifferences = diffObjects(cliForCapture, mutating, (segments) => segments.length === 2 && segments[0] === 'metadata' && segments[1] === 'managedFields');
      if (mutatingDifferences.length > 0) mismatches.mutating.push(`${entry.id}:\n${formatDifferences(mutatingDifferences, 'CLI', 'mutating webhook').replace(/^/gm, '    ')}`);

      // 3. What the validating webhook receives: the same after the registry's PrepareForCreate (uid, timestamps, generation, templateGeneration).
      const validatingDifferences = diffObjects(cliForCapture, validating, (segments) => isGenerated(segments) || isTemplateGeneration(segments));
      if (validatingDifferences.length > 0) mismatches.validating.push(`${entry.id}:\n${formatDifferences(validatingDifferences, 'CLI', 'validating webhook').replace(/^/gm, '    ')}`);

      generations.mutating.add(`${annotation(cliForCapture)} -> ${annotation(mutating)}`);
      generations.validating.add(`${annotation(cliForCapture)} -> ${annotation(validating)}`);
      generations.stored.add(`${annotation(cli)} -> ${annotation(stored)}`);
    }

    const agreeing = (list: string[]): string => percent(compared - list.length, compared);
    report(
      `defaulting: ${compared} DaemonSets (${fromRepository} from examples/ and test/policies, ${compared - fromRepository} Pod Security fixtures; ` +
        `${refused.length} refused by the apiserver): identical to the dry-run ${agreeing(mismatches.dryRun)}, ` +
        `to the mutating webhook's object ${agreeing(mismatches.mutating)}, to the validating webhook's ${agreeing(mismatches.validating)}`,
    );
    report(
      `defaulting, explained differences: templateGeneration annotation CLI -> mutating webhook ${[...generations.mutating].join(', ')}, ` +
        `-> validating webhook ${[...generations.validating].join(', ')}, -> stored ${[...generations.stored].join(', ')}; ` +
        `[] stored as null: ${roundTrips.length === 0 ? 'none' : roundTrips.join(', ')}`,
    );
    assert.deepEqual(mismatches.mutating, [], `the CLI's object differs from the one the mutating webhook receives:\n${mismatches.mutating.join('\n')}`);
    assert.deepEqual(mismatches.validating, [], `the CLI's object differs from the one the validating webhook receives:\n${mismatches.validating.join('\n')}`);
    assert.deepEqual(mismatches.dryRun, [], `the CLI's defaulting differs from the apiserver's:\n${mismatches.dryRun.join('\n')}`);
    assert.ok(fromRepository > 50, `only ${fromRepository} repository DaemonSets were compared`);
    accountFor('defaulting', repository.length + fixtures.length, compared, refused, MINIMUM_COMPARED.defaulting);
    // The apiserver's own validation refuses a few upstream fixtures (procMount Unmasked without
    // hostUsers: false) and the suite cases written to prove the policies refuse what it refuses too;
    // every other DaemonSet of the repository must be stored.
    assert.deepEqual(unexpectedlyRefused, [], 'only upstream fixtures and the suite cases in REFUSED_SUITE_CASES may be refused, and only as invalid (422)');
  });

  for (const level of PSS_LEVELS) {
    it(`Pod Security Admission and \`daemonguard test\` (pod-security-${level}) agree on every example, control by control`, async () => {
      const refused: Exclusion[] = [];
      const entries = atLevel(level).filter((entry) => {
        const answer = inPsa.get(level)!.get(entry)!;
        if (answer.status !== 201) refused.push({ id: entry.id, reason: refusal(answer) });
        return answer.status === 201;
      });
      const file = path.join(work, `psa-${level}.json`);
      await writeFile(file, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: entries.map((e) => placeIn(e.object, PSA_NAMESPACE(level))) }));
      const policy = path.join(POLICIES_DIR, 'pod-security', `${PSS_POLICY(level)}.yaml`);
      const cli = await daemonguard(['test', '-o', 'json', '-p', policy, '-n', PSA_NAMESPACE(level), '--namespace-labels', `${ENFORCE}=${level}`, file]);
      assert.ok(cli.code === 0 || cli.code === 1, `daemonguard test failed (${cli.code}): ${cli.stderr}`);
      const results = (JSON.parse(cli.stdout) as { results: JsonReportResult[] }).results;
      assert.equal(results.length, entries.length, 'one result per DaemonSet');

      let verdicts = 0;
      let controls = 0;
      const disagreements: string[] = [];
      for (const [i, entry] of entries.entries()) {
        const fromPsa = psaControls(inPsa.get(level)!.get(entry)!.warnings, level) ?? [];
        const fromCli = [...new Set(results[i]!.violations.filter((v) => v.policy === PSS_POLICY(level)).map((v) => v.message.split(': ')[0]!))].sort();
        const sameVerdict = (fromPsa.length > 0) === (fromCli.length > 0);
        if (sameVerdict) verdicts++;
        if (sameSet(fromPsa, fromCli)) controls++;
        else disagreements.push(`${entry.id}: Pod Security Admission [${fromPsa.join(', ')}], daemonguard [${fromCli.join(', ')}]`);
        if (entry.fixture?.level === level) {
          assert.equal(fromPsa.length > 0, entry.fixture.expect === 'fail', `${entry.id}: Pod Security Admission itself ${fromPsa.length > 0 ? 'refuses' : 'admits'} it`);
        }
      }
      const fixtureCount = entries.filter((e) => e.origin === 'psa-fixtures').length;
      report(
        `Pod Security ${level}: verdicts ${percent(verdicts, entries.length)}, controls ${percent(controls, entries.length)} ` +
          `(${entries.length - fixtureCount} repository DaemonSets, ${fixtureCount} fixtures; ` +
          `${refused.length} refused by the apiserver)`,
      );
      assert.deepEqual(disagreements, [], `Pod Security Admission and daemonguard disagree:\n${disagreements.join('\n')}`);
      accountFor(`Pod Security ${level}`, atLevel(level).length, entries.length, refused, MINIMUM_COMPARED.podSecurity[level]);
    });
  }

  it("the library's validating policies, run by the kube-apiserver as ValidatingAdmissionPolicies, agree with daemonguard's engine", async () => {
    const library = (await Promise.all(['security', 'rollout'].map((group) => loadPolicySet([path.join(POLICIES_DIR, group)])))).flatMap((set) => [...set.policies]);
    const nonPss = nativePolicies.filter((p) => !p.policy.startsWith('pod-security-')).map((p) => p.policy);
    assert.deepEqual(readingCoverage.slice().sort(), COVERAGE_POLICIES, 'only the policies that read coverage are left out');
    assert.deepEqual(
      nonPss.slice().sort(),
      library.filter((p) => p.validations.length > 0 && p.mutations.length === 0 && !readingCoverage.includes(p.name)).map((p) => p.name).sort(),
      'every validating policy of security/ and rollout/ is installed (but those reading coverage)',
    );
    const sets = new Map<string, PolicySet>();
    const setFor = async (dir: string): Promise<PolicySet> => {
      if (!sets.has(dir)) sets.set(dir, await loadPolicySet(dir.split(',')));
      return sets.get(dir)!;
    };
    const nonPssSet = await setFor([path.join(POLICIES_DIR, 'security'), path.join(POLICIES_DIR, 'rollout')].join(','));

    interface Tally {
      verdicts: number;
      messages: number;
      total: number;
      failing: number;
    }
    const tallies = new Map<string, Tally>();
    const disagreements: string[] = [];
    const refused: Exclusion[] = [];
    let attempted = 0;
    const compare = async (entry: CorpusDaemonSet, answer: ApiAnswer, namespace: string, set: PolicySet, labels: Record<string, string>, policies: readonly string[]): Promise<void> => {
      attempted += policies.length;
      if (answer.status !== 201) {
        for (const policy of policies) refused.push({ id: `${policy} on ${entry.id} in ${namespace}`, reason: refusal(answer) });
        return;
      }
      const request = buildAdmissionRequest(placeIn(entry.object, namespace), { operation: 'CREATE', namespace });
      const decision = await reviewAdmission(request, set, { namespaceObject: namespaceObjectOf(namespace, labels) });
      const native = nativeVerdicts(answer.warnings);
      for (const policy of policies) {
        const tally = tallies.get(policy) ?? { verdicts: 0, messages: 0, total: 0, failing: 0 };
        tallies.set(policy, tally);
        tally.total++;
        const outcome = decision.outcomes.find((o) => o.policy === policy)?.result ?? 'skip';
        const ours = decision.violations.filter((v) => v.policy === policy && v.validation >= 0).map((v) => nativeWarning(policy, v.message));
        const theirs = native.filter((v) => v.policy === policy);
        const ourVerdict = outcome === 'error' ? 'error' : ours.length > 0 ? 'fail' : 'pass';
        const theirVerdict = theirs.some((v) => v.kind === 'error') ? 'error' : theirs.length > 0 ? 'fail' : 'pass';
        if (ourVerdict === 'fail') tally.failing++;
        const received = native.length === 0 ? [] : answer.warnings.filter((w) => w.startsWith(`Validation failed for ValidatingAdmissionPolicy '${VAP_PREFIX}${policy}'`));
        const messagesAgree = ours.length === received.length && ours.every((expected) => received.some((w) => warningMatches(expected, w)));
        if (ourVerdict === theirVerdict) tally.verdicts++;
        if (ourVerdict === theirVerdict && messagesAgree) tally.messages++;
        else {
          disagreements.push(
            `${policy} on ${entry.id} in ${namespace}: daemonguard ${ourVerdict}${ours.length > 0 ? ` [${ours.join(' | ')}]` : ''}` +
              `${outcome === 'error' ? ` (${decision.outcomes.find((o) => o.policy === policy)?.message ?? ''})` : ''}; ` +
              `kube-apiserver ${theirVerdict}${theirs.length > 0 ? ` [${theirs.map((v) => v.message).join(' | ')}]` : ''}`,
          );
        }
      }
    };
    for (const entry of repository) {
      await compare(entry, own.get(entry)!, entry.namespace, nonPssSet, namespaceLabels.get(entry.namespace) ?? {}, nonPss);
    }
    for (const level of PSS_LEVELS) {
      const set = await setFor(path.join(POLICIES_DIR, 'pod-security', `${PSS_POLICY(level)}.yaml`));
      for (const entry of atLevel(level)) {
        await compare(entry, inVap.get(level)!.get(entry)!, VAP_NAMESPACE(level), set, { [ENFORCE]: level, 'pod-security.kubernetes.io/enforce-version': PSS_VERSION }, [PSS_POLICY(level)]);
      }
    }
    for (const [policy, tally] of [...tallies].sort(([a], [b]) => a.localeCompare(b))) {
      report(`CEL ${policy}: verdicts ${percent(tally.verdicts, tally.total)}, messages ${percent(tally.messages, tally.total)} (${tally.failing} failing)`);
    }
    const total = [...tallies.values()].reduce((sum, t) => ({ verdicts: sum.verdicts + t.verdicts, messages: sum.messages + t.messages, total: sum.total + t.total, failing: sum.failing + t.failing }), {
      verdicts: 0,
      messages: 0,
      total: 0,
      failing: 0,
    });
    report(
      `CEL all ${tallies.size} policies: verdicts ${percent(total.verdicts, total.total)}, messages ${percent(total.messages, total.total)} ` +
        `(${total.failing} failing; ${refused.length} refused by the apiserver)`,
    );
    assert.deepEqual(disagreements, [], `daemonguard and the kube-apiserver's CEL disagree:\n${disagreements.join('\n')}`);
    accountFor('CEL', attempted, total.total, refused, MINIMUM_COMPARED.cel);
  });
});
