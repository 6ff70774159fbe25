// The two sizes of a string the cost rules read, measured as Go would: its code points (cel-go's
// size of a string) and its UTF-8 bytes (Kubernetes' traversalCost). Most strings of a review are
// ASCII, and V8 stores them one byte per character: a regular expression looking for a surrogate
// answers at once for such a string, whatever its representation (a concatenation, a slice), where a
// loop of charCodeAt reads every character through a generic path (measured on the benchmark's large
// review: about 10 % more CPU than before these costs were charged, against 24 % with loops). The
// loops run only for strings that have what they count.
import { SURROGATE } from './support.js';

/** Any character that takes more than one byte in UTF-8. */
const NON_ASCII = /[\u0080-\uffff]/;

function scanCodePoints(s: string): number {
  let count = s.length;
  for (let i = 0; i < s.length - 1; i++) {
    const unit = s.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        count--;
        i++;
      }
    }
  }
  return count;
}

/**
 * The last two strings codePointCount measured, their counts, and whether they hold no surrogate at
 * all (`clean`). A review's policies measure the same strings again and again (every image policy
 * each container's image), and a string compares equal to itself by identity at once, where the
 * search costs about as much as the call it prices (`contains` on an image: a third of its cost).
 * Two, for a pod's containers taking turns, and for the two operands of a concatenation; strings
 * longer than MEMO_MAX_UNITS are not kept, so that the memo never holds on to much memory.
 */
const memo = { last: '', lastCount: 0, lastClean: true, before: '', beforeCount: 0, beforeClean: true };
const MEMO_MAX_UNITS = 4096;

function remember(s: string, count: number, clean: boolean): void {
  if (s.length > MEMO_MAX_UNITS) return;
  memo.before = memo.last;
  memo.beforeCount = memo.lastCount;
  memo.beforeClean = memo.lastClean;
  memo.last = s;
  memo.lastCount = count;
  memo.lastClean = clean;
}

/** The number of code points in `s` (a lone surrogate counts one, as one UTF-16 unit). */
export function codePointCount(s: string): number {
  if (s === memo.last) return memo.lastCount;
  if (s === memo.before) return memo.beforeCount;
  const clean = !SURROGATE.test(s);
  const count = clean ? s.length : scanCodePoints(s);
  remember(s, count, clean);
  return count;
}

/** True when the memo holds `s` as a string without surrogates. */
function heldClean(s: string): boolean {
  if (s === memo.last) return memo.lastClean;
  if (s === memo.before) return memo.beforeClean;
  return false;
}

/**
 * Records `result`, just made as `a + b`, as measured when both operands are held without a
 * surrogate (then it has none either, so its count is its length; a surrogate at either edge could
 * pair across the join). Why: a concatenation's charge measures both operands (call-costs.ts
 * pairTraversal), and in a chain of `+` building a message each left operand is the previous
 * result, a string V8 keeps as a pair of parts: measuring it with the regular expression flattens
 * (copies) it first, so the chain copied every intermediate string once more. Now the next charge
 * finds it here.
 */
export function rememberConcatenation(a: string, b: string, result: string): void {
  if (heldClean(a) && heldClean(b)) remember(result, result.length, true);
}

function scanUtf8(s: string): number {
  let bytes = s.length;
  for (let i = 0; i < s.length; i++) {
    const unit = s.charCodeAt(i);
    if (unit < 0x80) continue;
    if (unit < 0x800) {
      bytes += 1;
      continue;
    }
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < s.length) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        // Two UTF-16 units, four bytes.
        bytes += 2;
        i++;
        continue;
      }
    }
    bytes += 2;
  }
  return bytes;
}

/** The number of bytes of `s` in UTF-8 (a lone surrogate counts as U+FFFD's 3, as Go's conversion makes it). */
export function utf8Length(s: string): number {
  return NON_ASCII.test(s) ? scanUtf8(s) : s.length;
}
