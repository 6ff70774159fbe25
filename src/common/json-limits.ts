// The shape of a JSON text, measured on its bytes before anything parses it.
//
// What a review costs in memory follows its number of values far more than its size in bytes: a 4.5 MB
// body of 1.5 million empty objects ({},{},…) parses into hundreds of MB of objects and takes more again
// once converted for CEL, while a 4.5 MB string costs about 4.5 MB wherever it goes. JSON.parse cannot
// be told to stop early, so the limits are checked here, in one pass over the raw bytes that allocates
// nothing but one frame per nesting level: a body over a limit is refused before any of that memory is
// spent. The text need not be valid JSON; syntax errors are left to JSON.parse (the scan stops at an
// unterminated string and never reads past the end).

/** The structural limits of a JSON text. */
export interface JsonLimits {
  /** Deepest nesting of objects and arrays; the top-level value is depth 1. */
  maxDepth: number;
  /** Most elements in one array, or members in one object. */
  maxElements: number;
  /** Most values in the whole text: objects, arrays, strings, numbers, booleans and nulls (keys are not counted). */
  maxNodes: number;
  /** Longest string, keys included, in bytes as written in the JSON (escapes count as written). */
  maxStringBytes: number;
}

export type JsonLimitName = 'depth' | 'elements' | 'nodes' | 'string-bytes';

export interface JsonLimitViolation {
  limit: JsonLimitName;
  /** The limit's value. */
  max: number;
  /** Where: keys and indexes from the top-level value to the offending one (the list or object itself for `elements`). */
  path: (string | number)[];
}

export interface JsonShape {
  /** Values counted up to the end, or up to the first violation. */
  nodes: number;
  violation?: JsonLimitViolation;
}

/** An open object or array while measuring (exported, with isJsonDelimiter and jsonPathOf, for the reference version in test/support). */
export interface JsonFrame {
  isObject: boolean;
  /** Elements of the array, or members of the object, seen so far. */
  entries: number;
  /** In an object: whether the next string is a key. */
  expectKey: boolean;
  /** In an object: the current key's quotes, as byte offsets (decoded only to report a path). */
  keyStart: number;
  keyEnd: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

export function isJsonDelimiter(byte: number): boolean {
  // , ] } and JSON whitespace end a number or a literal.
  return byte === 0x2c || byte === 0x5d || byte === 0x7d || byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

/**
 * How far nextQuote reads byte by byte before it asks indexOf: a review's strings are mostly keys and
 * short values, and indexOf is a call into C++ that costs more than reading a few dozen bytes here.
 */
const SHORT_SCAN = 32;

/** The first `"` at or after `from`, or -1. */
function nextQuote(bytes: Uint8Array, from: number): number {
  const end = Math.min(bytes.length, from + SHORT_SCAN);
  for (let at = from; at < end; at++) if (bytes[at] === QUOTE) return at;
  return end === bytes.length ? -1 : bytes.indexOf(QUOTE, end);
}

/** The closing quote of the string whose opening quote is at `start`, or -1 when it is not closed. */
function stringEnd(bytes: Uint8Array, start: number): number {
  let at = start;
  for (;;) {
    at = nextQuote(bytes, at + 1);
    if (at < 0) return -1;
    let backslashes = 0;
    while (bytes[at - 1 - backslashes] === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return at;
  }
}

function keyText(bytes: Uint8Array, frame: JsonFrame): string {
  const raw = Buffer.from(bytes.buffer, bytes.byteOffset + frame.keyStart, frame.keyEnd - frame.keyStart + 1).toString('utf8');
  try {
    return JSON.parse(raw) as string;
  } catch {
    return raw.slice(1, -1);
  }
}

export function jsonPathOf(bytes: Uint8Array, stack: readonly JsonFrame[], depth: number): (string | number)[] {
  const path: (string | number)[] = [];
  for (let level = 0; level < depth; level++) {
    const frame = stack[level] as JsonFrame;
    if (frame.isObject) path.push(keyText(bytes, frame));
    else path.push(frame.entries - 1);
  }
  return path;
}

/** The result for a violation of `limit` at the value at `pathDepth` (see JsonLimitViolation.path). */
function violationAt(bytes: Uint8Array, stack: readonly JsonFrame[], nodes: number, limit: JsonLimitName, max: number, pathDepth: number): JsonShape {
  return { nodes, violation: { limit, max, path: jsonPathOf(bytes, stack, pathDepth) } };
}

/**
 * Counts the values of a JSON text and finds the first place where it goes over one of `limits`.
 * One pass, no recursion, no copies of the text. Written for speed (serve measures every review
 * longer than surelyWithinJsonLimits can vouch for, 120 µs for a 64 KB one before): the counts live
 * in locals, not in a closure's context, the innermost frame is kept at hand, and short strings are
 * scanned here rather than by indexOf.
 */
export function measureJson(bytes: Uint8Array, limits: JsonLimits): JsonShape {
  const { maxDepth, maxElements, maxNodes, maxStringBytes } = limits;
  const stack: JsonFrame[] = [];
  /** stack[depth - 1]: the innermost open object or array, undefined at the top level. */
  let frame: JsonFrame | undefined;
  let depth = 0;
  let nodes = 0;
  let at = 0;
  const length = bytes.length;

  while (at < length) {
    const byte = bytes[at] as number;
    if (byte === QUOTE) {
      const end = stringEnd(bytes, at);
      if (end < 0) return { nodes };
      if (frame !== undefined && frame.isObject && frame.expectKey) {
        frame.expectKey = false;
        frame.keyStart = at;
        frame.keyEnd = end;
        if (++frame.entries > maxElements) return violationAt(bytes, stack, nodes, 'elements', maxElements, depth - 1);
      } else {
        // A string value.
        if (frame !== undefined && !frame.isObject && ++frame.entries > maxElements) return violationAt(bytes, stack, nodes, 'elements', maxElements, depth - 1);
        if (++nodes > maxNodes) return violationAt(bytes, stack, nodes, 'nodes', maxNodes, depth);
      }
      if (end - at - 1 > maxStringBytes) return violationAt(bytes, stack, nodes, 'string-bytes', maxStringBytes, depth);
      at = end + 1;
      continue;
    }
    switch (byte) {
      case 0x20:
      case 0x0a:
      case 0x0d:
      case 0x09:
      case 0x3a: // ':' — after a key
        at++;
        continue;
      case 0x2c: // ',' — in an object, a key comes next
        if (frame !== undefined && frame.isObject) frame.expectKey = true;
        at++;
        continue;
      case 0x7b: // '{'
      case 0x5b: {
        // '['
        if (frame !== undefined && !frame.isObject && ++frame.entries > maxElements) return violationAt(bytes, stack, nodes, 'elements', maxElements, depth - 1);
        if (++nodes > maxNodes) return violationAt(bytes, stack, nodes, 'nodes', maxNodes, depth);
        // Report the container that is one level too deep.
        if (depth >= maxDepth) return violationAt(bytes, stack, nodes, 'depth', maxDepth, depth);
        const isObject = byte === 0x7b;
        frame = stack[depth];
        if (frame === undefined) {
          frame = { isObject, entries: 0, expectKey: isObject, keyStart: 0, keyEnd: 0 };
          stack.push(frame);
        } else {
          frame.isObject = isObject;
          frame.entries = 0;
          frame.expectKey = isObject;
        }
        depth++;
        at++;
        continue;
      }
      case 0x7d: // '}'
      case 0x5d: // ']'
        if (depth > 0) {
          depth--;
          frame = depth > 0 ? stack[depth - 1] : undefined;
        }
        at++;
        continue;
      default:
        // A number or a literal (true, false, null), or bytes JSON.parse will refuse.
        if (frame !== undefined && !frame.isObject && ++frame.entries > maxElements) return violationAt(bytes, stack, nodes, 'elements', maxElements, depth - 1);
        if (++nodes > maxNodes) return violationAt(bytes, stack, nodes, 'nodes', maxNodes, depth);
        at++;
        while (at < length && !isJsonDelimiter(bytes[at] as number)) at++;
    }
  }
  return { nodes };
}

const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;

/**
 * True when no text of these bytes can go over `limits`, decided without reading it value by value;
 * false when measureJson must look. A review of a few KB passes in a fraction of measureJson's time
 * (two memchr scans instead of a walk over every byte), with the same verdict:
 * - measureJson counts every value, and every element or member, at a byte of its own, so neither
 *   count exceeds the text's length; a string's bytes are the text less its two quotes;
 * - a level of nesting opens at a `{` or `[` byte, so the depth never exceeds the number of those
 *   bytes (counted here inside strings too, which only errs towards looking).
 */
export function surelyWithinJsonLimits(bytes: Buffer, limits: JsonLimits): boolean {
  const length = bytes.length;
  if (length > limits.maxNodes || length > limits.maxElements || length - 2 > limits.maxStringBytes) return false;
  if (length <= limits.maxDepth) return true;
  let opens = 0;
  for (let at = bytes.indexOf(OPEN_BRACE); at >= 0; at = bytes.indexOf(OPEN_BRACE, at + 1)) {
    if (++opens > limits.maxDepth) return false;
  }
  for (let at = bytes.indexOf(OPEN_BRACKET); at >= 0; at = bytes.indexOf(OPEN_BRACKET, at + 1)) {
    if (++opens > limits.maxDepth) return false;
  }
  return true;
}
