// `<string>.format(<list>)` from cel-go's strings extension, as the cel-spec conformance suite pins it:
// clauses %s %d %f %e %b %o %x %X with an optional precision (`%.3f`), `%%` for a percent sign.
// Numbers are formatted from their exact binary value with round-half-even, as Go's strconv does.
import { Duration, UnsignedInt } from '@marcbachmann/cel-js/evaluator';
import { Optional } from '@marcbachmann/cel-js';
import { formatTimestamp } from '../values.js';
import { celError, compareStrings, describeType } from './support.js';

const NANOS = 1_000_000_000n;

/** cel-go's default since strings version 5; unbounded precision would let `%.1000000f` stall a review. */
export const MAX_PRECISION = 100;

function formatErrorType(v: unknown): string {
  if (v instanceof Optional) return 'optional_type';
  if (isCelType(v)) return 'type';
  return describeType(v);
}

function isCelType(v: unknown): v is { name: string } {
  // cel-js type values (`type(1)`) are instances of its internal Type class: frozen, with a name getter.
  return typeof v === 'object' && v !== null && Object.prototype.toString.call(v).startsWith('[object Type<');
}

/** The exact decimal expansion of a finite double: |x| = digits * 10^-scale. */
function exactDecimal(x: number): { digits: bigint; scale: number } {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, Math.abs(x));
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const exponentBits = (hi >>> 20) & 0x7ff;
  let mantissa = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let exponent: number;
  if (exponentBits === 0) {
    exponent = -1074;
  } else {
    mantissa |= 1n << 52n;
    exponent = exponentBits - 1075;
  }
  if (exponent >= 0) return { digits: mantissa << BigInt(exponent), scale: 0 };
  return { digits: mantissa * 5n ** BigInt(-exponent), scale: -exponent };
}

/** Divides by 10^shift rounding half to even. */
function roundShift(value: bigint, shift: number): bigint {
  if (shift <= 0) return value * 10n ** BigInt(-shift);
  const divisor = 10n ** BigInt(shift);
  const q = value / divisor;
  const r = value % divisor;
  const twice = r * 2n;
  if (twice > divisor || (twice === divisor && q % 2n === 1n)) return q + 1n;
  return q;
}

function nonFinite(x: number): string | undefined {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  return undefined;
}

function signOf(x: number): string {
  return x < 0 || Object.is(x, -0) ? '-' : '';
}

/** Go's %.<precision>f. */
export function formatFixed(x: number, precision: number): string {
  const special = nonFinite(x);
  if (special) return special;
  const { digits, scale } = exactDecimal(x);
  const scaled = roundShift(digits, scale - precision).toString();
  const padded = scaled.padStart(precision + 1, '0');
  const whole = padded.slice(0, padded.length - precision);
  const fraction = padded.slice(padded.length - precision);
  return signOf(x) + (precision > 0 ? `${whole}.${fraction}` : whole);
}

/** Go's %.<precision>e: d.ddde±XX with at least two exponent digits. */
export function formatScientific(x: number, precision: number): string {
  const special = nonFinite(x);
  if (special) return special;
  let mantissa: string;
  let exponent: number;
  if (x === 0) {
    mantissa = '0'.repeat(precision + 1);
    exponent = 0;
  } else {
    const { digits, scale } = exactDecimal(x);
    const length = digits.toString().length;
    let rounded = roundShift(digits, length - (precision + 1));
    exponent = length - 1 - scale;
    if (rounded.toString().length > precision + 1) {
      rounded /= 10n;
      exponent += 1;
    }
    mantissa = rounded.toString();
  }
  const body = precision > 0 ? `${mantissa[0]}.${mantissa.slice(1)}` : mantissa;
  const exp = `${exponent < 0 ? '-' : '+'}${String(Math.abs(exponent)).padStart(2, '0')}`;
  return `${signOf(x)}${body}e${exp}`;
}

/** Go's strconv.FormatFloat(x, 'g', -1, 64): shortest digits, exponent form outside [1e-4, 1e6). */
export function formatShortest(x: number): string {
  const special = nonFinite(x);
  if (special) return special;
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const [mantissaText = '0', expText = '0'] = Math.abs(x).toExponential().split('e');
  const digits = mantissaText.replace('.', '');
  const exponent = Number(expText);
  const sign = x < 0 ? '-' : '';
  if (exponent < -4 || exponent >= 6) {
    const body = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${body}e${exponent < 0 ? '-' : '+'}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  if (exponent < 0) return `${sign}0.${'0'.repeat(-exponent - 1)}${digits}`;
  const point = exponent + 1;
  if (digits.length <= point) return sign + digits.padEnd(point, '0');
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

function durationText(d: Duration): string {
  const total = d.seconds * NANOS + BigInt(d.nanos);
  const negative = total < 0n;
  const abs = negative ? -total : total;
  const whole = abs / NANOS;
  const frac = abs % NANOS;
  const fraction = frac === 0n ? '' : `.${frac.toString().padStart(9, '0').replace(/0+$/, '')}`;
  return `${negative ? '-' : ''}${whole}${fraction}s`;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

function stringClause(v: unknown): string {
  switch (typeof v) {
    case 'string':
      return v;
    case 'bigint':
      return v.toString();
    case 'number':
      return formatShortest(v);
    case 'boolean':
      return String(v);
    default:
      break;
  }
  if (v === null) return 'null';
  if (v instanceof UnsignedInt) return v.value.toString();
  if (v instanceof Uint8Array) {
    try {
      return UTF8.decode(v);
    } catch {
      throw celError('error during formatting: could not convert bytes argument to string: invalid UTF-8');
    }
  }
  if (v instanceof Date) return formatTimestamp(v);
  if (v instanceof Duration) return durationText(v);
  if (isCelType(v)) return v.name;
  if (Array.isArray(v)) return `[${v.map(stringClause).join(', ')}]`;
  if (typeof v === 'object' && !(v instanceof Optional)) {
    const entries: Array<[unknown, unknown]> | undefined =
      v instanceof Map
        ? [...v.entries()]
        : Object.getPrototypeOf(v) === null || Object.getPrototypeOf(v) === Object.prototype
          ? Object.entries(v)
          : undefined;
    if (entries) {
      const parts = entries.map(([k, value]) => [stringClause(k), stringClause(value)] as const);
      parts.sort((a, b) => compareStrings(a[0], b[0]));
      return `{${parts.map(([k, value]) => `${k}: ${value}`).join(', ')}}`;
    }
  }
  throw celError(
    'error during formatting: string clause can only be used on strings, bools, bytes, ints, doubles, ' +
      `maps, lists, types, durations, and timestamps, was given ${formatErrorType(v)}`,
  );
}

function integerValue(v: unknown): bigint | undefined {
  if (typeof v === 'bigint') return v;
  if (v instanceof UnsignedInt) return v.value;
  return undefined;
}

function radix(v: bigint, base: number): string {
  return v < 0n ? `-${(-v).toString(base)}` : v.toString(base);
}

const ENCODER = new TextEncoder();

function hexOf(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}

function clause(verb: string, precision: number | undefined, v: unknown): string {
  switch (verb) {
    case 's':
      return stringClause(v);
    case 'd': {
      const i = integerValue(v);
      if (i !== undefined) return i.toString();
      if (typeof v === 'number' && !Number.isFinite(v)) return nonFinite(v) ?? '';
      throw celError(`error during formatting: decimal clause can only be used on integers, was given ${formatErrorType(v)}`);
    }
    case 'f':
      if (typeof v === 'number') return formatFixed(v, precision ?? 6);
      throw celError(`error during formatting: fixed-point clause can only be used on doubles, was given ${formatErrorType(v)}`);
    case 'e':
      if (typeof v === 'number') return formatScientific(v, precision ?? 6);
      throw celError(`error during formatting: scientific clause can only be used on doubles, was given ${formatErrorType(v)}`);
    case 'b': {
      const i = typeof v === 'boolean' ? (v ? 1n : 0n) : integerValue(v);
      if (i !== undefined) return radix(i, 2);
      throw celError(`error during formatting: only integers and bools can be formatted as binary, was given ${formatErrorType(v)}`);
    }
    case 'o': {
      const i = integerValue(v);
      if (i !== undefined) return radix(i, 8);
      throw celError(`error during formatting: octal clause can only be used on integers, was given ${formatErrorType(v)}`);
    }
    case 'x':
    case 'X': {
      const i = integerValue(v);
      let hex: string;
      if (i !== undefined) hex = radix(i, 16);
      else if (typeof v === 'string') hex = hexOf(ENCODER.encode(v));
      else if (v instanceof Uint8Array) hex = hexOf(v);
      else {
        throw celError(
          `error during formatting: only integers, byte buffers, and strings can be formatted as hex, was given ${formatErrorType(v)}`,
        );
      }
      return verb === 'X' ? hex.toUpperCase() : hex;
    }
    default:
      throw celError(`could not parse formatting clause: unrecognized formatting clause "${verb}"`);
  }
}

/** Formats `template` with `args`; charges nothing itself (the caller meters the template length). */
export function formatString(template: string, args: readonly unknown[]): string {
  let out = '';
  let next = 0;
  let i = 0;
  while (i < template.length) {
    const ch = template[i];
    if (ch !== '%') {
      const end = template.indexOf('%', i);
      const stop = end < 0 ? template.length : end;
      out += template.slice(i, stop);
      i = stop;
      continue;
    }
    i++;
    if (i >= template.length) throw celError('could not parse formatting clause: unexpected end of string');
    if (template[i] === '%') {
      out += '%';
      i++;
      continue;
    }
    let precision: number | undefined;
    if (template[i] === '.') {
      i++;
      const start = i;
      while (i < template.length && template[i]! >= '0' && template[i]! <= '9') i++;
      if (i === start) throw celError('could not parse formatting clause: missing precision after "."');
      precision = Number(template.slice(start, i));
      if (precision > MAX_PRECISION) {
        throw celError(`could not parse formatting clause: precision ${precision} exceeds the maximum of ${MAX_PRECISION}`);
      }
      if (i >= template.length) throw celError('could not parse formatting clause: unexpected end of string');
    }
    const verb = String.fromCodePoint(template.codePointAt(i) ?? 0);
    i += verb.length;
    if (!'sdfebxXo'.includes(verb)) {
      throw celError(`could not parse formatting clause: unrecognized formatting clause "${verb}"`);
    }
    if (next >= args.length) throw celError(`index ${next} out of range`);
    out += clause(verb, precision, args[next++]);
  }
  if (next < args.length) {
    throw celError(`too many arguments supplied to string.format (expected ${next}, got ${args.length})`);
  }
  return out;
}
