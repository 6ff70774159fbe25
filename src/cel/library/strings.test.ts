import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatFixed, formatScientific, formatShortest } from './format.js';
import { charAt, lastIndexOf, substring } from './strings.js';
import { errorOf, evaluate, typeChecks } from '../../../test/support/evaluate-cel.js';

describe('strings library', () => {
  it('charAt counts code points; the length itself gives an empty string', () => {
    assert.equal(evaluate("'tacocat'.charAt(3)"), 'o');
    assert.equal(evaluate("'tacocat'.charAt(7)"), '');
    assert.equal(evaluate("'a😀b'.charAt(1)"), '😀');
    assert.equal(errorOf(() => evaluate("'tacocat'.charAt(30)")), 'index out of range: 30');
    assert.equal(errorOf(() => evaluate("'abc'.charAt(-1)")), 'index out of range: -1');
  });

  it('indexOf and lastIndexOf count code points', () => {
    assert.equal(evaluate("'tacocat'.indexOf('ac')"), 1n);
    assert.equal(evaluate("'tacocat'.indexOf('')"), 0n);
    assert.equal(evaluate("'tacocat'.indexOf('a', 3)"), 5n);
    assert.equal(evaluate("'ta©o©αT'.indexOf('©', 3)"), 4n);
    assert.equal(evaluate("'a😀b'.indexOf('b')"), 2n);
    assert.equal(evaluate("'tacocat'.lastIndexOf('at')"), 5n);
    assert.equal(evaluate("'tacocat'.lastIndexOf('')"), 7n);
    assert.equal(evaluate("'bananananana'.lastIndexOf('nana', 7)"), 6n);
    assert.equal(evaluate("''.lastIndexOf('@@')"), -1n);
    assert.equal(evaluate("'ta©o©αT'.lastIndexOf('©', 3)"), 2n);
  });

  it('indexOf offsets: negative is an error, past the end finds nothing (cel-go 0.29)', () => {
    assert.equal(errorOf(() => evaluate("'tacocat'.indexOf('a', -1)")), 'index out of range: -1');
    assert.equal(errorOf(() => evaluate("'tacocat'.lastIndexOf('a', -1)")), 'index out of range: -1');
    assert.equal(evaluate("'tacocat'.indexOf('a', 30)"), -1n);
    assert.equal(evaluate("'tacocat'.lastIndexOf('a', 30)"), -1n);
    assert.equal(evaluate("'abc'.indexOf('', 5)"), 3n);
  });

  it('lowerAscii and upperAscii touch ASCII letters only', () => {
    assert.equal(evaluate("'TacoCÆt Xii'.lowerAscii()"), 'tacocÆt xii');
    assert.equal(evaluate("'tacoCαt'.upperAscii()"), 'TACOCαT');
    assert.equal(evaluate("'İ'.lowerAscii()"), 'İ');
  });

  it('replace replaces all, or at most n', () => {
    assert.equal(evaluate("'{0} days {0} hours'.replace('{0}', '2')"), '2 days 2 hours');
    assert.equal(evaluate("'{0} days {0} hours'.replace('{0}', '2', 1)"), '2 days {0} hours');
    assert.equal(evaluate("'abc'.replace('b', 'x', 0)"), 'abc');
    assert.equal(evaluate("'abc'.replace('', '-')"), '-a-b-c-');
    assert.equal(evaluate("'abc'.replace('', '-', 2)"), '-a-bc');
    assert.equal(typeChecks("'42'.replace(2, 1)"), false);
  });

  it('split follows Go strings.Split / SplitN', () => {
    assert.deepEqual(evaluate("'hello world'.split(' ')"), ['hello', 'world']);
    assert.deepEqual(evaluate("'hello world events!'.split(' ', 0)"), []);
    assert.deepEqual(evaluate("'hello world events!'.split(' ', 1)"), ['hello world events!']);
    assert.deepEqual(evaluate("'hello world events!'.split(' ', 2)"), ['hello', 'world events!']);
    assert.deepEqual(evaluate("'o©o©o©o'.split('©', -1)"), ['o', 'o', 'o', 'o']);
    assert.deepEqual(evaluate("'a😀b'.split('')"), ['a', '😀', 'b']);
    assert.deepEqual(evaluate("'a😀b'.split('', 2)"), ['a', '😀b']);
    assert.deepEqual(evaluate("''.split(',')"), ['']);
    assert.deepEqual(evaluate("''.split('')"), []);
  });

  it('substring on code points with range errors', () => {
    assert.equal(evaluate("'tacocat'.substring(4)"), 'cat');
    assert.equal(evaluate("'tacocat'.substring(7)"), '');
    assert.equal(evaluate("'ta©o©αT'.substring(2, 6)"), '©o©α');
    assert.equal(errorOf(() => evaluate("'tacocat'.substring(40)")), 'index out of range: 40');
    assert.equal(errorOf(() => evaluate("'tacocat'.substring(-1)")), 'index out of range: -1');
    assert.equal(errorOf(() => evaluate("'tacocat'.substring(1, 50)")), 'index out of range: 50');
    assert.equal(errorOf(() => evaluate("'tacocat'.substring(4, 3)")), 'invalid substring range. start: 4, end: 3');
  });

  it('trim removes Go white space (U+0085 yes, U+FEFF no)', () => {
    assert.equal(evaluate("' \\f\\n\\r\\t\\vtext  '.trim()"), 'text');
    assert.equal(evaluate("'\\u0085\\u00a0\\u1680text\\u3000'.trim()"), 'text');
    assert.equal(evaluate("'\\u200btext\\ufeff'.trim()"), '\u200btext\ufeff');
  });

  it('join, with and without a separator', () => {
    assert.equal(evaluate("['x', 'y'].join()"), 'xy');
    assert.equal(evaluate("['x', 'y'].join('-')"), 'x-y');
    assert.equal(evaluate('[].join()'), '');
    assert.match(errorOf(() => evaluate("dyn(['a', 1]).join()")), /join: list must contain only strings/);
  });

  it('reverse reverses code points', () => {
    assert.equal(evaluate("'abc'.reverse()"), 'cba');
    assert.equal(evaluate("'a😀b'.reverse()"), 'b😀a');
  });

  it('strings.quote escapes like a CEL string literal', () => {
    assert.equal(evaluate('strings.quote("first\\nsecond")'), '"first\\nsecond"');
    assert.equal(evaluate('strings.quote("bell\\a")'), '"bell\\a"');
    assert.equal(evaluate('strings.quote("mid \\" quote")'), '"mid \\" quote"');
    assert.equal(evaluate('strings.quote("ends with \\\\")'), '"ends with \\\\"');
    assert.equal(evaluate('strings.quote("завтра😀")'), '"завтра😀"');
    assert.equal(evaluate('strings.quote("")'), '""');
  });

  it('format supports %s %d %f %e %b %o %x %X with precision', () => {
    assert.equal(evaluate('"%s and %d".format(["a", 1])'), 'a and 1');
    assert.equal(evaluate('"%%%s%%".format(["text"])'), '%text%');
    assert.equal(evaluate('"%.3f".format([1.2345])'), '1.234');
    assert.equal(evaluate('"%f".format([2.71828])'), '2.718280');
    assert.equal(evaluate('"%.6e".format([1052.032911275])'), '1.052033e+03');
    assert.equal(evaluate('"%b %o %x %X".format([5, 11, 30, 30])'), '101 13 1e 1E');
    assert.equal(evaluate('"%x".format(["Hello world!"])'), '48656c6c6f20776f726c6421');
    assert.equal(evaluate('"%s".format([[1, "a", null, 3.5]])'), '[1, a, null, 3.5]');
    assert.equal(evaluate('"%s".format([{"b": 2, "a": 1}])'), '{a: 1, b: 2}');
    assert.equal(evaluate('"%s".format([duration("1h45m47s")])'), '6347s');
    assert.equal(evaluate('"%s".format([timestamp("2023-02-03T23:31:20+00:00")])'), '2023-02-03T23:31:20Z');
    assert.equal(evaluate('"%d".format([double("NaN")])'), 'NaN');
    assert.equal(evaluate('"%e".format([double("-Infinity")])'), '-Infinity');
  });

  it('format errors', () => {
    assert.match(errorOf(() => evaluate('"%a".format([1])')), /unrecognized formatting clause "a"/);
    assert.equal(errorOf(() => evaluate('"%d %d %d".format([0, 1])')), 'index 2 out of range');
    assert.match(errorOf(() => evaluate('"%b".format(["abc"])')), /only integers and bools can be formatted as binary, was given string/);
    assert.match(errorOf(() => evaluate('"%d".format([duration("30m2s")])')), /decimal clause can only be used on integers, was given google.protobuf.Duration/);
    assert.match(errorOf(() => evaluate('"%x".format([0.5])')), /formatted as hex, was given double/);
    assert.match(errorOf(() => evaluate('"%f".format([null])')), /fixed-point clause can only be used on doubles, was given null_type/);
    assert.match(errorOf(() => evaluate('"%s".format([optional.of(1)])')), /was given optional_type/);
  });

  it('number formatting rounds the exact binary value half to even', () => {
    assert.equal(formatFixed(2.5, 0), '2');
    assert.equal(formatFixed(1.5, 0), '2');
    assert.equal(formatFixed(3.4999, 0), '3');
    assert.equal(formatFixed(-123.4999, 3), '-123.500');
    assert.equal(formatFixed(0.05, 1), '0.1');
    assert.equal(formatScientific(0, 6), '0.000000e+00');
    assert.equal(formatScientific(9.9999999, 2), '1.00e+01');
    assert.equal(formatScientific(1e100, 1), '1.0e+100');
    assert.equal(formatShortest(1e20), '1e+20');
    assert.equal(formatShortest(123456), '123456');
    assert.equal(formatShortest(1234567), '1.234567e+06');
    assert.equal(formatShortest(0.0001), '0.0001');
    assert.equal(formatShortest(0.00001), '1e-05');
    assert.equal(formatShortest(-0), '-0');
  });
});

/** What a code-point implementation answers (Go's []rune), or the error message it throws. */
function outcome(run: () => unknown): unknown {
  try {
    return run();
  } catch (error) {
    return `error: ${(error as Error).message}`;
  }
}

describe('strings library: the code-point and UTF-16 paths agree', () => {
  // The handlers slice the string itself when it has no surrogates, and go through code points
  // otherwise; each answer is checked against a reference on code points, at every index.
  const strings = ['', 'a', 'tacocat', '/var/run/docker.sock', 'quay.io/x:v1@sha256:ab', 'ta©o©αT', 'a😀b😀', '\ud800x', 'x\udc00', '😀'];
  const runes = (s: string): string[] => Array.from(s);
  it('substring, charAt and lastIndexOf answer as on code points, errors included', () => {
    for (const s of strings) {
      const r = runes(s);
      for (let i = -1; i <= r.length + 1; i++) {
        const start = BigInt(i);
        const expectedCharAt = i < 0 || i > r.length ? `error: index out of range: ${i}` : (r[i] ?? '');
        assert.equal(outcome(() => charAt(s, start)), expectedCharAt, `${JSON.stringify(s)}.charAt(${i})`);
        const expectedTail = i < 0 || i > r.length ? `error: index out of range: ${i}` : r.slice(i).join('');
        assert.equal(outcome(() => substring(s, start)), expectedTail, `${JSON.stringify(s)}.substring(${i})`);
        for (let j = -1; j <= r.length + 1; j++) {
          const expected =
            i > j ? `error: invalid substring range. start: ${i}, end: ${j}`
            : i < 0 || i > r.length ? `error: index out of range: ${i}`
            : j < 0 || j > r.length ? `error: index out of range: ${j}`
            : r.slice(i, j).join('');
          assert.equal(outcome(() => substring(s, start, BigInt(j))), expected, `${JSON.stringify(s)}.substring(${i}, ${j})`);
        }
        for (const sub of ['', 'a', 'o©', '/', '😀', ':', 'cat']) {
          const subRunes = runes(sub);
          let found = -1;
          for (let at = Math.min(i, r.length - subRunes.length); at >= 0 && found < 0; at--) {
            if (subRunes.every((c, k) => r[at + k] === c)) found = at;
          }
          const expected =
            i < 0 ? `error: index out of range: ${i}`
            : sub === '' ? BigInt(Math.min(i, r.length))
            : i >= r.length ? -1n
            : BigInt(found);
          assert.equal(outcome(() => lastIndexOf(s, sub, start)), expected, `${JSON.stringify(s)}.lastIndexOf(${JSON.stringify(sub)}, ${i})`);
        }
      }
    }
  });
});

describe('strings library limits', () => {
  it('caps format precision at 100, as cel-go does by default', () => {
    assert.equal(String(evaluate('"%.100f".format([1.0])')).length, 102);
    assert.match(errorOf(() => evaluate('"%.1000000f".format([1.0])')), /precision 1000000 exceeds the maximum of 100/);
  });
});
