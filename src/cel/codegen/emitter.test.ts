// The generated source holds no text of a policy as code: a constant is a JSON literal (strings,
// numbers, bools, null) or passed in by name (anything else), and the names written into it as strings
// are identifiers, written as JSON string literals.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Emitter, quoted } from './emitter.js';

describe('generated CEL source', () => {
  it('writes a string constant as its JSON literal, so a string that would break out of the source stays a value', () => {
    const emitter = new Emitter();
    // Quotes, a comment, a template, a newline, the line separators, a lone surrogate, and NULs around
    // a number (the form of the emitter's own constant tokens).
    const hostile = `"; throw new Error('escaped'); //\`\${process.exit(1)}\n*/' \u2028\u2029 \ud800 \u00000\u0000`;
    const name = emitter.constant(hostile);
    const result = emitter.temporary();
    emitter.emit(`${result} = ${name} + activation.suffix;`);
    const { code, source } = emitter.instantiate<(activation: { suffix: string }) => string>([], result);
    assert.ok(source.includes(JSON.stringify(hostile)), source);
    assert.ok(!source.includes(hostile), 'nowhere unescaped');
    assert.equal(code({ suffix: '!' }), `${hostile}!`);
  });

  it('writes numbers so that they read as one value next to any operator, and binds what has no literal by name', () => {
    const emitter = new Emitter();
    const t = emitter.temporary();
    // `1 - -5` and `5 .toFixed` written as `1--5` or `5.toFixed` would not be these expressions.
    emitter.emit(`${t} = [1-${emitter.constant(-5)}, ${emitter.constant(5)}.toFixed(1), ${emitter.constant(0.5)}, ${emitter.constant(true)}, ${emitter.constant(null)}];`);
    const longText = 'x'.repeat(300);
    const bound = [-0, Number.NaN, Number.POSITIVE_INFINITY, 10n, longText, (): number => 1];
    const u = emitter.temporary();
    emitter.emit(`${u} = [${bound.map((value) => emitter.constant(value)).join(', ')}];`);
    const { code, source } = emitter.instantiate<() => unknown>([], `[${t}, ${u}]`);
    const [literals, named] = code() as [unknown[], unknown[]];
    assert.deepEqual(literals, [6, '5.0', 0.5, true, null]);
    assert.ok(Object.is(named[0], -0) && Number.isNaN(named[1]) && named[2] === Number.POSITIVE_INFINITY && named[3] === 10n && named[4] === longText && named[5] === bound[5]);
    assert.ok(!source.includes(longText), 'a long string is passed in');
    assert.equal([...source.matchAll(/\bk\d+ = k\[\d+\]/g)].length, bound.length, 'only what has no literal is bound');
  });

  it('gives the same constant one name, so a handler used twice is one call target', () => {
    const emitter = new Emitter();
    const handler = (): number => 1;
    assert.equal(emitter.constant(handler), emitter.constant(handler));
    assert.notEqual(emitter.constant(handler), emitter.constant(() => 1));
  });

  it('writes identifiers as JSON string literals and refuses anything else', () => {
    assert.equal(quoted('__proto__'), '"__proto__"');
    assert.equal(quoted('spec'), '"spec"');
    for (const name of ['a"b', 'a\\b', '${x}', 'a\nb', 'a b', '', '1a', "a'"]) {
      assert.throws(() => quoted(name), /not an identifier/, name);
    }
  });

  it('reads a __proto__ member written as a quoted key as an own property, not the prototype', () => {
    const emitter = new Emitter();
    const t = emitter.temporary();
    const key = quoted('__proto__');
    emitter.emit(`${t} = Object.hasOwn(activation, ${key}) ? activation[${key}] : undefined;`);
    const { code } = emitter.instantiate<(value: object) => unknown>([], t);
    assert.equal(code(JSON.parse('{"__proto__": "own"}') as object), 'own');
    assert.equal(code({}), undefined);
  });
});
