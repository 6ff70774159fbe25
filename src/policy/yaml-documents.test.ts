import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SourceReadError, parseSourceText } from './yaml-documents.js';

describe('parseSourceText', () => {
  it('gives positions of values, keys and characters inside strings', () => {
    const [doc] = parseSourceText('a.yaml', 'kind: X\nspec:\n  items:\n    - name: one\n      expr: "abc def"\n');
    assert.deepEqual(doc!.positionOf(['spec', 'items', 0, 'name']), { line: 4, column: 13 });
    assert.deepEqual(doc!.keyPositionOf(['spec', 'items', 0, 'expr']), { line: 5, column: 7 });
    assert.deepEqual(doc!.positionInString(['spec', 'items', 0, 'expr'], 4), { line: 5, column: 13 + 1 + 4 });
    // A missing path points at its nearest existing ancestor.
    assert.deepEqual(doc!.positionOf(['spec', 'items', 0, 'missing']), { line: 4, column: 7 });
  });

  it('reads several documents and JSON', () => {
    const docs = parseSourceText('a.yaml', 'a: 1\n---\n---\n{"b": [1, 2]}\n');
    assert.deepEqual(docs.map((d) => d.value), [{ a: 1 }, null, { b: [1, 2] }]);
  });

  it('says a document is nested too deeply instead of reporting a stack overflow', () => {
    const text = `spec: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`;
    assert.throws(() => parseSourceText('deep.yaml', text), (error: unknown) => {
      assert.ok(error instanceof SourceReadError);
      assert.match(error.message, /^deep\.yaml:1:\d+: the document is nested too deeply to read$/);
      return true;
    });
  });

  it('keeps a __proto__ key as data', () => {
    const [doc] = parseSourceText('a.yaml', '__proto__: {polluted: true}\nx: 1\n');
    assert.equal(({} as { polluted?: boolean }).polluted, undefined);
    assert.equal(Object.hasOwn(doc!.value as object, '__proto__'), true);
  });
});
