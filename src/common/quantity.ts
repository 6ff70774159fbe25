// Kubernetes resource quantities ("500m", "1Gi", "0.5"): one port of k8s.io/apimachinery/pkg/api/resource
// (v0.37) for both places that need one:
//   - the text the kube-apiserver prints when it re-encodes an object (apiserver/go-json.ts): a webhook
//     never sees the manifest's text, only Quantity.String() of what the apiserver parsed;
//   - the values CEL's quantity library computes with (cel/library/quantity.ts).
//
// Values are exact: a bigint mantissa and a power-of-ten exponent. Like apimachinery, a quantity is
// either in the compact "int64 amount" form or in the arbitrary-precision (inf.Dec) form; which one
// the parser picks decides whether the original text is kept for printing and whether asInt64
// succeeds, so the parser follows apimachinery step for step, quirks included: quantity('1.0') is
// not an integer, 'Mi' is zero, values below one nano round up to one nano, binary values are capped
// at 2^63-1.

export type QuantityFormat = 'DecimalSI' | 'BinarySI' | 'DecimalExponent';

/** What resource.ParseQuantity refuses, with its messages (CEL reports them as they are). */
export class QuantityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QuantityError';
  }
}

const ERR_FORMAT = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
const ERR_NUMERIC = 'unable to parse numeric part of quantity';
const ERR_SUFFIX = "unable to parse quantity's suffix";
const ERR_EXPONENT = 'quantity exponent out of the supported range (|exponent| <= 1000)';
/**
 * Far beyond any real resource amount (int64 holds 19 digits), small enough for exact arithmetic:
 * apimachinery would compute 10^(2^31) for `1e-2147483648`; here the text is refused instead of an
 * admission review stalling.
 */
const MAX_EXPONENT = 1000;

const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);
const NANO = -9;
const MILLI = -3;

const DECIMAL_SUFFIXES: ReadonlyMap<string, number> = new Map([['n', -9], ['u', -6], ['m', -3], ['', 0], ['k', 3], ['M', 6], ['G', 9], ['T', 12], ['P', 15], ['E', 18]]);
const BINARY_SUFFIXES: ReadonlyMap<string, number> = new Map([['Ki', 10], ['Mi', 20], ['Gi', 30], ['Ti', 40], ['Pi', 50], ['Ei', 60]]);
const DECIMAL_SUFFIX_OF = new Map([...DECIMAL_SUFFIXES].map(([suffix, exponent]) => [exponent, suffix]));
const BINARY_SUFFIX_OF = new Map([...BINARY_SUFFIXES].map(([suffix, exponent]) => [exponent, suffix]));

const fitsInt64 = (value: bigint): boolean => value >= INT64_MIN && value <= INT64_MAX;
const pow10 = (n: number): bigint => 10n ** BigInt(n);
const abs = (value: bigint): bigint => (value < 0n ? -value : value);

const POW10_TABLE = Array.from({ length: 32 }, (_, i) => Number(`1e${i}`));
const POW10_POSITIVE_32 = Array.from({ length: 10 }, (_, i) => Number(`1e${i * 32}`));
const POW10_NEGATIVE_32 = Array.from({ length: 11 }, (_, i) => Number(`1e-${i * 32}`));

/** Go's math.Pow10, table for table, so asApproximateFloat rounds exactly as Kubernetes does. */
function goPow10(n: number): number {
  if (n >= 0 && n <= 308) return POW10_POSITIVE_32[Math.floor(n / 32)]! * POW10_TABLE[n % 32]!;
  if (n < 0 && n >= -323) return POW10_NEGATIVE_32[Math.floor(-n / 32)]! / POW10_TABLE[-n % 32]!;
  return n > 0 ? Infinity : 0;
}

/** Both values as mantissas of the smaller exponent. */
function align(a: Quantity, bMantissa: bigint, bExponent: number): [bigint, bigint, number] {
  const exponent = Math.min(a.exponent, bExponent);
  return [a.mantissa * pow10(a.exponent - exponent), bMantissa * pow10(bExponent - exponent), exponent];
}

/** Divides out every factor `base`, keeping the sign (removeInt64Factors / removeBigIntFactors). */
function removeFactors(value: bigint, base: bigint): { value: bigint; times: number } {
  let times = 0;
  let magnitude = abs(value);
  while (magnitude >= base && magnitude % base === 0n) {
    magnitude /= base;
    times++;
  }
  return { value: value < 0n ? -magnitude : magnitude, times };
}

/** Rounds mantissa × 10^exponent to `scale`, away from zero (inf.RoundUp). */
function roundUpToScale(mantissa: bigint, exponent: number, scale: number): bigint {
  if (exponent >= scale) return mantissa * pow10(exponent - scale);
  const shift = scale - exponent;
  // Fewer digits than places to drop: a non-zero value rounds to one unit (no need for 10^shift).
  if (shift > abs(mantissa).toString().length) return mantissa === 0n ? 0n : mantissa < 0n ? -1n : 1n;
  const divisor = pow10(shift);
  const quotient = mantissa / divisor; // truncates toward zero
  if (quotient * divisor === mantissa) return quotient;
  return quotient + (mantissa < 0n ? -1n : 1n);
}

export class Quantity {
  constructor(
    /** The value is mantissa × 10^exponent. */
    readonly mantissa: bigint,
    readonly exponent: number,
    /** apimachinery's compact int64Amount form (true) or its inf.Dec form (false). */
    readonly compact: boolean,
    readonly format: QuantityFormat,
    /** The original text, kept when the parser judged it canonical (Quantity.s): printed as is. */
    readonly text?: string,
  ) {}

  sign(): number {
    return this.mantissa > 0n ? 1 : this.mantissa < 0n ? -1 : 0;
  }

  compareTo(other: Quantity): number {
    const [a, b] = align(this, other.mantissa, other.exponent);
    return a < b ? -1 : a > b ? 1 : 0;
  }

  equals(other: unknown): boolean {
    return other instanceof Quantity && this.compareTo(other) === 0;
  }

  /** AsInt64: only the compact form with a non-negative exponent converts. */
  asInt64(): bigint | undefined {
    if (!this.compact || this.exponent < 0) return undefined;
    if (this.mantissa === 0n) return 0n;
    if (this.exponent > 18) return undefined;
    const value = this.mantissa * pow10(this.exponent);
    return fitsInt64(value) ? value : undefined;
  }

  /** AsApproximateFloat64: the mantissa as a float times 10^exponent. */
  asApproximateFloat(): number {
    const base = Number(this.mantissa);
    return this.exponent === 0 ? base : base * goPow10(this.exponent);
  }

  /** Add (or Sub, with `negate`): compact arithmetic when both are compact and it fits, exact otherwise. */
  plus(other: Quantity, negate = false): Quantity {
    const otherMantissa = negate ? -other.mantissa : other.mantissa;
    const format = this.mantissa === 0n ? other.format : this.format;
    if (this.compact && other.compact) {
      if (otherMantissa === 0n) return new Quantity(this.mantissa, this.exponent, true, format);
      if (this.mantissa === 0n) return new Quantity(otherMantissa, other.exponent, true, format);
      const [a, b, exponent] = align(this, otherMantissa, other.exponent);
      // int64Amount.Add fails (and falls back to inf.Dec) when the scaled operand or the sum overflows.
      if (fitsInt64(a) && fitsInt64(b) && fitsInt64(a + b)) return new Quantity(a + b, exponent, true, format);
    }
    const [a, b, exponent] = align(this, otherMantissa, other.exponent);
    return new Quantity(a + b, exponent, false, format);
  }

  /** RoundUp(scale), away from zero; the original text is kept when nothing changes (milli by default). */
  roundUp(scale = MILLI): Quantity {
    if (this.exponent >= scale) return this;
    return new Quantity(roundUpToScale(this.mantissa, this.exponent, scale), scale, this.compact, this.format);
  }

  /** Quantity.String(): the kept original text, or CanonicalizeBytes. */
  toString(): string {
    if (this.text !== undefined) return this.text;
    const { mantissa, exponent } = this;
    if (mantissa === 0n) return '0';
    let format = this.format;
    let whole: bigint | undefined;
    if (format === 'BinarySI') {
      const divisor = exponent < 0 ? pow10(-exponent) : 1n;
      const scaled = exponent >= 0 ? mantissa * pow10(exponent) : undefined;
      const belowKibi = scaled !== undefined ? abs(scaled) < 1024n : abs(mantissa) < 1024n * divisor;
      if (belowKibi) format = 'DecimalSI'; // avoids rounding (and confusion)
      else if (scaled !== undefined) whole = scaled;
      else if (mantissa % divisor === 0n) whole = mantissa / divisor;
      else format = 'DecimalSI'; // not a whole number: do not lose precision
    }
    if (format === 'BinarySI' && whole !== undefined) {
      const { value, times } = removeFactors(whole, 1024n);
      return `${value}${BINARY_SUFFIX_OF.get(times * 10) ?? ''}`;
    }
    // AsCanonicalBytes: every factor of ten into the exponent, then down to a multiple of three.
    const stripped = removeFactors(mantissa, 10n);
    let value = stripped.value;
    let canonicalExponent = exponent + stripped.times;
    const remainder = canonicalExponent % 3; // truncated, like Go's %
    if (remainder === 1 || remainder === -2) {
      value *= 10n;
      canonicalExponent -= 1;
    } else if (remainder === 2 || remainder === -1) {
      value *= 100n;
      canonicalExponent -= 2;
    }
    if (format === 'DecimalExponent') return canonicalExponent === 0 ? `${value}` : `${value}e${canonicalExponent}`;
    // Like apimachinery, an exponent without an SI suffix (above E) prints no suffix.
    return `${value}${DECIMAL_SUFFIX_OF.get(canonicalExponent) ?? ''}`;
  }
}

interface ScannedText {
  positive: boolean;
  /** The digits before the point, leading zeros dropped ("0" when there are none). */
  num: string;
  /** The digits after the point. */
  denom: string;
  suffix: string;
}

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';

/** parseQuantityString: sign, digits (leading zeros dropped), optional fraction, suffix. */
function scan(text: string): ScannedText {
  let pos = 0;
  const end = text.length;
  let positive = true;
  if (text[0] === '-') {
    positive = false;
    pos++;
  } else if (text[0] === '+') {
    pos++;
  }
  while (pos < end && text[pos] === '0') pos++;
  if (pos >= end) return { positive, num: '0', denom: '', suffix: '' };
  let start = pos;
  while (pos < end && isDigit(text[pos])) pos++;
  const num = text.slice(start, pos) || '0';
  if (pos >= end) return { positive, num, denom: '', suffix: '' };
  let denom = '';
  if (text[pos] === '.') {
    pos++;
    start = pos;
    while (pos < end && isDigit(text[pos])) pos++;
    denom = text.slice(start, pos);
    if (pos >= end) return { positive, num, denom, suffix: '' };
  }
  const suffixStart = pos;
  while (pos < end && 'eEinumkKMGTP'.includes(text[pos]!)) pos++;
  if (pos < end && (text[pos] === '-' || text[pos] === '+')) pos++;
  while (pos < end && isDigit(text[pos])) pos++;
  if (pos < end) throw new QuantityError(ERR_FORMAT); // characters after the suffix
  return { positive, num, denom, suffix: text.slice(suffixStart) };
}

/** quantitySuffixer.interpret: base, exponent and format of a suffix. */
function interpretSuffix(suffix: string): { base: 10 | 2; exponent: number; format: QuantityFormat } {
  const decimal = DECIMAL_SUFFIXES.get(suffix);
  if (decimal !== undefined) return { base: 10, exponent: decimal, format: 'DecimalSI' };
  const binary = BINARY_SUFFIXES.get(suffix);
  if (binary !== undefined) return { base: 2, exponent: binary, format: 'BinarySI' };
  // strconv.ParseInt(rest, 10, 64): an optional sign, then digits only.
  if (suffix.length > 1 && (suffix[0] === 'e' || suffix[0] === 'E') && /^[+-]?\d+$/.test(suffix.slice(1))) {
    const parsed = BigInt(suffix.slice(1));
    if (fitsInt64(parsed)) {
      // Go converts the int64 to int32 by truncation.
      const exponent = Number(BigInt.asIntN(32, parsed));
      if (Math.abs(exponent) > MAX_EXPONENT) throw new QuantityError(ERR_EXPONENT);
      return { base: 10, exponent, format: 'DecimalExponent' };
    }
  }
  throw new QuantityError(ERR_SUFFIX);
}

/** resource.ParseQuantity; throws a QuantityError with apimachinery's message when the text is refused. */
export function parseQuantity(text: string): Quantity {
  if (text === '') throw new QuantityError(ERR_FORMAT);
  if (text === '0') return new Quantity(0n, 0, true, 'DecimalSI', '0');
  const { positive, num, denom, suffix } = scan(text);
  const { base, exponent, format: suffixFormat } = interpretSuffix(suffix);
  let format = suffixFormat;

  // The int64 fast path; it alone keeps the original text, when that looks canonical.
  let precision: number;
  let scale: number;
  let multiplier = 1n;
  if (base === 10) {
    scale = exponent;
    precision = 18 - (num.length + denom.length);
  } else {
    scale = 0;
    if (exponent >= 0 && denom.length === 0) {
      multiplier = 1n << BigInt(exponent);
      // 1Mi (2^20) has about six decimal digits: exponent*3/10 - 1 estimates the digits it uses.
      precision = 15 - num.length - Math.trunc(Math.fround((exponent * 3) / 10)) - 1;
    } else {
      precision = -1;
    }
  }
  if (precision >= 0) {
    scale -= denom.length;
    if (scale >= NANO) {
      const shifted = num + denom;
      const value = BigInt(shifted);
      if (!fitsInt64(value)) throw new QuantityError(ERR_NUMERIC);
      const product = value * multiplier;
      if (fitsInt64(product)) {
        const keepText = format === 'BinarySI' ? exponent % 10 === 0 && (value & 7n) !== 0n : scale % 3 === 0 && !shifted.endsWith('000') && shifted[0] !== '0';
        return new Quantity(positive ? product : -product, scale, true, format, keepText ? text : undefined);
      }
    }
  }

  // The arbitrary-precision path: exact value, non-zero values rounded up (away from zero) to nano
  // units; the result always has exponent -9, which asApproximateFloat's arithmetic depends on.
  let magnitude = BigInt(num + denom);
  let magnitudeExponent = -denom.length;
  if (base === 10) magnitudeExponent += exponent;
  else magnitude *= 1n << BigInt(exponent);
  if (magnitude !== 0n) {
    magnitude = roundUpToScale(magnitude, magnitudeExponent, NANO);
    magnitudeExponent = NANO;
  }
  if (format === 'BinarySI') {
    if (magnitude > INT64_MAX * pow10(-magnitudeExponent)) {
      magnitude = INT64_MAX;
      magnitudeExponent = 0;
    }
    const belowOne = magnitudeExponent < 0 && magnitude < pow10(-magnitudeExponent);
    if (magnitude !== 0n && belowOne) format = 'DecimalSI';
  }
  return new Quantity(positive ? magnitude : -magnitude, magnitudeExponent, false, format);
}

export function isQuantity(text: string): boolean {
  try {
    parseQuantity(text);
    return true;
  } catch (error) {
    if (error instanceof QuantityError) return false;
    throw error;
  }
}

/** The text a JSON value holding a quantity decodes from: UnmarshalJSON trims strings, numbers are read from their JSON form. */
function quantityText(value: unknown): string | undefined {
  if (typeof value === 'string') return value.trim();
  if (typeof value === 'number' && Number.isFinite(value)) return JSON.stringify(value);
  return undefined;
}

/**
 * The text the apiserver prints for a quantity field, or undefined when it would refuse the value.
 * `roundToMilli` applies container-resource defaulting (SetDefaults_ResourceList).
 */
export function canonicalQuantity(value: unknown, roundToMilli = false): string | undefined {
  const text = quantityText(value);
  if (text === undefined) return undefined;
  let parsed: Quantity;
  try {
    parsed = parseQuantity(text);
  } catch (error) {
    if (error instanceof QuantityError) return undefined;
    throw error;
  }
  return (roundToMilli ? parsed.roundUp() : parsed).toString();
}
