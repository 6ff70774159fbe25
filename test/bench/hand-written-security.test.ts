// The hand-written twins of policies/security/* (bench/hand-written/security.ts) decide as the engine
// does: the same violations, in the same order, with the same messages and actions, on the repository's
// DaemonSets (examples, verify suites with their host-path escapes, upstream Pod Security fixtures), the
// benchmark's payloads and generated DaemonSets, with the library's params and with changed ones.
//
// DAEMONGUARD_FUZZ_RUNS sets the number of generated DaemonSets per file (default 300).
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { securityTwins } from '../../bench/hand-written/security.js';
import type { JsonObject } from '../../src/common/vocabulary.js';
import { POLICIES_DIR, SUITES_DIR } from '../support/library-paths.js';
import { compareCase, corpusCases, fileUnderTest, generatedCase, Tally, type DifferentialCase, type FileUnderTest } from '../support/twin-differential.js';

const RUNS = Math.max(1, Number(process.env['DAEMONGUARD_FUZZ_RUNS'] ?? 300));
const GROUP_DIR = path.join(POLICIES_DIR, 'security');
const FILES = (await readdir(GROUP_DIR)).filter((f) => f.endsWith('.yaml')).sort();

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

async function filesUnderTest(): Promise<FileUnderTest[]> {
  const loaded: FileUnderTest[] = [];
  for (const file of FILES) {
    const full = path.join(GROUP_DIR, file);
    loaded.push(await fileUnderTest(full, securityTwins));
    const variant = VARIANTS[file];
    if (variant !== undefined) loaded.push(await fileUnderTest(full, securityTwins, variant));
  }
  return loaded;
}

const files = await filesUnderTest();
const corpus = await corpusCases();

/** Asserts each policy was compared at least `compared` times and reported (by the engine) at least `violating` times. */
function assertNotVacuous(tally: Tally, compared: number, violating: number): void {
  for (const name of Object.keys(securityTwins.validating)) {
    assert.ok((tally.compared.get(name) ?? 0) >= compared, `${name}: only ${tally.compared.get(name) ?? 0} cases compared, expected at least ${compared}`);
    if (NEEDS_NODES.has(name)) {
      assert.equal(tally.violating.get(name) ?? 0, 0, `${name} reported without nodes`);
    } else {
      assert.ok((tally.violating.get(name) ?? 0) >= violating, `${name}: the engine reported violations in ${tally.violating.get(name) ?? 0} cases, expected at least ${violating}`);
    }
  }
}

describe('the security group twins', () => {
  it('has a twin for every policy of policies/security and nothing else', async () => {
    const names = new Set(files.flatMap((f) => f.policySet.policies.map((p) => p.name)));
    assert.deepEqual([...names].sort(), Object.keys(securityTwins.validating).sort());
    assert.deepEqual(securityTwins.mutating, {});
  });

  it('decides as the engine on the repository DaemonSets and the benchmark payloads', () => {
    const tally = new Tally();
    for (const under of files) for (const c of corpus) compareCase(under, c, tally);
    // 7 policies, most with a variant, over every corpus case; corpus: ~50 suite and example objects, ~150 fixtures, x10.
    assert.ok(corpus.length >= 1500, `only ${corpus.length} corpus cases`);
    assertNotVacuous(tally, 3000, 40);
  });

  it('decides as the engine on the verify suites host-path escapes', () => {
    const escapes = corpus.filter((c) => c.id.includes('host-path') && c.object !== null);
    assert.ok(escapes.length >= 40, `only ${escapes.length} cases from the host-path suites (${SUITES_DIR})`);
    const tally = new Tally();
    for (const under of files.filter((f) => f.label.startsWith('host-path.yaml'))) for (const c of escapes) compareCase(under, c, tally);
    assert.ok((tally.violating.get('host-path') ?? 0) >= 20, `host-path reported on ${tally.violating.get('host-path') ?? 0} of its suites' cases`);
  });

  it('decides as the engine on generated DaemonSets (odd hostPath spellings, capabilities, tolerations, ports, SELinux types)', () => {
    const tally = new Tally();
    const cases: DifferentialCase[] = fc.sample(generatedCase, { numRuns: RUNS, seed: 16 });
    for (const under of files) for (const c of cases) compareCase(under, c, tally);
    assertNotVacuous(tally, RUNS, Math.ceil(RUNS / 20));
  });

  it('decides as the engine on random generated DaemonSets, shrinking a difference to a small case', () => {
    let compared = 0;
    fc.assert(
      fc.property(generatedCase, (c) => {
        const tally = new Tally();
        for (const under of files) compareCase(under, c, tally);
        compared++;
      }),
      { numRuns: RUNS },
    );
    assert.equal(compared, RUNS);
  });
});
