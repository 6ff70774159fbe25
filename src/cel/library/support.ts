// Small helpers the library modules share: sync registration, CEL errors, code-point strings.
import { EvaluationError, type Environment } from '@marcbachmann/cel-js';
import { Duration, UnsignedInt } from '@marcbachmann/cel-js/evaluator';

/** Handlers receive what cel-js resolved for the signature; each library declares the types it expects. */
export type Handler = (...args: never[]) => unknown;

const SYNC = Object.freeze({ async: false });

/** Registers a synchronous overload (cel-js otherwise wraps every call site for Promises). */
export function define(env: Environment, signature: string, handler: Handler): void {
  env.registerFunction(signature, handler, SYNC);
}

/** A CEL evaluation error; cel-js attaches the position of the call that threw it. */
export function celError(message: string): EvaluationError {
  return new EvaluationError(message);
}

/** The code points of a string (what Go's []rune(s) gives), lone surrogates kept as one unit each. */
export function codePoints(s: string): string[] {
  return Array.from(s);
}

/** Any UTF-16 surrogate (without the `u` flag the class matches single code units, paired or lone). */
export const SURROGATE = /[\ud800-\udfff]/;

/**
 * True when the string has no surrogates, so UTF-16 indices are code point indices. A regular
 * expression rather than a loop of charCodeAt: V8 answers it at once for a string stored one byte per
 * character (most of a review's), where the loop reads every character (string-sizes.ts measured the same).
 */
export function isBmpOnly(s: string): boolean {
  return !SURROGATE.test(s);
}

/** Converts a CEL int argument to a JS number, keeping out-of-range values detectable. */
export function toIndex(value: bigint): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) return Number.MAX_SAFE_INTEGER;
  if (value < BigInt(Number.MIN_SAFE_INTEGER)) return Number.MIN_SAFE_INTEGER;
  return Number(value);
}

const NANOS = 1_000_000_000n;

function numericValue(v: unknown): bigint | number | undefined {
  if (typeof v === 'bigint' || typeof v === 'number') return v;
  if (v instanceof UnsignedInt) return v.value;
  return undefined;
}

/** Compares two CEL numbers of any numeric type exactly (int, uint, double mix as CEL allows). */
function compareNumbers(a: bigint | number, b: bigint | number): number {
  if (typeof a === 'number' && Number.isNaN(a)) return Number.NaN;
  if (typeof b === 'number' && Number.isNaN(b)) return Number.NaN;
  if (typeof a === 'bigint' && typeof b === 'bigint') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : a > b ? 1 : 0;
  // Mixed int/double: compare without rounding the integer.
  const [big, dbl, sign] = typeof a === 'bigint' ? [a, b as number, 1] : [b as bigint, a as number, -1];
  if (dbl === Infinity) return -sign;
  if (dbl === -Infinity) return sign;
  const floor = Math.floor(dbl);
  const floorBig = BigInt(floor);
  if (big < floorBig) return -sign;
  if (big > floorBig) return sign;
  return dbl === floor ? 0 : -sign;
}

/** Compares two strings by code point, as Go compares UTF-8 strings byte by byte. */
export function compareStrings(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i) ?? 0;
    const y = b.codePointAt(i) ?? 0;
    if (x !== y) return x < y ? -1 : 1;
    if (x > 0xffff) i++;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return (a[i] ?? 0) < (b[i] ?? 0) ? -1 : 1;
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

export function durationNanos(d: Duration): bigint {
  return d.seconds * NANOS + BigInt(d.nanos);
}

/**
 * CEL ordering of two values: negative, zero, positive, or NaN when the two cannot be ordered
 * against each other. Throws "no such overload" for a value of a kind CEL never orders (a map...).
 */
export function celCompare(a: unknown, b: unknown): number {
  const x = numericValue(a);
  const y = numericValue(b);
  // NaN orders with nothing: the result is NaN, which no caller's `> 0` or `=== 1` test accepts
  // (cel-go returns an error value there, which Kubernetes' list functions ignore the same way).
  if (x !== undefined && y !== undefined) return compareNumbers(x, y);
  if (!isComparable(a)) throw celError(`no such overload: ${describeType(a)} values cannot be ordered`);
  if (!isComparable(b)) throw celError(`no such overload: ${describeType(b)} values cannot be ordered`);
  if (typeof a === 'string' && typeof b === 'string') return compareStrings(a, b);
  if (typeof a === 'boolean' && typeof b === 'boolean') return a === b ? 0 : a ? 1 : -1;
  if (a instanceof Uint8Array && b instanceof Uint8Array) return compareBytes(a, b);
  if (a instanceof Date && b instanceof Date) return Math.sign(a.getTime() - b.getTime());
  if (a instanceof Duration && b instanceof Duration) {
    const p = durationNanos(a);
    const q = durationNanos(b);
    return p < q ? -1 : p > q ? 1 : 0;
  }
  // Two orderable values of different kinds: cel-go yields an error value that Kubernetes' list
  // functions treat as "not ordered", so they do here too.
  return Number.NaN;
}

function isComparable(v: unknown): boolean {
  return (
    typeof v === 'string' ||
    typeof v === 'boolean' ||
    v instanceof Uint8Array ||
    v instanceof Date ||
    v instanceof Duration ||
    numericValue(v) !== undefined
  );
}

/** CEL equality (heterogeneous numbers compare by value; lists and maps element-wise). */
export function celEquals(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  const x = numericValue(a);
  const y = numericValue(b);
  if (x !== undefined || y !== undefined) return x !== undefined && y !== undefined && compareNumbers(x, y) === 0;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    return a instanceof Uint8Array && b instanceof Uint8Array && compareBytes(a, b) === 0;
  }
  if (a instanceof Date || b instanceof Date) return a instanceof Date && b instanceof Date && a.getTime() === b.getTime();
  if (a instanceof Duration || b instanceof Duration) {
    return a instanceof Duration && b instanceof Duration && durationNanos(a) === durationNanos(b);
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!celEquals(a[i], b[i])) return false;
    return true;
  }
  const eq = (a as { equals?: unknown }).equals;
  if (typeof eq === 'function') return (eq as (o: unknown) => boolean).call(a, b);
  const ea = mapEntries(a);
  const eb = mapEntries(b);
  if (!ea || !eb || ea.size !== eb.size) return false;
  for (const [k, v] of ea) {
    if (!eb.has(k) || !celEquals(v, eb.get(k))) return false;
  }
  return true;
}

function mapEntries(v: object): Map<unknown, unknown> | undefined {
  if (v instanceof Map) return v;
  const proto: unknown = Object.getPrototypeOf(v);
  if (proto !== null && proto !== Object.prototype) return undefined;
  return new Map(Object.entries(v));
}

/** The CEL type name of a runtime value, for messages. */
export function describeType(v: unknown): string {
  switch (typeof v) {
    case 'bigint':
      return 'int';
    case 'number':
      return 'double';
    case 'string':
      return 'string';
    case 'boolean':
      return 'bool';
    case 'object':
      if (v === null) return 'null_type';
      if (v instanceof UnsignedInt) return 'uint';
      if (v instanceof Uint8Array) return 'bytes';
      if (v instanceof Date) return 'google.protobuf.Timestamp';
      if (v instanceof Duration) return 'google.protobuf.Duration';
      if (Array.isArray(v) || v instanceof Set) return 'list';
      if (v instanceof Map) return 'map';
      {
        const name = (v as { celTypeName?: unknown }).celTypeName;
        if (typeof name === 'string') return name;
      }
      return Object.getPrototypeOf(v) === null || Object.getPrototypeOf(v) === Object.prototype ? 'map' : 'unknown';
    default:
      return typeof v;
  }
}
