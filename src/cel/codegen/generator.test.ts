// The generated function of a real expression: the policy's text (string literals, map keys) appears
// in its source only as JSON literals, field names only as quoted identifiers, and the value is the
// interpreter's.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compiledCel as compiled } from '../../../test/support/compiled-cel.js';

describe('generated CEL functions', () => {
  it('write string literals and map keys only as JSON literals, whatever they hold', () => {
    const hostile = `"; throw new Error('escaped'); //\`\${1}\\n*/`;
    const literal = JSON.stringify(hostile).replace(/'/g, "\\'").slice(1, -1);
    const expression = `{'${literal}': object.?a.?b.orValue('${literal}')}['${literal}'] + 'x'`;
    const { source, onJson, interpreted } = compiled(expression);
    assert.ok(!source.includes(hostile), source);
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

  it('read a field once where its first read is sure to have run, and again anywhere else', () => {
    // Reads of `spec` from a temporary (the prototype tests read it from constants).
    const reads = (source: string) => source.match(/\bt\d+\["spec"\]/g)?.length ?? 0;
    // Both operands of `==` run in order: one read of `spec`.
    const straight = compiled('object.spec.a == object.spec.b');
    assert.equal(reads(straight.source), 1, straight.source);
    assert.equal(reads(compiled('object.spec.a == 1 && object.spec.b == 1').source), 2);
    // A read inside `&&`'s left operand (which may throw and be absorbed), or in one branch of `?:`,
    // is not known after it: read again.
    const cases = [
      'object.spec.a == 1 && object.spec.a == 1',
      "(object.spec.a == 1 ? object.spec.b : 'x') == object.spec.b",
      'object.spec.list.all(x, x.n == 1) && object.spec.list.exists(x, x.n == 1)',
      'object.spec.list.map(x, x.n).size() + object.spec.list.map(y, y.n).size() == 4',
    ];
    for (const expression of cases) {
      const { onJson, interpretedJson } = compiled(expression);
      for (const object of [
        {},
        { spec: {} },
        { spec: { a: 1, b: 'y' } },
        { spec: { a: 2, b: 'y' } },
        { spec: { a: 'one', b: 'y' } },
        { spec: { list: [{ n: 1 }, { n: 1 }] } },
        { spec: { list: [{ n: 1 }, {}] } },
        { spec: { list: [{}, { n: 1 }] } },
        { spec: { list: 'no list' } },
      ]) {
        let expected: unknown;
        try {
          expected = interpretedJson(object);
        } catch (error) {
          // The first line: the interpreter's message goes on to quote the whole expression.
          const firstLine = (e: unknown) => (e as Error).message.split('\n')[0];
          assert.throws(() => onJson(object), (thrown) => firstLine(thrown) === firstLine(error), `${expression} on ${JSON.stringify(object)}`);
          continue;
        }
        assert.deepEqual(onJson(object), expected, `${expression} on ${JSON.stringify(object)}`);
      }
    }
  });

  it('keep the elements a filter over JSON selects as JSON, converting them only where a CEL value is needed', () => {
    const object = { list: [{ name: 'a', keep: true, ports: [{ port: 80 }] }, { name: 'b', keep: false }, { name: 'c', keep: true, ports: [] }] };
    // Read on by a chained map: nothing of the list is converted (before, each element kept was copied whole).
    const names = compiled('object.list.filter(x, x.keep).map(x, x.name)');
    const untouched = new Map<object, unknown>();
    assert.deepEqual(names.onJson(object, untouched), names.interpretedJson(object));
    assert.equal(untouched.size, 0, names.source);
    // The filter's list as the value: converted at the end, ints and all, as the interpreter has it.
    const kept = compiled('object.list.filter(x, x.keep)');
    const converted = new Map<object, unknown>();
    assert.deepEqual(kept.onJson(object, converted), [
      { name: 'a', keep: true, ports: [{ port: 80n }] },
      { name: 'c', keep: true, ports: [] },
    ].map((element) => Object.assign(Object.create(null) as object, element, { ports: element.ports.map((p) => Object.assign(Object.create(null) as object, p)) })));
    assert.deepEqual(kept.onJson(object), kept.interpretedJson(object));
    assert.ok(converted.size > 0);
    // A predicate that is not a bool fails as on the interpreter, with its message.
    const notBool = compiled('object.list.filter(x, x.name)');
    assert.throws(() => notBool.interpretedJson(object), /predicate must return bool/);
    assert.throws(() => notBool.onJson(object), /predicate must return bool/);
  });
});
