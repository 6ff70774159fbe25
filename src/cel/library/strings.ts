// cel-go's strings extension as Kubernetes enables it (ext.Strings), on code points rather than UTF-16
// units: charAt, indexOf, lastIndexOf, lowerAscii, upperAscii, replace, split, substring, trim, join,
// format, strings.quote, reverse.
//
// cel-js ships some of these with JavaScript semantics (UTF-16 indices, toLowerCase on all of
// Unicode, JS whitespace for trim, UTF-16 splitting); those built-ins are replaced, not extended.
// contains, startsWith and endsWith are cel-js's, replaced here only to charge what Kubernetes charges.
//
// Costs (call-costs.ts), as Kubernetes 1.37 prices each call: lowerAscii, upperAscii, substring and
// trim one traversal of the receiver; replace and split twice that; join twice its result's size;
// indexOf and lastIndexOf the receiver's bytes times 0.1, truncated (Kubernetes' traversalCost);
// charAt 1; format and strings.quote one traversal of the template or the string (cel-go's rule);
// contains the product of both traversals; startsWith and endsWith one traversal of the argument.
// reverse is not in the version of the library Kubernetes 1.37 enables; it is priced like lowerAscii.
import type { Environment } from '@marcbachmann/cel-js';
import { chargeCost, isCostBudgetArmed } from '../cost.js';
import { shadowBuiltinOverloads, type RegistryLike } from '../cel-js-internals.js';
import { chargeNominalCall, chargeStringTraversal, containsCost, stringSize, traversalAndBuild, traversalCost } from './call-costs.js';
import { formatString } from './format.js';
import { celError, codePoints, define, describeType, isBmpOnly, toIndex } from './support.js';

/** Go's unicode.IsSpace, which strings.TrimSpace uses (JS's trim() differs on U+0085 and U+FEFF). */
function isGoSpace(c: number): boolean {
  switch (c) {
    case 0x09:
    case 0x0a:
    case 0x0b:
    case 0x0c:
    case 0x0d:
    case 0x20:
    case 0x85:
    case 0xa0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202f:
    case 0x205f:
    case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200a;
  }
}

export function trim(s: string): string {
  chargeStringTraversal(s);
  let start = 0;
  let end = s.length;
  while (start < end && isGoSpace(s.charCodeAt(start))) start++;
  while (end > start && isGoSpace(s.charCodeAt(end - 1))) end--;
  return s.slice(start, end);
}

function mapAscii(s: string, from: number, to: number, delta: number): string {
  chargeStringTraversal(s);
  let out = '';
  let last = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= from && c <= to) {
      out += s.slice(last, i) + String.fromCharCode(c + delta);
      last = i + 1;
    }
  }
  return last === 0 ? s : out + s.slice(last);
}

export const lowerAscii = (s: string): string => mapAscii(s, 0x41, 0x5a, 32);
export const upperAscii = (s: string): string => mapAscii(s, 0x61, 0x7a, -32);

function outOfRange(index: bigint | number): never {
  throw celError(`index out of range: ${index}`);
}

export function charAt(s: string, index: bigint): string {
  chargeNominalCall();
  if (isBmpOnly(s)) {
    // Without surrogates every UTF-16 unit is a code point: no array of code points needed.
    if (index < 0n || index > BigInt(s.length)) outOfRange(index);
    return s.charAt(Number(index));
  }
  const runes = codePoints(s);
  if (index < 0n || index > BigInt(runes.length)) outOfRange(index);
  return runes[Number(index)] ?? '';
}

function matchesAt(runes: readonly string[], sub: readonly string[], at: number): boolean {
  for (let j = 0; j < sub.length; j++) if (runes[at + j] !== sub[j]) return false;
  return true;
}

/** Index of `sub` in `runes` at or after `from` (code points), -1 when absent. */
function findRunes(runes: readonly string[], sub: readonly string[], from: number): number {
  for (let i = from; i <= runes.length - sub.length; i++) if (matchesAt(runes, sub, i)) return i;
  return -1;
}

function findRunesBackward(runes: readonly string[], sub: readonly string[], from: number): number {
  for (let i = Math.min(from, runes.length - sub.length); i >= 0; i--) if (matchesAt(runes, sub, i)) return i;
  return -1;
}

// indexOf / lastIndexOf follow cel-go v0.29 (Kubernetes 1.37): a negative offset is an error, an
// offset past the end finds nothing (-1), and the empty string matches at the offset, clamped to
// the end of the string.
export function indexOf(s: string, sub: string, offset: bigint = 0n): bigint {
  if (isCostBudgetArmed()) chargeCost(traversalCost(s));
  if (offset < 0n) outOfRange(offset);
  if (isBmpOnly(s) && isBmpOnly(sub)) {
    if (sub === '') return offset > BigInt(s.length) ? BigInt(s.length) : offset;
    if (offset >= BigInt(s.length)) return -1n;
    return BigInt(s.indexOf(sub, Number(offset)));
  }
  const runes = codePoints(s);
  if (sub === '') return offset > BigInt(runes.length) ? BigInt(runes.length) : offset;
  if (offset >= BigInt(runes.length)) return -1n;
  return BigInt(findRunes(runes, codePoints(sub), Number(offset)));
}

export function lastIndexOf(s: string, sub: string, offset?: bigint): bigint {
  if (isCostBudgetArmed()) chargeCost(traversalCost(s));
  // Without surrogates UTF-16 indices are code point indices, and String#lastIndexOf searches
  // backward from the offset exactly as findRunesBackward does.
  const bmp = isBmpOnly(s) && isBmpOnly(sub);
  const runes = bmp ? undefined : codePoints(s);
  const length = runes === undefined ? s.length : runes.length;
  if (offset === undefined) {
    if (sub === '') return BigInt(length);
    if (length === 0) return -1n;
    offset = BigInt(length - 1);
  }
  if (offset < 0n) outOfRange(offset);
  if (sub === '') return offset > BigInt(length) ? BigInt(length) : offset;
  if (offset >= BigInt(length)) return -1n;
  if (runes === undefined) return BigInt(s.lastIndexOf(sub, Number(offset)));
  return BigInt(findRunesBackward(runes, codePoints(sub), Number(offset)));
}

export function substring(s: string, start: bigint, end?: bigint): string {
  chargeStringTraversal(s);
  // Without surrogates UTF-16 indices are code point indices: slice the string itself.
  const runes = isBmpOnly(s) ? undefined : codePoints(s);
  const length = BigInt(runes === undefined ? s.length : runes.length);
  if (end !== undefined && start > end) throw celError(`invalid substring range. start: ${start}, end: ${end}`);
  const stop = end ?? length;
  if (start < 0n || start > length) outOfRange(start);
  if (stop < 0n || stop > length) outOfRange(stop);
  if (runes === undefined) return s.slice(Number(start), Number(stop));
  return runes.slice(Number(start), Number(stop)).join('');
}

/** Go's strings.Replace: at most `limit` replacements (all when negative); an empty `old` matches between code points. */
export function replace(s: string, old: string, replacement: string, limit: bigint = -1n): string {
  if (isCostBudgetArmed()) chargeCost(traversalAndBuild(stringSize(s)));
  if (limit === 0n || old === replacement) return s;
  const max = limit < 0n ? Number.POSITIVE_INFINITY : toIndex(limit);
  if (old === '') {
    const runes = codePoints(s);
    let out = '';
    let count = 0;
    for (let i = 0; i <= runes.length; i++) {
      if (count < max) {
        out += replacement;
        count++;
      }
      if (i < runes.length) out += runes[i];
    }
    return out;
  }
  let out = '';
  let from = 0;
  let count = 0;
  while (count < max) {
    const at = s.indexOf(old, from);
    if (at < 0) break;
    out += s.slice(from, at) + replacement;
    from = at + old.length;
    count++;
  }
  return out + s.slice(from);
}

/** Go's strings.SplitN (limit < 0: all parts; 0: none; n: at most n, the last holding the rest). */
export function split(s: string, separator: string, limit: bigint = -1n): string[] {
  if (isCostBudgetArmed()) chargeCost(traversalAndBuild(stringSize(s)));
  if (limit === 0n) return [];
  const max = limit < 0n ? Number.POSITIVE_INFINITY : toIndex(limit);
  if (separator === '') {
    const runes = codePoints(s);
    if (runes.length <= max) return runes;
    const head = runes.slice(0, max - 1);
    head.push(runes.slice(max - 1).join(''));
    return head;
  }
  const parts: string[] = [];
  let from = 0;
  while (parts.length < max - 1) {
    const at = s.indexOf(separator, from);
    if (at < 0) break;
    parts.push(s.slice(from, at));
    from = at + separator.length;
  }
  parts.push(s.slice(from));
  return parts;
}

export function join(list: readonly unknown[], separator = ''): string {
  for (const element of list) {
    if (typeof element !== 'string') throw celError(`join: list must contain only strings, found ${describeType(element)}`);
  }
  const joined = list.join(separator);
  // Priced by the result, so charged once it is built.
  if (isCostBudgetArmed()) chargeCost(traversalAndBuild(stringSize(joined)));
  return joined;
}

export function reverse(s: string): string {
  chargeStringTraversal(s);
  return codePoints(s).reverse().join('');
}

const QUOTE_ESCAPES: Readonly<Record<string, string>> = {
  '\x07': '\\a',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\v': '\\v',
  '\\': '\\\\',
  '"': '\\"',
};

/** strings.quote: a double-quoted CEL string literal; invalid UTF-16 becomes U+FFFD. */
export function quote(s: string): string {
  chargeStringTraversal(s);
  let out = '"';
  for (const ch of s) {
    const code = ch.codePointAt(0) ?? 0;
    if (code >= 0xd800 && code <= 0xdfff) out += '\ufffd';
    else out += QUOTE_ESCAPES[ch] ?? ch;
  }
  return out + '"';
}

function format(template: string, args: readonly unknown[]): string {
  chargeStringTraversal(template);
  return formatString(template, args);
}

export function contains(s: string, sub: string): boolean {
  if (isCostBudgetArmed()) chargeCost(containsCost(s, sub));
  return s.includes(sub);
}

export function startsWith(s: string, prefix: string): boolean {
  chargeStringTraversal(prefix);
  return s.startsWith(prefix);
}

export function endsWith(s: string, suffix: string): boolean {
  chargeStringTraversal(suffix);
  return s.endsWith(suffix);
}

class StringsNamespace {}

/** The cel-js built-ins whose behaviour differs from cel-go's and which this library replaces. */
const REPLACED_BUILTINS: ReadonlyArray<[name: string, argCount: number]> = [
  ['indexOf', 1],
  ['indexOf', 2],
  ['lastIndexOf', 1],
  ['lastIndexOf', 2],
  ['lowerAscii', 0],
  ['upperAscii', 0],
  ['trim', 0],
  ['substring', 1],
  ['substring', 2],
  ['split', 1],
  ['split', 2],
  ['join', 0],
  ['join', 1],
  ['contains', 1],
  ['startsWith', 1],
  ['endsWith', 1],
];

export function registerStringsLibrary(env: Environment, registry: RegistryLike): void {
  for (const [name, argCount] of REPLACED_BUILTINS) {
    shadowBuiltinOverloads(registry, true, name, argCount, (d) => d.receiverType?.name !== undefined && /^(string|list<string>)$/.test(d.receiverType.name));
  }
  define(env, 'string.contains(string): bool', contains);
  define(env, 'string.startsWith(string): bool', startsWith);
  define(env, 'string.endsWith(string): bool', endsWith);
  define(env, 'string.charAt(int): string', charAt);
  define(env, 'string.indexOf(string): int', (s: string, sub: string) => indexOf(s, sub));
  define(env, 'string.indexOf(string, int): int', indexOf);
  define(env, 'string.lastIndexOf(string): int', (s: string, sub: string) => lastIndexOf(s, sub));
  define(env, 'string.lastIndexOf(string, int): int', lastIndexOf);
  define(env, 'string.lowerAscii(): string', lowerAscii);
  define(env, 'string.upperAscii(): string', upperAscii);
  define(env, 'string.replace(string, string): string', (s: string, a: string, b: string) => replace(s, a, b));
  define(env, 'string.replace(string, string, int): string', replace);
  define(env, 'string.split(string): list<string>', (s: string, sep: string) => split(s, sep));
  define(env, 'string.split(string, int): list<string>', split);
  define(env, 'string.substring(int): string', (s: string, start: bigint) => substring(s, start));
  define(env, 'string.substring(int, int): string', substring);
  define(env, 'string.trim(): string', trim);
  define(env, 'list<string>.join(): string', (list: unknown[]) => join(list));
  define(env, 'list<string>.join(string): string', join);
  define(env, 'string.format(list): string', format);
  define(env, 'string.reverse(): string', reverse);
  env.registerType('StringsNamespace', StringsNamespace);
  env.registerConstant('strings', 'StringsNamespace', new StringsNamespace());
  define(env, 'StringsNamespace.quote(string): string', (_ns: StringsNamespace, s: string) => quote(s));
}
