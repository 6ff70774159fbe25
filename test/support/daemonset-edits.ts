// Generated changes to DaemonSets for differential tests (the compiled CEL against the interpreter,
// the lean tier against the exact code): edits that drop fields or put values of the wrong type
// anywhere, lists reversed, and what lands where the edge expressions read (missing, null, mistyped
// and reserved members).
import fc from 'fast-check';
import { isJsonObject, type JsonObject, type JsonValue } from '../../src/common/vocabulary.js';

/** JSON values of the wrong type for wherever they land. */
export const strangeValue: fc.Arbitrary<JsonValue> = fc.oneof(
  fc.constantFrom<JsonValue>(null, true, false, 0, -1, 7, 2 ** 53, -(2 ** 63), 0.5, '', 'x', [], {}, ['x'], [1], { a: 1 }, [{ name: 1 }], { name: 'c' }),
  fc.string({ maxLength: 12 }),
  fc.integer(),
);

export interface Edit {
  kind: 'drop' | 'replace';
  at: number;
  value: JsonValue;
}

export const edit: fc.Arbitrary<Edit> = fc.record({ kind: fc.constantFrom('drop' as const, 'replace' as const), at: fc.nat(), value: strangeValue });

/** Every (container, key) pair in the document, to pick where an edit lands. */
function slots(document: JsonValue, out: [JsonObject | JsonValue[], string | number][] = []): [JsonObject | JsonValue[], string | number][] {
  const entries: [string | number, JsonValue][] = Array.isArray(document) ? document.map((v, i) => [i, v]) : isJsonObject(document) ? Object.entries(document) : [];
  for (const [key, value] of entries) {
    out.push([document as JsonObject | JsonValue[], key]);
    slots(value, out);
  }
  return out;
}

export function applyEdits(seed: JsonObject, edits: readonly Edit[]): JsonObject {
  const document = structuredClone(seed);
  for (const e of edits) {
    const all = slots(document).filter(([, key]) => key !== 'metadata' && key !== 'name' && key !== 'namespace');
    if (all.length === 0) break;
    const [container, key] = all[e.at % all.length]!;
    if (e.kind === 'drop' && !Array.isArray(container)) delete (container as JsonObject)[key as string];
    else (container as Record<string | number, JsonValue>)[key] = structuredClone(e.value);
  }
  return document;
}

/** The document with every list reversed: listType=map and set lists then equal the original's, atomic ones not. */
export function reverseLists(document: JsonValue): JsonValue {
  if (Array.isArray(document)) return document.map(reverseLists).reverse();
  if (isJsonObject(document)) return Object.fromEntries(Object.entries(document).map(([k, v]) => [k, reverseLists(v)]));
  return document;
}

/** What lands where the edge expressions read: missing members, null, other types, reserved keys. */
export const edgeMember: fc.Arbitrary<JsonValue> = fc.oneof(
  strangeValue,
  fc.constantFrom<JsonValue>(
    { privileged: true },
    { privileged: null },
    { privileged: 'yes' },
    { capabilities: { add: ['NET_ADMIN'] } },
    { capabilities: { add: null } },
    { capabilities: null },
    { capabilities: [] },
    { capabilities: { constructor: { add: 1 } } },
    { seLinuxOptions: { user: 'u' } },
    { seLinuxOptions: { constructor: 'c', user: 'u' } },
    { runAsUser: 0 },
    { runAsUser: 1000 },
    { runAsUser: 2 ** 63 },
    { runAsUser: 0.5 },
    JSON.parse('{"__proto__": {"privileged": true}, "privileged": false}') as JsonValue,
    { constructor: { privileged: true }, privileged: true },
  ),
);

export const edgeAnnotations: fc.Arbitrary<JsonValue> = fc.oneof(
  strangeValue,
  fc.constantFrom<JsonValue>(
    {},
    JSON.parse('{"__proto__": "own"}') as JsonValue,
    JSON.parse('{"__proto__": {"name": "n"}}') as JsonValue,
    { constructor: 'c' },
    { constructor: { name: 'n' } },
    { 'we"ird\\key${x}\n': 'found' },
    { hostNetwork: 'a key', toString: 't' },
    { hostNetwork: null },
    { toString: 'own' },
    // Numbers as strings, for int() and matches(): what BigInt takes and CEL does not, and the reverse.
    ...['3', '007', '', '+5', ' 5', '0x10', '0X10', '5%', '1e3', '١٢', '123456789012345678', '99999999999999999999'].map((replicas) => ({ replicas })),
  ),
);
