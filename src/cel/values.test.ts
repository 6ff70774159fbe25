import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Optional } from '@marcbachmann/cel-js';
import { Duration, UnsignedInt } from '@marcbachmann/cel-js/evaluator';
import { newBaseEnvironment } from './base-environment.js';
import { measureCost } from './cost.js';
import { PolicyScope } from './policy-scope.js';
import type { CelActivation } from './program.js';
import { formatGoDuration, fromCelValue, toCelValue, withFastMaps } from './values.js';

describe('toCelValue', () => {
  it('turns integral numbers into BigInt and keeps other numbers as doubles', () => {
    assert.deepEqual(toCelValue({ a: 1, b: 1.5, c: -0, d: [2, 3.25] }), Object.assign(Object.create(null), { a: 1n, b: 1.5, c: 0n, d: [2n, 3.25] }));
    assert.equal(toCelValue(2 ** 62), 2n ** 62n);
    // Beyond int64 there is no CEL int to use: the value stays a double.
    assert.equal(toCelValue(1e20), 1e20);
    assert.equal(toCelValue(null), null);
    assert.equal(toCelValue('s'), 's');
  });

  it('drops undefined members and turns undefined list elements into null, as JSON does', () => {
    assert.deepEqual({ ...(toCelValue({ a: undefined, b: 1 }) as object) }, { b: 1n });
    assert.deepEqual(toCelValue([undefined]), [null]);
  });

  it('refuses values that are not JSON-shaped', () => {
    assert.throws(() => toCelValue(new Date()), TypeError);
    assert.throws(() => toCelValue({ f: () => 1 }), TypeError);
    assert.throws(() => toCelValue(Symbol('s')), TypeError);
  });

  it('keeps __proto__, constructor and prototype keys as plain keys', () => {
    const hostile = JSON.parse('{"__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}, "a": 1}') as unknown;
    const value = toCelValue(hostile) as Map<string, unknown>;
    // A `constructor` key would confuse cel-js's type detection on an object, so this one is a Map.
    assert.ok(value instanceof Map);
    assert.deepEqual([...value.keys()], ['__proto__', 'constructor', 'a']);
    const plain = toCelValue(JSON.parse('{"__proto__": {"polluted": true}}') as unknown) as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(plain), null);
    assert.ok(Object.hasOwn(plain, '__proto__'));
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal((Object.prototype as Record<string, unknown>).polluted, undefined);
    const env = newBaseEnvironment();
    env.registerVariable('o', 'dyn');
    for (const o of [value, plain]) {
      assert.equal(env.evaluate("'__proto__' in o && o['__proto__'].polluted", { o }), true);
      assert.equal(env.evaluate("'toString' in o", { o }), false);
      assert.equal(env.evaluate('has(o.hasOwnProperty)', { o }), false);
    }
    assert.equal(env.evaluate('o.constructor.prototype.polluted && o.a == 1', { o: value }), true);
  });

  it('converts an object’s own members only, in their order, even with members added to Object.prototype', () => {
    const proto = Object.prototype as Record<string, unknown>;
    proto.injected = 'from the prototype';
    try {
      const value = toCelValue(JSON.parse('{"b": 1, "a": {"c": "x"}, "2": true, "1": null}') as unknown) as Record<string, unknown>;
      assert.deepEqual(Object.keys(value), ['1', '2', 'b', 'a']);
      assert.equal(Object.hasOwn(value, 'injected'), false);
      assert.equal(Object.hasOwn(value.a as object, 'injected'), false);
      assert.deepEqual({ ...value, a: { ...(value.a as object) } }, { '1': null, '2': true, b: 1n, a: { c: 'x' } });
    } finally {
      delete proto.injected;
    }
  });

  it('gives CEL the types Kubernetes does: JSON integers are ints', () => {
    const env = newBaseEnvironment();
    env.registerVariable('object', 'dyn');
    const object = toCelValue({ spec: { revisionHistoryLimit: 10, ratio: 0.5 } });
    assert.equal(env.evaluate('object.spec.revisionHistoryLimit + 1', { object }), 11n);
    assert.equal(env.evaluate('type(object.spec.ratio) == double', { object }), true);
  });
});

describe('fromCelValue', () => {
  it('converts CEL values back to JSON', () => {
    assert.equal(fromCelValue(5n), 5);
    assert.equal(fromCelValue(new UnsignedInt(7n)), 7);
    assert.equal(fromCelValue(1.5), 1.5);
    assert.equal(fromCelValue(new Uint8Array([104, 105])), 'aGk=');
    assert.equal(fromCelValue(new Date('2023-02-03T23:31:20Z')), '2023-02-03T23:31:20Z');
    assert.equal(fromCelValue(new Date('2023-02-03T23:31:20.120Z')), '2023-02-03T23:31:20.12Z');
    assert.equal(fromCelValue(new Duration(5400n, 0)), '1h30m0s');
    assert.deepEqual(fromCelValue(new Map<unknown, unknown>([['a', 1n], [2n, [true]]])), { a: 1, 2: [true] });
  });

  it('errors on integers that JSON cannot hold exactly and on non-finite doubles', () => {
    assert.throws(() => fromCelValue(2n ** 53n), RangeError);
    assert.throws(() => fromCelValue(-(2n ** 60n)), RangeError);
    assert.throws(() => fromCelValue(Number.NaN), RangeError);
  });

  it('unwraps optionals; an empty one is absent', () => {
    assert.equal(fromCelValue(Optional.of(3n)), 3);
    assert.equal(fromCelValue(Optional.none()), undefined);
    assert.deepEqual(fromCelValue([1n, Optional.none(), Optional.of('x')]), [1, 'x']);
    assert.deepEqual(fromCelValue({ a: Optional.none(), b: Optional.of(false) }), { b: false });
  });

  it('writes a __proto__ key as an own property, never as a prototype', () => {
    const map = new Map<string, unknown>([['__proto__', { polluted: true }]]);
    const json = fromCelValue(map) as Record<string, unknown>;
    assert.ok(Object.hasOwn(json, '__proto__'));
    assert.equal(Object.getPrototypeOf(json), Object.prototype);
    assert.equal((json as { polluted?: unknown }).polluted, undefined);
    assert.equal(JSON.stringify(json), '{"__proto__":{"polluted":true}}');
  });

  it('round-trips what CEL computed', () => {
    const env = newBaseEnvironment();
    const value = env.evaluate("{'n': 1, 'l': [1.5, 'x', null], 'm': {'k': b'hi'}, 'd': duration('90s'), 'q': quantity('1.5Gi')}");
    assert.deepEqual(fromCelValue(value), { n: 1, l: [1.5, 'x', null], m: { k: 'aGk=' }, d: '1m30s', q: '1536Mi' });
  });

  it('prints durations as Go does', () => {
    assert.equal(formatGoDuration(0n), '0s');
    assert.equal(formatGoDuration(1_500_000_000n), '1.5s');
    assert.equal(formatGoDuration(100_000_000n), '100ms');
    assert.equal(formatGoDuration(1_500n), '1.5µs');
    assert.equal(formatGoDuration(-90_000_000_000n), '-1m30s');
    assert.equal(formatGoDuration(3_600_000_000_000n), '1h0m0s');
  });
});

describe('withFastMaps', () => {
  const raw = JSON.parse('{"allowed": ["kube-system"], "limits": {"cpu": 2, "__proto__": {"polluted": true}}, "2": "two", "b": null, "1": 1.5}') as unknown;

  it('gives the same keys in the same order, the same members and the same null prototype, at every depth', () => {
    const converted = toCelValue(raw);
    const fast = withFastMaps(converted) as Record<string, unknown>;
    assert.deepEqual(fast, converted);
    assert.deepEqual(Object.keys(fast), ['1', '2', 'allowed', 'limits', 'b']);
    assert.equal(Object.getPrototypeOf(fast), null);
    const limits = fast.limits as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(limits), null);
    assert.ok(Object.hasOwn(limits, '__proto__'), 'a __proto__ key stays a member');
    assert.deepEqual(Object.keys(limits), ['cpu', '__proto__']);
    assert.equal((Object.prototype as Record<string, unknown>).polluted, undefined);
  });

  it('leaves what is not a plain map alone: Maps, lists of scalars, scalars', () => {
    const map = toCelValue(JSON.parse('{"constructor": 1}') as unknown);
    assert.ok(map instanceof Map);
    assert.equal(withFastMaps(map), map);
    assert.deepEqual(withFastMaps([1n, 'a', null]), [1n, 'a', null]);
    assert.equal(withFastMaps('s'), 's');
    assert.equal(withFastMaps(null), null);
  });

  it('gives compiled and interpreted expressions the same values and costs as the maps toCelValue makes', () => {
    const expressions = [
      "'kube-system' in params.allowed",
      'params.limits.cpu == 2',
      "'__proto__' in dyn(params.limits) && dyn(params.limits)['__proto__'].polluted",
      "!('toString' in dyn(params)) && !has(dyn(params).hasOwnProperty) && !has(dyn(params.limits).constructor)",
      "dyn(params)['2'] == 'two' && dyn(params).b == null && dyn(params)['1'] > 1.0",
      'dyn(params).size() == 5 && dyn(params).all(k, k.size() > 0)',
    ];
    const converted = toCelValue(raw);
    const fast = withFastMaps(converted);
    for (const expression of expressions) {
      const program = new PolicyScope(raw as Record<string, unknown>).compile(expression, 'bool');
      const activation = (params: unknown): CelActivation => ({ object: null, oldObject: null, request: null, namespaceObject: null, coverage: null, variables: {}, params });
      assert.equal(program.notCompiled, undefined, expression);
      const expected = measureCost(1_000, () => program.interpret(activation(converted)));
      assert.equal(expected.value, true, expression);
      for (const run of [() => program.evaluate(activation(fast)), () => program.interpret(activation(fast))]) {
        assert.deepEqual(measureCost(1_000, run), expected, expression);
      }
    }
  });

  it('does not read a member someone added to Object.prototype as a map\'s own, compiled or interpreted', () => {
    const scope = new PolicyScope(raw as Record<string, unknown>);
    const outcome = (run: () => unknown): unknown => {
      try {
        return measureCost(1_000, run);
      } catch (error) {
        return (error as Error).message.split('\n')[0];
      }
    };
    const activation = { object: null, oldObject: null, request: null, namespaceObject: null, coverage: null, variables: {}, params: withFastMaps(toCelValue(raw)) } as CelActivation;
    const expressions = ["{'a': 1}.b", "{'b': 2}.b", 'dyn(params).limits.memory', 'dyn(params).allowed', "{'toString': 3}.toString"];
    for (const name of ['b', 'memory', 'allowed']) Object.defineProperty(Object.prototype, name, { value: 7n, configurable: true, writable: true });
    try {
      for (const expression of expressions) {
        const program = scope.compile(expression, 'any');
        assert.equal(program.notCompiled, undefined, expression);
        assert.deepEqual(outcome(() => program.evaluate(activation)), outcome(() => program.interpret(activation)), expression);
      }
    } finally {
      for (const name of ['b', 'memory', 'allowed']) delete (Object.prototype as Record<string, unknown>)[name];
    }
  });
});
