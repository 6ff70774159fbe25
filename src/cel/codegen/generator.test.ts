// The generated function of a real expression: the policy's text (string literals, map keys) never
// appears in its source, field names appear only as quoted identifiers, and the value is the
// interpreter's.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compiledCel as compiled } from '../../../test/support/compiled-cel.js';

describe('generated CEL functions', () => {
  it('keep string literals and map keys out of the source, whatever they hold', () => {
    const hostile = `"; throw new Error('escaped'); //\`\${1}\\n*/`;
    const literal = JSON.stringify(hostile).replace(/'/g, "\\'").slice(1, -1);
    const expression = `{'${literal}': object.?a.?b.orValue('${literal}')}['${literal}'] + 'x'`;
    const { source, onJson, interpreted } = compiled(expression);
    assert.ok(!source.includes('escaped'), source);
    for (const object of [{}, { a: {} }, { a: { b: 'y' } }, { a: 'not a map' }, JSON.parse('{"__proto__": {"b": "p"}}') as unknown]) {
      let expected: unknown;
      try {
        expected = interpreted(object);
      } catch (error) {
        assert.throws(() => onJson(object), { message: (error as Error).message });
        continue;
      }
      assert.deepEqual(onJson(object), expected);
    }
    assert.equal(onJson({}), `${hostile}x`);
  });

  it('write a field name into the source only as a quoted identifier', () => {
    const { source, onJson } = compiled('object.__proto__.constructor');
    assert.match(source, /\["__proto__"\]/);
    assert.match(source, /\["constructor"\]/);
    assert.equal(onJson(JSON.parse('{"__proto__": {"constructor": "own"}}')), 'own');
    // Inherited members are not the object's: a JSON object without them is missing the field.
    assert.throws(() => onJson({}), /No such key: __proto__/);
  });
});
