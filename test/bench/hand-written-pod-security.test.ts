// The hand-written twins of pod-security-baseline and pod-security-restricted
// (bench/hand-written/pod-security.ts) give the engine's violations, message for message and in the
// same order, on: every DaemonSet the repository holds (examples, verify suites), the upstream Pod
// Security fixtures, the webhook benchmark's payloads, a matrix of the same field set at pod level
// and at container level (absent, null parent, allowed, refused, spelled in the wrong case), and
// generated pod templates that flip every field the policies read. Each is reviewed in namespaces
// enforcing baseline, restricted, privileged, a wrong-case level, no level, and one whose labels are
// unknown; on CREATE, UPDATE and DELETE.
//
// The engine is the real one: the policy files loaded with loadPolicySet, decided by review().
// DAEMONGUARD_SKIP_PSS_FIXTURES=1 leaves the upstream fixtures out (they are read through Go).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parse } from 'yaml';
import { podSecurityTwins } from '../../bench/hand-written/pod-security.js';
import type { HandWrittenValidatingPolicy, HandWrittenViolation } from '../../bench/hand-written/policy.js';
import { NAMESPACES_YAML, reviewTemplate } from '../../bench/webhook-payloads.js';
import { buildAdmissionRequest } from '../../src/apiserver/admission-request.js';
import { namespaceObject } from '../../src/apiserver/namespace-object.js';
import type { JsonObject, JsonValue } from '../../src/common/vocabulary.js';
import { review } from '../../src/engine/review.js';
import type { AdmissionRequest, Operation } from '../../src/engine/types.js';
import { loadPolicySet } from '../../src/policy/load-policies.js';
import type { PolicySet } from '../../src/policy/types.js';
import { psaFixtureDaemonSets, repositoryDaemonSets, type CorpusDaemonSet } from '../support/daemonset-corpus.js';
import { POLICIES_DIR } from '../support/library-paths.js';
import { PSS_FIXTURE_COUNT, SKIP_PSS_FIXTURES_ENV } from '../support/pss-fixtures.js';

const ENFORCE = 'pod-security.kubernetes.io/enforce';
const LEVELS = ['baseline', 'restricted'] as const;

interface PolicyPair {
  name: string;
  set: PolicySet;
  twin: HandWrittenValidatingPolicy;
}

const pairs: PolicyPair[] = [];
for (const level of LEVELS) {
  const name = `pod-security-${level}`;
  const factory = podSecurityTwins.validating[name];
  assert.ok(factory, `podSecurityTwins has no twin for ${name}`);
  pairs.push({ name, set: await loadPolicySet([join(POLICIES_DIR, 'pod-security', `${name}.yaml`)]), twin: factory(undefined) });
}

/** The namespaces every object is reviewed in: name and the Namespace object the server would know (null: unknown). */
const NAMESPACES: readonly [string, JsonObject | null][] = [
  ['psa-baseline', namespaceObject('psa-baseline', { [ENFORCE]: 'baseline' })],
  ['psa-restricted', namespaceObject('psa-restricted', { [ENFORCE]: 'restricted' })],
  ['psa-privileged', namespaceObject('psa-privileged', { [ENFORCE]: 'privileged' })],
  // A level in the wrong case selects nothing, in the engine as in Pod Security Admission.
  ['psa-wrong-case', namespaceObject('psa-wrong-case', { [ENFORCE]: 'Restricted' })],
  ['plain', namespaceObject('plain')],
  ['unknown', null],
];
const ENFORCING = NAMESPACES.slice(0, 2);

/** One kind of message per validation of each policy, and each policy's failure in the unknown namespace. */
const EVERY_MESSAGE_KIND = pairs.reduce((sum, { set }) => sum + set.validatingPolicies[0]!.validations.length + 1, 0);

/** What the comparisons saw, so that each test can show it compared something. */
interface Tally {
  compared: number;
  /** Comparisons where the engine reported at least one violation. */
  violating: number;
  /** The kinds of message the engine gave, `<policy>: <control>` (so each control's wording is exercised). */
  messages: Set<string>;
}

const newTally = (): Tally => ({ compared: 0, violating: 0, messages: new Set() });

function relevant(violations: readonly { policy: string; message: string; actions: readonly string[] }[]): HandWrittenViolation[] {
  return violations.map(({ policy, message, actions }) => ({ policy, message, actions: [...actions] as HandWrittenViolation['actions'] }));
}

/** Reviews `request` with the engine and with the twin of each policy, and asserts they agree. */
function compare(where: string, request: AdmissionRequest, namespace: JsonObject | null, tally: Tally): void {
  for (const { name, set, twin } of pairs) {
    const decision = review(request, set, { phase: 'validate', namespaceObject: namespace });
    const expected = relevant(decision.violations);
    const actual = relevant(
      twin.validate({
        operation: request.operation,
        object: request.object,
        oldObject: request.oldObject,
        namespace: request.namespace ?? '',
        namespaceObject: namespace,
        request: request as unknown as JsonObject,
      }),
    );
    assert.deepEqual(actual, expected, `${name} on ${where} in namespace ${request.namespace ?? ''} (${request.operation}): the twin differs from the engine`);
    tally.compared++;
    if (expected.length > 0) tally.violating++;
    for (const violation of expected) tally.messages.add(`${name}: ${violation.message.slice(0, violation.message.indexOf(':'))}`);
  }
}

function requestFor(object: JsonObject | null, operation: Operation, namespace: string, oldObject: JsonObject | null = null): AdmissionRequest {
  return {
    uid: 'twin-comparison',
    kind: { group: 'apps', version: 'v1', kind: 'DaemonSet' },
    resource: { group: 'apps', version: 'v1', resource: 'daemonsets' },
    name: 'ds',
    namespace,
    operation,
    userInfo: { username: 'alice', groups: ['system:authenticated'] },
    object,
    oldObject,
    dryRun: false,
  };
}

/**
 * One DaemonSet, as written and as the apiserver defaults it, on CREATE in every namespace; on UPDATE
 * (against `oldObject`, else itself) and DELETE in the enforcing ones.
 */
function compareEverywhere(where: string, object: JsonObject, tally: Tally, oldObject: JsonObject = object): void {
  for (const [namespace, namespaceObjectValue] of NAMESPACES) {
    compare(`${where} (as written)`, requestFor(object, 'CREATE', namespace), namespaceObjectValue, tally);
  }
  for (const [namespace, namespaceObjectValue] of ENFORCING) {
    compare(`${where} (as defaulted)`, buildAdmissionRequest(object, { operation: 'CREATE', namespace }), namespaceObjectValue, tally);
    compare(`${where} (update)`, requestFor(object, 'UPDATE', namespace, oldObject), namespaceObjectValue, tally);
    compare(`${where} (delete)`, requestFor(null, 'DELETE', namespace, object), namespaceObjectValue, tally);
  }
}

/** A DaemonSet whose pod template is `template` (metadata and spec as given). */
function daemonSetWith(template: JsonObject): JsonObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'agent', labels: { app: 'agent' } },
    spec: { selector: { matchLabels: { app: 'agent' } }, template },
  };
}

// --- The pod/container matrix --------------------------------------------------------------------------

const NULL_PARENT = Symbol('securityContext: null');

/** `field` (a securityContext field, or a dotted path into one) set to `value` as a securityContext; `null` parent: securityContext: null. */
function securityContextWith(field: string, value: JsonValue | undefined | typeof NULL_PARENT): JsonObject {
  if (value === undefined) return {};
  if (value === NULL_PARENT) return { securityContext: null };
  const [outer, inner] = field.split('.') as [string, string | undefined];
  return { securityContext: { [outer]: inner === undefined ? value : { [inner]: value } } };
}

/** Fields both the pod's and a container's securityContext have, with the values an attacker would try. */
const POD_AND_CONTAINER_FIELDS: readonly [string, readonly (JsonValue | undefined | typeof NULL_PARENT)[]][] = [
  ['runAsNonRoot', [undefined, NULL_PARENT, true, false]],
  ['runAsUser', [undefined, NULL_PARENT, 0, 1000]],
  ['seccompProfile.type', [undefined, NULL_PARENT, 'RuntimeDefault', 'Localhost', 'Unconfined', 'runtimedefault', 'unconfined']],
  ['appArmorProfile.type', [undefined, NULL_PARENT, 'RuntimeDefault', 'Localhost', 'Unconfined', 'localhost']],
  ['seLinuxOptions', [undefined, NULL_PARENT, { type: 'container_t' }, { type: 'spc_t' }, { type: 'Container_T' }, { user: 'system_u' }, { role: '' }, {}]],
  ['windowsOptions.hostProcess', [undefined, NULL_PARENT, true, false]],
  ['seccompProfile', [null, {}]],
  ['appArmorProfile', [null]],
  ['windowsOptions', [null, {}]],
];

// --- Generated templates ---------------------------------------------------------------------------------

/** DAEMONGUARD_FUZZ_RUNS sets how many generated templates are compared (default 300). */
const RUNS = Math.max(1, Number(process.env['DAEMONGUARD_FUZZ_RUNS'] ?? 300));

/** A record whose keys are each absent or set: the shape of optional JSON fields. */
function optionalFields<T extends Record<string, fc.Arbitrary<unknown>>>(fields: T): fc.Arbitrary<JsonObject> {
  return fc.record(fields, { requiredKeys: [] }) as unknown as fc.Arbitrary<JsonObject>;
}

/** An object field that is absent, null (which the apiserver would drop) or the object. */
function nullable(arbitrary: fc.Arbitrary<JsonObject>): fc.Arbitrary<JsonObject | null> {
  return fc.option(arbitrary, { nil: null, freq: 6 });
}

const profileType = fc.constantFrom('RuntimeDefault', 'Localhost', 'Unconfined', 'runtimedefault', 'RUNTIMEDEFAULT', 'localhost', 'unconfined', '');
const capability = fc.constantFrom('NET_BIND_SERVICE', 'CHOWN', 'SYS_CHROOT', 'AUDIT_WRITE', 'SYS_ADMIN', 'NET_RAW', 'NET_ADMIN', 'ALL', 'net_bind_service', 'sys_admin', 'CAP_SYS_ADMIN', 'all', 'All');
const seLinuxOptions = optionalFields({
  type: fc.constantFrom('', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t', 'spc_t', 'Container_t', 'unconfined_t'),
  user: fc.constantFrom('', 'system_u', 'root'),
  role: fc.constantFrom('', 'system_r'),
  level: fc.constantFrom('s0:c1,c2'),
});
/** Fields of both the pod's and the containers' securityContext. */
const sharedSecurityFields = {
  runAsNonRoot: fc.boolean(),
  runAsUser: fc.constantFrom(0, 1, 1000, 65534),
  runAsGroup: fc.constantFrom(0, 1000),
  seLinuxOptions: nullable(seLinuxOptions),
  seccompProfile: nullable(optionalFields({ type: profileType, localhostProfile: fc.constant('profiles/agent.json') })),
  appArmorProfile: nullable(optionalFields({ type: profileType, localhostProfile: fc.constant('agent') })),
  windowsOptions: nullable(optionalFields({ hostProcess: fc.boolean(), runAsUserName: fc.constant('NT AUTHORITY\\SYSTEM') })),
};
const containerSecurityContext = optionalFields({
  ...sharedSecurityFields,
  privileged: fc.boolean(),
  allowPrivilegeEscalation: fc.boolean(),
  readOnlyRootFilesystem: fc.boolean(),
  procMount: fc.constantFrom('Default', 'Unmasked', 'default', 'unmasked'),
  capabilities: nullable(optionalFields({ add: fc.array(capability, { maxLength: 3 }), drop: fc.array(capability, { maxLength: 3 }) })),
});
const sysctl = fc.record({
  name: fc.constantFrom('kernel.shm_rmid_forced', 'net.ipv4.ip_local_port_range', 'net.ipv4.tcp_notsent_lowat', 'Kernel.shm_rmid_forced', 'net.ipv4.ip_forward', 'kernel.msgmax', 'net.ipv4.tcp_syncookies '),
  value: fc.constant('1'),
});
const podSecurityContext = optionalFields({ ...sharedSecurityFields, fsGroup: fc.constantFrom(0, 2000), sysctls: fc.array(sysctl, { maxLength: 3 }) });

const hostAction = (port: number) => optionalFields({ host: fc.constantFrom('', '127.0.0.1', 'metadata.google.internal', 'Localhost'), port: fc.constant(port) });
const handlers = nullable(optionalFields({ httpGet: nullable(hostAction(8080)), tcpSocket: nullable(hostAction(9090)) }));
const port = optionalFields({ hostPort: fc.constantFrom(0, 80, 9100), protocol: fc.constantFrom('TCP', 'UDP') }).map((fields) => ({ containerPort: 9100, ...fields }));
const container = optionalFields({
  securityContext: nullable(containerSecurityContext),
  ports: fc.array(port, { maxLength: 3 }),
  livenessProbe: handlers,
  readinessProbe: handlers,
  startupProbe: handlers,
  lifecycle: nullable(optionalFields({ postStart: handlers, preStop: handlers })),
});

const VOLUME_SOURCES: readonly [string, JsonValue][] = [
  ['emptyDir', {}],
  ['configMap', { name: 'agent-config' }],
  ['secret', { secretName: 'agent-tls' }],
  ['projected', { sources: [] }],
  ['downwardAPI', { items: [] }],
  ['csi', { driver: 'secrets-store.csi.k8s.io' }],
  ['ephemeral', { volumeClaimTemplate: { spec: { accessModes: ['ReadWriteOnce'] } } }],
  ['persistentVolumeClaim', { claimName: 'data' }],
  ['image', { reference: 'registry.example/data:1' }],
  ['hostPath', { path: '/var/log' }],
  ['hostPath', { path: '/' }],
  ['hostPath', { path: '//var/run/docker.sock', type: 'Socket' }],
  ['nfs', { server: 'nfs.example', path: '/exports' }],
  ['gitRepo', { repository: 'https://git.example/repo' }],
  ['iscsi', { targetPortal: '10.0.0.1:3260', iqn: 'iqn.2001-04.com.example:storage', lun: 0 }],
];
/** A volume with no source (the apiserver makes it an emptyDir), one source, or two (listed in either order). */
const volume = fc.array(fc.constantFrom(...VOLUME_SOURCES), { maxLength: 2 }).map((sources) => Object.fromEntries(sources) as JsonObject);

const APPARMOR_PREFIX = 'container.apparmor.security.beta.kubernetes.io/';
const annotationValue = fc.constantFrom('runtime/default', 'localhost/agent', 'unconfined', '', 'Runtime/Default', 'LOCALHOST/agent', 'localhost', 'un\nconfined');
const annotations = fc
  .array(fc.tuple(fc.constantFrom('c0', 'c1', 'i0', 'missing'), annotationValue), { maxLength: 3 })
  .map((entries) => ({ 'cluster-autoscaler.kubernetes.io/safe-to-evict': 'true', ...Object.fromEntries(entries.map(([name, value]) => [`${APPARMOR_PREFIX}${name}`, value])) }));

const podTemplate: fc.Arbitrary<JsonObject> = fc
  .record({
    containers: fc.array(container, { minLength: 1, maxLength: 2 }),
    initContainers: fc.option(fc.array(container, { maxLength: 2 }), { nil: undefined }),
    // Not allowed in a pod template (the apiserver refuses them there), and read by neither policy: a
    // privileged one must change nothing, in the twin as in the engine.
    ephemeralContainers: fc.option(fc.array(container, { maxLength: 1 }), { nil: undefined, freq: 4 }),
    volumes: fc.option(fc.array(volume, { maxLength: 3 }), { nil: undefined }),
    spec: optionalFields({
      hostNetwork: fc.boolean(),
      hostPID: fc.boolean(),
      hostIPC: fc.boolean(),
      hostUsers: fc.boolean(),
      os: nullable(optionalFields({ name: fc.constantFrom('linux', 'windows', 'Windows') })),
      securityContext: nullable(podSecurityContext),
    }),
    metadata: fc.option(optionalFields({ annotations }), { nil: null, freq: 8 }),
  })
  .map(({ containers, initContainers, ephemeralContainers, volumes, spec, metadata }) => {
    const named = (list: JsonObject[], prefix: string) => list.map((fields, i) => ({ name: `${prefix}${i}`, image: 'registry.example/agent:1', ...fields }));
    const podSpec: JsonObject = { ...spec, containers: named(containers, 'c') };
    if (initContainers !== undefined) podSpec.initContainers = named(initContainers, 'i');
    if (ephemeralContainers !== undefined) podSpec.ephemeralContainers = named(ephemeralContainers, 'debug');
    // The name first or last: Volume Types lists a volume's other keys in the order the JSON has them.
    if (volumes !== undefined) podSpec.volumes = volumes.map((sources, i) => (i % 2 === 0 ? { name: `v${i}`, ...sources } : { ...sources, name: `v${i}` }));
    return { metadata: metadata === null ? null : { labels: { app: 'agent' }, ...metadata }, spec: podSpec };
  });

const skipFixtures = process.env[SKIP_PSS_FIXTURES_ENV] === '1';

describe('hand-written pod-security twins agree with the engine', () => {
  it('on every DaemonSet of the repository and every upstream Pod Security fixture', async () => {
    const { daemonSets } = await repositoryDaemonSets();
    const fixtures: CorpusDaemonSet[] = skipFixtures ? [] : await psaFixtureDaemonSets();
    const tally = newTally();
    for (const entry of [...daemonSets, ...fixtures]) compareEverywhere(entry.id, entry.object, tally);

    // At its own level, every fail/ fixture is refused by the twin and every pass/ one admitted.
    let refusedAtLevel = 0;
    for (const fixture of fixtures) {
      const { level, expect } = fixture.fixture!;
      const violations = pairs.find((pair) => pair.name === `pod-security-${level}`)!.twin.validate({
        operation: 'CREATE',
        object: fixture.object,
        oldObject: null,
        namespace: `psa-${level}`,
        namespaceObject: namespaceObject(`psa-${level}`, { [ENFORCE]: level }),
        request: {},
      });
      assert.equal(violations.length > 0, expect === 'fail', `${fixture.id}: the twin ${violations.length > 0 ? 'refuses' : 'admits'} it at ${level}`);
      if (expect === 'fail') refusedAtLevel++;
    }

    const perObject = NAMESPACES.length * pairs.length + ENFORCING.length * 3 * pairs.length;
    assert.ok(daemonSets.length >= 20, `only ${daemonSets.length} repository DaemonSets were read`);
    if (!skipFixtures) {
      assert.ok(fixtures.length >= PSS_FIXTURE_COUNT, `only ${fixtures.length} Pod Security fixtures were read`);
      assert.ok(refusedAtLevel >= 100, `only ${refusedAtLevel} fail/ fixtures were refused at their level`);
    }
    assert.equal(tally.compared, (daemonSets.length + fixtures.length) * perObject);
    assert.ok(tally.violating >= (skipFixtures ? 40 : 700), `only ${tally.violating} comparisons had violations`);
    // Every control of both levels, and the unknown namespace's failure, was worded at least once.
    assert.equal(tally.messages.size, EVERY_MESSAGE_KIND, `only these kinds of message were compared: ${[...tally.messages].join(' | ')}`);
  });

  it('on the webhook benchmark payloads, in the namespaces the benchmark serves and in enforcing ones', () => {
    const served = new Map<string, JsonObject>();
    for (const item of (parse(NAMESPACES_YAML) as { items: JsonObject[] }).items) served.set(String((item.metadata as JsonObject).name), item);
    const tally = newTally();
    for (const payload of ['small', 'large'] as const) {
      const request = (reviewTemplate(payload).request ?? {}) as unknown as AdmissionRequest;
      compare(`the ${payload} payload`, request, served.get(request.namespace ?? '') ?? null, tally);
      for (const [namespace, namespaceObjectValue] of ENFORCING) {
        compare(`the ${payload} payload`, { ...request, namespace }, namespaceObjectValue, tally);
      }
    }
    assert.equal(tally.compared, 2 * 3 * pairs.length);
    // The large payload (a cilium agent) breaks both levels; the small one restricted.
    assert.ok(tally.violating >= 3, `only ${tally.violating} comparisons had violations`);
  });

  it('on the same field set at pod level and at container level (absent, null parent, allowed, refused, wrong case)', () => {
    const tally = newTally();
    for (const [field, values] of POD_AND_CONTAINER_FIELDS) {
      for (const pod of values) {
        for (const container of values) {
          for (const hostUsers of [undefined, false]) {
            for (const os of [undefined, 'windows', 'Windows']) {
              const spec: JsonObject = {
                containers: [
                  { name: 'set', image: 'registry.example/agent:1', ...securityContextWith(field, container) },
                  { name: 'unset', image: 'registry.example/agent:1' },
                ],
                initContainers: [{ name: 'init', image: 'registry.example/init:1', ...securityContextWith(field, container) }],
                ...securityContextWith(field, pod),
              };
              if (hostUsers !== undefined) spec.hostUsers = hostUsers;
              if (os !== undefined) spec.os = { name: os };
              const where = `${field}: pod ${JSON.stringify(pod)}, container ${JSON.stringify(container)}, hostUsers ${String(hostUsers)}, os ${String(os)}`;
              const object = daemonSetWith({ metadata: { labels: { app: 'agent' } }, spec });
              for (const [namespace, namespaceObjectValue] of ENFORCING) compare(where, requestFor(object, 'CREATE', namespace), namespaceObjectValue, tally);
            }
          }
        }
      }
    }
    const combinations = POD_AND_CONTAINER_FIELDS.reduce((sum, [, values]) => sum + values.length ** 2, 0) * 2 * 3;
    assert.equal(tally.compared, combinations * ENFORCING.length * pairs.length);
    // Restricted refuses most combinations (the second container sets nothing), Baseline about one in ten.
    assert.ok(tally.violating >= tally.compared / 4, `only ${tally.violating} of ${tally.compared} comparisons had violations`);
    assert.ok(tally.messages.size >= 9, `only these kinds of message were compared: ${[...tally.messages].join(' | ')}`);
  });

  it('on generated pod templates that flip every field the policies read', () => {
    const tally = newTally();
    fc.assert(
      fc.property(podTemplate, podTemplate, (template, oldTemplate) => {
        compareEverywhere('a generated template', daemonSetWith(template), tally, daemonSetWith(oldTemplate));
      }),
      { numRuns: RUNS },
    );
    // The templates are schema-valid, so the engine never fails on one (a failure would differ from the twin
    // above); every control of both policies is worded, and the unknown namespace's failure.
    assert.equal(tally.compared, RUNS * (NAMESPACES.length * pairs.length + ENFORCING.length * 3 * pairs.length));
    assert.ok(tally.violating >= RUNS * 4, `only ${tally.violating} of ${tally.compared} comparisons had violations`);
    assert.equal(tally.messages.size, EVERY_MESSAGE_KIND, `only these kinds of message were compared: ${[...tally.messages].join(' | ')}`);
  });
});
