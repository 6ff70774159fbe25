import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { packageFile } from '../common/package-root.js';
import { loadPolicySet } from '../policy/load-policies.js';
import { CelCompileError, type CelActivation } from './program.js';
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
    // A variable the expression does not read checks it to the same types: the same program.
    const withVariable = new PolicyScope({ allowed: ['kube-system'] });
    withVariable.declareVariable('n', 'int');
    assert.equal(withVariable.compile(expression, 'bool'), first);
  });

  it('shares a program between policies that differ only in declarations the expression does not read', () => {
    const expression = 'size(variables.names) > 0 && params.limit > 1';
    const scope = (variables: Record<string, string>, params: Record<string, unknown>): PolicyScope => {
      const created = new PolicyScope(params);
      for (const [name, type] of Object.entries(variables)) created.declareVariable(name, type);
      return created;
    };
    const first = scope({ names: 'list<string>', other: 'int' }, { limit: 3, unused: 'x' }).compile(expression, 'bool');
    assert.equal(scope({ names: 'list<string>', more: 'bool' }, { limit: 5 }).compile(expression, 'bool'), first);
    // A variable it reads declared with another type (size() of a string): another program.
    const ofString = scope({ names: 'string', other: 'int' }, { limit: 3 }).compile(expression, 'bool');
    assert.notEqual(ofString, first);
    assert.equal(ofString.evaluate({ variables: { names: 'ab' }, params: { limit: 2n } } as unknown as CelActivation), true);
    // `variables` read as a whole: every declared variable is part of what it sees.
    const whole = "[variables].size() == 1 && variables.names == ['a']";
    const wholeFirst = scope({ names: 'list<string>' }, {}).compile(whole, 'bool');
    assert.notEqual(scope({ names: 'list<string>', other: 'int' }, {}).compile(whole, 'bool'), wholeFirst);
  });

  it('does not let the program a native policy compiled stand in for the check of a DaemonSetPolicy', () => {
    const misspelt = "object.spec.tempalte.metadata.name == 'x'";
    // A native policy's object is dyn: the misspelt field is an error only when evaluated.
    new PolicyScope(undefined, { hasParams: false }).compile(misspelt, 'bool');
    assert.throws(() => new PolicyScope(undefined).compile(misspelt, 'bool'), (error: unknown) => error instanceof CelCompileError && error.kind === 'type');
  });
});
