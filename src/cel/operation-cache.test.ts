import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { packageFile } from '../common/package-root.js';
import { loadPolicySet } from '../policy/load-policies.js';
import { operationCacheSize } from './policy-scope.js';

describe('the compiler’s cache of interpreted operations', () => {
  it('does not grow when the same policies are loaded again, and stays under its limit', async () => {
    const library = packageFile('policies');
    await loadPolicySet([library]);
    const first = operationCacheSize();
    assert.ok(first.operations > 0, 'the library compiles some operations for the slow path');
    for (let reload = 0; reload < 3; reload++) await loadPolicySet([library]);
    const after = operationCacheSize();
    assert.equal(after.operations, first.operations);
    assert.equal(after.environments, first.environments);
    assert.ok(after.operations <= after.limits[0] && after.environments <= after.limits[1]);
  });
});
