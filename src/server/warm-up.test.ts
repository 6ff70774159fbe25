// The warm-up a policy set gets before it serves: real policies, the real engine, the sample reviews.
// What is tested is what it does (which reviews, in which phases, within which bound, what it leaves
// behind), never how fast the first review is afterwards: that is for npm run bench:latency.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeAdmissionReview } from '../admission/admission-review.js';
import { review } from '../engine/review.js';
import type { AdmissionRequest, Decision, JsonObject, ReviewContext, ReviewPhase } from '../engine/types.js';
import { loadPolicySet } from '../policy/load-policies.js';
import type { PolicySet } from '../policy/types.js';
import { POLICIES_DIR } from '../../test/support/library-paths.js';
import { admissionReview, ALWAYS_ERRORING_POLICY, daemonSet, temporaryDirectory, TEST_POLICIES, writeFiles } from '../../test/support/server-fixtures.js';
import { warmUpPolicySet } from './warm-up.js';
import { WARM_UP_NAMESPACES, warmUpReviewBodies } from './warm-up-reviews.js';

async function loadFrom(files: Record<string, string>): Promise<PolicySet> {
  const dir = await temporaryDirectory('daemonguard-warm-up-');
  await writeFiles(dir, files);
  return loadPolicySet([dir]);
}

interface Call {
  operation: string;
  phase: ReviewPhase;
  namespace: string | undefined;
  deadline: number | undefined;
}

function recording(calls: Call[], inner: (request: AdmissionRequest, set: PolicySet, context: ReviewContext) => Decision = review) {
  return (request: AdmissionRequest, set: PolicySet, context: ReviewContext): Decision => {
    calls.push({ operation: request.operation, phase: context.phase, namespace: request.namespace, deadline: context.deadline });
    return inner(request, set, context);
  };
}

describe('warm-up sample reviews', () => {
  it('are valid AdmissionReviews of DaemonSets: CREATE, UPDATE and DELETE, in namespaces of each Pod Security level, one over the 10 KB that takes the full body measurement', () => {
    const bodies = warmUpReviewBodies();
    const operations = new Set<string>();
    for (const body of bodies) {
      const decoded = decodeAdmissionReview(JSON.parse(body));
      assert.ok(decoded.ok, decoded.ok ? '' : decoded.message);
      assert.equal(decoded.request.kind.kind, 'DaemonSet');
      assert.ok(decoded.request.namespace !== undefined && decoded.request.namespace in WARM_UP_NAMESPACES, `namespace ${decoded.request.namespace} has a Namespace object`);
      operations.add(decoded.request.operation);
    }
    assert.deepEqual([...operations].sort(), ['CREATE', 'DELETE', 'UPDATE']);
    assert.ok(bodies.some((body) => Buffer.byteLength(body) > 10_000));
  });

  it('include one as large as a big CNI agent’s (a dozen hostPath volumes, dozens of env entries, init containers), in a namespace that allows it and one that does not', () => {
    const large = warmUpReviewBodies()
      .map((body) => (JSON.parse(body) as { request: { namespace: string; object: JsonObject | null } }).request)
      .filter((request) => {
        const spec = ((request.object?.['spec'] as JsonObject | undefined)?.['template'] as JsonObject | undefined)?.['spec'] as JsonObject | undefined;
        const hostPaths = ((spec?.['volumes'] ?? []) as JsonObject[]).filter((volume) => volume['hostPath'] !== undefined).length;
        const env = ((spec?.['containers'] ?? []) as JsonObject[]).reduce((sum, container) => sum + ((container['env'] ?? []) as unknown[]).length, 0);
        return hostPaths >= 10 && env >= 50 && ((spec?.['initContainers'] ?? []) as unknown[]).length >= 2;
      });
    assert.deepEqual(large.map((request) => request.namespace).sort(), ['kube-system', 'tenants']);
  });
});

describe('warmUpPolicySet', () => {
  it('runs every sample in both phases through the engine, the built-in library without an evaluation error', async () => {
    const set = await loadPolicySet([POLICIES_DIR]);
    const calls: Call[] = [];
    const report = await warmUpPolicySet(set, { review: recording(calls), budgetMs: 60_000, evalDeadlineMs: 10_000 });
    const samples = warmUpReviewBodies().length;
    assert.equal(report.complete, true);
    assert.equal(report.reviews, calls.length);
    assert.ok(report.reviews >= 2 * samples, `${report.reviews} reviews`);
    for (const phase of ['mutate', 'validate'] as const) {
      assert.deepEqual(new Set(calls.filter((call) => call.phase === phase).map((call) => call.operation)), new Set(['CREATE', 'UPDATE', 'DELETE']));
    }
    assert.equal(report.withErrors, 0, 'the library evaluates typical DaemonSets without errors');
  });

  it('leaves the set as it was: a real review decides the same after the warm-up as on a set never warmed up', async () => {
    const warmed = await loadFrom({ 'policies.yaml': TEST_POLICIES });
    const fresh = await loadFrom({ 'policies.yaml': TEST_POLICIES });
    await warmUpPolicySet(warmed, { review, budgetMs: 60_000, evalDeadlineMs: 10_000 });
    const decoded = decodeAdmissionReview(admissionReview('CREATE', daemonSet({ privileged: true, hostNetwork: true }), { namespace: 'default' }));
    assert.ok(decoded.ok);
    for (const phase of ['mutate', 'validate'] as const) {
      const context = { phase, now: Date.parse('2026-12-05T00:00:00Z') };
      assert.deepEqual(review(decoded.request, warmed, context), review(decoded.request, fresh, context));
    }
  });

  it('counts, and does not throw for, a policy that errors on every sample or an engine that throws', async () => {
    const set = await loadFrom({ 'policies.yaml': TEST_POLICIES, 'errors.yaml': ALWAYS_ERRORING_POLICY });
    const report = await warmUpPolicySet(set, { review, budgetMs: 60_000, evalDeadlineMs: 10_000 });
    assert.equal(report.complete, true);
    assert.ok(report.withErrors > 0 && report.withErrors <= report.reviews, JSON.stringify(report));

    const throwing = await warmUpPolicySet(set, {
      review: () => {
        throw new Error('engine fault');
      },
      budgetMs: 60_000,
      evalDeadlineMs: 10_000,
    });
    assert.equal(throwing.complete, true);
    assert.equal(throwing.withErrors, throwing.reviews);
  });

  it('stops starting samples once its budget is spent, and gives none a deadline past it', async () => {
    const set = await loadFrom({ 'policies.yaml': TEST_POLICIES });
    const calls: Call[] = [];
    const started = performance.now();
    // Each sample takes 30 ms of the 100 ms budget.
    const slow = recording(calls, (request, policySet, context) => {
      const until = performance.now() + 30;
      while (performance.now() < until);
      return review(request, policySet, context);
    });
    const report = await warmUpPolicySet(set, { review: slow, budgetMs: 100, evalDeadlineMs: 10_000 });
    assert.equal(report.complete, false);
    assert.ok(report.reviews >= 1 && report.reviews < 2 * warmUpReviewBodies().length, JSON.stringify(report));
    for (const call of calls) assert.ok(call.deadline !== undefined && call.deadline <= started + 100 + 1, 'a sample gets no deadline past the budget');
  });
});
