// Int arithmetic and comparisons on JS numbers (int-numbers.ts): where the operands are safe
// integers the generated code computes on numbers, and everywhere else it gives the interpreter's
// value or error — int64 overflow, division and modulo by zero, doubles, the int 1 that JSON writes
// as 1.0.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compiledCel } from '../../../test/support/compiled-cel.js';

/** The value, or the first line of the error's message. */
function outcome(run: () => unknown): unknown {
  try {
    return run();
  } catch (error) {
    return `error: ${((error as { summary?: string }).summary ?? (error as Error).message).split('\n')[0]}`;
  }
}

/** Asserts the compiled function and the interpreter agree on `object`, and returns the outcome. */
function agreed(expression: string, object: Record<string, unknown>): unknown {
  const cel = compiledCel(expression);
  const compiled = outcome(() => cel.onJson(object));
  assert.deepEqual(compiled, outcome(() => cel.interpretedJson(object)), `${expression} on ${JSON.stringify(object)}`);
  return compiled;
}

describe('int arithmetic on numbers', () => {
  it('computes on numbers, and converts to an int only where the result leaves arithmetic', () => {
    const { source } = compiledCel('object.a * object.b + 3 < object.c / 2 - object.a % 4');
    // Every operation is tried on numbers first; BigInts are made only on the paths that fall back.
    assert.equal(source.match(/Number\.isSafeInteger\(t\d+ = /g)?.length, 5, source);
    assert.equal(agreed('object.a * object.b + 3 < object.c / 2 - object.a % 4', { a: 3, b: -4, c: 9 }), true);
    assert.equal(agreed('object.a * object.b + 3', { a: 3, b: -4 }), -9n);
    assert.equal(agreed('string(object.a - object.b)', { a: 3, b: 5 }), '-2');
  });

  it('truncates division toward zero and keeps the dividend\'s sign in the remainder', () => {
    for (const [a, b] of [
      [7, 2],
      [-7, 2],
      [7, -2],
      [-7, -2],
      [2 ** 53 - 1, 3],
      [-(2 ** 53 - 1), 2 ** 52 + 1],
    ]) {
      assert.equal(agreed('object.a / object.b', { a, b }), BigInt(Math.trunc(a! / b!)));
      assert.equal(agreed('object.a % object.b', { a, b }), BigInt(a!) % BigInt(b!));
    }
  });

  it('reports int64 overflow and division by zero with the interpreter\'s messages', () => {
    assert.equal(agreed('object.a + object.b', { a: 2 ** 62, b: 2 ** 62 }), 'error: integer overflow: 9223372036854775808');
    assert.equal(agreed('object.a * object.b * object.b', { a: 2 ** 31, b: 2 ** 31 }), `error: integer overflow: ${2n ** 93n}`);
    assert.equal(agreed('object.a - object.b - 1', { a: -(2 ** 62), b: 2 ** 62 }), 'error: integer overflow: -9223372036854775809');
    assert.equal(agreed('-(object.a - object.b)', { a: -(2 ** 62), b: 2 ** 62 }), agreed('-(-9223372036854775807 - 1)', {}));
    assert.equal(agreed('object.a / object.b', { a: 5, b: 0 }), 'error: division by zero');
    assert.equal(agreed('object.a % object.b', { a: 5, b: -0 }), 'error: modulo by zero');
    // Past 2^53 the BigInt path is exact where numbers would round.
    assert.equal(agreed('object.a * object.b + 1', { a: 2 ** 30, b: 2 ** 30 * 3 }), 3n * 2n ** 60n + 1n);
    assert.equal(agreed('object.a + 1 == object.a', { a: 2 ** 53 }), false);
  });

  it('keeps values.ts\'s classification: 1.0 is the int 1, 1.5 and 2^63 are doubles, -0 is the int 0', () => {
    assert.equal(agreed('object.a + 1', { a: 1.0 }), 2n);
    assert.match(String(agreed('object.a + 1', { a: 1.5 })), /^error: no such overload/);
    assert.match(String(agreed('object.a - 1', { a: 2 ** 63 })), /^error: no such overload/);
    assert.equal(agreed('object.a < 2', { a: 2 ** 63 }), false);
    assert.equal(agreed('-object.a == 0 && string(-object.a) == "0"', { a: 0 }), true);
    assert.equal(agreed('object.a == object.b', { a: -0, b: 0 }), true);
    // A CEL double that happens to be integral is not an int: dyn(2.0) * 3 has no overload.
    assert.match(String(agreed('dyn(2.0) * object.a', { a: 3 })), /^error: no such overload/);
    assert.match(String(agreed('object.a + 1', { a: 'x' })), /^error: no such overload/);
  });
});
