// Kubernetes' quantity library (k8s.io/apiserver/pkg/cel/library/quantity.go) over an exact port of
// resource.ParseQuantity (k8s.io/apimachinery/pkg/api/resource):
//   quantity(<string>) <Quantity>, isQuantity(<string>) <bool>
//   <Quantity>.isInteger() <bool>, .asInteger() <int>, .asApproximateFloat() <double>
//   sign(<Quantity>) <int> (and <Quantity>.sign(), the form Kubernetes' documentation shows)
//   <Quantity>.add(<Quantity>|<int>), .sub(<Quantity>|<int>) <Quantity>
//   <Quantity>.isGreaterThan(<Quantity>), .isLessThan(<Quantity>) <bool>, .compareTo(<Quantity>) <int>
//   == and != compare values (quantity('1Ki') == quantity('1024')).
//
// Values are exact: a bigint mantissa and a power-of-ten exponent. Like apimachinery, a quantity is
// either in the compact "int64 amount" form or in the arbitrary-precision form, and isInteger /
// asInteger only succeed on the compact form with a non-negative exponent. That reproduces
// Kubernetes exactly, quirks included: quantity('1.0').isInteger() is false, quantity('Mi') is 0.
import type { Environment } from '@marcbachmann/cel-js';
import type { HasJsonForm } from '../values.js';
import { celError, define } from './support.js';

export type QuantityFormat = 'DecimalSI' | 'BinarySI' | 'DecimalExponent';

const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);
const NANO_EXPONENT = -9;

const ERR_FORMAT =
  "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
const ERR_NUMERIC = 'unable to parse numeric part of quantity';
const ERR_SUFFIX = "unable to parse quantity's suffix";
const ERR_EXPONENT = 'quantity exponent out of the supported range (|exponent| <= 1000)';
/** Far beyond any real resource amount (int64 holds 19 digits), small enough for exact arithmetic. */
const MAX_EXPONENT = 1000;

const DECIMAL_SUFFIXES: Readonly<Record<string, number>> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY_SUFFIXES: Readonly<Record<string, number>> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };

function fitsInt64(v: bigint): boolean {
  return v >= INT64_MIN && v <= INT64_MAX;
}

function pow10(n: number): bigint {
  return 10n ** BigInt(n);
}

const POW10_TAB = Array.from({ length: 32 }, (_, i) => Number(`1e${i}`));
const POW10_POS32 = Array.from({ length: 10 }, (_, i) => Number(`1e${i * 32}`));
const POW10_NEG32 = Array.from({ length: 11 }, (_, i) => Number(`1e-${i * 32}`));

/** Go's math.Pow10, table for table, so asApproximateFloat rounds exactly as Kubernetes does. */
function goPow10(n: number): number {
  if (n >= 0 && n <= 308) return POW10_POS32[Math.floor(n / 32)]! * POW10_TAB[n % 32]!;
  if (n < 0 && n >= -323) return POW10_NEG32[Math.floor(-n / 32)]! / POW10_TAB[-n % 32]!;
  return n > 0 ? Infinity : 0;
}

/** An exact decimal: mantissa × 10^exponent. */
interface Decimal {
  mantissa: bigint;
  exponent: number;
}

function align(a: Decimal, b: Decimal): [bigint, bigint, number] {
  const exponent = Math.min(a.exponent, b.exponent);
  return [a.mantissa * pow10(a.exponent - exponent), b.mantissa * pow10(b.exponent - exponent), exponent];
}

function compareDecimals(a: Decimal, b: Decimal): number {
  const [x, y] = align(a, b);
  return x < y ? -1 : x > y ? 1 : 0;
}

export class Quantity implements HasJsonForm {
  readonly celTypeName = 'kubernetes.Quantity';

  constructor(
    /** The value is mantissa × 10^exponent. */
    readonly mantissa: bigint,
    readonly exponent: number,
    /** apimachinery's compact int64Amount form (true) or its inf.Dec form (false). */
    readonly compact: boolean,
    readonly format: QuantityFormat,
  ) {}

  get decimal(): Decimal {
    return { mantissa: this.mantissa, exponent: this.exponent };
  }

  sign(): number {
    return this.mantissa > 0n ? 1 : this.mantissa < 0n ? -1 : 0;
  }

  compareTo(other: Quantity): number {
    return compareDecimals(this.decimal, other.decimal);
  }

  equals(other: unknown): boolean {
    return other instanceof Quantity && this.compareTo(other) === 0;
  }

  /** apimachinery's AsInt64: only the compact form with a non-negative exponent converts. */
  asInt64(): bigint | undefined {
    if (!this.compact) return undefined;
    if (this.exponent < 0) return undefined;
    if (this.mantissa === 0n) return 0n;
    if (this.exponent > 18) return undefined;
    const v = this.mantissa * pow10(this.exponent);
    return fitsInt64(v) ? v : undefined;
  }

  /** apimachinery's AsApproximateFloat64: mantissa as a float times 10^exponent. */
  asApproximateFloat(): number {
    const base = Number(this.mantissa);
    if (this.exponent === 0) return base;
    return base * goPow10(this.exponent);
  }

  /** Quantity.Add / Quantity.Sub: compact arithmetic when both are compact and it fits, exact otherwise. */
  plus(other: Quantity, negate = false): Quantity {
    const b: Decimal = { mantissa: negate ? -other.mantissa : other.mantissa, exponent: other.exponent };
    const format = this.mantissa === 0n ? other.format : this.format;
    if (this.compact && other.compact) {
      if (b.mantissa === 0n) return new Quantity(this.mantissa, this.exponent, true, format);
      if (this.mantissa === 0n) return new Quantity(b.mantissa, b.exponent, true, format);
      const [x, y, exponent] = align(this.decimal, b);
      // int64Amount.Add fails (and falls back to inf.Dec) when the scaled operand or the sum overflows.
      if (fitsInt64(x) && fitsInt64(y) && fitsInt64(x + y)) return new Quantity(x + y, exponent, true, format);
    }
    const [x, y, exponent] = align(this.decimal, b);
    return new Quantity(x + y, exponent, false, format);
  }

  /** The canonical string Kubernetes would print (used when a quantity is written into JSON). */
  toString(): string {
    if (this.mantissa === 0n) return '0';
    const negative = this.mantissa < 0n;
    let m = negative ? -this.mantissa : this.mantissa;
    let e = this.exponent;
    while (m % 10n === 0n) {
      m /= 10n;
      e += 1;
    }
    if (this.format === 'BinarySI' && e >= 0) {
      let value = m * pow10(e);
      if (value >= 1024n) {
        let power = 0;
        while (power < 60 && value % 1024n === 0n) {
          value /= 1024n;
          power += 10;
        }
        const suffix = Object.keys(BINARY_SUFFIXES).find((k) => BINARY_SUFFIXES[k] === power) ?? '';
        return `${negative ? '-' : ''}${value}${suffix}`;
      }
    }
    // Pick the largest multiple of three not above the exponent, so the mantissa stays an integer.
    let e3 = Math.floor(e / 3) * 3;
    if (e3 < NANO_EXPONENT) e3 = NANO_EXPONENT;
    m *= pow10(e - e3);
    const suffix =
      this.format === 'DecimalExponent' || e3 > 18
        ? e3 === 0
          ? ''
          : `e${e3}`
        : (Object.keys(DECIMAL_SUFFIXES).find((k) => DECIMAL_SUFFIXES[k] === e3) ?? `e${e3}`);
    return `${negative ? '-' : ''}${m}${suffix}`;
  }

  toCelJson(): string {
    return this.toString();
  }
}

interface Scanned {
  positive: boolean;
  value: string;
  num: string;
  denom: string;
  suffix: string;
}

/** apimachinery's parseQuantityString, step for step. */
function scan(str: string): Scanned {
  let positive = true;
  let pos = 0;
  const end = str.length;
  if (pos < end) {
    if (str[0] === '-') {
      positive = false;
      pos++;
    } else if (str[0] === '+') {
      pos++;
    }
  }
  // Strip leading zeros.
  for (let i = pos; ; i++) {
    if (i >= end) return { positive, value: '0', num: '0', denom: '', suffix: '' };
    if (str[i] === '0') pos++;
    else break;
  }
  const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
  let num = '';
  let i = pos;
  while (i < end && isDigit(str[i])) i++;
  if (i >= end) return { positive, value: str, num: str.slice(pos), denom: '', suffix: '' };
  num = str.slice(pos, i);
  pos = i;
  if (num.length === 0) num = '0';
  let denom = '';
  if (pos < end && str[pos] === '.') {
    pos++;
    let j = pos;
    while (j < end && isDigit(str[j])) j++;
    if (j >= end) return { positive, value: str, num, denom: str.slice(pos), suffix: '' };
    denom = str.slice(pos, j);
    pos = j;
  }
  const value = str.slice(0, pos);
  const suffixStart = pos;
  let k = pos;
  while (k < end && 'eEinumkKMGTP'.includes(str[k]!)) k++;
  if (k >= end) return { positive, value, num, denom, suffix: str.slice(suffixStart) };
  pos = k;
  if (str[pos] === '-' || str[pos] === '+') pos++;
  for (let d = pos; ; d++) {
    if (d >= end) return { positive, value, num, denom, suffix: str.slice(suffixStart) };
    if (!isDigit(str[d])) break;
  }
  throw celError(ERR_FORMAT);
}

/** quantitySuffixer.interpret: base, exponent and format of a suffix, or undefined. */
function interpretSuffix(suffix: string): { base: 10 | 2; exponent: number; format: QuantityFormat } | undefined {
  const dec = DECIMAL_SUFFIXES[suffix];
  if (dec !== undefined && Object.prototype.hasOwnProperty.call(DECIMAL_SUFFIXES, suffix)) {
    return { base: 10, exponent: dec, format: 'DecimalSI' };
  }
  const bin = BINARY_SUFFIXES[suffix];
  if (bin !== undefined && Object.prototype.hasOwnProperty.call(BINARY_SUFFIXES, suffix)) {
    return { base: 2, exponent: bin, format: 'BinarySI' };
  }
  if (suffix.length > 1 && (suffix[0] === 'e' || suffix[0] === 'E')) {
    const text = suffix.slice(1);
    // strconv.ParseInt(text, 10, 64): optional sign, then digits only.
    if (!/^[+-]?[0-9]+$/.test(text)) return undefined;
    const parsed = BigInt(text);
    if (!fitsInt64(parsed)) return undefined;
    // Go converts to int32 by truncation.
    const exponent = Number(BigInt.asIntN(32, parsed));
    return { base: 10, exponent, format: 'DecimalExponent' };
  }
  return undefined;
}

/** Parses a decimal string such as "-001.50" (inf.Dec.SetString) exactly. */
function parseDecimalText(text: string): Decimal {
  const match = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(text);
  if (!match || (match[2] === '' && (match[3] ?? '') === '')) throw celError(ERR_NUMERIC);
  const digits = `${match[2]}${match[3] ?? ''}` || '0';
  const mantissa = BigInt(digits) * (match[1] === '-' ? -1n : 1n);
  return { mantissa, exponent: -(match[3] ?? '').length };
}

/** resource.ParseQuantity. Throws a CEL error with apimachinery's message when the string is invalid. */
export function parseQuantity(str: string): Quantity {
  if (str.length === 0) throw celError(ERR_FORMAT);
  if (str === '0') return new Quantity(0n, 0, true, 'DecimalSI');
  const { positive, value, num, denom, suffix } = scan(str);
  const interpreted = interpretSuffix(suffix);
  if (!interpreted) throw celError(ERR_SUFFIX);
  const { base, exponent } = interpreted;
  let format = interpreted.format;
  // Exponents are bounded so that no string can make us compute 10^(2^31): apimachinery would try,
  // here it is an error rather than a stalled admission review.
  if (Math.abs(exponent) > MAX_EXPONENT) throw celError(ERR_EXPONENT);

  let precision: number;
  let scale: number;
  let multiplier = 1n;
  if (format === 'BinarySI') {
    scale = 0;
    if (exponent >= 0 && denom.length === 0) {
      multiplier = 1n << BigInt(exponent);
      precision = 15 - num.length - Math.trunc(Math.fround((exponent * 3) / 10)) - 1;
    } else {
      precision = -1;
    }
  } else {
    scale = exponent;
    precision = 18 - (num.length + denom.length);
  }

  if (precision >= 0) {
    scale -= denom.length;
    if (scale >= NANO_EXPONENT) {
      const shifted = BigInt(num + denom);
      if (!fitsInt64(shifted)) throw celError(ERR_NUMERIC);
      const result = shifted * multiplier;
      if (fitsInt64(result)) return new Quantity(positive ? result : -result, scale, true, format);
    }
  }

  // The arbitrary-precision path.
  let amount = parseDecimalText(value);
  if (base === 10) amount = { mantissa: amount.mantissa, exponent: amount.exponent + exponent };
  else amount = { mantissa: amount.mantissa * (1n << BigInt(exponent)), exponent: amount.exponent };
  const negative = amount.mantissa < 0n;
  let magnitude = negative ? -amount.mantissa : amount.mantissa;
  let exp = amount.exponent;
  // Non-zero values are quantized to nano units (inf.Dec.Round to scale 9), rounding up away from
  // zero. The result always has exponent -9, which asApproximateFloat's arithmetic depends on.
  if (magnitude !== 0n) {
    if (exp < NANO_EXPONENT) {
      const divisor = pow10(NANO_EXPONENT - exp);
      const q = magnitude / divisor;
      magnitude = magnitude % divisor === 0n ? q : q + 1n;
    } else {
      magnitude *= pow10(exp - NANO_EXPONENT);
    }
    exp = NANO_EXPONENT;
  }
  if (format === 'BinarySI') {
    if (compareDecimals({ mantissa: magnitude, exponent: exp }, { mantissa: INT64_MAX, exponent: 0 }) > 0) {
      magnitude = INT64_MAX;
      exp = 0;
    }
    if (magnitude !== 0n && compareDecimals({ mantissa: magnitude, exponent: exp }, { mantissa: 1n, exponent: 0 }) < 0) {
      format = 'DecimalSI';
    }
  }
  return new Quantity(negative ? -magnitude : magnitude, exp, false, format);
}

export function isQuantity(str: string): boolean {
  try {
    parseQuantity(str);
    return true;
  } catch {
    return false;
  }
}

const Q = 'kubernetes.Quantity';

export function registerQuantityLibrary(env: Environment): void {
  env.registerType(Q, { ctor: Quantity, fields: {} });
  env.registerOperator(`${Q} == ${Q}`, (a: Quantity, b: Quantity) => a.compareTo(b) === 0);
  define(env, `quantity(string): ${Q}`, parseQuantity);
  define(env, 'isQuantity(string): bool', isQuantity);
  define(env, `sign(${Q}): int`, (q: Quantity) => BigInt(q.sign()));
  define(env, `${Q}.sign(): int`, (q: Quantity) => BigInt(q.sign()));
  define(env, `${Q}.isInteger(): bool`, (q: Quantity) => q.asInt64() !== undefined);
  define(env, `${Q}.asInteger(): int`, (q: Quantity) => {
    const v = q.asInt64();
    if (v === undefined) throw celError('cannot convert value to integer');
    return v;
  });
  define(env, `${Q}.asApproximateFloat(): double`, (q: Quantity) => q.asApproximateFloat());
  define(env, `${Q}.add(${Q}): ${Q}`, (a: Quantity, b: Quantity) => a.plus(b));
  define(env, `${Q}.add(int): ${Q}`, (a: Quantity, b: bigint) => a.plus(new Quantity(b, 0, true, 'DecimalExponent')));
  define(env, `${Q}.sub(${Q}): ${Q}`, (a: Quantity, b: Quantity) => a.plus(b, true));
  define(env, `${Q}.sub(int): ${Q}`, (a: Quantity, b: bigint) => a.plus(new Quantity(b, 0, true, 'DecimalExponent'), true));
  define(env, `${Q}.isGreaterThan(${Q}): bool`, (a: Quantity, b: Quantity) => a.compareTo(b) === 1);
  define(env, `${Q}.isLessThan(${Q}): bool`, (a: Quantity, b: Quantity) => a.compareTo(b) === -1);
  define(env, `${Q}.compareTo(${Q}): int`, (a: Quantity, b: Quantity) => BigInt(a.compareTo(b)));
}
