// serve's own cost in `npm run bench` (bench/serve-floor.ts): the one-policy library it serves is a
// policy the real loader accepts and that lets every bench review through the engine, allowed and
// unchanged; and daemonguard's CPU per request over the floor splits into serve's part and the
// library's from the same round's three measurements, medians over rounds.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeAdmissionReview } from '../../src/admission/admission-review.js';
import { review } from '../../src/engine/review.js';
import { loadPolicySet } from '../../src/policy/load-policies.js';
import type { PolicySet } from '../../src/policy/types.js';
import { parseNamespaces } from '../../src/server/namespace-catalog.js';
import { TRIVIAL_POLICY_NAME, cpuSplit, handWrittenInServeShare, writeTrivialPolicyDir } from '../../bench/serve-floor.js';
import { NAMESPACES_YAML, reviewTemplate } from '../../bench/webhook-payloads.js';

describe("serve's own cost: the trivial policy", () => {
  let work = '';
  let dir = '';
  let set: PolicySet;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'daemonguard-serve-floor-'));
    dir = await writeTrivialPolicyDir(work);
    set = await loadPolicySet([dir]);
  });

  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('is one file holding one DaemonSetPolicy with one validation, which the loader accepts', async () => {
    assert.deepEqual(await readdir(dir), [`${TRIVIAL_POLICY_NAME}.yaml`]);
    assert.deepEqual(
      set.policies.map((p) => p.name),
      [TRIVIAL_POLICY_NAME],
    );
    const [policy] = set.policies;
    assert.equal(policy!.validations.length, 1);
    assert.equal(policy!.validations[0]!.expression.program.source, 'true');
    assert.deepEqual([policy!.matchConditions.length, policy!.variables.length, policy!.mutations.length], [0, 0, 0]);
    assert.deepEqual(set.mutatingPolicies, []);
    assert.deepEqual(set.notes ?? [], []);
  });

  for (const payload of ['small', 'large'] as const) {
    it(`passes the bench's ${payload} review through the engine, allowed, without a patch or warning`, () => {
      const decoded = decodeAdmissionReview(reviewTemplate(payload));
      assert.ok(decoded.ok, decoded.ok ? '' : decoded.message);
      const namespaceObject = parseNamespaces(NAMESPACES_YAML, 'namespaces').get(decoded.request.namespace ?? '') ?? null;
      const validated = review(decoded.request, set, { phase: 'validate', namespaceObject });
      // Matched and evaluated, not skipped: serve does a policy's work for the review, however little.
      assert.deepEqual(validated.outcomes, [{ policy: TRIVIAL_POLICY_NAME, result: 'pass' }]);
      assert.equal(validated.allowed, true);
      assert.deepEqual([validated.violations, validated.warnings], [[], []]);
      const mutated = review(decoded.request, set, { phase: 'mutate', namespaceObject });
      assert.equal(mutated.allowed, true);
      assert.deepEqual(mutated.patch, []);
    });
  }
});

describe("serve's own cost: the split of daemonguard's CPU per request over the floor", () => {
  it('is serve = trivial − floor and policy library = daemonguard − trivial, each the median of the rounds', () => {
    const split = cpuSplit([
      { floor: 60, trivial: 76, daemonguard: 158 },
      { floor: 62, trivial: 80, daemonguard: 170 },
      { floor: 58, trivial: 75, daemonguard: 150 },
    ]);
    // Rounds' differences: over the floor 98, 108, 92; serve 16, 18, 17; library 82, 90, 75.
    assert.deepEqual(split, { overFloor: 98, serve: 17, library: 82 });
  });

  it("takes each round's difference before the median, not the difference of the servers' medians", () => {
    // The second round ran on a busier machine for all three servers.
    const rounds = [
      { floor: 50, trivial: 70, daemonguard: 150 },
      { floor: 60, trivial: 75, daemonguard: 160 },
      { floor: 100, trivial: 130, daemonguard: 240 },
    ];
    const split = cpuSplit(rounds);
    // Per round, serve: 20, 15, 30 → 20 (medians per server would give 75 − 60 = 15).
    assert.equal(split.serve, 20);
    // Per round, library: 80, 85, 110 → 85 (medians per server: 160 − 75 = 85 as well).
    assert.equal(split.library, 85);
    // Per round, over the floor: 100, 100, 140 → 100.
    assert.equal(split.overFloor, 100);
  });

  it('averages the middle two of an even number of rounds, and leaves out a round without /proc', () => {
    const split = cpuSplit([
      { floor: 60, trivial: 70, daemonguard: 150 },
      { floor: 60, trivial: 80, daemonguard: 150 },
      { floor: Number.NaN, trivial: Number.NaN, daemonguard: Number.NaN },
    ]);
    assert.deepEqual(split, { overFloor: 90, serve: 15, library: 75 });
  });

  it('is not a number when no round could read CPU time', () => {
    const split = cpuSplit([{ floor: Number.NaN, trivial: Number.NaN, daemonguard: Number.NaN }]);
    assert.ok(Number.isNaN(split.serve) && Number.isNaN(split.library) && Number.isNaN(split.overFloor));
  });
});

describe("serve's own cost: the share of the floor a serve with hand-written-fast checks would reach", () => {
  it('is floor / (trivial + hand-written − floor): serve\'s own work plus the checks\' cost over the floor', () => {
    // serve's own work 13 µs, the checks 16 µs over the floor: 57 / 86.
    assert.equal(handWrittenInServeShare([{ floor: 57, trivial: 70, handWritten: 73 }]), 57 / 86);
  });

  it("is the median of the rounds' shares, each round's servers taken together", () => {
    const share = handWrittenInServeShare([
      { floor: 50, trivial: 60, handWritten: 65 }, // 50 / 75 = 0.667
      { floor: 60, trivial: 75, handWritten: 70 }, // 60 / 85 = 0.706
      { floor: 100, trivial: 140, handWritten: 120 }, // 100 / 160 = 0.625, a busier round for all three
    ]);
    // The servers' medians taken apart (60, 75, 70) would give 60 / 85 instead.
    assert.equal(share, 50 / 75);
  });

  it('leaves out a round without /proc, and is not a number when no round could read CPU time', () => {
    assert.equal(handWrittenInServeShare([{ floor: 50, trivial: 60, handWritten: 65 }, { floor: Number.NaN, trivial: Number.NaN, handWritten: Number.NaN }]), 50 / 75);
    assert.ok(Number.isNaN(handWrittenInServeShare([{ floor: Number.NaN, trivial: 70, handWritten: 73 }])));
  });
});
