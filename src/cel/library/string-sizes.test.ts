// A concatenation's result is remembered with the size its operands had (string-sizes.ts
// rememberConcatenation): proven here against a count made from scratch, on the joins where that
// would go wrong (surrogate halves meeting across the join), chains, and strings too long to keep.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { concatStrings } from './allocations.js';
import { pairTraversal } from './call-costs.js';
import { codePointCount } from './string-sizes.js';

/** Code points as Go counts runes of the UTF-16 string: a lone surrogate is one. */
const fromScratch = (s: string): number => Array.from(s).length;

/** What a compiled or interpreted `a + b` does: the charge measures both operands, then the join. */
function concatenate(a: string, b: string): string {
  pairTraversal(a, b);
  return concatStrings(a, b);
}

describe('the code points of concatenated strings', () => {
  it('are counted as from scratch, whatever meets across the join', () => {
    const high = '\ud83d';
    const low = '\ude00';
    const cases: [string, string][] = [
      ['container "node-exporter" ', 'has no readinessProbe'],
      [`ends in half a pair ${high}`, `${low} starts with the other half`],
      [`whole pair 😀 inside`, ` and ascii after it`],
      ['ascii before', ' a whole pair 😀'],
      [high.repeat(7), low.repeat(7)],
      ['x'.repeat(5000), ' over the memo limit'],
    ];
    for (const [a, b] of cases) {
      const joined = concatenate(a, b);
      assert.equal(codePointCount(joined), fromScratch(joined), JSON.stringify([a.slice(0, 30), b.slice(0, 30)]));
    }
  });

  it('stay exact along a chain of joins that builds a message, as each is measured in turn', () => {
    const parts = ['containers ', '"a", "b"', ': no readinessProbe', ' and ', '\ud83d', '\ude00', ' (see daemonguard.dev)', '; a bad rollout will not stop'];
    let message = '';
    for (const part of parts) {
      message = concatenate(message, part);
      assert.equal(codePointCount(message), fromScratch(message), JSON.stringify(message));
    }
  });
});
