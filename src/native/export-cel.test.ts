// The CEL rewriting export does: params as literals, map values in dyn(), string literals untouched.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { adaptExpression, celLiteral, dynMapValues, inlineParams, readsIdentifier, UndeclaredParamError } from './export-cel.js';

describe('celLiteral', () => {
  it('writes JSON as CEL literals, escaping quotes, backslashes and newlines in strings', () => {
    assert.equal(celLiteral({ a: [1, 'it\'s', true, null], 'b\\c': 'x\ny' }), "{'a': [1, 'it\\'s', true, null], 'b\\\\c': 'x\\ny'}");
  });
});

describe('inlineParams', () => {
  const params = { names: ['kube-system'], label: 'team', limit: 3 };

  it('replaces params.<name> wherever it is read, also as an optional index key', () => {
    assert.equal(inlineParams("request.namespace in params.names && object.metadata.?labels[?params.label].hasValue()", params), "request.namespace in ['kube-system'] && object.metadata.?labels[?'team'].hasValue()");
  });

  it('leaves fields named params and string literals alone', () => {
    assert.equal(inlineParams("object.params.limit == 1 || 'params.limit' == x.?params.limit", params), "object.params.limit == 1 || 'params.limit' == x.?params.limit");
  });

  it('refuses a parameter the policy does not declare', () => {
    assert.throws(() => inlineParams('params.missing', params), UndeclaredParamError);
  });
});

describe('dynMapValues', () => {
  it('wraps each map value, nested maps too, and leaves ternaries inside values alone', () => {
    assert.equal(dynMapValues("{'a': x ? 1 : 2, 'b': {'c': [1]}}"), "{'a': dyn(x ? 1 : 2), 'b': dyn({'c': dyn([1])})}");
  });

  it('leaves message constructions and braces inside strings alone', () => {
    assert.equal(dynMapValues("[JSONPatch{op: 'add', path: '/a{b:c}', value: {'k': 1}}]"), "[JSONPatch{op: 'add', path: '/a{b:c}', value: {'k': dyn(1)}}]");
  });

  it("treats `in {...}` as a map, not a construction", () => {
    assert.equal(dynMapValues("'a' in {'a': 1}"), "'a' in {'a': dyn(1)}");
  });
});

describe('readsIdentifier', () => {
  it('finds a top-level variable, not a field or a word in a string', () => {
    assert.equal(readsIdentifier('size(coverage.nodes) > 0', 'coverage'), true);
    assert.equal(readsIdentifier("object.coverage == 'coverage' && x.?coverage.hasValue()", 'coverage'), false);
  });
});

describe('adaptExpression', () => {
  it('inlines params, then wraps map values (a map of a param list and a string compiles natively)', () => {
    assert.equal(adaptExpression("{'allowed': params.names, 'who': request.namespace}", { names: ['a'] }), "{'allowed': dyn(['a']), 'who': dyn(request.namespace)}");
  });
});
