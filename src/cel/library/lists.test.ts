import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toCelValue } from '../values.js';
import { errorOf, evaluate, evaluateWith, typeChecks } from '../../../test/support/evaluate-cel.js';

describe('lists library', () => {
  it('isSorted on the comparable types', () => {
    assert.equal(evaluate('[1, 2, 3].isSorted()'), true);
    assert.equal(evaluate("['a', 'b', 'b', 'c'].isSorted()"), true);
    assert.equal(evaluate('[2.0, 1.0].isSorted()'), false);
    assert.equal(evaluate('[1].isSorted()'), true);
    assert.equal(evaluate('[].isSorted()'), true);
    assert.equal(evaluate('[1u, 2u].isSorted()'), true);
    assert.equal(evaluate('[false, true].isSorted()'), true);
    assert.equal(evaluate("[b'a', b'b'].isSorted()"), true);
    assert.equal(evaluate("[duration('1s'), duration('1m')].isSorted()"), true);
    assert.equal(evaluate("[timestamp('2024-01-02T00:00:00Z'), timestamp('2024-01-01T00:00:00Z')].isSorted()"), false);
  });

  it('orders strings by code point, as Go compares UTF-8', () => {
    // U+FF5E sorts before U+1F600 by code point, but after it by UTF-16 unit.
    assert.equal(evaluate("['\\uff5e', '\\U0001F600'].isSorted()"), true);
  });

  it('refuses element types that are not comparable', () => {
    assert.equal(typeChecks('[{}, {}].isSorted()'), false);
    assert.equal(typeChecks('[[1], [2]].min()'), false);
  });

  it('sum adds numbers and durations, empty lists sum to zero', () => {
    assert.equal(evaluate('[1, 3].sum()'), 4n);
    assert.equal(evaluate('[1.0, 3.5].sum()'), 4.5);
    assert.equal(String(evaluate('[1u, 2u].sum()')), '3');
    assert.equal(evaluate('[].sum()'), 0n);
    assert.equal(evaluate("[duration('1m'), duration('1s')].sum() == duration('61s')"), true);
    assert.equal(errorOf(() => evaluate('[9223372036854775807, 1].sum()')), 'integer overflow');
    assert.equal(typeChecks("['a'].sum()"), false);
  });

  it('min and max, with an error on an empty list', () => {
    assert.equal(evaluate('[1, 3].min()'), 1n);
    assert.equal(evaluate('[1, 3].max()'), 3n);
    assert.equal(evaluate("['b', 'a', 'c'].max()"), 'c');
    assert.equal(evaluate('[1].min()'), 1n);
    assert.equal(evaluate('([0] + []).min()'), 0n);
    assert.equal(errorOf(() => evaluate('[].min()')), 'min called on empty list');
    assert.equal(errorOf(() => evaluate('[].max()')), 'max called on empty list');
  });

  it('indexOf and lastIndexOf use CEL equality', () => {
    assert.equal(evaluate('[1, 2, 2, 3].indexOf(2)'), 1n);
    assert.equal(evaluate("['a', 'b', 'b', 'c'].lastIndexOf('b')"), 2n);
    assert.equal(evaluate('[1.0].indexOf(1.1)'), -1n);
    assert.equal(evaluate("[].indexOf('string')"), -1n);
    assert.equal(evaluate("[{'a': [1]}, {'a': [2]}].indexOf({'a': [2]})"), 1n);
    assert.equal(typeChecks('[1, 2].indexOf(2.0)'), false);
  });

  it('works on JSON data typed dyn', () => {
    const object = toCelValue({ spec: { ports: [80, 443, 8080], names: ['b', 'a'] } });
    assert.equal(evaluateWith('object.spec.ports.isSorted()', { object }), true);
    assert.equal(evaluateWith('object.spec.ports.max()', { object }), 8080n);
    assert.equal(evaluateWith('object.spec.names.isSorted()', { object }), false);
    assert.equal(evaluateWith("object.spec.names.indexOf('a')", { object }), 1n);
  });
});
