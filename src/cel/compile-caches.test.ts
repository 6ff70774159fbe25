import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { packageFile } from '../common/package-root.js';
import { loadPolicySet } from '../policy/load-policies.js';
import { CelCompileError } from './program.js';
import { operationCacheSize, PolicyScope } from './policy-scope.js';

describe('the compiler’s caches', () => {
  it('keep the interpreted operations from growing when the same policies are loaded again, and under their limit', async () => {
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

  it('shares a program between policies whose expression and declared types are the same, and only then', () => {
    const expression = 'params.allowed.size() > 0';
    const first = new PolicyScope({ allowed: ['kube-system'] }).compile(expression, 'bool');
    const sameTypes = new PolicyScope({ allowed: ['monitoring', 'logging'] }).compile(expression, 'bool');
    assert.equal(sameTypes, first);
    // A string instead of a list of strings: another overload of size(), so another program.
    const otherTypes = new PolicyScope({ allowed: 'kube-system' }).compile(expression, 'bool');
    assert.notEqual(otherTypes, first);
    // Without the param, the check still refuses the expression: refusals are not cached as programs.
    assert.throws(() => new PolicyScope({}).compile(expression, 'bool'), CelCompileError);
    const withVariable = new PolicyScope({ allowed: ['kube-system'] });
    withVariable.declareVariable('n', 'int');
    assert.notEqual(withVariable.compile(expression, 'bool'), first);
  });
});
