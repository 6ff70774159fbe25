// The twins' per-policy timing that `bench/code-size.ts --cold` prints beside the engine's
// (bench/hand-written/cost-by-policy.ts): every twin of the phase gets a row, each review is a fresh
// one, only the cold reviews follow the eviction, and on /mutate each twin sees the object with the
// operations of the twins before it, as the hand-written server runs them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { JsonObject } from '../../src/common/vocabulary.js';
import { handWrittenCostByPolicy } from '../../bench/hand-written/cost-by-policy.js';
import { loadHandWrittenLibrary, type HandWrittenLibrary } from '../../bench/hand-written/library.js';
import type { HandWrittenReview } from '../../bench/hand-written/policy.js';
import { POLICIES_DIR } from '../support/library-paths.js';

function reviewOf(object: JsonObject): HandWrittenReview {
  return { operation: 'CREATE', object, oldObject: null, namespace: 'monitoring', namespaceObject: null, request: {} };
}

describe('the hand-written twins timed per policy', () => {
  it('gives every validating twin of the library a row, in its order, with finite warm and cold medians', () => {
    const library = loadHandWrittenLibrary(POLICIES_DIR);
    let reviews = 0;
    const evicted: number[] = [];
    const costs = handWrittenCostByPolicy(library, {
      phase: 'validate',
      review: () => {
        reviews++;
        return reviewOf({ apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'a' }, spec: { template: { spec: { containers: [{ name: 'c', image: 'c:1' }] } } } });
      },
      evict: (round) => evicted.push(round),
      reviews: 5,
    });
    assert.deepEqual([...costs.byPolicy.keys()], library.validating.map((twin) => twin.name));
    for (const [name, cost] of costs.byPolicy) {
      assert.ok(Number.isFinite(cost.warm) && cost.warm >= 0, `${name}: warm ${cost.warm}`);
      assert.ok(Number.isFinite(cost.cold) && cost.cold >= 0, `${name}: cold ${cost.cold}`);
    }
    assert.ok(Number.isFinite(costs.total.warm) && Number.isFinite(costs.total.cold));
    // Five reviews of each kind to warm up, five counted: a fresh review for each, an eviction before each cold one.
    assert.equal(reviews, 20);
    assert.deepEqual(evicted, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('runs the mutating twins in turn, each on the object the ones before it patched', () => {
    const seen: JsonObject[] = [];
    const library: HandWrittenLibrary = {
      validating: [],
      reasons: new Map(),
      mutating: [
        { name: 'first', mutate: () => [{ op: 'add', path: '/spec/minReadySeconds', value: 10 }] },
        {
          name: 'second',
          mutate: (_review, object) => {
            seen.push(object);
            return [];
          },
        },
      ],
    };
    const costs = handWrittenCostByPolicy(library, { phase: 'mutate', review: () => reviewOf({ spec: {} }), evict: () => undefined, reviews: 2 });
    assert.deepEqual([...costs.byPolicy.keys()], ['first', 'second']);
    assert.equal(seen.length, 8);
    for (const object of seen) assert.deepEqual(object, { spec: { minReadySeconds: 10 } });
  });
});
