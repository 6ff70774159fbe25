// Kubernetes resource quantities ("500m", "1Gi", "0.5") as the kube-apiserver re-encodes them.
//
// A webhook never sees the text of the manifest: the apiserver parses every quantity into a
// resource.Quantity and prints it back. Printing is canonical ("0.5" -> "500m", "1024Mi" -> "1Gi",
// "1000m" -> "1") except when the parser judged the original text canonical already and kept it.
// Container resources are also rounded up to milli precision by defaulting ("100u" -> "1m").
// This module reproduces k8s.io/apimachinery/pkg/api/resource (v0.37) closely enough to give the
// same text: the parser's grammar, its fast path (which decides whether the original text is kept),
// rounding up to nano on parse, and CanonicalizeBytes.

type QuantityFormat = 'DecimalSI' | 'BinarySI' | 'DecimalExponent';

export interface Quantity {
  /** value = mantissa * 10^exponent (exact). */
  mantissa: bigint;
  exponent: number;
  format: QuantityFormat;
  /** The text the apiserver prints as is (set when the parser found it canonical). */
  cached?: string;
}

const MAX_INT64 = (1n << 63n) - 1n;

const NANO = -9;
const MILLI = -3;

const DECIMAL_SUFFIXES: Readonly<Record<string, number>> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY_SUFFIXES: Readonly<Record<string, number>> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
const DECIMAL_SUFFIX_OF = new Map(Object.entries(DECIMAL_SUFFIXES).map(([suffix, exponent]) => [exponent, suffix]));
const BINARY_SUFFIX_OF = new Map(Object.entries(BINARY_SUFFIXES).map(([suffix, exponent]) => [exponent, suffix]));

interface ParsedText {
  positive: boolean;
  num: string;
  denom: string;
  suffix: string;
}

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';

/** parseQuantityString: sign, digits (leading zeros dropped), optional fraction, suffix. */
function splitQuantityText(text: string): ParsedText | undefined {
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
  if (pos < end) return undefined; // characters after the suffix
  return { positive, num, denom, suffix: text.slice(suffixStart) };
}

function interpretSuffix(suffix: string): { base: 10 | 2; exponent: number; format: QuantityFormat } | undefined {
  if (suffix in DECIMAL_SUFFIXES) return { base: 10, exponent: DECIMAL_SUFFIXES[suffix]!, format: 'DecimalSI' };
  if (suffix in BINARY_SUFFIXES) return { base: 2, exponent: BINARY_SUFFIXES[suffix]!, format: 'BinarySI' };
  if (suffix.length > 1 && (suffix[0] === 'e' || suffix[0] === 'E') && /^[+-]?\d+$/.test(suffix.slice(1))) {
    const exponent = Number(suffix.slice(1));
    if (Number.isSafeInteger(exponent) && Math.abs(exponent) < 2 ** 31) return { base: 10, exponent, format: 'DecimalExponent' };
  }
  return undefined;
}

/** Rounds value = mantissa * 10^exponent to `scale` (a power of ten), away from zero. */
function roundUpToScale(mantissa: bigint, exponent: number, scale: number): { mantissa: bigint; exponent: number } {
  if (exponent >= scale) return { mantissa, exponent };
  const divisor = 10n ** BigInt(scale - exponent);
  let quotient = mantissa / divisor; // truncates toward zero
  if (quotient * divisor !== mantissa) quotient += mantissa < 0n ? -1n : 1n;
  return { mantissa: quotient, exponent: scale };
}

/** Parses a quantity as resource.ParseQuantity does; undefined when the apiserver would reject it. */
export function parseQuantity(text: string): Quantity | undefined {
  if (text === '') return undefined;
  if (text === '0') return { mantissa: 0n, exponent: 0, format: 'DecimalSI', cached: '0' };
  const parts = splitQuantityText(text);
  if (!parts) return undefined;
  const suffix = interpretSuffix(parts.suffix);
  if (!suffix) return undefined;
  const { num, denom, positive } = parts;
  let { format } = suffix;

  // The parser's int64 fast path; it alone keeps the original text when it looks canonical.
  let precision: number;
  let scale: number;
  let multiplier = 1n;
  if (suffix.base === 10) {
    scale = suffix.exponent;
    precision = 18 - (num.length + denom.length);
  } else {
    scale = 0;
    if (suffix.exponent >= 0 && denom.length === 0) {
      multiplier = 1n << BigInt(suffix.exponent);
      precision = 15 - num.length - Math.trunc(Math.fround((suffix.exponent * 3) / 10)) - 1;
    } else {
      precision = -1;
    }
  }
  if (precision >= 0) {
    scale -= denom.length;
    if (scale >= NANO) {
      const shifted = num + denom;
      const value = BigInt(shifted);
      const product = value * multiplier;
      if (product <= MAX_INT64) {
        const result = positive ? product : -product;
        let keep = false;
        if (format === 'BinarySI') keep = suffix.exponent % 10 === 0 && (value & 7n) !== 0n;
        else keep = scale % 3 === 0 && !shifted.endsWith('000') && shifted[0] !== '0';
        const quantity: Quantity = { mantissa: result, exponent: scale, format };
        if (keep) quantity.cached = text;
        return quantity;
      }
    }
  }

  // The arbitrary-precision path: exact value, rounded up to nano, binary capped at int64.
  let mantissa = BigInt(num + denom);
  let exponent = -denom.length;
  if (suffix.base === 10) exponent += suffix.exponent;
  else mantissa *= 1n << BigInt(suffix.exponent);
  if (mantissa !== 0n) ({ mantissa, exponent } = roundUpToScale(mantissa, exponent, NANO));
  if (format === 'BinarySI') {
    const magnitudeOverMax = exponent >= 0 ? mantissa * 10n ** BigInt(exponent) > MAX_INT64 : mantissa > MAX_INT64 * 10n ** BigInt(-exponent);
    if (magnitudeOverMax) {
      mantissa = MAX_INT64;
      exponent = 0;
    }
    const belowOne = exponent >= 0 ? false : mantissa < 10n ** BigInt(-exponent);
    if (mantissa !== 0n && belowOne) format = 'DecimalSI';
  }
  return { mantissa: positive ? mantissa : -mantissa, exponent, format };
}

/** Quantity.RoundUp(scale): rounds away from zero; keeps the original text when nothing changes. */
export function roundUpQuantity(quantity: Quantity, scale = MILLI): Quantity {
  if (quantity.exponent >= scale) return quantity;
  const rounded = roundUpToScale(quantity.mantissa, quantity.exponent, scale);
  return { mantissa: rounded.mantissa, exponent: rounded.exponent, format: quantity.format };
}

function removeFactors(value: bigint, base: bigint): { value: bigint; times: number } {
  let times = 0;
  const negative = value < 0n;
  let result = negative ? -value : value;
  while (result >= base && result % base === 0n) {
    result /= base;
    times++;
  }
  return { value: negative ? -result : result, times };
}

/** Quantity.String(): the kept original text, or CanonicalizeBytes. */
export function formatQuantity(quantity: Quantity): string {
  if (quantity.cached !== undefined) return quantity.cached;
  const { mantissa, exponent } = quantity;
  if (mantissa === 0n) return '0';
  let format = quantity.format;
  let integer: bigint | undefined;
  if (format === 'BinarySI') {
    const scaled = exponent >= 0 ? mantissa * 10n ** BigInt(exponent) : undefined;
    const divisor = exponent < 0 ? 10n ** BigInt(-exponent) : 1n;
    const magnitude = mantissa < 0n ? -mantissa : mantissa;
    const lessThan1024 = exponent >= 0 ? (scaled! < 0n ? -scaled! : scaled!) < 1024n : magnitude < 1024n * divisor;
    if (lessThan1024) {
      format = 'DecimalSI';
    } else if (exponent >= 0) {
      integer = scaled;
    } else if (mantissa % divisor === 0n) {
      integer = mantissa / divisor;
    } else {
      format = 'DecimalSI'; // not a whole number: do not lose precision
    }
  }
  if (format === 'BinarySI' && integer !== undefined) {
    const { value, times } = removeFactors(integer, 1024n);
    return `${value}${BINARY_SUFFIX_OF.get(times * 10) ?? ''}`;
  }
  const stripped = removeFactors(mantissa, 10n);
  let value = stripped.value;
  let canonicalExponent = exponent + stripped.times;
  const remainder = canonicalExponent % 3; // truncated like Go's %
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

/** The text a JSON value holding a quantity decodes from (numbers are read from their JSON form). */
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
  const parsed = parseQuantity(text);
  if (!parsed) return undefined;
  return formatQuantity(roundToMilli ? roundUpQuantity(parsed) : parsed);
}


