// measureJson as it was before it was rewritten for speed (src/common/json-limits.ts): the plain
// version, kept as the reference the rewrite must agree with on every text and limits
// (src/common/json-limits.test.ts); the helpers the rewrite left as they were are imported. Not used
// outside tests.
import { isJsonDelimiter as isDelimiter, jsonPathOf as pathOf, type JsonFrame as Frame, type JsonLimitName, type JsonLimits, type JsonShape } from '../../src/common/json-limits.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** The closing quote of the string whose opening quote is at `start`, or -1: with indexOf, as before. */
function stringEnd(bytes: Uint8Array, start: number): number {
  let at = start;
  for (;;) {
    at = bytes.indexOf(QUOTE, at + 1);
    if (at < 0) return -1;
    let backslashes = 0;
    while (bytes[at - 1 - backslashes] === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return at;
  }
}

/**
 * Counts the values of a JSON text and finds the first place where it goes over one of `limits`.
 * One pass, no recursion, no copies of the text.
 */
export function referenceMeasureJson(bytes: Uint8Array, limits: JsonLimits): JsonShape {
  const stack: Frame[] = [];
  let depth = 0;
  let nodes = 0;
  let at = 0;
  const length = bytes.length;

  const violation = (limit: JsonLimitName, max: number, pathDepth = depth): JsonShape => ({ nodes, violation: { limit, max, path: pathOf(bytes, stack, pathDepth) } });

  /** Counts a value starting here; returns a violation when it is one too many. */
  const startValue = (): JsonShape | undefined => {
    const frame = depth > 0 ? (stack[depth - 1] as Frame) : undefined;
    if (frame !== undefined && !frame.isObject) {
      frame.entries++;
      if (frame.entries > limits.maxElements) return violation('elements', limits.maxElements, depth - 1);
    }
    nodes++;
    if (nodes > limits.maxNodes) return violation('nodes', limits.maxNodes);
    return undefined;
  };

  while (at < length) {
    const byte = bytes[at] as number;
    switch (byte) {
      case 0x20:
      case 0x0a:
      case 0x0d:
      case 0x09:
      case 0x3a: // ':' — after a key
        at++;
        continue;
      case 0x2c: {
        // ',' — in an object, a key comes next
        const frame = stack[depth - 1];
        if (frame !== undefined && frame.isObject) frame.expectKey = true;
        at++;
        continue;
      }
      case 0x7b: // '{'
      case 0x5b: {
        // '['
        const over = startValue();
        if (over !== undefined) return over;
        if (depth >= limits.maxDepth) {
          // Report the container that is one level too deep.
          return violation('depth', limits.maxDepth);
        }
        const isObject = byte === 0x7b;
        const frame = stack[depth];
        if (frame === undefined) stack.push({ isObject, entries: 0, expectKey: isObject, keyStart: 0, keyEnd: 0 });
        else {
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
        if (depth > 0) depth--;
        at++;
        continue;
      case QUOTE: {
        const end = stringEnd(bytes, at);
        if (end < 0) return { nodes };
        const frame = stack[depth - 1];
        if (frame !== undefined && frame.isObject && frame.expectKey) {
          frame.expectKey = false;
          frame.keyStart = at;
          frame.keyEnd = end;
          frame.entries++;
          if (frame.entries > limits.maxElements) return violation('elements', limits.maxElements, depth - 1);
          if (end - at - 1 > limits.maxStringBytes) return violation('string-bytes', limits.maxStringBytes);
        } else {
          const over = startValue();
          if (over !== undefined) return over;
          if (end - at - 1 > limits.maxStringBytes) return violation('string-bytes', limits.maxStringBytes);
        }
        at = end + 1;
        continue;
      }
      default: {
        // A number or a literal (true, false, null), or bytes JSON.parse will refuse.
        const over = startValue();
        if (over !== undefined) return over;
        at++;
        while (at < length && !isDelimiter(bytes[at] as number)) at++;
      }
    }
  }
  return { nodes };
}

