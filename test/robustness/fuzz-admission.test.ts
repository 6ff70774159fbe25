// Property-based fuzzing of POST /validate and /mutate on a running HTTPS server with the built-in
// policy library. Inputs are built from valid reviews of real-shaped DaemonSets and then damaged:
// fields dropped, types swapped, huge and empty values, unicode, deep nesting, hostile keys, broken JSON;
// valid reviews are also sent with fuzzed query strings (the apiserver's `?timeout=` and anything else).
//
// Invariants: the server never falls over; every answer is a 400/413 with a reason or a well-formed
// AdmissionReview with the right uid; no 5xx and no "the engine failed"; and the verdict on a valid
// DaemonSet does not depend on fields no policy reads.
//
// Budget: DAEMONGUARD_FUZZ_RUNS inputs per property (default 200, so `npm test` stays short; `npm run fuzz`
// sets thousands). DAEMONGUARD_FUZZ_SEED replays a run; every run prints its seed and how many inputs it tried,
// and a failure (or a cancellation) prints the seed, the path, the command that replays it and the case
// (fuzz-report.ts).

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import fastJsonPatch from 'fast-json-patch';
import type { Operation as PatchOperation } from 'fast-json-patch';
import { isJsonObject, type JsonObject, type JsonValue } from '../../src/common/vocabulary.js';
import { admissionReview } from '../support/server-fixtures.js';
import { fuzzReport } from './fuzz-report.js';
import { answerProblem, seedDaemonSets, startHostileServer, type HostileServer } from './hostile-fixtures.js';

const RUNS = Math.max(1, Number(process.env['DAEMONGUARD_FUZZ_RUNS'] ?? 200));
const SEED = process.env['DAEMONGUARD_FUZZ_SEED'] === undefined ? Date.now() % 2 ** 31 : Number(process.env['DAEMONGUARD_FUZZ_SEED']);
/** With the seed, replays one failing input: the `path` fast-check printed (DAEMONGUARD_FUZZ_PATH). */
const REPLAY = process.env['DAEMONGUARD_FUZZ_PATH'] === undefined ? {} : { path: process.env['DAEMONGUARD_FUZZ_PATH'], endOnFailure: true };
/** Wall-clock cap per property, so a slow shared machine cannot stretch `npm test`. */
const TIME_LIMIT_MS = Number(process.env['DAEMONGUARD_FUZZ_SECONDS'] ?? (RUNS <= 200 ? 20 : 1800)) * 1000;
/**
 * fast-check checks its time limit between inputs, so a property ends up to one input's time (and its
 * shrinking, which the limit also ends) after it: a minute covers one review of the largest input on a
 * loaded machine. Past this a property's test is cancelled, and fuzz-report.ts prints the input it was on.
 */
const PROPERTY_TIMEOUT_MS = TIME_LIMIT_MS + 60_000;
/**
 * The server's evaluation deadline, out of reach of any load: the properties check answers, not speed,
 * and one compares two reviews of the same DaemonSet, which a deadline missed under load (the default
 * is 2 s, counted from the request's arrival) would tell apart. The deadline itself is tested in
 * src/engine/review-deadline.test.ts and src/server/app.test.ts.
 */
const EVAL_DEADLINE_MS = 10 * 60_000;
const TEST_FILE = path.relative(process.cwd(), fileURLToPath(import.meta.url));

/** fast-check's settings for one property: the budget, the seed (and path to replay), and the failure report. */
function runSettings<Ts>(t: TestContext, property: string): fc.Parameters<Ts> {
  return {
    numRuns: RUNS,
    seed: SEED,
    ...REPLAY,
    interruptAfterTimeLimit: TIME_LIMIT_MS,
    markInterruptAsFailure: false,
    plugins: [fuzzReport<Ts>({ t, property, seed: SEED, testFile: TEST_FILE })],
  };
}

const seeds = seedDaemonSets();
let server: HostileServer;

before(async () => {
  server = await startHostileServer({ evalDeadlineMs: EVAL_DEADLINE_MS });
});

after(async () => {
  await server?.close();
});

type Endpoint = '/validate' | '/mutate';
const OPERATIONS = ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'] as const;

/** A valid review: a seed DaemonSet, an operation, a version. */
const validReview = fc
  .record({
    seed: fc.nat({ max: seeds.length - 1 }),
    operation: fc.constantFrom(...OPERATIONS),
    v1beta1: fc.boolean(),
    uid: fc.uuid(),
  })
  .map(({ seed, operation, v1beta1, uid }): JsonObject => {
    const object = structuredClone(seeds[seed]!);
    const options = { uid, ...(v1beta1 ? { apiVersion: 'admission.k8s.io/v1beta1' } : {}) };
    if (operation === 'CREATE') return admissionReview('CREATE', object, options);
    if (operation === 'DELETE') return admissionReview('DELETE', null, { ...options, oldObject: object });
    return admissionReview(operation, object, { ...options, oldObject: structuredClone(object) });
  });

function nested(depth: number, leaf: JsonValue): JsonValue {
  let value = leaf;
  for (let i = 0; i < depth; i++) value = i % 3 === 0 ? { n: value } : [value];
  return value;
}

/** fast-check's JSON values, typed as ours (the shapes are the same). */
const jsonValue = (maxDepth: number): fc.Arbitrary<JsonValue> => fc.jsonValue({ maxDepth }) as fc.Arbitrary<JsonValue>;

const HOSTILE_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', ''];

/** Values to put where something else was expected. */
const strangeValue: fc.Arbitrary<JsonValue> = fc.oneof(
  fc.constantFrom<JsonValue>(null, true, false, 0, -1, 2 ** 53, -(2 ** 63), 1e308, 0.5, '', [], {}, ['x'], { a: 1 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  jsonValue(3),
  fc.integer({ min: 1, max: 200_000 }).map((n) => 'x'.repeat(n)),
  fc.integer({ min: 1, max: 5_000 }).map((n) => Array.from({ length: n }, (_, i) => ({ name: `c${i}` }))),
  fc.integer({ min: 2, max: 1_500 }).map((n) => nested(n, 'deep')),
  fc.constantFrom(...HOSTILE_KEYS).map((key): JsonValue => JSON.parse(`{"${key}": {"polluted": true, "allowed": true}}`) as JsonValue),
);

type Edit =
  | { kind: 'drop'; at: number }
  | { kind: 'replace'; at: number; value: JsonValue }
  | { kind: 'swap'; at: number }
  | { kind: 'add'; at: number; key: string; value: JsonValue }
  | { kind: 'wrap'; at: number; depth: number };

const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ kind: fc.constant('drop' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), value: strangeValue }),
  fc.record({ kind: fc.constant('swap' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('add' as const),
    at: fc.nat(),
    key: fc.oneof(fc.constantFrom(...HOSTILE_KEYS), fc.string({ unit: 'binary', maxLength: 12 })),
    value: strangeValue,
  }),
  fc.record({ kind: fc.constant('wrap' as const), at: fc.nat(), depth: fc.integer({ min: 1, max: 1_100 }) }),
);

interface Slot {
  parent: JsonObject | JsonValue[];
  key: string | number;
}

/** Every place in the document a value sits, breadth-first, without recursion. */
function slots(document: JsonObject): Slot[] {
  const found: Slot[] = [];
  const queue: (JsonObject | JsonValue[])[] = [document];
  while (queue.length > 0 && found.length < 5_000) {
    const parent = queue.shift()!;
    const keys: (string | number)[] = Array.isArray(parent) ? parent.map((_, i) => i) : Object.keys(parent);
    for (const key of keys) {
      found.push({ parent, key });
      const child = (parent as Record<string | number, JsonValue>)[key];
      if (child !== null && typeof child === 'object') queue.push(child);
    }
  }
  return found;
}

function swapType(value: JsonValue | undefined): JsonValue {
  if (typeof value === 'string') return value.length;
  if (typeof value === 'number') return String(value);
  if (typeof value === 'boolean') return value ? 'true' : 0;
  if (value === null) return {};
  if (Array.isArray(value)) return Object.fromEntries(value.map((item, i) => [String(i), item]));
  if (value === undefined) return null;
  return Object.values(value);
}

function applyEdits(document: JsonObject, edits: readonly Edit[]): JsonObject {
  for (const change of edits) {
    const places = slots(document);
    if (places.length === 0) break;
    const { parent, key } = places[change.at % places.length]!;
    const record = parent as Record<string | number, JsonValue>;
    switch (change.kind) {
      case 'drop':
        if (Array.isArray(parent)) parent.splice(key as number, 1);
        else delete record[key];
        break;
      case 'replace':
        record[key] = change.value;
        break;
      case 'swap':
        record[key] = swapType(record[key]);
        break;
      case 'wrap':
        record[key] = nested(change.depth, record[key] ?? null);
        break;
      case 'add': {
        const target = record[key];
        // defineProperty: a `__proto__` key must become data in the JSON we send, not a prototype here.
        if (isJsonObject(target)) Object.defineProperty(target, change.key, { value: change.value, enumerable: true, writable: true, configurable: true });
        else if (Array.isArray(target)) target.push(change.value);
        break;
      }
    }
  }
  return document;
}

/** Damage to the bytes rather than the structure: cut, insert, duplicate keys, odd encodings. */
type TextDamage = { kind: 'truncate'; at: number } | { kind: 'insert'; at: number; text: string } | { kind: 'none' };

const textDamage: fc.Arbitrary<TextDamage> = fc.oneof(
  { weight: 6, arbitrary: fc.constant<TextDamage>({ kind: 'none' }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('insert' as const),
      at: fc.nat(),
      text: fc.constantFrom(',', '}', '"', '\\', '\u0000', '\uFFFF', '\uD800', '"uid":"dup",', '"apiVersion":"x",', 'NaN', '1e999999', ' '),
    }),
  },
);

function damage(text: string, change: TextDamage): string {
  if (change.kind === 'truncate') return text.slice(0, change.at % text.length);
  if (change.kind === 'insert') {
    const at = change.at % text.length;
    return text.slice(0, at) + change.text + text.slice(at);
  }
  return text;
}

function parsedOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function report(t: TestContext, property: string, tried: number, started: number, statuses?: Map<string, number>): void {
  // A cancelled test has said what it was on (fuzz-report.ts); fast-check may still end its run later.
  if (t.signal.aborted) return;
  const answered = statuses === undefined ? '' : ` (${[...statuses].sort().map(([status, count]) => `${status}: ${count}`).join(', ')})`;
  const line = `${property}: ${tried} inputs tried${answered} in ${((performance.now() - started) / 1000).toFixed(1)} s (seed ${SEED}, DAEMONGUARD_FUZZ_RUNS=${RUNS})`;
  t.diagnostic(line);
  console.log(`fuzz ${line}`);
}

describe('fuzzing the admission endpoints', () => {
  it('answers every damaged review with a 400/413 and a reason, or a well-formed AdmissionReview with its uid', { timeout: PROPERTY_TIMEOUT_MS }, async (t) => {
    let tried = 0;
    const statuses = new Map<string, number>();
    const started = performance.now();
    await fc.assert(
      fc.asyncProperty(validReview, fc.array(edit, { minLength: 1, maxLength: 4 }), textDamage, fc.constantFrom<Endpoint>('/validate', '/mutate'), async (valid, edits, change, endpoint) => {
        tried++;
        // On copies: fast-check reuses generated values when it shrinks a failure.
        // What goes over the wire: a lone surrogate becomes U+FFFD in UTF-8, so the uid to expect is the decoded one.
        let text: string;
        try {
          text = Buffer.from(damage(JSON.stringify(applyEdits(structuredClone(valid), structuredClone(edits))), change), 'utf8').toString('utf8');
        } catch (error) {
          // Several deep edits stacked can be deeper than this process's own JSON.stringify handles.
          if (error instanceof RangeError) return;
          throw error;
        }
        const answer = await server.post(endpoint, text);
        const outcome = answer.status === 200 ? (answer.json<{ response: { allowed: boolean } }>().response.allowed ? 'allowed' : 'denied') : String(answer.status);
        statuses.set(outcome, (statuses.get(outcome) ?? 0) + 1);
        const problem = answerProblem(endpoint, { parsed: parsedOrUndefined(text) }, answer);
        assert.equal(problem, undefined, `${problem}\nsent (first 600 characters): ${text.slice(0, 600)}`);
      }),
      runSettings(t, 'damaged reviews'),
    );
    report(t, 'damaged reviews', tried, started, statuses);
    assert.equal((await server.probe('/healthz')).status, 200);
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined, 'Object.prototype was polluted');
  });

  it('answers random JSON and random bytes with a 400 and a reason', { timeout: PROPERTY_TIMEOUT_MS }, async (t) => {
    let tried = 0;
    const started = performance.now();
    const randomBody = fc.oneof(
      fc.jsonValue({ maxDepth: 4 }).map((value) => JSON.stringify(value) ?? 'null'),
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes).toString('latin1')),
    );
    await fc.assert(
      fc.asyncProperty(randomBody, fc.constantFrom<Endpoint>('/validate', '/mutate'), async (text, endpoint) => {
        tried++;
        const wire = Buffer.from(text, 'utf8');
        const answer = await server.post(endpoint, wire);
        const problem = answerProblem(endpoint, { parsed: parsedOrUndefined(wire.toString('utf8')) }, answer);
        assert.equal(problem, undefined, `${problem}\nsent: ${JSON.stringify(text.slice(0, 300))}`);
        assert.ok(answer.status === 400, `random input answered ${answer.status}`);
      }),
      runSettings(t, 'random bodies'),
    );
    report(t, 'random bodies', tried, started);
  });

  it('answers a valid review whatever its query string, a malformed ?timeout= included (never a 5xx)', { timeout: PROPERTY_TIMEOUT_MS }, async (t) => {
    // What may appear in a request target (RFC 3986 characters, stray percent signs among them),
    // weighted towards `timeout=` and Go durations.
    const queryCharacter = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~%!$&\'()*+,;=:@/?'.split(''));
    const durationLike = fc.oneof(fc.stringMatching(/^-?[0-9]{0,20}(\.[0-9]{0,5})?(ns|us|ms|s|m|h|d)?$/), fc.string({ unit: queryCharacter, maxLength: 12 }));
    const parameter = fc.oneof(
      fc.tuple(fc.constantFrom('timeout', 'Timeout', 'timeout%3D', 'time%6Fut', 'timeout[]'), durationLike).map(([key, value]) => `${key}=${value}`),
      fc.string({ unit: queryCharacter, maxLength: 30 }),
    );
    const query = fc.array(parameter, { maxLength: 4 }).map((parts) => parts.join('&'));
    let tried = 0;
    const statuses = new Map<string, number>();
    const started = performance.now();
    await fc.assert(
      fc.asyncProperty(validReview, query, fc.constantFrom<Endpoint>('/validate', '/mutate'), async (review, search, endpoint) => {
        tried++;
        const text = JSON.stringify(review);
        const answer = await server.post(`${endpoint}?${search}`, text);
        statuses.set(String(answer.status), (statuses.get(String(answer.status)) ?? 0) + 1);
        const problem = answerProblem(endpoint, { parsed: review }, answer);
        assert.equal(problem, undefined, `${problem}\nquery: ${JSON.stringify(search)}`);
        assert.equal(answer.status, 200, `query ${JSON.stringify(search)} answered ${answer.status}: ${answer.text.slice(0, 200)}`);
      }),
      runSettings(t, 'query strings'),
    );
    report(t, 'query strings', tried, started, statuses);
  });

  it('gives a valid DaemonSet the same verdict whatever irrelevant fields it carries', { timeout: PROPERTY_TIMEOUT_MS }, async (t) => {
    // "Irrelevant": what no policy reads — annotations and labels under a prefix of our own, the
    // DaemonSet's status, server-set metadata, unknown fields of the review, userInfo.extra, the uid,
    // and the order of keys. managedFields and daemonguard.dev/* are read by policies, so they stay.
    const PREFIX = 'fuzz.example/';
    const decorations = fc.record({
      annotations: fc.dictionary(fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 20 }), fc.string({ unit: 'grapheme', maxLength: 200 }), { maxKeys: 5 }),
      labels: fc.dictionary(fc.stringMatching(/^[a-z0-9]{1,20}$/), fc.stringMatching(/^[a-z0-9]{0,20}$/), { maxKeys: 5 }),
      status: fc.option(jsonValue(3)),
      serverMetadata: fc.record({ uid: fc.uuid(), resourceVersion: fc.stringMatching(/^[0-9]{1,12}$/), generation: fc.nat() }),
      reviewExtra: fc.dictionary(fc.constantFrom('fuzzTop', 'response', 'metadata', 'status'), jsonValue(2), { maxKeys: 3 }),
      requestExtra: fc.dictionary(fc.constantFrom('fuzzRequest', 'patch', 'allowed'), jsonValue(2), { maxKeys: 3 }),
      extra: fc.dictionary(fc.string({ minLength: 1, maxLength: 10 }).map((k) => `${PREFIX}${k}`), fc.array(fc.string({ maxLength: 20 }), { maxLength: 3 }), { maxKeys: 3 }),
      uid: fc.uuid(),
      shuffleSeed: fc.nat(),
    });

    type Verdict = { allowed: unknown; status: unknown; warnings: unknown; auditAnnotations: unknown; patched: JsonValue | null };
    const reference = new Map<string, Verdict>();

    const verdictOf = async (endpoint: Endpoint, body: JsonObject): Promise<Verdict> => {
      const text = JSON.stringify(body);
      const answer = await server.post(endpoint, text);
      const problem = answerProblem(endpoint, { parsed: JSON.parse(text) }, answer);
      assert.equal(problem, undefined, problem);
      const response = answer.json<{ response: JsonObject }>().response;
      const request = body['request'] as JsonObject;
      // A patch is judged by what it does: the patched object, with the decorations taken off again.
      let patched: JsonValue | null = null;
      if (typeof response['patch'] === 'string') {
        const operations = JSON.parse(Buffer.from(response['patch'], 'base64').toString('utf8')) as PatchOperation[];
        patched = fastJsonPatch.applyPatch(structuredClone(request['object'] as JsonObject), operations, true, false).newDocument as JsonValue;
        patched = undecorated(patched as JsonObject, PREFIX);
      }
      return { allowed: response['allowed'], status: response['status'], warnings: response['warnings'], auditAnnotations: response['auditAnnotations'], patched };
    };

    let tried = 0;
    const started = performance.now();
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: seeds.length - 1 }),
        fc.constantFrom('CREATE' as const, 'UPDATE' as const),
        fc.constantFrom<Endpoint>('/validate', '/mutate'),
        decorations,
        async (seedIndex, operation, endpoint, decoration) => {
          tried++;
          const key = `${seedIndex}/${operation}/${endpoint}`;
          const plain = (): JsonObject => {
            const object = structuredClone(seeds[seedIndex]!);
            return admissionReview(operation, object, { uid: 'reference', ...(operation === 'UPDATE' ? { oldObject: structuredClone(object) } : {}) });
          };
          if (!reference.has(key)) reference.set(key, await verdictOf(endpoint, plain()));

          const body = plain();
          const request = body['request'] as JsonObject;
          request['uid'] = decoration.uid;
          for (const target of [request['object'], request['oldObject']]) {
            if (!isJsonObject(target)) continue;
            const metadata = target['metadata'] as JsonObject;
            metadata['annotations'] = { ...((metadata['annotations'] as JsonObject | undefined) ?? {}), ...prefixed(decoration.annotations, PREFIX) };
            metadata['labels'] = { ...((metadata['labels'] as JsonObject | undefined) ?? {}), ...prefixed(decoration.labels, PREFIX) };
            Object.assign(metadata, decoration.serverMetadata);
            if (decoration.status !== null) target['status'] = decoration.status;
          }
          for (const [name, value] of Object.entries(decoration.reviewExtra)) if (!(name in body)) body[name] = value;
          for (const [name, value] of Object.entries(decoration.requestExtra)) request[name] = value;
          const userInfo = request['userInfo'] as JsonObject;
          userInfo['extra'] = decoration.extra;

          const verdict = await verdictOf(endpoint, shuffleKeys(body, decoration.shuffleSeed) as JsonObject);
          assert.deepStrictEqual(verdict, reference.get(key), `the verdict changed with irrelevant fields (${key})`);
        },
      ),
      runSettings(t, 'irrelevant fields'),
    );
    report(t, 'irrelevant fields', tried, started);
  });
});

function prefixed(entries: Record<string, string>, prefix: string): Record<string, string> {
  return Object.fromEntries(Object.entries(entries).map(([key, value]) => [`${prefix}${key}`, value]));
}

/** Takes our decorations off a (patched) object so it can be compared with the undecorated one. */
function undecorated(object: JsonObject, prefix: string): JsonObject {
  const copy = structuredClone(object);
  const metadata = copy['metadata'] as JsonObject;
  for (const field of ['annotations', 'labels'] as const) {
    const map = metadata[field];
    if (!isJsonObject(map)) continue;
    for (const key of Object.keys(map)) if (key.startsWith(prefix)) delete map[key];
    if (Object.keys(map).length === 0) delete metadata[field];
  }
  for (const key of ['uid', 'resourceVersion', 'generation']) delete metadata[key];
  delete copy['status'];
  return copy;
}

/** The same JSON with every object's keys in another order (deterministic per seed). */
function shuffleKeys(value: JsonValue, seed: number): JsonValue {
  if (Array.isArray(value)) return value.map((item, i) => shuffleKeys(item, seed + i));
  if (!isJsonObject(value)) return value;
  const keys = Object.keys(value);
  let state = seed + keys.length;
  for (let i = keys.length - 1; i > 0; i--) {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    const j = state % (i + 1);
    [keys[i], keys[j]] = [keys[j]!, keys[i]!];
  }
  const out: JsonObject = {};
  for (const key of keys) Object.defineProperty(out, key, { value: shuffleKeys(value[key]!, seed + 1), enumerable: true, writable: true, configurable: true });
  return out;
}
