// A native RegExp stands in for RE2 only where both match the same strings in linear time
// (linear-regex.ts): which patterns qualify, and the two engines compared on generated patterns and
// strings, astral characters, lone surrogates and newlines included.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { RE2JS } from 're2js';
import { linearNativeRegex } from './linear-regex.js';
import { matches } from './regex.js';

describe('patterns run on the native engine', () => {
  it('are anchored, ASCII, and deterministic; everything else stays on RE2', () => {
    const native = ['^[0-9]+%$', '^[0-9]+$', '^[0-9]+%?$', '^0+%?$', '^v[0-9]+\\.[0-9]+$', '^[a-z]+:[0-9]*$', '^', '^$', '^abc'];
    for (const pattern of native) assert.ok(linearNativeRegex(pattern) !== undefined, pattern);
    const re2 = [
      '[0-9]+%', // unanchored: a backtracking engine would try every start
      '^[0-9]+[0-9]$', // the repeat and what follows share characters: backtracking
      '^a*a$',
      '^a?a',
      '^[a-z]+[a-z0-9]*$',
      '^a.*$', // `.`: code points in RE2, UTF-16 units here
      '^[^/]+$', // negated class: the same difference
      '^a{2}$',
      '^a+?$',
      '^(a|b)$',
      '^\\d+$',
      '^[a-z0-9-]+$',
      '(?i)^a$',
      '^[z-a]$',
      '^[0-z]$',
    ];
    for (const pattern of re2) assert.equal(linearNativeRegex(pattern), undefined, pattern);
  });

  it('match exactly the strings RE2 matches', () => {
    // Units the native engine must not take ('.', a negated class) are generated too: a pattern with
    // them must stay on RE2, so a looser parser would show here as a disagreement.
    const item = fc.tuple(fc.constantFrom('a', 'b', '0', '%', '\\.', '.', '[0-9]', '[ab]', '[a-z]', '[%.]', '[^a]', ':'), fc.constantFrom('', '?', '*', '+'));
    const pattern = fc.tuple(fc.array(item, { maxLength: 5 }), fc.boolean()).map(([items, end]) => `^${items.map(([unit, q]) => unit + q).join('')}${end ? '$' : ''}`);
    const text = fc.array(fc.constantFrom('a', 'b', 'c', '0', '9', '%', '.', ':', '\n', 'é', '😀', '\ud800', '\udc00', 'A'), { maxLength: 12 }).map((parts) => parts.join(''));
    let compared = 0;
    fc.assert(
      fc.property(pattern, fc.array(text, { minLength: 1, maxLength: 8 }), (p, strings) => {
        const native = linearNativeRegex(p);
        if (native === undefined) return;
        const re2 = RE2JS.compile(p);
        for (const s of strings) {
          assert.equal(native.test(s), re2.test(s), `${p} on ${JSON.stringify(s)}`);
          // And through the CEL function, which picks the engine.
          assert.equal(matches(s, p), re2.test(s), `${p} on ${JSON.stringify(s)}`);
          compared++;
        }
      }),
      { numRuns: 2000 },
    );
    assert.ok(compared >= 2000, `only ${compared} strings compared on native patterns`);
  });
});
