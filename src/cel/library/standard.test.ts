import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { errorOf, evaluate } from './test-support.js';

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
