// The hand-written twins of policies/security/* (bench/hand-written/security.ts) decide as the engine
// does: the same violations, in the same order, with the same messages and actions, on the repository's
// DaemonSets (examples, verify suites with their host-path escapes, upstream Pod Security fixtures), the
// benchmark's payloads and generated DaemonSets, with the library's params and with changed ones.
//
// DAEMONGUARD_FUZZ_RUNS sets the number of generated DaemonSets per file (default 300).
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { securityTwins } from '../../bench/hand-written/security.js';
import type { JsonObject } from '../../src/common/vocabulary.js';
import { POLICIES_DIR, SUITES_DIR } from '../support/library-paths.js';
import { wideDaemonSet } from '../support/large-daemonsets.js';
import { assertNotVacuous, assertTwinForEveryPolicy, compareCase, compareCorpus, compareRandom, compareSampled, corpusCases, generatedCase, groupUnderTest, hostPathCase, hostPathSpelling, Tally } from '../support/twin-differential.js';

const RUNS = Math.max(1, Number(process.env['DAEMONGUARD_FUZZ_RUNS'] ?? 300));
const GROUP_DIR = path.join(POLICIES_DIR, 'security');

/** Reads `coverage`: without the cluster's nodes (the benchmark's server has none) it never reports, on either side. */
const NEEDS_NODES = new Set(['control-plane-coverage']);

/** Params other than the library's, so that the twins' use of each param is compared too. */
const VARIANTS: Record<string, Record<string, JsonObject>> = {
  'capabilities.yaml': { capabilities: { privilegedCapabilityNamespaces: ['kube-system', 'calico-system'], hostPathCapabilities: ['DAC_READ_SEARCH', 'NET_RAW'] } },
  'control-plane-tolerations.yaml': { 'control-plane-tolerations': { labelNamespaces: ['kube-system', 'monitoring'], taintKeys: ['node-role.kubernetes.io/control-plane', 'dedicated'] } },
  'host-namespaces.yaml': { 'host-namespaces': { hostNetworkNamespaces: ['kube-system', 'monitoring'], hostPIDNamespaces: [], hostIPCNamespaces: ['team-a'] } },
  'host-path.yaml': {
    'host-path': {
      allowedPaths: ['/', '//var/./log/', '/var/run/calico', '/etc/cni', '/proc', '/sys/fs', '/dev'],
      readOnlyPaths: ['/etc/localtime', '/var/run/calico'],
      procSysNamespaces: ['kube-system', 'monitoring'],
      deviceNamespaces: ['calico-system'],
    },
  },
  'host-ports.yaml': { 'host-ports': { allowedPorts: [8125, 9100] } },
  'privileged-namespaces.yaml': { 'privileged-namespaces': { allowedNamespaces: ['kube-system', 'monitoring'], namespaceLabel: 'example.com/trusted', namespaceLabelValue: 'yes' } },
};

const files = await groupUnderTest(GROUP_DIR, securityTwins, VARIANTS);
const corpus = await corpusCases();

describe('the security group twins', () => {
  it('has a twin for every policy of policies/security and nothing else', async () => {
    assertTwinForEveryPolicy(files, securityTwins);
  });

  it('decides as the engine on the repository DaemonSets and the benchmark payloads', () => {
    assertNotVacuous(compareCorpus(files, corpus), securityTwins, NEEDS_NODES, 6000, 150);
  });

  it('decides as the engine on the verify suites host-path escapes', () => {
    const escapes = corpus.filter((c) => c.id.includes('host-path') && c.object !== null);
    assert.ok(escapes.length >= 40, `only ${escapes.length} cases from the host-path suites (${SUITES_DIR})`);
    const tally = new Tally();
    for (const under of files.filter((f) => f.label.startsWith('host-path.yaml'))) for (const c of escapes) compareCase(under, c, tally);
    assert.ok((tally.violating.get('host-path') ?? 0) >= 20, `host-path reported on ${tally.violating.get('host-path') ?? 0} of its suites' cases`);
  });

  it('decides as the engine on spellings of paths that give the node away, and of what node agents mount', () => {
    const hostPathFiles = files.filter((f) => f.label.startsWith('host-path.yaml'));
    const tally = compareSampled(hostPathFiles, hostPathCase, RUNS * 4, 7);
    assert.equal(tally.compared.get('host-path'), RUNS * 4 * hostPathFiles.length);
    assert.ok((tally.violating.get('host-path') ?? 0) >= RUNS, `host-path reported on ${tally.violating.get('host-path') ?? 0} spellings`);
  });

  it('decides as the engine on a wide DaemonSet: 64 spelled hostPaths mounted by 16 containers, with capabilities and host ports', () => {
    const object = wideDaemonSet('wide', 16, 10, 4, 0);
    const pod = (object.spec as JsonObject).template as { spec: { volumes: JsonObject[]; containers: JsonObject[] } };
    pod.spec.volumes = fc.sample(hostPathSpelling, { numRuns: 64, seed: 3 }).map((p, i) => ({ name: `h${i}`, hostPath: { path: p } }));
    pod.spec.containers.forEach((c, j) => {
      c.volumeMounts = pod.spec.volumes.map((v, i) => ({ name: v.name as string, mountPath: `/h/${i}`, readOnly: (i + j) % 3 !== 0 }));
      c.securityContext = { capabilities: { add: ['NET_ADMIN', 'sys_time', 'DAC_READ_SEARCH'] } };
      c.ports = [{ containerPort: 9100 + j, hostPort: 9100 + j }];
    });
    const tally = new Tally();
    for (const under of files) compareCase(under, { id: 'wide DaemonSet', operation: 'CREATE', object, oldObject: null, namespace: 'team-a', namespaceObject: null }, tally);
    for (const name of ['capabilities', 'host-path', 'host-ports']) assert.ok((tally.violating.get(name) ?? 0) > 0, `${name} did not report on the wide DaemonSet`);
  });

  it('decides as the engine on generated DaemonSets (odd hostPath spellings, capabilities, tolerations, ports, SELinux types)', () => {
    const tally = compareSampled(files, generatedCase, RUNS, 16);
    assertNotVacuous(tally, securityTwins, NEEDS_NODES, RUNS, Math.ceil(RUNS / 20));
  });

  it('decides as the engine on random generated DaemonSets, shrinking a difference to a small case', () => {
    assert.equal(compareRandom(files, generatedCase, RUNS), RUNS);
  });
});
