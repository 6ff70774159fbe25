import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findDepthViolation, MAX_JSON_DEPTH } from './json-depth.js';

function nested(depth: number, leaf: unknown = null): unknown {
  let value = leaf;
  for (let i = 0; i < depth; i++) value = i % 2 === 0 ? [value] : { k: value };
  return value;
}

describe('findDepthViolation', () => {
  it('accepts scalars, flat values and nesting up to the limit', () => {
    assert.equal(findDepthViolation('x'), undefined);
    assert.equal(findDepthViolation(null), undefined);
    assert.equal(findDepthViolation({ a: [1, 2, { b: 'c' }] }), undefined);
    assert.equal(findDepthViolation(nested(MAX_JSON_DEPTH)), undefined);
  });

  it('finds the path to the first container past the limit', () => {
    assert.deepEqual(findDepthViolation({ a: { b: [{ c: {} }] }, d: 1 }, 3), ['a', 'b', 0]);
    assert.equal(findDepthViolation(nested(MAX_JSON_DEPTH + 1))?.length, MAX_JSON_DEPTH);
  });

  it('walks 100,000 levels without recursion', () => {
    const deep = JSON.parse('['.repeat(100_000) + ']'.repeat(100_000)) as unknown;
    const path = findDepthViolation(deep);
    assert.equal(path?.length, MAX_JSON_DEPTH);
    assert.ok(path?.every((key) => key === 0));
  });
});
