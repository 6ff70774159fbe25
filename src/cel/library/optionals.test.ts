import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Optional } from '@marcbachmann/cel-js';
import { toCelValue } from '../values.js';
import { errorOf, evaluate, evaluateWith } from '../../../test/support/evaluate-cel.js';

describe('optional types', () => {
  const object = toCelValue({ metadata: { labels: { app: 'agent' } }, spec: { template: { spec: { containers: [{ name: 'a' }] } } } });

  it('?. and [?] select without failing on absent fields', () => {
    assert.equal(evaluateWith("object.metadata.?labels[?'app'].orValue('none')", { object }), 'agent');
    assert.equal(evaluateWith("object.metadata.?annotations[?'x'].orValue('none')", { object }), 'none');
    assert.equal(evaluateWith('object.spec.template.spec.?initContainers.orValue([]).size()', { object }), 0n);
    assert.equal(evaluateWith('object.spec.template.spec.containers[?0].hasValue()', { object }), true);
    assert.equal(evaluateWith('object.spec.template.spec.containers[?5].hasValue()', { object }), false);
    assert.equal(evaluateWith("object.?spec.?template.?spec.?hostNetwork.orValue(false)", { object }), false);
  });

  it('optional.of, optional.none, hasValue, value, or, orValue', () => {
    assert.equal(evaluate('optional.of(1).hasValue()'), true);
    assert.equal(evaluate('optional.none().hasValue()'), false);
    assert.equal(evaluate('optional.of(1).value()'), 1n);
    assert.match(errorOf(() => evaluate('optional.none().value()')), /Optional value is not present/);
    assert.equal(evaluate('optional.none().or(optional.of(2)).value()'), 2n);
    assert.equal(evaluate('optional.of(1).or(optional.of(2)).value()'), 1n);
    assert.equal(evaluate('optional.none().orValue(3)'), 3n);
    assert.ok(evaluate('optional.none()') instanceof Optional);
  });

  it('optional.ofNonZeroValue treats zero values as absent', () => {
    for (const zero of ['0', '0u', '0.0', "''", "b''", 'false', 'null', '[]', '{}', "duration('0s')"]) {
      assert.equal(evaluate(`optional.ofNonZeroValue(${zero}).hasValue()`), false, zero);
    }
    for (const value of ['1', "'a'", 'true', '[0]', "{'a': 0}"]) {
      assert.equal(evaluate(`optional.ofNonZeroValue(${value}).hasValue()`), true, value);
    }
  });

  it('optMap and optFlatMap', () => {
    assert.equal(evaluate('optional.of(42).optMap(y, y + 1).value()'), 43n);
    assert.equal(evaluate('optional.none().optMap(y, y + 1).hasValue()'), false);
    assert.equal(evaluate("{'key': {'subkey': 'v'}}.?key.optFlatMap(k, k.?subkey).value()"), 'v');
    assert.equal(evaluate("{'key': {}}.?key.optFlatMap(k, k.?subkey).hasValue()"), false);
  });

  it('compares optionals', () => {
    assert.equal(evaluate('optional.of(1) == optional.of(1)'), true);
    assert.equal(evaluate('optional.none() == optional.none()'), true);
    assert.equal(evaluate('optional.of(1) != optional.none()'), true);
  });
});
