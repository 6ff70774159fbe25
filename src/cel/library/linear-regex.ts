// Patterns that JavaScript's own RegExp runs exactly as RE2 does, and in linear time: a native
// RegExp for them, re2js for everything else (regex.ts).
//
// Why: re2js is RE2 written in JavaScript, about half a microsecond per call even for `^[0-9]+$`
// and a large body of code that a review in `serve` finds cold. The patterns policies write to check
// a field's shape are mostly of one simple kind (rollout-safety's `^[0-9]+%?$`), which a backtracking
// engine runs as fast as RE2 runs it and as safely, when:
// - the pattern is anchored at its start (`^`), so the engine tries one starting position only;
// - it is a sequence of items, each an ASCII literal or a class of ASCII characters and ranges
//   (no negation, no `.`, no escapes but of punctuation), optionally followed by `?`, `*` or `+`
//   (greedy), then optionally `$`;
// - it is deterministic: the character set of an item that may repeat or be skipped shares no
//   character with what can come next (the following items up to the first one that must appear,
//   and the end where all of them may be skipped). Each character then has one place to go, so the
//   engine never backtracks: linear in the string, whatever it holds.
// Such a pattern matches the same strings in both engines: its sets are ASCII, which no UTF-16 unit
// of a character beyond ASCII (nor half of a surrogate pair) belongs to, as no code point RE2 reads
// does; `^` and `$` without flags mean the start and the end of the text in both.

/** A character allowed as a literal item or inside a class, unescaped. */
const PLAIN = /^[A-Za-z0-9 _%/:@=,;<>!"'#&~-]$/;
/** Punctuation allowed escaped (`\.`), meaning itself in both engines. */
const ESCAPABLE = /^[.\-\\/+*?()[\]{}|^$]$/;

interface Item {
  /** The character codes the item matches (all ASCII). */
  readonly set: ReadonlySet<number>;
  /** The item may match nothing (`?`, `*`). */
  readonly optional: boolean;
  /** The item may match more than once (`*`, `+`). */
  readonly repeats: boolean;
}

/** Parses a class body from `at` (just after `[`); the set and the index after `]`, or undefined. */
function parseClass(pattern: string, at: number): { set: Set<number>; next: number } | undefined {
  const set = new Set<number>();
  let i = at;
  if (pattern[i] === '^' || pattern[i] === ']') return undefined;
  while (i < pattern.length && pattern[i] !== ']') {
    let from: string;
    if (pattern[i] === '\\') {
      if (!ESCAPABLE.test(pattern[i + 1] ?? '')) return undefined;
      from = pattern[i + 1]!;
      i += 2;
    } else {
      if (!PLAIN.test(pattern[i]!) || pattern[i] === '-') return undefined;
      from = pattern[i]!;
      i += 1;
    }
    if (pattern[i] === '-' && pattern[i + 1] !== ']' && i + 1 < pattern.length) {
      const to = pattern[i + 1]!;
      if (!/^[A-Za-z0-9]$/.test(from) || !/^[A-Za-z0-9]$/.test(to)) return undefined;
      const low = from.charCodeAt(0);
      const high = to.charCodeAt(0);
      // Ranges within one kind only (a-z, A-Z, 0-9): no range spans punctuation by accident.
      const kind = (c: string) => (/[a-z]/.test(c) ? 1 : /[A-Z]/.test(c) ? 2 : 3);
      if (low > high || kind(from) !== kind(to)) return undefined;
      for (let c = low; c <= high; c++) set.add(c);
      i += 2;
    } else {
      set.add(from.charCodeAt(0));
    }
  }
  if (pattern[i] !== ']' || set.size === 0) return undefined;
  return { set, next: i + 1 };
}

/** The items of an anchored pattern, or undefined when it is not of the kind above. */
function parseItems(pattern: string): { items: Item[]; anchoredEnd: boolean } | undefined {
  if (!pattern.startsWith('^')) return undefined;
  const items: Item[] = [];
  let i = 1;
  let anchoredEnd = false;
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (c === '$') {
      if (i !== pattern.length - 1) return undefined;
      anchoredEnd = true;
      break;
    }
    let set: Set<number>;
    if (c === '[') {
      const parsed = parseClass(pattern, i + 1);
      if (parsed === undefined) return undefined;
      set = parsed.set;
      i = parsed.next;
    } else if (c === '\\') {
      const escaped = pattern[i + 1] ?? '';
      if (!ESCAPABLE.test(escaped)) return undefined;
      set = new Set([escaped.charCodeAt(0)]);
      i += 2;
    } else if (PLAIN.test(c)) {
      set = new Set([c.charCodeAt(0)]);
      i += 1;
    } else {
      return undefined;
    }
    const quantifier = pattern[i];
    let optional = false;
    let repeats = false;
    if (quantifier === '?' || quantifier === '*' || quantifier === '+') {
      optional = quantifier !== '+';
      repeats = quantifier !== '?';
      i += 1;
      // Lazy or possessive forms, or a quantifier on a quantifier: not this kind.
      if (pattern[i] === '?' || pattern[i] === '*' || pattern[i] === '+' || pattern[i] === '{') return undefined;
    } else if (quantifier === '{') {
      return undefined;
    }
    items.push({ set, optional, repeats });
  }
  return { items, anchoredEnd };
}

/** Whether each character of a match has one item it can belong to (see the header). */
function deterministic(items: readonly Item[]): boolean {
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    if (!item.optional && !item.repeats) continue;
    // What can come right after this item's characters: the next items up to the first required one.
    for (let j = i + 1; j < items.length; j++) {
      const next = items[j]!;
      for (const c of next.set) if (item.set.has(c)) return false;
      if (!next.optional) break;
    }
  }
  return true;
}

/**
 * A native RegExp that matches exactly the strings RE2 matches with `pattern`, in linear time, or
 * undefined when the pattern is not of that kind (then re2js runs it).
 */
export function linearNativeRegex(pattern: string): RegExp | undefined {
  const parsed = parseItems(pattern);
  if (parsed === undefined || !deterministic(parsed.items)) return undefined;
  return new RegExp(pattern);
}
