// The helpers generated code calls (passed in as constants): the tests and conversions too long to
// write out at every use, each small enough for V8 to inline at the call site.
import { EvaluationError, Optional } from '@marcbachmann/cel-js';
import { chargeCost, isCostBudgetArmed } from '../cost.js';
import type { ConversionMemo } from '../program.js';
import { celOfJson } from '../values.js';
import { hasField } from '../library/standard.js';

/** A value as the interpreter sees a plain CEL map (an object without a class of its own). */
export function isPlainMap(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === null || proto === Object.prototype;
}

/**
 * Whether a value read from the review's JSON is an object (a CEL map). JSON holds only plain
 * objects, arrays, strings, numbers, booleans and null, so this stands in for isPlainMap there
 * without reading the prototype.
 */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A CEL value where generated code holds JSON: what an operation whose result is JSON when its
 * operands are (a concatenation of two JSON lists) gives for other operands. Converting a CEL value
 * as if it were JSON could change it (the double 1.0 would become the int 1), so it is wrapped: it
 * has no members and is no list or plain map, so every JSON fast path turns it down and the slow
 * path's celOf unwraps it.
 */
export class CelValueInJson {
  readonly #value: unknown;
  constructor(value: unknown) {
    this.#value = value;
  }
  static unwrap(held: CelValueInJson): unknown {
    return held.#value;
  }
}

/** `value` (a CEL value) where generated code holds JSON (see CelValueInJson). */
export function inJson(value: unknown): CelValueInJson {
  return new CelValueInJson(value);
}

/** has(o.field) for a JSON operand that failed the presence test: hasField's answer, on the CEL value a wrapped one holds. */
export function jsonHasField(operand: unknown, field: string): boolean {
  return hasField(operand instanceof CelValueInJson ? CelValueInJson.unwrap(operand) : operand, field);
}

/** A JSON value read by compiled code as the CEL value it stands for (values.ts). */
export function celOf(value: unknown, converted: ConversionMemo): unknown {
  // Strings, bools and null are the same in both; the rest is converted (objects once per review).
  if (typeof value === 'string' || typeof value === 'boolean' || value === null) return value;
  if (Array.isArray(value)) return celOfList(value, converted);
  if (value instanceof CelValueInJson) return CelValueInJson.unwrap(value);
  return celOfJson(value, converted);
}

/**
 * A JSON list as a CEL list, its elements converted one by one through the review's memo: a list
 * that compiled code made of JSON elements (a concatenation) then reuses their conversions. The
 * same value as toCelValue's (undefined elements and holes read as null).
 */
function celOfList(list: unknown[], converted: ConversionMemo): unknown {
  let cel = converted.get(list);
  if (cel === undefined) {
    const out = new Array<unknown>(list.length);
    for (let i = 0; i < list.length; i++) out[i] = celOf(list[i] ?? null, converted);
    converted.set(list, out);
    cel = out;
  }
  return cel;
}

/**
 * `value[k]` for a list and an in-range int or a map and a key it has; undefined otherwise (the slow
 * path's case). A BigInt compares with the list's length as a number exactly, without making a BigInt of it.
 */
export function indexedMember(value: unknown, k: unknown): unknown {
  if (Array.isArray(value)) {
    return typeof k === 'bigint' && k >= 0n && k < value.length ? (value[Number(k)] as unknown) : undefined;
  }
  return isPlainMap(value) && typeof k === 'string' && Object.hasOwn(value, k) ? value[k] : undefined;
}

/** indexedMember for a JSON operand (isJsonObject instead of the prototype test). */
export function jsonIndexedMember(value: unknown, k: unknown): unknown {
  if (Array.isArray(value)) {
    return typeof k === 'bigint' && k >= 0n && k < value.length ? (value[Number(k)] as unknown) : undefined;
  }
  return isJsonObject(value) && typeof k === 'string' && Object.hasOwn(value, k) ? value[k] : undefined;
}

/** cel-js's name for the kind of a value that is not a primitive (its debugType, without element types). */
export function describeKind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'list';
  if (isPlainMap(value) || value instanceof Map) return 'map';
  return String((value as { constructor?: { name?: string } } | undefined)?.constructor?.name ?? typeof value);
}

/** Whether `+` on two lists is the interpreter's list concatenation (it types a list by its first element). */
export function sameFirstElementType(a: unknown[], b: unknown[]): boolean {
  if (a.length === 0 || b.length === 0) return true;
  const x = typeof a[0];
  return x === typeof b[0] && (x === 'string' || x === 'bigint' || x === 'boolean');
}

/** The interpreter's "Ternary condition must be bool, got 'T'" with a macro's own wording instead. */
export function relabel(error: unknown, label: string): unknown {
  if (!(error instanceof EvaluationError)) return error;
  const summary = error.summary ?? error.message;
  const prefix = 'Ternary condition must be bool';
  return summary.startsWith(prefix) ? new EvaluationError(label + summary.slice(prefix.length)) : error;
}

/** A map literal's entries (key, value, key, value, ...) as cel-js builds them: reserved names left out. */
export function mapOfEntries(entries: readonly unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < entries.length; i += 2) {
    const key = entries[i];
    if (key === '__proto__' || key === 'constructor' || key === 'prototype') continue;
    out[key as string] = entries[i + 1];
  }
  return out;
}

/** A JSON list as a comprehension range: holes and undefined elements read as null, as converted. */
export function jsonListItems(list: unknown[]): unknown[] {
  return list.includes(undefined) ? list.map((item: unknown) => item ?? null) : list;
}

/** A JSON object as a comprehension range: its keys whose members are there. */
export function jsonObjectKeys(object: Record<string, unknown>): string[] {
  const keys = Object.keys(object);
  for (const key of keys) if (object[key] === undefined) return keys.filter((k) => object[k] !== undefined);
  return keys;
}

/** A CEL value as a comprehension range: a list's elements, a map's keys; undefined when not iterable. */
export function celItems(collection: unknown): unknown[] | undefined {
  if (Array.isArray(collection)) return collection;
  if (collection instanceof Set) return [...collection];
  if (collection instanceof Map) return [...collection.keys()];
  if (collection !== null && typeof collection === 'object') return Object.keys(collection);
  return undefined;
}

/**
 * Charges `json == null` (or `!=`) as chargeEquality charges the converted value and null: null's
 * size is 1, so the charge is 0 when the converted value's size is 0 (an empty string, list or map:
 * members that are undefined are dropped by the conversion) and 1 otherwise, without converting.
 */
export function chargeJsonNullEquality(value: unknown): void {
  // Called only for null, scalars, arrays and objects whose constructor is Object's (JSON as parsed).
  if (!isCostBudgetArmed()) return;
  let empty = false;
  if (typeof value === 'string' || Array.isArray(value)) empty = value.length === 0;
  else if (typeof value === 'object' && value !== null) empty = !Object.values(value).some((member) => member !== undefined);
  // The node paid 1 (node-costs.ts); an empty value's comparison costs 0.
  if (empty) chargeCost(-1);
}



/**
 * `o.?field` on a CEL value (not JSON): on an Optional, its value's member (empty stays empty); on
 * a CEL map, an Optional of the member or the empty one; anything else is the interpreter's
 * (`slow`, on the operand as it was).
 */
export function optionalSelect(o: unknown, field: string, slow: (operand: unknown) => unknown): unknown {
  let value = o;
  if (value instanceof Optional) {
    if (!value.hasValue()) return Optional.none();
    value = value.value();
  }
  if (isPlainMap(value)) return Object.hasOwn(value, field) ? Optional.of(value[field]) : Optional.none();
  return slow(o);
}

/**
 * `o[?key]` on a CEL value (not JSON) and a string key: optionalSelect's steps with a computed key (an
 * Optional's value, or a CEL map, indexed; an empty Optional stays empty). Anything else is the
 * interpreter's (`slow`, on the operands as they were).
 */
export function optionalIndex(o: unknown, key: unknown, slow: (operand: unknown, key: unknown) => unknown): unknown {
  if (typeof key !== 'string') return slow(o, key);
  let value = o;
  if (value instanceof Optional) {
    if (!value.hasValue()) return Optional.none();
    value = value.value();
  }
  if (isPlainMap(value)) return Object.hasOwn(value, key) ? Optional.of(value[key]) : Optional.none();
  return slow(o, key);
}

/** The steps `.?fields[0].?fields[1]...` of a chain, from `optional` on (optionalSelect each). */
export function optionalSelects(optional: unknown, fields: readonly string[], slows: readonly ((operand: unknown) => unknown)[]): unknown {
  let value = optional;
  for (let i = 0; i < fields.length; i++) value = optionalSelect(value, fields[i]!, slows[i]!);
  return value;
}
