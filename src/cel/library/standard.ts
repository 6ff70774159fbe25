// Corrections and completions to cel-js's standard library where it falls short of the CEL
// specification (and of cel-go, hence of Kubernetes), found by the conformance suite:
//   - optional.ofNonZeroValue(x), <optional>.optMap(v, expr), <optional>.optFlatMap(v, expr),
//     and == / != between optionals
//   - ordering of bytes (<, <=, >, >=)
//   - conversions cel-js lacks: int(uint), int(timestamp), string(timestamp), string(duration),
//     duration(duration), timestamp(timestamp); int(double) and string(bytes) range/UTF-8 checks
//   - <duration>.getMilliseconds() is the millisecond component, not the total
//   - has(e.f) on any operand (cel-js only accepts a chain rooted at a variable), including optionals
//   - `in` on lists uses CEL's heterogeneous numeric equality
//   - int64 overflow on negation and division (-(-2^63), -2^63 / -1), the range of timestamps (years
//     1 to 9999) and durations (±10,000 years) in arithmetic, and duration + timestamp being a timestamp
//   - timestamp getters with a time zone accept UTC offsets ('+11:00', '-02:30') as cel-go does, and
//     compute IANA zones without going through the process's local time zone
// and the calls cel-go prices by size, charged as Kubernetes charges them (call-costs.ts): `in` on a
// list (the list's size), orderings of strings and bytes (a tenth of the smaller operand's size),
// and the conversions string(bytes) and bytes(string) (a tenth of the operand's size).
import { Optional, type Environment } from '@marcbachmann/cel-js';
import { Duration, UnsignedInt } from '@marcbachmann/cel-js/evaluator';
import {
  shadowBuiltinOperator,
  shadowBuiltinOverloads,
  type MacroExpansion,
  type MacroResult,
  type RegistryLike,
} from '../cel-js-internals.js';
import { formatTimestamp } from '../values.js';
import { JSONPATCH_TYPE } from '../constructible-types.js';
import { constructedTypeName, JSONPATCH_STRING_FIELDS } from '../object-construction.js';
import { chargeCost, isCostBudgetArmed } from '../cost.js';
import { stringTraversal, traversal } from './call-costs.js';
import { celCompare, celEquals, celError, define, durationNanos } from './support.js';

const TIMESTAMP = 'google.protobuf.Timestamp';
const DURATION = 'google.protobuf.Duration';

/** cel-go's IsZeroValue: the zero of each type, empty aggregates, and the Unix epoch. */
export function isZeroValue(v: unknown): boolean {
  switch (typeof v) {
    case 'bigint':
      return v === 0n;
    case 'number':
      return v === 0;
    case 'string':
      return v === '';
    case 'boolean':
      return v === false;
    case 'object':
      if (v === null) return true;
      if (v instanceof UnsignedInt) return v.value === 0n;
      if (v instanceof Uint8Array) return v.length === 0;
      if (v instanceof Duration) return durationNanos(v) === 0n;
      if (v instanceof Date) return v.getTime() === 0;
      if (v instanceof Optional) return !v.hasValue();
      if (Array.isArray(v)) return v.length === 0;
      if (v instanceof Map || v instanceof Set) return v.size === 0;
      if (Object.getPrototypeOf(v) === null || Object.getPrototypeOf(v) === Object.prototype) return Object.keys(v).length === 0;
      return false;
    default:
      return false;
  }
}

function optionalEquals(a: Optional<unknown>, b: Optional<unknown>): boolean {
  if (!a.hasValue() || !b.hasValue()) return a.hasValue() === b.hasValue();
  return celEquals(a.value(), b.value());
}

const INT64_LIMIT = 2 ** 63;
const UINT64_LIMIT = 2 ** 64;
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** The parts of cel-js's type checker and evaluator a binding macro uses (as cel.bind does). */
interface CheckerLike {
  check(node: unknown, ctx: unknown): TypeLike;
  getType(name: string): TypeLike;
  registry: { getOptionalType(t: TypeLike): TypeLike };
  createError(code: string, message: string, node: unknown): Error;
}
interface TypeLike {
  kind: string;
  valueType?: TypeLike;
}
interface ContextLike {
  forkWithVariable(name: string, type: TypeLike): ContextLike;
  reuse(parent: unknown): ContextLike;
  setIterValue(value: unknown, evaluator: unknown): ContextLike;
}
interface EvaluatorLike {
  run(node: unknown, ctx: unknown): unknown;
}

interface OptMapMacro {
  async: false;
  receiver: unknown;
  variable: string;
  body: unknown;
  flat: boolean;
  bodyCtx?: ContextLike;
  typeCheck(checker: unknown, macro: unknown, ctx: unknown): unknown;
  evaluate(evaluator: unknown, macro: unknown, ctx: unknown): unknown;
}

function optMapExpander(flat: boolean) {
  const name = flat ? 'optFlatMap' : 'optMap';
  return (expansion: MacroExpansion): MacroResult => {
    const [variableNode, body] = expansion.args;
    if (!variableNode || variableNode.op !== 'id' || typeof variableNode.args !== 'string') {
      throw celError(`${name}(var, expr): the first argument must be a variable name`);
    }
    const macro: OptMapMacro = {
      async: false,
      receiver: expansion.receiver,
      variable: variableNode.args,
      body,
      flat,
      typeCheck(checkerArg, macroArg, ctxArg) {
        const checker = checkerArg as CheckerLike;
        const m = macroArg as OptMapMacro;
        const receiverType = checker.check(m.receiver, ctxArg);
        if (receiverType.kind !== 'optional' && receiverType.kind !== 'dyn') {
          throw checker.createError('optional_expected', `${name}() receiver must be optional`, m.receiver);
        }
        const valueType = receiverType.kind === 'optional' && receiverType.valueType ? receiverType.valueType : checker.getType('dyn');
        m.bodyCtx = (ctxArg as ContextLike).forkWithVariable(m.variable, valueType);
        const bodyType = checker.check(m.body, m.bodyCtx);
        if (m.flat) {
          if (bodyType.kind !== 'optional' && bodyType.kind !== 'dyn') {
            throw checker.createError('optional_expected', `${name}() expression must be optional`, m.body);
          }
          return bodyType.kind === 'optional' ? bodyType : checker.getType('optional');
        }
        return checker.registry.getOptionalType(bodyType);
      },
      evaluate(evaluatorArg, macroArg, ctxArg) {
        const evaluator = evaluatorArg as EvaluatorLike;
        const m = macroArg as OptMapMacro;
        const receiver = evaluator.run(m.receiver, ctxArg);
        if (!(receiver instanceof Optional)) throw celError(`${name}() receiver must be optional`);
        if (!receiver.hasValue()) return Optional.none();
        if (!m.bodyCtx) throw celError(`${name}() was not type-checked`);
        const result = evaluator.run(m.body, m.bodyCtx.reuse(ctxArg).setIterValue(receiver.value(), evaluator));
        if (!m.flat) return Optional.of(result);
        if (!(result instanceof Optional)) throw celError(`${name}() expression must return an optional`);
        return result;
      },
    };
    return macro;
  };
}

/** Field presence on a value: a map key, a message field, or (through an optional) its value's. */
export function hasField(operand: unknown, field: string): boolean {
  if (operand instanceof Optional) return operand.hasValue() ? hasField(operand.value(), field) : false;
  // get(), not has(): cel-js's typed-object wrappers are Maps that fill their entries lazily.
  if (operand instanceof Map) return operand.get(field) !== undefined;
  if (typeof operand === 'object' && operand !== null && !Array.isArray(operand)) {
    if (!Object.hasOwn(operand, field)) return false;
    // A JSONPatch's op, path and from are set when not empty, as Kubernetes' JSONPatchVal.IsSet says.
    if (constructedTypeName(operand) === JSONPATCH_TYPE && JSONPATCH_STRING_FIELDS.includes(field)) return (operand as Record<string, unknown>)[field] !== '';
    return (operand as Record<string, unknown>)[field] !== undefined;
  }
  throw celError(`has(): no such overload for a field selection on this value`);
}

interface SelectNode {
  op: string;
  args: [unknown, string];
}

interface HasMacro {
  select: SelectNode;
  typeCheck(checker: unknown, macro: unknown, ctx: unknown): unknown;
  evaluate(evaluator: unknown, macro: unknown, ctx: unknown): unknown;
  async: false;
}

function hasExpander(expansion: MacroExpansion): MacroResult {
  const [argument] = expansion.args;
  const select = argument as unknown as SelectNode | undefined;
  if (!select || select.op !== '.' || typeof select.args?.[1] !== 'string') {
    throw celError('has() invalid argument: expected a field selection such as has(object.spec.field)');
  }
  const macro: HasMacro = {
    select,
    async: false,
    typeCheck(checkerArg, macroArg, ctxArg) {
      const checker = checkerArg as CheckerLike;
      const m = macroArg as HasMacro;
      const operandType = checker.check(m.select.args[0], ctxArg);
      const inner = operandType.kind === 'optional' ? operandType.valueType : operandType;
      if (inner?.kind === 'message') {
        // Checking the whole selection makes has(object.spec.tempalte) a type error for declared
        // object types, as in cel-go.
        checker.check(m.select, ctxArg);
      } else if (inner && !['map', 'dyn', 'param'].includes(inner.kind)) {
        throw checker.createError('invalid_macro_argument', 'has() invalid argument: the operand has no fields', m.select);
      }
      return checker.getType('bool');
    },
    evaluate(evaluatorArg, macroArg, ctxArg) {
      const m = macroArg as HasMacro;
      const operand = (evaluatorArg as EvaluatorLike).run(m.select.args[0], ctxArg);
      return hasField(operand, m.select.args[1]);
    },
  };
  return macro;
}

/** Wall-clock fields of an instant in a time zone. */
interface WallClock {
  year: number;
  month: number; // 0-11
  day: number; // 1-31
  weekday: number; // 0 = Sunday
  hours: number;
  minutes: number;
  seconds: number;
}

const zoneFormatters = new Map<string, Intl.DateTimeFormat>();
const WEEKDAYS: Readonly<Record<string, number>> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };

function utcWallClock(d: Date): WallClock {
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth(),
    day: d.getUTCDate(),
    weekday: d.getUTCDay(),
    hours: d.getUTCHours(),
    minutes: d.getUTCMinutes(),
    seconds: d.getUTCSeconds(),
  };
}

/** cel-go's timeZone(): an IANA name, else an offset "[+-]HH:MM" (no sign means east of UTC). */
export function wallClockIn(d: Date, zone: string): WallClock {
  const offset = /^([+-]?)(\d{1,2}):(\d{2})$/.exec(zone);
  if (offset) {
    const minutes = Number(offset[2]) * 60 + Number(offset[3]);
    const east = offset[1] === '-' ? -minutes : minutes;
    return utcWallClock(new Date(d.getTime() + east * 60_000));
  }
  let formatter = zoneFormatters.get(zone);
  if (!formatter) {
    try {
      formatter = new Intl.DateTimeFormat('en-US', {
        timeZone: zone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        weekday: 'short',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      });
    } catch {
      throw celError(`unknown time zone ${JSON.stringify(zone)}`);
    }
    if (zoneFormatters.size > 256) zoneFormatters.clear();
    zoneFormatters.set(zone, formatter);
  }
  const parts: Record<string, string> = {};
  for (const part of formatter.formatToParts(d)) parts[part.type] = part.value;
  return {
    year: Number(parts.year),
    month: Number(parts.month) - 1,
    day: Number(parts.day),
    weekday: WEEKDAYS[parts.weekday ?? ''] ?? 0,
    hours: Number(parts.hour) % 24,
    minutes: Number(parts.minute),
    seconds: Number(parts.second),
  };
}

const TIMESTAMP_GETTERS: ReadonlyArray<[name: string, get: (w: WallClock, d: Date) => number]> = [
  ['getFullYear', (w) => w.year],
  ['getMonth', (w) => w.month],
  ['getDate', (w) => w.day],
  ['getDayOfMonth', (w) => w.day - 1],
  ['getDayOfWeek', (w) => w.weekday],
  ['getDayOfYear', (w) => Math.round((Date.UTC(w.year, w.month, w.day) - Date.UTC(w.year, 0, 1)) / 86_400_000)],
  ['getHours', (w) => w.hours],
  ['getMinutes', (w) => w.minutes],
  ['getSeconds', (w) => w.seconds],
  ['getMilliseconds', (_w, d) => d.getUTCMilliseconds()],
];

const INT64_MIN = -(2n ** 63n);
const MIN_TIMESTAMP_MS = -62_135_596_800_000; // 0001-01-01T00:00:00Z
const MAX_TIMESTAMP_MS = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z
const MAX_DURATION_NANOS = 315_576_000_000n * 1_000_000_000n;

function checkedTimestamp(ms: number): Date {
  if (!(ms >= MIN_TIMESTAMP_MS && ms <= MAX_TIMESTAMP_MS)) throw celError('timestamp overflow: outside the years 1 to 9999');
  return new Date(ms);
}

function durationFromNanos(nanos: bigint): Duration {
  if (nanos > MAX_DURATION_NANOS || nanos < -MAX_DURATION_NANOS) throw celError('duration overflow: outside ±10000 years');
  const seconds = nanos / 1_000_000_000n;
  return new Duration(seconds, Number(nanos - seconds * 1_000_000_000n));
}

function shiftTimestamp(ts: Date, d: Duration, sign: 1n | -1n): Date {
  // Whole milliseconds only: cel-js timestamps are JavaScript Dates.
  return checkedTimestamp(ts.getTime() + Number((sign * durationNanos(d)) / 1_000_000n));
}

function registerCheckedArithmetic(env: Environment, registry: RegistryLike): void {
  const G = DURATION;
  const T = TIMESTAMP;
  const is = (left: string, right: string | null) => (d: { leftType: { name: string }; rightType: { name: string } | null }) =>
    d.leftType.name === left && (d.rightType?.name ?? null) === right;

  shadowBuiltinOperator(registry, '-_', is('int', null));
  env.registerOperator('-int', (a: bigint) => {
    if (a === INT64_MIN) throw celError('integer overflow: -(-9223372036854775808)');
    return -a;
  });
  shadowBuiltinOperator(registry, '/', is('int', 'int'));
  env.registerOperator('int / int', (a: bigint, b: bigint) => {
    if (b === 0n) throw celError('division by zero');
    if (a === INT64_MIN && b === -1n) throw celError('integer overflow: -9223372036854775808 / -1');
    return a / b;
  });
  shadowBuiltinOperator(registry, '+', (d) => is(G, G)(d) || is(T, G)(d) || is(G, T)(d));
  env.registerOperator(`${G} + ${G}`, (a: Duration, b: Duration) => durationFromNanos(durationNanos(a) + durationNanos(b)));
  env.registerOperator(`${T} + ${G}`, (a: Date, b: Duration) => shiftTimestamp(a, b, 1n));
  env.registerOperator(`${G} + ${T}: ${T}`, (a: Duration, b: Date) => shiftTimestamp(b, a, 1n));
  shadowBuiltinOperator(registry, '-', (d) => is(G, G)(d) || is(T, G)(d) || is(T, T)(d));
  env.registerOperator(`${G} - ${G}`, (a: Duration, b: Duration) => durationFromNanos(durationNanos(a) - durationNanos(b)));
  env.registerOperator(`${T} - ${G}`, (a: Date, b: Duration) => shiftTimestamp(a, b, -1n));
  env.registerOperator(`${T} - ${T}: ${G}`, (a: Date, b: Date) => durationFromNanos(BigInt(a.getTime() - b.getTime()) * 1_000_000n));

  // List membership with CEL's heterogeneous equality (dyn(3u) in [1, 2, 3] is true).
  shadowBuiltinOperator(registry, 'in', (d) => d.leftType.name === 'V' && d.rightType?.name === 'list<V>');
  env.registerOperator('V in list<V>', (value: unknown, list: Iterable<unknown>) => {
    for (const element of list) if (celEquals(value, element)) return true;
    return false;
  });

  const durationCandidates = registry.functionCandidates(false, 'duration', 1);
  const parseDuration = durationCandidates.declarations.find((d) => d.argTypes[0]?.name === 'string')?.handler;
  if (!parseDuration) throw new Error('cel-js internals changed: no duration(string) overload');
  shadowBuiltinOverloads(registry, false, 'duration', 1, (d) => d.argTypes[0]?.name === 'string');
  define(env, `duration(string): ${G}`, (text: string) => {
    const parsed = parseDuration(text);
    if (!(parsed instanceof Duration)) throw celError(`invalid duration ${JSON.stringify(text)}`);
    return durationFromNanos(durationNanos(parsed));
  });
}

/**
 * cel-js's string orderings, unchanged (JavaScript's comparison). Charged by the node
 * (node-costs.ts sizedCharge) where cel-go prices them by size: ceil(min(size(a), size(b)) * 0.1).
 */
function registerChargedStringOrdering(env: Environment, registry: RegistryLike): void {
  shadowBuiltinOperator(registry, '<', (d) => d.leftType.name === 'string' && d.rightType?.name === 'string');
  shadowBuiltinOperator(registry, '<=', (d) => d.leftType.name === 'string' && d.rightType?.name === 'string');
  shadowBuiltinOperator(registry, '>', (d) => d.leftType.name === 'string' && d.rightType?.name === 'string');
  shadowBuiltinOperator(registry, '>=', (d) => d.leftType.name === 'string' && d.rightType?.name === 'string');
  env.registerOperator('string < string', (a: string, b: string) => a < b);
  env.registerOperator('string <= string', (a: string, b: string) => a <= b);
  env.registerOperator('string > string', (a: string, b: string) => a > b);
  env.registerOperator('string >= string', (a: string, b: string) => a >= b);
}

export function registerStandardFixes(env: Environment, registry: RegistryLike): void {
  for (const [name, get] of TIMESTAMP_GETTERS) {
    shadowBuiltinOverloads(registry, true, name, 1, (d) => d.receiverType?.name === TIMESTAMP);
    define(env, `${TIMESTAMP}.${name}(string): int`, (d: Date, zone: string) => BigInt(get(wallClockIn(d, zone), d)));
  }

  shadowBuiltinOverloads(registry, false, 'has', 1);
  env.registerFunction('has(ast): bool', hasExpander);

  define(env, 'OptionalNamespace.ofNonZeroValue(A): optional<A>', (_ns: unknown, v: unknown) =>
    isZeroValue(v) ? Optional.none() : Optional.of(v),
  );
  env.registerFunction('optional.optMap(ast, ast): optional<dyn>', optMapExpander(false));
  env.registerFunction('optional.optFlatMap(ast, ast): optional<dyn>', optMapExpander(true));
  env.registerOperator('optional<A> == optional<A>', (a: Optional<unknown>, b: Optional<unknown>) => optionalEquals(a, b));

  env.registerOperator('bytes < bytes', (a: Uint8Array, b: Uint8Array) => celCompare(a, b) < 0);
  env.registerOperator('bytes <= bytes', (a: Uint8Array, b: Uint8Array) => celCompare(a, b) <= 0);
  env.registerOperator('bytes > bytes', (a: Uint8Array, b: Uint8Array) => celCompare(a, b) > 0);
  env.registerOperator('bytes >= bytes', (a: Uint8Array, b: Uint8Array) => celCompare(a, b) >= 0);
  // After the first registerOperator: this registry now owns its operator table.
  registerCheckedArithmetic(env, registry);
  registerChargedStringOrdering(env, registry);

  define(env, 'int(uint): int', (v: UnsignedInt) => {
    if (v.value >= 2n ** 63n) throw celError('int() type error: integer overflow');
    return v.value;
  });
  define(env, `int(${TIMESTAMP}): int`, (v: Date) => BigInt(Math.floor(v.getTime() / 1000)));
  define(env, `string(${TIMESTAMP}): string`, (v: Date) => formatTimestamp(v));
  define(env, `string(${DURATION}): string`, (v: Duration) => {
    const nanos = durationNanos(v);
    const negative = nanos < 0n;
    const abs = negative ? -nanos : nanos;
    const fraction = abs % 1_000_000_000n;
    const text = `${abs / 1_000_000_000n}${fraction === 0n ? '' : `.${fraction.toString().padStart(9, '0').replace(/0+$/, '')}`}s`;
    return negative ? `-${text}` : text;
  });
  define(env, `duration(${DURATION}): ${DURATION}`, (v: Duration) => v);
  define(env, `timestamp(${TIMESTAMP}): ${TIMESTAMP}`, (v: Date) => v);

  shadowBuiltinOverloads(registry, false, 'int', 1, (d) => d.argTypes[0]?.name === 'double');
  define(env, 'int(double): int', (v: number) => {
    if (!Number.isFinite(v) || v <= -INT64_LIMIT || v >= INT64_LIMIT) throw celError('int() type error: integer overflow');
    return BigInt(Math.trunc(v));
  });
  shadowBuiltinOverloads(registry, false, 'uint', 1, (d) => d.argTypes[0]?.name === 'double');
  define(env, 'uint(double): uint', (v: number) => {
    if (!Number.isFinite(v) || v < 0 || v >= UINT64_LIMIT) throw celError('uint() type error: unsigned integer overflow');
    return new UnsignedInt(BigInt(Math.trunc(v)));
  });
  // cel-js's own conversion, only charged.
  const toBytes = registry.functionCandidates(false, 'bytes', 1).declarations.find((d) => d.argTypes[0]?.name === 'string')?.handler;
  if (!toBytes) throw new Error('cel-js internals changed: no bytes(string) overload');
  shadowBuiltinOverloads(registry, false, 'bytes', 1, (d) => d.argTypes[0]?.name === 'string');
  define(env, 'bytes(string): bytes', (v: string) => {
    // Less the unit the call's node pays (node-costs.ts): `bytes` has constant-time overloads too.
    if (isCostBudgetArmed()) chargeCost(stringTraversal(v) - 1);
    return toBytes(v);
  });
  shadowBuiltinOverloads(registry, false, 'string', 1, (d) => d.argTypes[0]?.name === 'bytes');
  define(env, 'string(bytes): string', (v: Uint8Array) => {
    if (isCostBudgetArmed()) chargeCost(traversal(v.length) - 1);
    try {
      return UTF8.decode(v);
    } catch {
      throw celError('string() type error: invalid UTF-8 in bytes');
    }
  });
  shadowBuiltinOverloads(registry, true, 'getMilliseconds', 0, (d) => d.receiverType?.name === DURATION);
  define(env, `${DURATION}.getMilliseconds(): int`, (v: Duration) => (durationNanos(v) / 1_000_000n) % 1000n);
}
