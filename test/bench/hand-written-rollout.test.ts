// The hand-written twins of policies/rollout/* (bench/hand-written/rollout.ts) decide as the engine
// does: the same violations, in the same order, with the same messages and actions, on the repository's
// DaemonSets (examples, verify suites, upstream Pod Security fixtures), the benchmark's payloads and
// generated DaemonSets (images, resources, update strategies, host ports), with the library's params and
// with changed ones (a registry allowlist, required digests, init containers left out, other thresholds).
//
// DAEMONGUARD_FUZZ_RUNS sets the number of generated DaemonSets per file (default 300).
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { rolloutTwins } from '../../bench/hand-written/rollout.js';
import type { JsonObject } from '../../src/common/vocabulary.js';
import { POLICIES_DIR } from '../support/library-paths.js';
import { assertNotVacuous, assertTwinForEveryPolicy, compareCorpus, compareRandom, compareSampled, corpusCases, generatedCase, groupUnderTest } from '../support/twin-differential.js';

const RUNS = Math.max(1, Number(process.env['DAEMONGUARD_FUZZ_RUNS'] ?? 300));
const GROUP_DIR = path.join(POLICIES_DIR, 'rollout');

/** Reads `coverage`: without the cluster's nodes (the benchmark's server has none) it never reports, on either side. */
const NEEDS_NODES = new Set(['footprint']);

/** Params other than the library's, so that the twins' use of each param is compared too. */
const VARIANTS: Record<string, Record<string, JsonObject>> = {
  'image-references.yaml': {
    'image-references': {
      floatingTags: ['latest', 'v1', 'dev'],
      allowedRegistries: ['registry.k8s.io', 'quay.io/cilium', 'docker.io/calico', 'docker.io/library', 'localhost:5000', 'ghcr.io'],
      requireDigest: true,
    },
  },
  'resources.yaml': { resources: { includeInitContainers: false, requireCpuRequest: false, requireMemoryLimit: false, requireCpuLimit: true } },
  'rollout-safety.yaml': { 'rollout-safety': { maxUnavailablePercentThreshold: 25, maxUnavailableCountThreshold: 3 } },
};

const files = await groupUnderTest(GROUP_DIR, rolloutTwins, VARIANTS);
const corpus = await corpusCases();

describe('the rollout group twins', () => {
  it('has a twin for every policy of policies/rollout and nothing else', () => {
    assertTwinForEveryPolicy(files, rolloutTwins);
  });

  it('decides as the engine on the repository DaemonSets and the benchmark payloads', () => {
    assertNotVacuous(compareCorpus(files, corpus), rolloutTwins, NEEDS_NODES, 6000, 60);
  });

  it('decides as the engine on generated DaemonSets (images, resources, update strategies, host ports)', () => {
    const tally = compareSampled(files, generatedCase, RUNS, 16);
    assertNotVacuous(tally, rolloutTwins, NEEDS_NODES, RUNS, Math.ceil(RUNS / 20));
  });

  it('decides as the engine on random generated DaemonSets, shrinking a difference to a small case', () => {
    assert.equal(compareRandom(files, generatedCase, RUNS), RUNS);
  });
});
