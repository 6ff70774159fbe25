import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { repositoryDaemonSets } from '../../test/support/daemonset-corpus.js';
import { referenceMeasureJson } from '../../test/support/json-limits-reference.js';
import { wideDaemonSet } from '../../test/support/large-daemonsets.js';
import { measureJson, surelyWithinJsonLimits, type JsonLimits } from './json-limits.js';

const WIDE: JsonLimits = { maxDepth: 1000, maxElements: 1_000_000, maxNodes: 10_000_000, maxStringBytes: 10_000_000 };
const measure = (text: string, limits: Partial<JsonLimits> = {}): ReturnType<typeof measureJson> => measureJson(Buffer.from(text), { ...WIDE, ...limits });

describe('measureJson', () => {
  it('counts every value once, keys not included, whatever the whitespace', () => {
    assert.deepEqual(measure('{"a": [1, -2.5e3, "x", true, false, null, {}, []], "b": {"c": "d"}}'), { nodes: 12 });
    assert.deepEqual(measure(' \n\t"just a string" '), { nodes: 1 });
    assert.deepEqual(measure('[]'), { nodes: 1 });
  });

  it('reads strings with escaped quotes and backslashes, and keys that look like values', () => {
    assert.deepEqual(measure(String.raw`{"a\"b": "c\\", "{[": "]}\\\"", ",": [","]}`), { nodes: 5 });
  });

  it('says which list has too many elements, and where', () => {
    const text = JSON.stringify({ request: { object: { spec: { tolerations: [{}, {}, {}, {}] } } } });
    assert.deepEqual(measure(text, { maxElements: 3 }).violation, { limit: 'elements', max: 3, path: ['request', 'object', 'spec', 'tolerations'] });
    assert.equal(measure(text, { maxElements: 4 }).violation, undefined);
  });

  it('counts the members of an object against the same limit', () => {
    const labels = Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`k${i}`, 'v']));
    assert.deepEqual(measure(JSON.stringify({ metadata: { labels } }), { maxElements: 4 }).violation, { limit: 'elements', max: 4, path: ['metadata', 'labels'] });
  });

  it('stops at the value that is one too many, and names it', () => {
    const text = JSON.stringify({ a: [1, 2], b: { c: [3, 4] } });
    // root, a, 1, 2, b, c, 3, 4
    assert.deepEqual(measure(text, { maxNodes: 6 }).violation, { limit: 'nodes', max: 6, path: ['b', 'c', 0] });
    assert.deepEqual(measure(text, { maxNodes: 7 }).violation, { limit: 'nodes', max: 7, path: ['b', 'c', 1] });
    assert.deepEqual(measure(text, { maxNodes: 8 }), { nodes: 8 });
  });

  it('measures strings in bytes as written, keys too', () => {
    assert.deepEqual(measure(JSON.stringify({ a: ['ok', 'é'.repeat(3)] }), { maxStringBytes: 5 }).violation, { limit: 'string-bytes', max: 5, path: ['a', 1] });
    assert.deepEqual(measure(JSON.stringify({ ['k'.repeat(6)]: 1 }), { maxStringBytes: 5 }).violation, { limit: 'string-bytes', max: 5, path: ['kkkkkk'] });
    assert.equal(measure('["\\u003c"]', { maxStringBytes: 5 }).violation?.limit, 'string-bytes');
  });

  it('refuses nesting one level past the limit at the container that goes past it', () => {
    assert.deepEqual(measure('{"a": [[{"b": 1}]]}', { maxDepth: 3 }).violation, { limit: 'depth', max: 3, path: ['a', 0, 0] });
    assert.equal(measure('{"a": [[1]]}', { maxDepth: 3 }).violation, undefined);
    assert.deepEqual(measure('['.repeat(200_000)).violation?.path.length, 1000);
  });

  it('never throws or reads past the end on text that is not JSON', () => {
    for (const text of ['', '"unterminated', '{"a": "b', '}}]]', '{"a" 1 2 3}', '\\', 'nul', '[1,,2]', '\u0000\u00ff', '"\\"']) {
      assert.doesNotThrow(() => measure(text), text);
    }
  });
});

describe('measureJson against the plain version it replaced', () => {
  it('gives the same counts, the same first violation and the same path on JSON, bracket soups and arbitrary bytes', () => {
    const jsonText = fc.json({ depthSize: 'medium' }).map((text) => Buffer.from(text));
    const bytes = fc.uint8Array({ maxLength: 96 }).map((array) => Buffer.from(array));
    const soup = fc.array(fc.constantFrom('[', '{', ']', '}', '"', '\\', ',', ':', '1', ' ', 'a', 'é', '"k":'), { maxLength: 80 }).map((parts) => Buffer.from(parts.join('')));
    const someLimits = fc.record({ maxDepth: fc.integer({ min: 1, max: 12 }), maxElements: fc.integer({ min: 1, max: 12 }), maxNodes: fc.integer({ min: 1, max: 60 }), maxStringBytes: fc.integer({ min: 0, max: 24 }) });
    let violations = 0;
    fc.assert(
      fc.property(fc.oneof(jsonText, bytes, soup), someLimits, (text, chosen) => {
        const measured = measureJson(text, chosen);
        assert.deepEqual(measured, referenceMeasureJson(text, chosen), text.toString('latin1'));
        if (measured.violation !== undefined) violations++;
      }),
      { numRuns: 4000 },
    );
    // Every kind of violation is reached, and often.
    assert.ok(violations >= 500, `${violations} texts went over a limit`);
  });

  it('agrees on reviews of real and of wide DaemonSets, under wide limits and under tight ones', async () => {
    const { daemonSets } = await repositoryDaemonSets();
    const objects = [...daemonSets.map((entry) => entry.object), wideDaemonSet('wide', 40, 30, 8, 12)];
    for (const object of objects) {
      const text = Buffer.from(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u', object, oldObject: object } }));
      for (const chosen of [WIDE, { maxDepth: 6, maxElements: 20, maxNodes: 300, maxStringBytes: 40 }, { ...WIDE, maxStringBytes: 64 }, { ...WIDE, maxDepth: 9 }]) {
        assert.deepEqual(measureJson(text, chosen), referenceMeasureJson(text, chosen), JSON.stringify(object.metadata).slice(0, 120));
      }
    }
    assert.ok(objects.length >= 20, `${objects.length} DaemonSets`);
  });
});

describe('surelyWithinJsonLimits', () => {
  const limits = (overrides: Partial<JsonLimits>): JsonLimits => ({ ...WIDE, ...overrides });

  it('lets a body shorter than every count limit through once its brackets cannot nest past the depth limit', () => {
    const text = Buffer.from(JSON.stringify({ a: [{ b: [1, 2] }], c: 'x'.repeat(50) }));
    assert.equal(surelyWithinJsonLimits(text, limits({ maxDepth: 4 })), true);
    // Four brackets, depth 4: one level less and measureJson has to say where.
    assert.equal(surelyWithinJsonLimits(text, limits({ maxDepth: 3 })), false);
    assert.equal(measureJson(text, limits({ maxDepth: 3 })).violation?.limit, 'depth');
  });

  it('leaves a body that is long enough to break a count limit to measureJson', () => {
    const text = Buffer.from(JSON.stringify([1, 2, 3]));
    assert.equal(surelyWithinJsonLimits(text, limits({ maxElements: text.length - 1 })), false);
    assert.equal(surelyWithinJsonLimits(text, limits({ maxNodes: text.length - 1 })), false);
    assert.equal(surelyWithinJsonLimits(text, limits({ maxStringBytes: text.length - 3 })), false);
    assert.equal(surelyWithinJsonLimits(text, limits({ maxElements: text.length, maxNodes: text.length, maxStringBytes: text.length - 2 })), true);
  });

  it('counts brackets inside strings too, erring towards measuring', () => {
    const text = Buffer.from(JSON.stringify({ a: '[[[[{{{{' }));
    assert.equal(surelyWithinJsonLimits(text, limits({ maxDepth: 5 })), false);
    assert.equal(measureJson(text, limits({ maxDepth: 5 })).violation, undefined);
  });

  it('never lets through a text that measureJson refuses (JSON and arbitrary bytes, random limits)', () => {
    const jsonText = fc.json({ depthSize: 'medium' }).map((text) => Buffer.from(text));
    const bytes = fc.uint8Array({ maxLength: 64 }).map((array) => Buffer.from(array));
    const brackets = fc.array(fc.constantFrom('[', '{', ']', '}', '"', '\\', ',', ':', '1', ' ', 'a'), { maxLength: 64 }).map((parts) => Buffer.from(parts.join('')));
    const someLimits = fc.record({ maxDepth: fc.integer({ min: 1, max: 40 }), maxElements: fc.integer({ min: 1, max: 80 }), maxNodes: fc.integer({ min: 1, max: 120 }), maxStringBytes: fc.integer({ min: 0, max: 80 }) });
    let letThrough = 0;
    fc.assert(
      fc.property(fc.oneof(jsonText, bytes, brackets), someLimits, (text, chosen) => {
        if (!surelyWithinJsonLimits(text, chosen)) return;
        letThrough++;
        assert.equal(measureJson(text, chosen).violation, undefined, text.toString('latin1'));
      }),
      { numRuns: 3000 },
    );
    // The property means nothing unless the shortcut is taken often.
    assert.ok(letThrough >= 300, `the shortcut was taken ${letThrough} times`);
  });
});
