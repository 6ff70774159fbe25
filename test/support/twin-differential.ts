// The differential proof of the library's hand-written twins (bench/hand-written/): a library policy
// file loaded as the engine loads it and its twins made from the same YAML's params, both run on the
// same review, and their violations ({policy, message, actions}, in order) compared. The cases: the
// repository's DaemonSets (examples, verify suites, upstream Pod Security fixtures), the benchmark's
// payloads, and fast-check variations of the fields the security and rollout policies read.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { parse, parseAllDocuments } from 'yaml';
import type { HandWrittenValidatingPolicy, HandWrittenViolation, MutatingTwinFactory, ValidatingTwinFactory } from '../../bench/hand-written/policy.js';
import { NAMESPACES_YAML, reviewTemplate } from '../../bench/webhook-payloads.js';
import { applyApiserverDefaults } from '../../src/apiserver/daemonset-defaults.js';
import { namespaceObject } from '../../src/apiserver/namespace-object.js';
import { isJsonObject, type JsonObject, type Operation } from '../../src/common/vocabulary.js';
import { review } from '../../src/engine/review.js';
import { loadPolicySet } from '../../src/policy/load-policies.js';
import type { PolicySet } from '../../src/policy/types.js';
import { admissionRequest, daemonSet } from './admission-fixtures.js';
import { psaFixtureDaemonSets, repositoryDaemonSets } from './daemonset-corpus.js';

export interface TwinGroup {
  validating: Record<string, ValidatingTwinFactory>;
  mutating: Record<string, MutatingTwinFactory>;
}

/** One review both sides decide. */
export interface DifferentialCase {
  id: string;
  operation: Operation;
  object: JsonObject | null;
  oldObject: JsonObject | null;
  namespace: string;
  /** What the server knows of the namespace (null: unknown). */
  namespaceObject: JsonObject | null;
  /**
   * Set for a manifest as written, before the apiserver's decoding and defaulting: it may hold what no
   * webhook is sent (a null where the apiserver keeps its default), which the engine cannot evaluate
   * and a twin need not cover. Such a case is counted as skipped, not compared.
   */
  asWritten?: true;
}

/** A library policy file as the engine loads it, beside its policies' twins (made from the same params). */
export interface FileUnderTest {
  /** The file's name, plus the params changed for a variant. */
  label: string;
  policySet: PolicySet;
  twins: HandWrittenValidatingPolicy[];
}

/** Per policy: reviews compared, and reviews where the engine reported violations. */
export class Tally {
  readonly compared = new Map<string, number>();
  readonly violating = new Map<string, number>();
  /** Cases as written that the engine could not evaluate (see DifferentialCase.asWritten). */
  readonly skipped: string[] = [];

  count(policies: readonly string[], violations: readonly HandWrittenViolation[]): void {
    for (const policy of policies) this.compared.set(policy, (this.compared.get(policy) ?? 0) + 1);
    for (const policy of new Set(violations.map((v) => v.policy))) this.violating.set(policy, (this.violating.get(policy) ?? 0) + 1);
  }
}

/**
 * Loads a library file (with `overrides`' params laid over a policy's own, written to a temporary copy)
 * and makes its policies' twins from the params the file then holds, as the benchmark's server does.
 */
export async function fileUnderTest(file: string, group: TwinGroup, overrides: Record<string, JsonObject> = {}): Promise<FileUnderTest> {
  const documents = parseAllDocuments(await readFile(file, 'utf8'));
  const twins: HandWrittenValidatingPolicy[] = [];
  for (const document of documents) {
    const policy = document.toJS() as { kind?: string; metadata: { name: string }; spec: { params?: JsonObject } };
    if (policy.kind !== 'DaemonSetPolicy') continue;
    const name = policy.metadata.name;
    const factory = group.validating[name];
    assert.ok(factory !== undefined, `${file}: policy ${name} has no validating twin`);
    const override = overrides[name];
    if (override !== undefined) document.setIn(['spec', 'params'], { ...policy.spec.params, ...override });
    twins.push(factory((document.toJS() as { spec: { params?: JsonObject } }).spec.params));
  }
  assert.ok(twins.length > 0, `${file} holds no DaemonSetPolicy`);
  let loaded = file;
  if (Object.keys(overrides).length > 0) {
    const dir = await mkdtemp(path.join(tmpdir(), 'daemonguard-twin-'));
    loaded = path.join(dir, path.basename(file));
    await writeFile(loaded, documents.map((d) => d.toString()).join('---\n'));
  }
  const label = `${path.basename(file)}${Object.keys(overrides).length > 0 ? ` with ${JSON.stringify(overrides)}` : ''}`;
  return { label, policySet: await loadPolicySet([loaded]), twins };
}

/** Every file of a library group's folder, then again with `variants`' params (keyed by file name), each with its twins. */
export async function groupUnderTest(dir: string, group: TwinGroup, variants: Record<string, Record<string, JsonObject>>): Promise<FileUnderTest[]> {
  const loaded: FileUnderTest[] = [];
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort()) {
    loaded.push(await fileUnderTest(path.join(dir, file), group));
    const variant = variants[file];
    if (variant !== undefined) loaded.push(await fileUnderTest(path.join(dir, file), group, variant));
  }
  return loaded;
}

/**
 * Asserts each twin's policy was compared at least `compared` times and that the engine reported it
 * at least `violating` times (never, for the policies in `needsNodes`: they read `coverage`, null
 * without the cluster's nodes, which neither the benchmark's server nor a HandWrittenReview has).
 */
export function assertNotVacuous(tally: Tally, group: TwinGroup, needsNodes: ReadonlySet<string>, compared: number, violating: number): void {
  for (const name of Object.keys(group.validating)) {
    const seen = tally.compared.get(name) ?? 0;
    const reported = tally.violating.get(name) ?? 0;
    assert.ok(seen >= compared, `${name}: only ${seen} cases compared, expected at least ${compared}`);
    if (needsNodes.has(name)) assert.equal(reported, 0, `${name} reported without nodes`);
    else assert.ok(reported >= violating, `${name}: the engine reported violations in ${reported} cases, expected at least ${violating}`);
  }
}

/** Runs the engine and the twins on one case; asserts the same violations, and that the engine did not error. */
export function compareCase(under: FileUnderTest, c: DifferentialCase, tally: Tally): void {
  const request = admissionRequest(c.object, { operation: c.operation, oldObject: c.oldObject, namespace: c.namespace });
  const decision = review(request, under.policySet, { phase: 'validate', namespaceObject: c.namespaceObject, now: 0 });
  const errors = decision.outcomes.filter((o) => o.result === 'error');
  if (errors.length > 0 && c.asWritten) {
    tally.skipped.push(`${under.label} on ${c.id}: ${errors.map((e) => e.message).join('; ')}`);
    return;
  }
  assert.deepEqual(errors, [], `${under.label} on ${c.id}: the engine could not evaluate the case (a generator made an ill-typed DaemonSet?)`);
  const expected = decision.violations.map((v) => ({ policy: v.policy, message: v.message, actions: [...v.actions] }));
  const twinReview = { operation: c.operation, object: c.object, oldObject: c.oldObject, namespace: c.namespace, namespaceObject: c.namespaceObject, request: request as unknown as JsonObject };
  const actual = under.twins.flatMap((twin) => twin.validate(twinReview)).map((v) => ({ policy: v.policy, message: v.message, actions: [...v.actions] }));
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    assert.deepEqual(actual, expected, `${under.label} on ${c.id}: the twins differ from the engine\nobject: ${JSON.stringify(c.object)}`);
  }
  tally.count(under.twins.map((t) => t.name), expected);
}

/** Asserts that the group has a validating twin for exactly the policies of its files, and no mutating one. */
export function assertTwinForEveryPolicy(files: readonly FileUnderTest[], group: TwinGroup): void {
  const names = new Set(files.flatMap((f) => f.policySet.policies.map((p) => p.name)));
  assert.deepEqual([...names].sort(), Object.keys(group.validating).sort());
  assert.deepEqual(group.mutating, {});
}

/**
 * Compares every file on every corpus case; at most 60 may be skipped (manifests as written that no
 * webhook is sent: a null the apiserver replaces by its default). Returns the tally.
 */
export function compareCorpus(files: readonly FileUnderTest[], corpus: readonly DifferentialCase[]): Tally {
  const tally = new Tally();
  for (const under of files) for (const c of corpus) compareCase(under, c, tally);
  assert.ok(tally.skipped.length <= 60, `${tally.skipped.length} cases skipped:\n${tally.skipped.slice(0, 10).join('\n')}`);
  assert.ok(corpus.length >= 6000, `only ${corpus.length} corpus cases`);
  return tally;
}

/** Compares every file on `runs` cases of `arbitrary` sampled with `seed`: the same cases every run, so counts asserted on them hold. */
export function compareSampled(files: readonly FileUnderTest[], arbitrary: fc.Arbitrary<DifferentialCase>, runs: number, seed: number): Tally {
  const tally = new Tally();
  for (const c of fc.sample(arbitrary, { numRuns: runs, seed })) for (const under of files) compareCase(under, c, tally);
  return tally;
}

/** Compares every file on `runs` new random cases; fast-check shrinks a difference to a small case and prints its seed. Returns the cases compared. */
export function compareRandom(files: readonly FileUnderTest[], arbitrary: fc.Arbitrary<DifferentialCase>, runs: number): number {
  let compared = 0;
  fc.assert(
    fc.property(arbitrary, (c) => {
      for (const under of files) compareCase(under, c, new Tally());
      compared++;
    }),
    { numRuns: runs },
  );
  return compared;
}

/** The namespaces the benchmark's server is told about (bench/webhook-payloads.ts NAMESPACES_YAML). */
function benchNamespaces(): Map<string, JsonObject> {
  const list = parse(NAMESPACES_YAML) as { items: JsonObject[] };
  return new Map(list.items.map((n) => [(n.metadata as JsonObject).name as string, n]));
}

/**
 * The repository's DaemonSets and the benchmark's payloads as cases: each as the apiserver hands it to
 * a webhook (decoded and defaulted) and as written, in its own namespace (with the labels its suite
 * declares), in kube-system, in an unlisted team namespace, and in a namespace labelled as
 * privileged-allowed; as CREATE, as UPDATE of itself, once with the namespace unknown and once as DELETE.
 */
export async function corpusCases(): Promise<DifferentialCase[]> {
  const { daemonSets, namespaceLabels } = await repositoryDaemonSets();
  const written = [...daemonSets, ...(await psaFixtureDaemonSets())];
  const entries = [
    ...written.map((entry) => ({ ...entry, object: applyApiserverDefaults(entry.object, { namespace: entry.namespace }), asWritten: undefined })),
    ...written.map((entry) => ({ ...entry, id: `${entry.id} (as written)`, asWritten: true as const })),
  ];
  const cases: DifferentialCase[] = [];
  for (const entry of entries) {
    const { object, id, asWritten } = entry;
    const places: [string, JsonObject | null][] = [
      [entry.namespace, namespaceObject(entry.namespace, namespaceLabels.get(entry.namespace) ?? {})],
      ['kube-system', namespaceObject('kube-system')],
      ['team-a', namespaceObject('team-a')],
      ['gpu-operator', namespaceObject('gpu-operator', { 'daemonguard.dev/privileged': 'allowed' })],
    ];
    for (const [namespace, known] of places) {
      cases.push({ id: `${id} in ${namespace}`, operation: 'CREATE', object, oldObject: null, namespace, namespaceObject: known, asWritten });
      cases.push({ id: `${id} in ${namespace} (UPDATE)`, operation: 'UPDATE', object, oldObject: object, namespace, namespaceObject: known, asWritten });
    }
    cases.push({ id: `${id} (namespace unknown)`, operation: 'CREATE', object, oldObject: null, namespace: 'team-b', namespaceObject: null, asWritten });
    cases.push({ id: `${id} (DELETE)`, operation: 'DELETE', object: null, oldObject: object, namespace: entry.namespace, namespaceObject: null, asWritten });
  }
  const known = benchNamespaces();
  for (const payload of ['small', 'large'] as const) {
    const request = reviewTemplate(payload).request as JsonObject;
    const namespace = request.namespace as string;
    cases.push({
      id: `bench payload ${payload}`,
      operation: request.operation as Operation,
      object: request.object as JsonObject,
      oldObject: isJsonObject(request.oldObject) ? request.oldObject : null,
      namespace,
      namespaceObject: known.get(namespace) ?? null,
    });
  }
  return cases;
}

// ---- Generated DaemonSets: the fields the security and rollout policies read, spelled as an attacker would.

/** Paths worth mounting: what node agents mount, what gives the node away, and near misses. */
const HOST_PATHS = [
  '/', '/proc', '/proc/sys', '/proc/sys/kernel', '/proc/sysrq-trigger', '/sys', '/sys/kernel', '/sys/fs/bpf', '/dev', '/dev/sda',
  '/run', '/run/containerd', '/run/containerd/containerd.sock', '/run/docker.sock', '/run/dockershim.sock', '/run/crio/crio.sock',
  '/run/k3s/containerd/containerd.sock', '/run/podman/podman.sock', '/run/systemd/private', '/run/dbus', '/run/calico', '/run/xtables.lock',
  '/var', '/var/log', '/var/logs', '/var/log/pods', '/var/lib', '/var/lib/kubelet', '/var/lib/kubelet/pki', '/var/lib/kubelet/pods',
  '/var/lib/kubelet/kubeconfig', '/var/lib/kubelet/plugins', '/var/lib/docker', '/var/lib/docker/containers', '/var/lib/containerd',
  '/var/lib/containers', '/var/lib/etcd', '/var/lib/calico', '/etc', '/etc/kubernetes', '/etc/kubernetes/pki', '/etc/cni/net.d',
  '/etc/machine-id', '/etc/localtime', '/etc/shadow', '/opt', '/opt/cni/bin', '/lib/modules', '/usr/lib/modules',
  '/usr/libexec/kubernetes/kubelet-plugins/volume/exec', '/home/user', '/tmp', '/procfs', '/proc1', '/var/lib/kubelet/device-plugins',
  '/var/lib/kubelet/plugins/ebs.csi.aws.com', '/var/lib/kubelet/plugins_registry', '/proc/sys/net', '/var/lib/kubeletx', '/run/systemdx',
];

/** /proc/<pid>/root or cwd, through a task or not; and per-process folders that are not the root links. */
const procPrefix = fc.oneof(
  fc
    .record({
      process: fc.constantFrom('self', 'thread-self', '1', '4194304', 'abc'),
      task: fc.option(fc.constantFrom('1', '77'), { nil: undefined }),
      link: fc.constantFrom('root', 'cwd'),
    })
    .map(({ process, task, link }) => ['proc', process, ...(task === undefined ? [] : ['task', task]), link]),
  fc.constantFrom(['proc', '1', 'fd', '3'], ['proc', 'self', 'ns', 'net'], ['proc', '1', 'rootfs'], ['proc', 'self'], ['proc', 'sys']),
);

/** One spelling of a path: /proc links in front, /var/run for /run, ".", "..", repeated and trailing "/", odd whitespace. */
export const hostPathSpelling: fc.Arbitrary<string> = fc
  .record({
    base: fc.constantFrom(...HOST_PATHS),
    prefixes: fc.array(procPrefix, { maxLength: 2 }),
    varRun: fc.boolean(),
    dots: fc.array(fc.nat({ max: 8 }), { maxLength: 2 }),
    backstep: fc.oneof({ weight: 8, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.nat({ max: 6 }) }),
    slashes: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 8, maxLength: 8 }),
    trailing: fc.constantFrom('', '/', '/.', '//'),
    relative: fc.nat({ max: 15 }).map((n) => n === 0),
    whitespace: fc.constantFrom('', '', '', '', '\t', '\n', ' '),
  })
  .map(({ base, prefixes, varRun, dots, backstep, slashes, trailing, relative, whitespace }) => {
    let segments = base.split('/').filter((s) => s !== '');
    if (varRun && segments[0] === 'run') segments = ['var', ...segments];
    segments = [...prefixes.flat(), ...segments];
    for (const at of dots) segments.splice(Math.min(at, segments.length), 0, '.');
    if (backstep !== undefined) segments.splice(Math.min(backstep, segments.length), 0, '..');
    let spelled = segments.map((s, i) => '/'.repeat(slashes[i % slashes.length]!) + s).join('');
    if (spelled === '') spelled = '/';
    if (relative) spelled = spelled.replace(/^\/+/, '');
    return `${spelled}${trailing}${whitespace}`;
  });

const CAPABILITIES = [
  'NET_ADMIN', 'net_admin', 'CAP_NET_ADMIN', 'Cap_Sys_Admin', 'SYS_ADMIN', 'sys_admin', 'ALL', 'all', 'SYS_MODULE', 'SYS_PTRACE',
  'DAC_READ_SEARCH', 'cap_dac_read_search', 'NET_RAW', 'CHOWN', 'BPF', 'PERFMON', 'SYS_NICE', 'SYS_TIME', 'CAP_', 'ſys_admin', 'CAP_CAP_SYS_ADMIN',
];

const IMAGES = [
  'nginx', 'nginx:latest', 'nginx:LATEST', 'nginx:1.27', 'busybox:Nightly', 'calico/node:v3.28.0', 'calico/node:main', 'docker.io/calico/node:v3.28.0',
  'index.docker.io/library/busybox:1.36', 'registry-1.docker.io/calico/cni:edge', 'quay.io/cilium/cilium:v1.15.7@sha256:0123456789abcdef',
  'quay.io/cilium/cilium@sha256:0123456789abcdef', 'quay.io/cilium/cilium:latest@sha256:0123456789abcdef', 'quay.io/ciliumx/agent:v1',
  'registry.k8s.io/kube-proxy:v1.31.0', 'registry.k8s.io:443/kube-proxy', 'localhost/agent:dev', 'localhost:5000/agent', 'example.com/a/b/c:Canary',
  'gcr.io/project/image:SNAPSHOT', 'agent:1.0', 'agent:', 'my.registry/team/agent:v1', '', 'registry:5000/agent', 'host:5000/team/agent:main',
  'a:b/c', 'nginx@', '@sha256:0123', 'nginx@sha256:01@sha256:02', 'INDEX.DOCKER.IO/calico/node:v1', 'index.docker.io/nginx', 'localhost/agent',
  'registry.k8s.io', 'quay.io/cilium', 'Ghcr.io/Team/Agent:DEV',
];

const QUANTITIES = ['100m', '1', '0.5', '64Mi', '1Gi', 2];

const resources = fc.record(
  {
    requests: fc.dictionary(fc.constantFrom('cpu', 'memory', 'ephemeral-storage'), fc.constantFrom(...QUANTITIES), { maxKeys: 3 }),
    limits: fc.dictionary(fc.constantFrom('cpu', 'memory'), fc.constantFrom(...QUANTITIES), { maxKeys: 2 }),
  },
  { requiredKeys: [] },
);

const port = fc.record(
  {
    containerPort: fc.constantFrom(53, 80, 9100, 9090),
    hostPort: fc.constantFrom(0, 53, 80, 8125, 9100),
    protocol: fc.constantFrom('TCP', 'UDP', 'SCTP'),
  },
  { requiredKeys: ['containerPort'] },
);

const seLinuxType = fc.constantFrom('', 'container_t', 'container_init_t', 'spc_t', 'unconfined_t', 'Container_T');

const securityContext = fc.record(
  {
    privileged: fc.boolean(),
    procMount: fc.constantFrom('Default', 'Unmasked'),
    seLinuxOptions: fc.record({ type: seLinuxType, level: fc.constant('s0:c1') }, { requiredKeys: [] }),
    capabilities: fc.record({ add: fc.array(fc.constantFrom(...CAPABILITIES), { maxLength: 4 }), drop: fc.constant(['ALL']) }, { requiredKeys: [] }),
    readOnlyRootFilesystem: fc.boolean(),
  },
  { requiredKeys: [] },
);

function container(name: string, volumeNames: string[], init: boolean): fc.Arbitrary<JsonObject> {
  return fc
    .record(
      {
        image: fc.constantFrom(...IMAGES),
        ports: fc.array(port, { maxLength: 3 }),
        securityContext,
        resources,
        volumeMounts: fc.subarray(volumeNames).chain((names) =>
          fc.tuple(...names.map((volume, i) => fc.record({ name: fc.constant(volume), mountPath: fc.constant(`/host/${i}`), readOnly: fc.boolean() }, { requiredKeys: ['name', 'mountPath'] }))),
        ),
        restartPolicy: fc.constant('Always'),
      },
      { requiredKeys: [] },
    )
    .map((fields) => {
      const built: JsonObject = { name, ...(fields as JsonObject) };
      if (!init) delete built.restartPolicy;
      return built;
    });
}

const toleration = fc.record(
  {
    key: fc.constantFrom('', 'node-role.kubernetes.io/control-plane', 'node-role.kubernetes.io/master', 'node.kubernetes.io/not-ready', 'dedicated'),
    operator: fc.constantFrom('Exists', 'Equal'),
    value: fc.constantFrom('', 'true', 'gpu'),
    effect: fc.constantFrom('', 'NoSchedule', 'NoExecute', 'PreferNoSchedule'),
  },
  { requiredKeys: [] },
);

const intOrString = (values: (number | string)[]): fc.Arbitrary<number | string> => fc.constantFrom(...values);

const updateStrategy = fc.record(
  {
    type: fc.constantFrom('RollingUpdate', 'OnDelete'),
    rollingUpdate: fc.record(
      {
        maxUnavailable: intOrString([0, 1, 3, 9, 10, 11, 100, '0', '1', '10', '010', '25%', '99%', '100%', '0100%', '150%', 'all', '1.5%', ' 1']),
        maxSurge: intOrString([0, 1, 2, '0', '00', '0%', '000%', '1', '1%', '25%', 'x', '-1']),
      },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: [] },
);

const NAMESPACES: [string, Record<string, string> | null][] = [
  ['kube-system', {}],
  ['monitoring', {}],
  ['team-a', {}],
  ['calico-system', { 'daemonguard.dev/privileged': 'allowed' }],
  ['gpu-operator', { 'daemonguard.dev/privileged': 'no' }],
  ['team-b', null],
];

/** A schema-valid DaemonSet reviewed in a namespace, flipping what the security and rollout policies read. */
export const generatedCase: fc.Arbitrary<DifferentialCase> = fc
  .record({
    volumes: fc.array(fc.oneof({ weight: 4, arbitrary: hostPathSpelling.map((p) => ({ hostPath: { path: p } })) }, { weight: 1, arbitrary: fc.constant({ emptyDir: {} }) }), { maxLength: 4 }),
    initCount: fc.nat({ max: 2 }),
    containerCount: fc.integer({ min: 1, max: 3 }),
    namespace: fc.constantFrom(...NAMESPACES),
    operation: fc.constantFrom<Operation>('CREATE', 'UPDATE'),
    labels: fc.record(
      { 'daemonguard.dev/control-plane': fc.constantFrom('true', 'false'), 'daemonguard.dev/footprint-approved': fc.constant('true'), app: fc.constant('agent') },
      { requiredKeys: ['app'] },
    ),
  })
  .chain(({ volumes, initCount, containerCount, namespace, operation, labels }) => {
    const named = volumes.map((v, i) => ({ name: `v${i}`, ...v }));
    const volumeNames = named.map((v) => v.name);
    return fc
      .record({
        initContainers: fc.tuple(...Array.from({ length: initCount }, (_, i) => container(`init-${i}`, volumeNames, true))),
        containers: fc.tuple(...Array.from({ length: containerCount }, (_, i) => container(`agent-${i}`, volumeNames, false))),
        pod: fc.record(
          {
            hostNetwork: fc.boolean(),
            hostPID: fc.boolean(),
            hostIPC: fc.boolean(),
            hostUsers: fc.boolean(),
            securityContext: fc.record({ seLinuxOptions: fc.record({ type: seLinuxType }, { requiredKeys: [] }), runAsNonRoot: fc.boolean() }, { requiredKeys: [] }),
            tolerations: fc.array(toleration, { maxLength: 3 }),
          },
          { requiredKeys: [] },
        ),
        updateStrategy: fc.option(updateStrategy, { nil: undefined }),
      })
      .map(({ initContainers, containers, pod, updateStrategy }): DifferentialCase => {
        const [name, nsLabels] = namespace;
        const podSpec: JsonObject = { ...(pod as JsonObject), containers: containers as JsonObject[] };
        if (initContainers.length > 0) podSpec.initContainers = initContainers as JsonObject[];
        if (named.length > 0) podSpec.volumes = named as unknown as JsonObject[];
        const object: JsonObject = {
          apiVersion: 'apps/v1',
          kind: 'DaemonSet',
          metadata: { name: 'agent', namespace: name, labels: labels as JsonObject },
          spec: {
            selector: { matchLabels: { app: 'agent' } },
            ...(updateStrategy === undefined ? {} : { updateStrategy: updateStrategy as JsonObject }),
            template: { metadata: { labels: { app: 'agent' } }, spec: podSpec },
          },
        };
        return {
          id: `generated ${operation} in ${name}`,
          operation,
          object,
          oldObject: operation === 'UPDATE' ? object : null,
          namespace: name,
          namespaceObject: nsLabels === null ? null : namespaceObject(name, nsLabels),
        };
      });
  });

/**
 * One hostPath volume of a spelled path in a one-container DaemonSet (privileged or not, mounted
 * read-only or not), in kube-system or in a team namespace: the shape of the verify suites' host-path
 * escapes (test/policies/security/host-path-escapes.test.yaml, test/policies/host-path-spellings.test.ts).
 */
export const hostPathCase: fc.Arbitrary<DifferentialCase> = fc
  .record({ path: hostPathSpelling, readOnly: fc.boolean(), privileged: fc.boolean(), namespace: fc.constantFrom('team-a', 'kube-system', 'monitoring') })
  .map(({ path: hostPath, readOnly, privileged, namespace }): DifferentialCase => {
    const agent: JsonObject = { name: 'agent', image: 'example.com/agent:1.0', volumeMounts: [{ name: 'host', mountPath: '/host', readOnly }] };
    if (privileged) agent.securityContext = { privileged: true };
    const object = daemonSet({ name: 'agent', namespace, podSpec: { containers: [agent], volumes: [{ name: 'host', hostPath: { path: hostPath } }] } });
    return { id: `hostPath ${JSON.stringify(hostPath)} in ${namespace}`, operation: 'CREATE', object, oldObject: null, namespace, namespaceObject: namespaceObject(namespace) };
  });
