import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newBaseEnvironment } from '../base-environment.js';
import { toCelValue } from '../values.js';
import { errorOf, evaluate } from '../../../test/support/evaluate-cel.js';

describe('standard library fixes', () => {
  it('orders bytes', () => {
    assert.equal(evaluate("b'a' < b'b'"), true);
    assert.equal(evaluate("b'' >= b' '"), false);
    assert.equal(evaluate("b'abc' <= b'abc'"), true);
  });

  it('converts between timestamps, durations, strings and ints', () => {
    assert.equal(evaluate("int(timestamp('2009-02-13T23:31:30Z'))"), 1234567890n);
    assert.equal(evaluate("string(timestamp('2009-02-13T23:31:30Z'))"), '2009-02-13T23:31:30Z');
    assert.equal(evaluate("string(duration('1000000s'))"), '1000000s');
    assert.equal(evaluate("string(duration('-1.5s'))"), '-1.5s');
    assert.equal(evaluate("duration(duration('100s')) == duration('100s')"), true);
    assert.equal(evaluate('int(42u)'), 42n);
    assert.match(errorOf(() => evaluate('int(18446744073709551615u)')), /overflow/);
  });

  it('range-checks double conversions and UTF-8 in bytes', () => {
    assert.equal(evaluate('int(-1.9)'), -1n);
    assert.match(errorOf(() => evaluate('int(9223372036854775807.0)')), /overflow/);
    assert.match(errorOf(() => evaluate('int(-9223372036854775808.0)')), /overflow/);
    assert.match(errorOf(() => evaluate('uint(-1.0)')), /overflow/);
    assert.match(errorOf(() => evaluate("string(b'\\x00\\xff')")), /invalid UTF-8/);
    assert.equal(evaluate("string(b'hi')"), 'hi');
  });

  it('getMilliseconds is the millisecond component of a duration', () => {
    assert.equal(evaluate("duration('123.321s').getMilliseconds()"), 321n);
  });
});

describe('has()', () => {
  it('tests presence on any operand, optionals included', () => {
    assert.equal(evaluate("has({'a': 1, 'b': 2}.a)"), true);
    assert.equal(evaluate("has({'a': 1}.c)"), false);
    assert.equal(evaluate("has({'x': {'y': 'z'}}.?x.y)"), true);
    assert.equal(evaluate("has({}.?x.y)"), false);
    assert.equal(evaluate("has({'foo': optional.none()}.foo.bar)"), false);
  });

  it('keeps variable-rooted chains, and errors on a missing intermediate field', () => {
    const env = newBaseEnvironment();
    env.registerVariable('object', 'dyn');
    const object = toCelValue({ metadata: { labels: { app: 'x' } } });
    assert.equal(env.evaluate('has(object.metadata.labels)', { object }), true);
    assert.equal(env.evaluate('has(object.metadata.annotations)', { object }), false);
    assert.throws(() => env.evaluate('has(object.spec.template)', { object }), /No such key: spec/);
    assert.equal(env.check('has(object)').valid, false);
  });

  it('refuses unknown fields of declared types at type-check time', () => {
    const env = newBaseEnvironment().clone();
    env.registerType('Spec', { fields: { template: 'map<string, dyn>' } });
    env.registerType('Workload', { fields: { spec: 'Spec' } });
    env.registerVariable('object', 'Workload');
    assert.equal(env.check('has(object.spec.template)').valid, true);
    assert.equal(env.check('has(object.spec.tempalte)').valid, false);
    assert.equal(env.evaluate('has(object.spec.template)', { object: { spec: { template: {} } } }), true);
    assert.equal(env.evaluate('has(object.spec.template)', { object: { spec: {} } }), false);
  });
});

describe('timestamp getters with a time zone', () => {
  it('accept IANA names and UTC offsets', () => {
    assert.equal(evaluate("timestamp('2009-02-13T23:31:30Z').getHours('America/New_York')"), 18n);
    assert.equal(evaluate("timestamp('2024-03-10T07:30:00Z').getHours('America/New_York')"), 3n);
    assert.equal(evaluate("timestamp('2009-02-13T23:31:30Z').getMinutes('Asia/Kolkata')"), 1n);
    assert.equal(evaluate("timestamp('2009-02-13T23:31:30Z').getDayOfWeek('+11:00')"), 6n);
    assert.equal(evaluate("timestamp('2009-02-13T02:00:00Z').getDayOfMonth('-02:30')"), 11n);
    assert.equal(evaluate("timestamp('2024-12-31T23:00:00Z').getDayOfYear('+02:00')"), 0n);
    assert.equal(evaluate("timestamp('2024-12-31T23:00:00Z').getDayOfYear()"), 365n);
    assert.match(errorOf(() => evaluate("timestamp('2009-02-13T23:31:30Z').getHours('Mars/Base')")), /unknown time zone/);
  });
});

describe('list membership', () => {
  it('uses heterogeneous numeric equality', () => {
    assert.equal(evaluate('dyn(3u) in [5, 4, 3]'), true);
    assert.equal(evaluate('dyn(3) in [1.0, 3.0]'), true);
    assert.equal(evaluate("'b' in ['a']"), false);
    assert.equal(evaluate('[1] in [[1]]'), true);
  });
});

describe('checked arithmetic', () => {
  it('detects int64 overflow in negation and division', () => {
    assert.equal(evaluate('-7 / 2'), -3n);
    assert.equal(evaluate('-(-5)'), 5n);
    assert.match(errorOf(() => evaluate('-(-9223372036854775807 - 1)')), /integer overflow/);
    assert.match(errorOf(() => evaluate('(-9223372036854775807 - 1) / -1')), /integer overflow/);
    assert.match(errorOf(() => evaluate('1 / 0')), /division by zero/);
  });

  it('keeps timestamps within years 1 to 9999 and durations within ±10,000 years', () => {
    assert.equal(evaluate("timestamp('2024-01-01T00:00:00Z') + duration('1h') == timestamp('2024-01-01T01:00:00Z')"), true);
    assert.equal(evaluate("duration('120s') + timestamp('2009-02-13T23:01:00Z') == timestamp('2009-02-13T23:03:00Z')"), true);
    assert.equal(evaluate("timestamp('2024-01-02T00:00:00Z') - timestamp('2024-01-01T00:00:00Z') == duration('24h')"), true);
    assert.match(errorOf(() => evaluate("timestamp('9999-12-31T23:59:59Z') + duration('1s')")), /timestamp overflow/);
    assert.match(errorOf(() => evaluate("timestamp('0001-01-01T00:00:00Z') - duration('1s')")), /timestamp overflow/);
    assert.match(errorOf(() => evaluate("duration('320000000000s')")), /duration overflow/);
    assert.match(errorOf(() => evaluate("duration('200000000000s') + duration('200000000000s')")), /duration overflow/);
  });
});
