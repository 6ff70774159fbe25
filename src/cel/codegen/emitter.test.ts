// The generated source holds no text of a policy: constants are passed in, and the only names written
// into it as strings are identifiers, written as JSON string literals.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Emitter, quoted } from './emitter.js';

describe('generated CEL source', () => {
  it('passes constants in by name, so a string that would break out of the source stays a value', () => {
    const emitter = new Emitter();
    const hostile = `"; throw new Error('escaped'); //\`\${process.exit(1)}\n*/'`;
    const name = emitter.constant(hostile);
    const result = emitter.temporary();
    emitter.emit(`${result} = ${name} + activation.suffix;`);
    const { code, source } = emitter.instantiate<(activation: { suffix: string }) => string>([], result);
    assert.ok(!source.includes('escaped'), source);
    assert.equal(code({ suffix: '!' }), `${hostile}!`);
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
