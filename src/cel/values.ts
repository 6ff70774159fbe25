// Conversion between JSON (what the apiserver sends and what a patch carries) and CEL runtime values
// as cel-js represents them: int = bigint, double = number, uint = UnsignedInt, bytes = Uint8Array,
// timestamp = Date, duration = Duration, map = plain object (or Map), optional = Optional.
//
// Objects are rebuilt with a null prototype, so a JSON key such as `__proto__` stays an ordinary key:
// it can never reach Object.prototype, and a CEL `has()` or `in` never sees inherited members. An
// object with a `constructor` key becomes a Map (see below).
import { Optional } from '@marcbachmann/cel-js';
import { Duration, UnsignedInt } from '@marcbachmann/cel-js/evaluator';
import type { JsonObject, JsonValue } from '../common/vocabulary.js';
import type { ConversionMemo } from './program.js';

const INT64_MIN = -(2 ** 63);
const INT64_LIMIT = 2 ** 63; // exclusive

/** A CEL map as toCelValue builds it: an object without prototype (or a Map, see below). */
export type CelMap = Record<string, unknown>;

function isPlainObject(value: object): boolean {
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === null || proto === Object.prototype;
}

/**
 * JSON -> CEL. Integral numbers that fit int64 become BigInt (CEL `int`), other numbers stay doubles.
 * `undefined` object members are dropped and `undefined` list elements become null, as JSON.stringify
 * would do. Anything that is not JSON-shaped is refused rather than passed through unchecked.
 */
export function toCelValue(value: unknown): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
    case 'bigint':
      return value;
    case 'number':
      return Number.isInteger(value) && value >= INT64_MIN && value < INT64_LIMIT ? BigInt(value) : value;
    case 'undefined':
      return null;
    case 'object': {
      if (value === null) return null;
      if (Array.isArray(value)) {
        const out = new Array<unknown>(value.length);
        for (let i = 0; i < value.length; i++) out[i] = toCelValue(value[i]);
        return out;
      }
      if (!isPlainObject(value)) {
        throw new TypeError(`toCelValue: cannot convert a ${value.constructor?.name ?? 'non-plain object'}`);
      }
      const source = value as Record<string, unknown>;
      if (Object.hasOwn(source, 'constructor')) {
        // cel-js tells maps from other objects by `value.constructor`; a JSON key of that name (an
        // annotation, say) would shadow it and make the whole object an unsupported type. A Map keeps
        // the key an ordinary entry.
        const map = new Map<string, unknown>();
        for (const key of Object.keys(source)) {
          const member = source[key];
          if (member !== undefined) map.set(key, toCelValue(member));
        }
        return map;
      }
      const out: CelMap = Object.create(null) as CelMap;
      // for...in with an own-property test: Object.keys' keys in its order, without an array per object.
      for (const key in source) {
        if (!Object.hasOwn(source, key)) continue;
        const member = source[key];
        // With a null prototype, assignment creates an own property even for `__proto__`.
        if (member !== undefined) out[key] = toCelValue(member);
      }
      return out;
    }
    default:
      throw new TypeError(`toCelValue: cannot convert a value of type ${typeof value}`);
  }
}

/**
 * A CEL value from toCelValue with its maps made again the way V8 reads them fastest: the same keys
 * in the same order, the same members and the same null prototype, so nothing CEL can see changes.
 * Why: V8 keeps an object made by Object.create(null) as a hash table, where a read costs several
 * times what it costs on an object whose prototype was set after its members (a "fast" object with
 * a hidden class). For values converted once and read on every review (a policy's params); a review's
 * own conversions stay hash tables, which suit arbitrary keys (labels, annotations) better.
 */
export function withFastMaps(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withFastMaps);
  if (typeof value !== 'object' || value === null || Object.getPrototypeOf(value) !== null) return value;
  const source = value as CelMap;
  const out: CelMap = {};
  for (const key of Object.keys(source)) {
    const member = withFastMaps(source[key]);
    // On an ordinary object, assigning `__proto__` would set the prototype: define it as a member.
    if (key === '__proto__') Object.defineProperty(out, key, { value: member, enumerable: true, writable: true, configurable: true });
    else out[key] = member;
  }
  return Object.setPrototypeOf(out, null) as CelMap;
}

/**
 * toCelValue(value) for a part of a review's JSON, remembered by identity in `converted` (one review's
 * memo) so that a list read by several expressions is converted once. Scalars cost a type test (an
 * integral number becomes a BigInt), and nothing is cached for them.
 */
export function celOfJson(value: unknown, converted: ConversionMemo): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isInteger(value) && value >= INT64_MIN && value < INT64_LIMIT ? BigInt(value) : value;
    case 'object': {
      if (value === null) return null;
      let cel = converted.get(value);
      if (cel === undefined) {
        // A CEL value already (a Map, an Optional: what an operation returned for a part of the JSON).
        if (!Array.isArray(value) && !isPlainObject(value)) return value;
        cel = toCelValue(value);
        converted.set(value, cel);
      }
      return cel;
    }
    default:
      return toCelValue(value);
  }
}

const NANOS_PER_SECOND = 1_000_000_000n;

/** Go's time.Duration.String(), which is what metav1.Duration writes into JSON ("1h30m0s", "1.5s"). */
export function formatGoDuration(totalNanos: bigint): string {
  if (totalNanos === 0n) return '0s';
  const negative = totalNanos < 0n;
  let u = negative ? -totalNanos : totalNanos;
  let text: string;
  if (u < NANOS_PER_SECOND) {
    // Sub-second: the largest unit among ns, µs, ms that keeps a non-zero integer part.
    let unit: string;
    let scale: bigint;
    if (u < 1_000n) {
      unit = 'ns';
      scale = 1n;
    } else if (u < 1_000_000n) {
      unit = 'µs';
      scale = 1_000n;
    } else {
      unit = 'ms';
      scale = 1_000_000n;
    }
    text = withFraction(u, scale) + unit;
  } else {
    const hours = u / 3_600_000_000_000n;
    u -= hours * 3_600_000_000_000n;
    const minutes = u / 60_000_000_000n;
    u -= minutes * 60_000_000_000n;
    text = withFraction(u, NANOS_PER_SECOND) + 's';
    if (hours > 0n || minutes > 0n) text = `${minutes}m` + text;
    if (hours > 0n) text = `${hours}h` + text;
  }
  return negative ? `-${text}` : text;
}

function withFraction(value: bigint, scale: bigint): string {
  const whole = value / scale;
  const fraction = value % scale;
  if (fraction === 0n) return whole.toString();
  const digits = scale.toString().length - 1;
  return `${whole}.${fraction.toString().padStart(digits, '0').replace(/0+$/, '')}`;
}

/** A duration's total nanoseconds (cel-js keeps seconds as bigint and nanos as a number). */
export function durationNanos(duration: Duration): bigint {
  return duration.seconds * NANOS_PER_SECOND + BigInt(duration.nanos);
}

/** RFC 3339 with fractional seconds only when present, as Go's RFC3339Nano (and metav1.Time) writes. */
export function formatTimestamp(date: Date): string {
  const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  const millis = iso.slice(20, 23).replace(/0+$/, '');
  return `${iso.slice(0, 19)}${millis ? `.${millis}` : ''}Z`;
}

/** Library values (quantity, IP, CIDR, URL) say how they are written into JSON. */
export interface HasJsonForm {
  toCelJson(): string;
}

function hasJsonForm(value: object): value is HasJsonForm {
  return typeof (value as Partial<HasJsonForm>).toCelJson === 'function';
}

function safeNumber(value: bigint, what: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new RangeError(`${what} ${value} is outside the range JSON numbers hold exactly (±2^53-1)`);
  }
  return Number(value);
}

/**
 * CEL -> JSON. int/uint become numbers (an error outside ±2^53-1), bytes become base64, timestamps
 * RFC 3339 strings, durations Go-style strings, maps objects. An empty optional is absent: it yields
 * `undefined` at the top level and is left out of lists and maps.
 */
export function fromCelValue(value: unknown): JsonValue | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'bigint':
      return safeNumber(value, 'integer');
    case 'number':
      if (!Number.isFinite(value)) throw new RangeError(`double ${value} cannot be written as JSON`);
      return value;
    case 'undefined':
      return undefined;
    case 'object':
      break;
    default:
      throw new TypeError(`fromCelValue: unsupported value of type ${typeof value}`);
  }
  if (value === null) return null;
  if (value instanceof Optional) return value.hasValue() ? fromCelValue(value.value()) : undefined;
  if (value instanceof UnsignedInt) return safeNumber(value.value, 'unsigned integer');
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
  if (value instanceof Date) return formatTimestamp(value);
  if (value instanceof Duration) return formatGoDuration(durationNanos(value));
  if (Array.isArray(value) || value instanceof Set) {
    const out: JsonValue[] = [];
    for (const element of value) {
      const converted = fromCelValue(element);
      if (converted !== undefined) out.push(converted);
    }
    return out;
  }
  if (hasJsonForm(value)) return value.toCelJson();
  const out: JsonObject = {};
  const put = (key: unknown, member: unknown): void => {
    if (typeof key !== 'string' && typeof key !== 'bigint' && typeof key !== 'boolean' && !(key instanceof UnsignedInt)) {
      throw new TypeError(`fromCelValue: map key of type ${typeof key} cannot be a JSON key`);
    }
    const converted = fromCelValue(member);
    // defineProperty, not assignment: a `__proto__` key must become an own property, not a prototype.
    if (converted !== undefined) {
      Object.defineProperty(out, String(key), { value: converted, enumerable: true, writable: true, configurable: true });
    }
  };
  if (value instanceof Map) {
    for (const [key, member] of value) put(key, member);
    return out;
  }
  if (!isPlainObject(value)) {
    throw new TypeError(`fromCelValue: a ${value.constructor?.name ?? 'value'} has no JSON form`);
  }
  const source = value as Record<string, unknown>;
  for (const key of Object.keys(source)) put(key, source[key]);
  return out;
}
