// The twins of policies/defaults/* (bench/hand-written/defaults.ts) against the engine running the real
// policies: the same patch, byte for byte, on /mutate (each policy alone, and the group chained in the
// library's order, each twin on the object after the earlier ones' operations), and the same
// violations {policy, message, actions} on /validate. Inputs: every DaemonSet the repository holds and
// the upstream Pod Security fixtures (as written, and as the apiserver defaults them), the bench
// payloads, and generated DaemonSets that flip what the defaults read (annotations, field ownership,
// ports, probes, Windows signs, update strategy), on CREATE, UPDATE (with an old object) and DELETE,
// under the library's params and under others (liveness on, defaultWhenUnknown, other values).
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { parse, stringify } from 'yaml';
import { applyApiserverDefaults } from '../../src/apiserver/daemonset-defaults.js';
import { namespaceObject } from '../../src/apiserver/namespace-object.js';
import type { JsonObject, JsonValue } from '../../src/common/vocabulary.js';
import { review } from '../../src/engine/review.js';
import type { AdmissionRequest, Operation } from '../../src/engine/types.js';
import { loadPolicySet } from '../../src/policy/load-policies.js';
import type { PolicySet } from '../../src/policy/types.js';
import { defaultsTwins } from '../../bench/hand-written/defaults.js';
import { mutateAll, validateAll } from '../../bench/hand-written/library.js';
import type { HandWrittenMutatingPolicy, HandWrittenReview, HandWrittenValidatingPolicy } from '../../bench/hand-written/policy.js';
import { reviewTemplate } from '../../bench/webhook-payloads.js';
import { psaFixtureDaemonSets, repositoryDaemonSets } from '../support/daemonset-corpus.js';
import { POLICIES_DIR } from '../support/library-paths.js';

const DEFAULTS_DIR = join(POLICIES_DIR, 'defaults');
const RUNS = Math.max(1, Number(process.env['DAEMONGUARD_FUZZ_RUNS'] ?? 300));

interface Case {
  id: string;
  operation: Operation;
  object: JsonObject | null;
  oldObject: JsonObject | null;
  namespace: string;
}

/** A policy file of the group (or a copy with other params), loaded by the engine, and its twins. */
interface Subject {
  id: string;
  set: PolicySet;
  mutating: HandWrittenMutatingPolicy[];
  validating: HandWrittenValidatingPolicy[];
}

interface PolicyDocument {
  metadata: { name: string };
  spec: { params?: JsonObject };
}

/** Params other than the library's, per policy: the branches the library's values leave unused. */
const OTHER_PARAMS: Record<string, JsonObject[]> = {
  'default-probes': [{ liveness: true, livenessPeriodSeconds: 7, livenessFailureThreshold: 2, healthPortWords: ['metrics', 'ready'] }],
  'default-rolling-update': [{ defaultWhenUnknown: true }, { maxUnavailable: 2, defaultWhenUnknown: true }],
  'default-revision-history': [{ defaultWhenUnknown: true, revisionHistoryLimit: 3 }],
  'default-seccomp': [],
};

function twinsOf(documents: readonly PolicyDocument[]): Pick<Subject, 'mutating' | 'validating'> {
  const mutating: HandWrittenMutatingPolicy[] = [];
  const validating: HandWrittenValidatingPolicy[] = [];
  for (const { metadata, spec } of documents) {
    const mutate = defaultsTwins.mutating[metadata.name];
    const validate = defaultsTwins.validating[metadata.name];
    assert.ok(mutate !== undefined || validate !== undefined, `policies/defaults: ${metadata.name} has no twin in bench/hand-written/defaults.ts`);
    if (mutate) mutating.push(mutate(spec.params));
    if (validate) validating.push(validate(spec.params));
  }
  return { mutating, validating };
}

function requestOf(c: Case): AdmissionRequest {
  const request: AdmissionRequest = {
    uid: 'differential',
    kind: { group: 'apps', version: 'v1', kind: 'DaemonSet' },
    resource: { group: 'apps', version: 'v1', resource: 'daemonsets' },
    operation: c.operation,
    userInfo: { username: 'tester' },
    object: c.object,
    oldObject: c.oldObject,
    namespace: c.namespace,
  };
  const name = (c.object ?? c.oldObject)?.metadata as JsonObject | undefined;
  if (typeof name?.name === 'string') request.name = name.name;
  return request;
}

const counts = { cases: 0, patched: 0, warned: 0, updates: 0, perSubject: new Map<string, { patched: number; warned: number }>() };

/** Runs the engine and the twins on one case; asserts the same patch bytes and the same violations. */
function compare(subject: Subject, c: Case): void {
  const request = requestOf(c);
  const ns = namespaceObject(c.namespace);
  const where = `${subject.id} on ${c.id} (${c.operation})`;
  const twinReview: HandWrittenReview = {
    operation: c.operation,
    object: c.object,
    oldObject: c.oldObject,
    namespace: c.namespace,
    namespaceObject: ns,
    request: JSON.parse(JSON.stringify(request)) as JsonObject,
  };

  const mutated = review(request, subject.set, { phase: 'mutate', namespaceObject: ns });
  const errored = mutated.outcomes.filter((outcome) => outcome.result === 'error');
  assert.deepEqual(errored, [], `${where}: the engine could not evaluate a schema-valid DaemonSet`);
  // As the hand-written server runs them: each twin on the object after the earlier twins' operations.
  const patch = mutateAll(subject, twinReview);
  assert.equal(JSON.stringify(patch), JSON.stringify(mutated.patch), `${where}: the twins' patch differs from the engine's`);

  const validated = review(request, subject.set, { phase: 'validate', namespaceObject: ns });
  assert.deepEqual(validated.outcomes.filter((outcome) => outcome.result === 'error'), [], `${where}: the engine could not evaluate it on /validate`);
  const violations = validateAll(subject, twinReview);
  const engineViolations = validated.violations.map(({ policy, message, actions }) => ({ policy, message, actions: [...actions] }));
  assert.deepEqual(violations.map((v) => ({ ...v, actions: [...v.actions] })), engineViolations, `${where}: the twins' violations differ from the engine's`);

  counts.cases++;
  if (c.operation === 'UPDATE') counts.updates++;
  const mine = counts.perSubject.get(subject.id) ?? { patched: 0, warned: 0 };
  if (mutated.patch.length > 0) {
    counts.patched++;
    mine.patched++;
  }
  if (validated.violations.length > 0) {
    counts.warned++;
    mine.warned++;
  }
  counts.perSubject.set(subject.id, mine);
}

// ---------------------------------------------------------------------------------------------------
// Generated DaemonSets

const clone = <T>(value: T): T => structuredClone(value);

const portArbitrary = fc.record(
  {
    name: fc.constantFrom('metrics', 'health', 'healthz', 'http-health', 'ready', 'readyz', 'readiness', 'dns', 'grpc-readyz', 'liveness', 'healthcheck-x', 'not-ready-yet', 'Health'),
    containerPort: fc.constantFrom(53, 8080, 9090, 9100, 10250),
    protocol: fc.constantFrom('TCP', 'UDP', 'SCTP'),
  },
  { requiredKeys: ['containerPort'] },
);

const probeArbitrary = fc.constantFrom<JsonObject>(
  { httpGet: { path: '/healthz', port: 8080, scheme: 'HTTP' }, periodSeconds: 10 },
  { tcpSocket: { port: 9100 } },
  { exec: { command: ['/bin/true'] } },
  { grpc: { port: 9090 } },
);

const hostProcessArbitrary = fc.constantFrom<JsonObject>({ windowsOptions: { hostProcess: true } }, { windowsOptions: { hostProcess: false } }, { runAsNonRoot: true }, { privileged: true });

const containerArbitrary = fc.record(
  {
    ports: fc.array(portArbitrary, { maxLength: 3 }),
    readinessProbe: probeArbitrary,
    livenessProbe: probeArbitrary,
    securityContext: hostProcessArbitrary,
  },
  { requiredKeys: [] },
);

const annotationsArbitrary = fc.record(
  {
    'daemonguard.dev/skip-defaults': fc.constantFrom(
      'default-probes', ' default-seccomp , other', 'all', 'default-rolling-update,default-revision-history', '\u0085all', '\ufeffall', 'none', '', 'default-probes-x',
    ),
    'daemonguard.dev/readiness-path': fc.constantFrom('/healthz', '/ready', ''),
    'daemonguard.dev/readiness-port': fc.constantFrom('metrics', '9100', 'health', '8080', '53', 'nope', ''),
    'kubectl.kubernetes.io/last-applied-configuration': fc.constantFrom(
      '{"apiVersion":"apps/v1","kind":"DaemonSet","spec":{"updateStrategy":{"rollingUpdate":{"maxUnavailable":2}}}}\n',
      '{"apiVersion":"apps/v1","kind":"DaemonSet","spec":{"revisionHistoryLimit":3}}\n',
      '{"apiVersion":"apps/v1","kind":"DaemonSet","spec":{"template":{}}}\n',
      '{"maxUnavailable":1,"revisionHistoryLimit":10}',
      '{"spec": {"maxUnavailable": 1}}',
      '',
    ),
    'other.example/annotation': fc.constant('x'),
  },
  { requiredKeys: [] },
);

const managedFieldsArbitrary = fc.array(
  fc.record({
    manager: fc.constantFrom('kubectl', 'argocd-controller', 'helm'),
    operation: fc.constantFrom('Apply', 'Update'),
    fieldsV1: fc.constantFrom<JsonObject>(
      {},
      { 'f:spec': { 'f:revisionHistoryLimit': {} } },
      { 'f:spec': { 'f:updateStrategy': { 'f:rollingUpdate': { 'f:maxUnavailable': {} } } } },
      { 'f:spec': { 'f:updateStrategy': { 'f:type': {} } } },
      { 'f:metadata': { 'f:labels': {} } },
    ),
  }),
  { maxLength: 3 },
);

const affinityArbitrary = fc
  .array(
    fc.constantFrom<JsonObject>(
      { matchExpressions: [{ key: 'kubernetes.io/os', operator: 'In', values: ['windows'] }] },
      { matchExpressions: [{ key: 'beta.kubernetes.io/os', operator: 'In', values: ['windows', 'windows'] }] },
      { matchExpressions: [{ key: 'kubernetes.io/os', operator: 'In', values: ['windows', 'linux'] }] },
      { matchExpressions: [{ key: 'kubernetes.io/os', operator: 'NotIn', values: ['windows'] }] },
      { matchExpressions: [{ key: 'kubernetes.io/os', operator: 'Exists' }] },
      { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['node-1'] }] },
    ),
    { maxLength: 2 },
  )
  .map((terms): JsonObject => ({ nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } } }));

const podArbitrary = fc.record(
  {
    containers: fc.array(containerArbitrary, { minLength: 1, maxLength: 3 }),
    initContainers: fc.array(fc.record({ securityContext: hostProcessArbitrary }, { requiredKeys: [] }), { minLength: 1, maxLength: 2 }),
    hostNetwork: fc.boolean(),
    os: fc.constantFrom<JsonObject>({ name: 'windows' }, { name: 'linux' }),
    securityContext: fc.constantFrom<JsonObject>({}, { runAsNonRoot: true }, { seccompProfile: { type: 'Unconfined' } }, { windowsOptions: { hostProcess: true } }, { windowsOptions: { hostProcess: false } }),
    nodeSelector: fc.constantFrom<JsonObject>({ 'kubernetes.io/os': 'windows' }, { 'beta.kubernetes.io/os': 'windows' }, { 'kubernetes.io/os': 'linux' }, { pool: 'windows' }),
    affinity: affinityArbitrary,
  },
  { requiredKeys: ['containers'] },
);

const specArbitrary = fc.record(
  {
    updateStrategy: fc.constantFrom<JsonObject>(
      { type: 'OnDelete' },
      { type: 'RollingUpdate' },
      { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } },
      { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '10%' } },
      { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 2 } },
      { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%' } },
      { rollingUpdate: { maxSurge: 1 } },
    ),
    revisionHistoryLimit: fc.constantFrom(3, 5, 10),
    templateAnnotations: fc.constantFrom<JsonObject>({ 'seccomp.security.alpha.kubernetes.io/pod': 'runtime/default' }, { 'prometheus.io/scrape': 'true' }),
  },
  { requiredKeys: [] },
);

const daemonSetArbitrary = fc
  .record({
    annotations: fc.option(annotationsArbitrary, { nil: undefined }),
    managedFields: fc.option(managedFieldsArbitrary, { nil: undefined }),
    spec: specArbitrary,
    pod: podArbitrary,
    namespace: fc.constantFrom('kube-system', 'monitoring', 'team-a'),
  })
  .map(({ annotations, managedFields, spec, pod, namespace }) => {
    const metadata: JsonObject = { name: 'agent', namespace };
    if (annotations !== undefined) metadata.annotations = annotations;
    if (managedFields !== undefined) metadata.managedFields = managedFields as unknown as JsonValue;
    const containers = pod.containers.map((container, i) => ({ name: `c${i}`, image: 'registry.example/agent:1.0', ...container }));
    const initContainers = pod.initContainers?.map((container, i) => ({ name: `init${i}`, image: 'registry.example/init:1.0', ...container }));
    const podSpec: JsonObject = { ...pod, containers } as unknown as JsonObject;
    if (initContainers !== undefined) podSpec.initContainers = initContainers as unknown as JsonValue;
    const template: JsonObject = { metadata: { labels: { app: 'agent' } }, spec: podSpec };
    if (spec.templateAnnotations !== undefined) (template.metadata as JsonObject).annotations = spec.templateAnnotations;
    const daemonSetSpec: JsonObject = { selector: { matchLabels: { app: 'agent' } }, template };
    if (spec.updateStrategy !== undefined) daemonSetSpec.updateStrategy = spec.updateStrategy;
    if (spec.revisionHistoryLimit !== undefined) daemonSetSpec.revisionHistoryLimit = spec.revisionHistoryLimit;
    return clone({ apiVersion: 'apps/v1', kind: 'DaemonSet', metadata, spec: daemonSetSpec } as JsonObject);
  });

/** How an UPDATE's old object differs from the new: the signals of "changed by this request". */
const oldObjectChange = fc.record({
  lastApplied: fc.constantFrom('same', 'other', 'none'),
  revisionHistoryLimit: fc.constantFrom<number | undefined>(undefined, 3, 5, 10),
  maxUnavailable: fc.constantFrom<number | string | undefined>(undefined, 1, '10%', 3),
});

function oldObjectOf(object: JsonObject, change: { lastApplied: string; revisionHistoryLimit: number | undefined; maxUnavailable: number | string | undefined }): JsonObject {
  const old = clone(object);
  const metadata = old.metadata as JsonObject;
  const annotations = { ...((metadata.annotations as JsonObject | undefined) ?? {}) };
  if (change.lastApplied === 'other') annotations['kubectl.kubernetes.io/last-applied-configuration'] = '{"spec":{}}';
  if (change.lastApplied === 'none') delete annotations['kubectl.kubernetes.io/last-applied-configuration'];
  metadata.annotations = annotations;
  const spec = old.spec as JsonObject;
  if (change.revisionHistoryLimit !== undefined) spec.revisionHistoryLimit = change.revisionHistoryLimit;
  if (change.maxUnavailable !== undefined) spec.updateStrategy = { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: change.maxUnavailable } };
  return old;
}

const caseArbitrary = fc
  .record({ object: daemonSetArbitrary, operation: fc.constantFrom<Operation>('CREATE', 'UPDATE', 'UPDATE', 'DELETE'), change: oldObjectChange })
  .map(({ object, operation, change }): Case => {
    const namespace = (object.metadata as JsonObject).namespace as string;
    if (operation === 'CREATE') return { id: 'generated', operation, object, oldObject: null, namespace };
    if (operation === 'DELETE') return { id: 'generated', operation, object: null, oldObject: object, namespace };
    return { id: 'generated', operation, object, oldObject: oldObjectOf(object, change), namespace };
  });

// ---------------------------------------------------------------------------------------------------

describe('the hand-written twins of policies/defaults', () => {
  const subjects: Subject[] = [];
  let work = '';
  let corpus: Case[] = [];

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'daemonguard-hw-defaults-'));
    const files = (await readdir(DEFAULTS_DIR)).filter((file) => file.endsWith('.yaml')).sort();
    const documents: PolicyDocument[] = [];
    for (const file of files) {
      const path = join(DEFAULTS_DIR, file);
      const document = parse(await readFile(path, 'utf8')) as PolicyDocument;
      documents.push(document);
      subjects.push({ id: document.metadata.name, set: await loadPolicySet([path]), ...twinsOf([document]) });
      for (const [i, params] of (OTHER_PARAMS[document.metadata.name] ?? []).entries()) {
        const variant = clone(document);
        variant.spec.params = { ...variant.spec.params, ...params };
        const variantFile = join(work, `${document.metadata.name}-${i}.yaml`);
        await writeFile(variantFile, stringify(variant));
        subjects.push({ id: `${document.metadata.name} with ${JSON.stringify(params)}`, set: await loadPolicySet([variantFile]), ...twinsOf([variant]) });
      }
    }
    // The group as the library runs it: every default in load order, each on the object the earlier left.
    subjects.push({ id: 'policies/defaults (chained)', set: await loadPolicySet([DEFAULTS_DIR]), ...twinsOf(documents) });
    assert.deepEqual(
      subjects.at(-1)!.set.policies.map((policy) => policy.name),
      documents.map((document) => document.metadata.name),
      'the twins are chained in the order the engine loads the policies',
    );

    const { daemonSets } = await repositoryDaemonSets();
    const all = [...daemonSets, ...(await psaFixtureDaemonSets())];
    for (const entry of all) {
      const defaulted = applyApiserverDefaults(entry.object, { namespace: entry.namespace });
      corpus.push({ id: entry.id, operation: 'CREATE', object: entry.object, oldObject: null, namespace: entry.namespace });
      corpus.push({ id: `${entry.id} (apiserver-defaulted)`, operation: 'CREATE', object: defaulted, oldObject: null, namespace: entry.namespace });
      corpus.push({ id: `${entry.id} (apiserver-defaulted)`, operation: 'UPDATE', object: defaulted, oldObject: entry.object, namespace: entry.namespace });
    }
    for (const payload of ['small', 'large'] as const) {
      const request = reviewTemplate(payload).request as JsonObject;
      corpus.push({
        id: `bench payload ${payload}`,
        operation: request.operation as Operation,
        object: request.object as JsonObject,
        oldObject: (request.oldObject as JsonObject | null) ?? null,
        namespace: request.namespace as string,
      });
    }
    corpus = corpus.map((c) => clone(c));
  });

  after(() => rm(work, { recursive: true, force: true }));

  it('agree with the engine on every DaemonSet of the repository, the Pod Security fixtures and the bench payloads', () => {
    const before = counts.cases;
    for (const subject of subjects) for (const c of corpus) compare(subject, c);
    assert.ok(corpus.length >= 300, `only ${corpus.length} corpus cases`);
    assert.ok(counts.cases - before >= corpus.length * 5);
  });

  it('agree with the engine on generated DaemonSets, CREATE, UPDATE and DELETE, under the library params and others', () => {
    const before = counts.cases;
    fc.assert(
      fc.property(caseArbitrary, (c) => {
        for (const subject of subjects) compare(subject, c);
      }),
      { numRuns: RUNS },
    );
    assert.ok(counts.cases - before >= RUNS * subjects.length);
  });

  it('compared enough cases where the engine patches or warns, per policy, for the agreement to mean something', () => {
    assert.ok(counts.cases >= 3000, `${counts.cases} cases compared`);
    assert.ok(counts.updates >= 500, `${counts.updates} UPDATE cases`);
    assert.ok(counts.patched >= 1000, `${counts.patched} cases with a patch`);
    assert.ok(counts.warned >= 200, `${counts.warned} cases with a violation`);
    for (const [id, { patched, warned }] of counts.perSubject) {
      assert.ok(patched >= 20, `${id}: the engine patched only ${patched} cases`);
      if (id.startsWith('default-probes') || id.includes('chained')) assert.ok(warned >= 20, `${id}: the engine warned on only ${warned} cases`);
    }
  });
});
