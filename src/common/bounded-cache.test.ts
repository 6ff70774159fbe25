import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BoundedCache } from './bounded-cache.js';

describe('BoundedCache', () => {
  it('keeps at most its limit, forgetting the entry added first', () => {
    const cache = new BoundedCache<number>(3);
    for (let i = 0; i < 10; i++) cache.set(`k${i}`, i);
    assert.equal(cache.size, 3);
    assert.equal(cache.get('k6'), undefined);
    assert.deepEqual(['k7', 'k8', 'k9'].map((k) => cache.get(k)), [7, 8, 9]);
  });

  it('counts a replaced key once and treats it as the newest', () => {
    const cache = new BoundedCache<string>(2);
    cache.set('a', '1');
    cache.set('b', '2');
    cache.set('a', '3');
    cache.set('c', '4');
    assert.equal(cache.size, 2);
    assert.equal(cache.get('b'), undefined);
    assert.equal(cache.get('a'), '3');
  });

  it('refuses a limit that is not a positive integer', () => {
    assert.throws(() => new BoundedCache(0), /positive integer, got 0/);
  });
});
