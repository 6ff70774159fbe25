import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SourceReadError, parseSourceText, parseWithPositions } from './yaml-documents.js';

function captureError(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  return undefined;
}

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

  it('refuses a value under an unknown tag at the tag, instead of reading it as a string', () => {
    const text = 'kind: X\nspec:\n  run: !!js/function "function () { return 1 }"\n  local: !foo bar\n  ok: !!str 1\n';
    assert.throws(() => parseSourceText('tags.yaml', text), (error: unknown) => {
      assert.ok(error instanceof SourceReadError);
      assert.deepEqual(error.problems.map((p) => `${p.file}:${p.line}:${p.column}`), ['tags.yaml:3:8', 'tags.yaml:4:10']);
      assert.match(error.problems[0]!.message, /^unknown YAML tag !!js\/function: only the tags of JSON data \(!!str, .*\) are accepted; remove the tag$/);
      assert.match(error.problems[1]!.message, /^unknown YAML tag !foo:/);
      return true;
    });
  });

  it('refuses YAML 1.1 types that JSON cannot hold (!!binary, !!set, !!timestamp) with file:line', () => {
    for (const [value, tag] of [['!!binary aGVsbG8=', '!!binary'], ['!!set {a}', '!!set'], ['!!timestamp 2026-12-04', '!!timestamp']] as const) {
      assert.throws(() => parseSourceText('types.yaml', `a: 1\nb: ${value}\n`), (error: unknown) => {
        assert.ok(error instanceof SourceReadError, String(error));
        assert.equal(error.problems.length, 1);
        assert.equal(`${error.problems[0]!.line}:${error.problems[0]!.column}`, '2:4');
        assert.ok(error.problems[0]!.message.includes(tag), error.problems[0]!.message);
        return true;
      });
    }
    assert.match(String(captureError(() => parseSourceText('b.yaml', 'data: !!binary aGVsbG8=\n'))), /b\.yaml:1:7: the tag !!binary is not supported: write binary data as a plain base64 string/);
  });

  it('accepts the JSON tags and the non-specific tag', () => {
    const [doc] = parseSourceText('a.yaml', 'a: !!str 1\nb: !!int "2"\nc: !!map {d: !!seq [!!bool true, !!null ""]}\ne: ! x\n');
    assert.deepEqual(doc!.value, { a: '1', b: 2, c: { d: [true, null] }, e: 'x' });
  });

  it('keeps a __proto__ key as data', () => {
    const [doc] = parseSourceText('a.yaml', '__proto__: {polluted: true}\nx: 1\n');
    assert.equal(({} as { polluted?: boolean }).polluted, undefined);
    assert.equal(Object.hasOwn(doc!.value as object, '__proto__'), true);
  });
});

describe('parseSourceText without positions first', () => {
  it('gives the same values and document positions as the position-keeping parse on every YAML file in the repository', async () => {
    const { readFile } = await import('node:fs/promises');
    const { dirname, join } = await import('node:path');
    const { fileURLToPath } = await import('node:url');
    const { listManifestFiles } = await import('./yaml-documents.js');
    const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
    const files = await listManifestFiles(['policies', 'test/policies', 'examples', 'deploy', 'src/cli/testdata', 'schema'].map((p) => join(root, p)));
    assert.ok(files.length > 50, `only ${files.length} files found`);
    let documents = 0;
    for (const file of files) {
      const text = await readFile(file, 'utf8');
      let precise: ReturnType<typeof parseWithPositions>;
      try {
        precise = parseWithPositions(file, text);
      } catch {
        continue; // deliberately broken fixtures: both paths report the position-keeping parser's error
      }
      const fast = parseSourceText(file, text);
      assert.deepEqual(fast.map((d) => d.value), precise.map((d) => d.value), file);
      fast.forEach((doc, i) => {
        if (doc.value === null) return;
        assert.deepEqual(doc.positionOf([]), precise[i]!.positionOf([]), `${file} document ${i}`);
        documents++;
      });
    }
    assert.ok(documents > 100, `only ${documents} documents compared`);
  });

  it('leaves anchors, aliases, duplicate keys and syntax errors to the position-keeping parser', () => {
    const aliased = parseSourceText('a.yaml', 'base: &b {x: 1}\ncopy: *b\n');
    assert.deepEqual(aliased[0]!.value, { base: { x: 1 }, copy: { x: 1 } });
    assert.throws(() => parseSourceText('d.yaml', 'a: 1\na: 2\n'), (error: unknown) => error instanceof SourceReadError && /d\.yaml:2:1: YAML syntax error/.test(error.message));
    assert.throws(() => parseSourceText('s.yaml', 'a: [1, 2\n'), SourceReadError);
  });

  it('reads anchors without aliases, and CEL\'s && and ||, with the plain parse, to the values the position-keeping parse gives', () => {
    const text = 'a: &base {x: 1}\nb: &n 2\nrule: has(object.spec) && object.spec.x > 0 || true\nlist: [&first 1, 2]\n';
    const plain = parseSourceText('p.yaml', text);
    const precise = parseWithPositions('p.yaml', text);
    assert.deepEqual(plain[0]!.value, { a: { x: 1 }, b: 2, rule: 'has(object.spec) && object.spec.x > 0 || true', list: [1, 2] });
    assert.deepEqual(plain[0]!.value, precise[0]!.value);
    assert.deepEqual(plain[0]!.positionOf(['b']), precise[0]!.positionOf(['b']));
  });

  it('finds document starts after markers, comments and inline content', () => {
    const text = '# leading comment\n---\n# about x\n\n  x: 1\n--- {y: 2}\n---\nz: 3\n...\n';
    const fast = parseSourceText('m.yaml', text);
    const precise = parseWithPositions('m.yaml', text);
    assert.deepEqual(fast.map((d) => d.positionOf([])), precise.map((d) => d.positionOf([])));
  });
});
