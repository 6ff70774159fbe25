// The lean tier's code generator: one walk over a checked CEL AST that writes a fragment of
// JavaScript computing the expression's value for the common case only, and giving up (`throw BAIL`)
// on anything else. The engine assembles the fragments of a policy's validations, their
// messageExpressions and the variables they read into one function per policy (engine/lean-pass.ts)
// that answers which validations hold, and runs the exact code (generator.ts) whenever it gives up.
//
// Why a second tier: the exact code keeps every case CEL defines (errors absorbed by `||` and the
// quantifiers, Optionals, CEL values of every kind, slow paths on the interpreter) in one function
// per expression. Measured against the same checks written by hand, most of its cost on a review
// that passes is that generality and the number of functions, not the checks (docs/performance.md,
// "The lean tier"). The lean fragment keeps only the common case of the values JSON gives:
//
//   - values are as JSON has them: strings, booleans, null, integers as numbers (a number that is not
//     a safe integer, a bigint, a double, bytes, an Optional: give up), lists as arrays, maps as
//     objects whose prototype is Object's (JSON) or null (params). A JSON object with a member named
//     `constructor` (a Map for the exact code) is not a map here: give up.
//   - a member read is a property read; for names Object.prototype defines, an own-property test. The
//     assembled function checks once, at entry, that Object.prototype has none of the other names
//     read (nobody added them), so the read alone decides there.
//   - any error CEL would raise (no such key, a wrong type, an overload the interpreter would refuse),
//     any construct the tier does not implement, gives up: the exact code then decides, and says why.
//     Giving up is always correct: evaluation has no side effects but the cost meter and the variable
//     memo, which the engine puts back (engine/lean-pass.ts).
//
// Cost stays exact wherever the fragment answers: it charges the same regions (node-costs.ts
// forEachRegion) where the exact code charges them, a present `.?` step its unit, `==` on strings,
// `+` and `in` by their operands' sizes through the same helpers, list concatenation and the library
// functions through the same handlers, the quantifiers' loop conditions through the same functions.
// A policy whose lean function answers has spent exactly what its expressions spend in the exact code
// (tested: test/policies/lean-vs-exact.test.ts).
//
// The fragment's names are tokens the assembler renames per fragment: `$tN` temporaries, `$lN`
// labels, `$cN` constants, `$v<name>$` the value of `variables.<name>`, and a line `$V<name>$` where
// the variable must have been evaluated. Everything else it names is the assembled function's: `J`
// (the review's JSON inputs), `P` (params), `A` (the activation), `M` (the cost meter), `over` (the
// meter's overThreshold), `BAIL`, and the helpers below (LEAN_HELPERS). No text of the policy is ever
// source as code: strings are constants (which the assembler writes as JSON literals, lean-pass.ts),
// field names read as properties are validated identifiers.
import { chargeCost, isCostBudgetArmed, overThreshold, regionMeter } from '../cost.js';
import { checkedTypeOf, comprehensionOf, hasMacroOf, optionalMacroOf, type ComprehensionLike, type NodeLike } from '../cel-js-internals.js';
import { comprehensionKind, forEachRegion, sizedCharge } from '../node-costs.js';
import { BlockFacts } from './block-facts.js';
import { concatLists, concatStrings } from '../library/allocations.js';
import { equalityCost } from '../library/equality-cost.js';
import { literalPatternMatcher, matches } from '../library/regex.js';
import { boolQuantifierStop } from '../library/comprehensions.js';
import { codePointCount } from '../library/string-sizes.js';
import { resolveStatically, runtimeResolver, type Handler } from '../overloads.js';
import { jsonObjectKeys, sameFirstElementType } from './runtime.js';

/** What one expression contributes to a policy's lean function. */
export interface LeanFragment {
  /** Statements (tokens as above) that leave the expression's value in `result`. */
  readonly source: string;
  /** The value: a temporary, a literal or a constant token. */
  readonly result: string;
  readonly temporaries: number;
  readonly constants: readonly unknown[];
  /** The names read as plain properties of maps: Object.prototype must not have them (checked at entry). */
  readonly plainFields: readonly string[];
  /** The variables the expression reads (`variables.<name>`). */
  readonly variables: readonly string[];
}

/** The sentinel a lean function throws to give up. Not an Error: nothing to capture. */
export const BAIL: unique symbol = Symbol('lean tier gives up');

/** cel-js's overThreshold and the meter, as the assembled function names them. */
export const LEAN_METER = { M: regionMeter, over: overThreshold };

/** Whether `value` is a map to the lean tier: a JSON object (Object's prototype, no own `constructor`) or a null-prototype map. */
function isLeanMap(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  if ((value as { constructor?: unknown }).constructor === Object) return true;
  return Object.getPrototypeOf(value) === null && !Object.hasOwn(value, 'constructor');
}

/** `size()` of a lean value: a list's length, a string's code points, a map's members; BAIL otherwise. */
function leanSize(value: unknown): number {
  if (Array.isArray(value)) return value.length;
  if (typeof value === 'string') return codePointCount(value);
  if (isLeanMap(value)) return jsonObjectKeys(value).length;
  throw BAIL;
}

/** A comprehension's range: a list's elements or a map's keys; BAIL for anything else. */
function leanItems(range: unknown): readonly unknown[] {
  if (Array.isArray(range)) return range;
  if (isLeanMap(range)) return jsonObjectKeys(range);
  throw BAIL;
}

/** `a == b` on lean values, charged as chargeEquality charges it; BAIL where the kinds are not both string, bool or safe int. */
function leanEquals(a: unknown, b: unknown): boolean {
  if (a === null || b === null) {
    // Every value but null differs from null; charged by the other's size, as chargeEquality does.
    if (a === undefined || b === undefined) throw BAIL;
    const extra = equalityCost(a, b) - 1;
    if (extra !== 0 && (regionMeter.spent += extra) > regionMeter.threshold) overThreshold();
    return a === b;
  }
  const kind = typeof a;
  if (kind !== typeof b) throw BAIL;
  if (kind === 'string') {
    // A string's size is its code points; the `==` node paid 1 already (node-costs.ts).
    const extra = equalityCost(a, b) - 1;
    if (extra !== 0 && (regionMeter.spent += extra) > regionMeter.threshold) overThreshold();
    return a === b;
  }
  if (kind === 'boolean') return a === b;
  if (kind === 'number' && Number.isSafeInteger(a) && Number.isSafeInteger(b)) return a === b;
  throw BAIL;
}

/**
 * The value of every empty list a lean function makes (`[]`, `orValue([])`, a filter that keeps
 * nothing): one array for all, never a new one. Lean code changes no list once made (an
 * accumulator is a new array from its first element on: accuPush), and frozen, a write by mistake
 * throws, so that the exact code decides.
 */
const leanEmpty: readonly unknown[] = Object.freeze([]);

/**
 * `a + b` on lean values: two lists the interpreter concatenates, or two strings; BAIL otherwise.
 * An empty side gives the other list itself, charged as the copy would be (lean lists are never changed).
 */
function leanAdd(a: unknown, b: unknown, chargeSized: ((l: unknown, r: unknown) => void) | undefined): unknown {
  if (Array.isArray(a) && Array.isArray(b) && (sameFirstElementType(a, b) || (isLeanMap(a[0]) && isLeanMap(b[0])))) {
    if (a.length === 0 || b.length === 0) {
      if (isCostBudgetArmed()) chargeCost(a.length + b.length);
      return a.length === 0 ? b : a;
    }
    return concatLists(a, b);
  }
  if (typeof a === 'string' && typeof b === 'string') {
    chargeSized?.(a, b);
    return concatStrings(a, b);
  }
  return leanArithmetic(a, b, '+');
}

/** `a op b` on two ints that are safe integers, when the result is one too (past that, the exact code knows int64's bounds); BAIL otherwise. */
function leanArithmetic(a: unknown, b: unknown, op: '+' | '-' | '*' | '/' | '%'): number {
  if (!Number.isSafeInteger(a) || !Number.isSafeInteger(b)) throw BAIL;
  const x = a as number;
  const y = b as number;
  let result: number;
  switch (op) {
    case '+':
      result = x + y;
      break;
    case '-':
      result = x - y;
      break;
    case '*':
      result = x * y;
      break;
    case '/':
      if (y === 0) throw BAIL;
      // CEL's int division truncates toward zero.
      result = Math.trunc(x / y);
      break;
    default:
      if (y === 0) throw BAIL;
      result = x % y;
  }
  // -0 is 0 to CEL.
  if (!Number.isSafeInteger(result)) throw BAIL;
  return result === 0 ? 0 : result;
}

/** A library function's result as a lean value: strings, bools, ints that are safe integers, lists of strings; BAIL otherwise. */
function leanResult(value: unknown): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'bigint':
      if (value >= MIN_SAFE && value <= MAX_SAFE) return Number(value);
      throw BAIL;
    default:
      if (leanStrings(value)) return value;
      throw BAIL;
  }
}

/** Whether `value` is a list of strings, not empty (the exact code's guard sends an empty list to the interpreter's own resolution). */
function leanStrings(value: unknown): value is string[] {
  if (!Array.isArray(value) || value.length === 0) return false;
  for (let i = 0; i < value.length; i++) if (typeof value[i] !== 'string') return false;
  return true;
}

/** A lean value as an operand of a call resolved at run time: strings, bools and lists of strings as they are, safe integers as ints; BAIL otherwise. */
function leanOperand(value: unknown): unknown {
  if (typeof value === 'string' || typeof value === 'boolean' || leanStrings(value)) return value;
  if (Number.isSafeInteger(value)) return BigInt(value as number);
  throw BAIL;
}

const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** The helpers every assembled lean function can name. */
export const LEAN_HELPERS = {
  isLeanMap,
  leanSize,
  leanItems,
  leanEquals,
  leanAdd,
  leanArithmetic,
  leanResult,
  leanStrings,
  leanOperand,
  leanEmpty,
} as const;

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A generated temporary, and one being assigned in a line (`$t3 = ...`, `$t3 = $t1; $t4 = 0;`). */
const TEMPORARY = /^\$t\d+$/;
const ASSIGNED_TEMPORARY = /(\$t\d+) = /g;

/** The review's JSON inputs a fragment may read. */
const JSON_NAMES: ReadonlySet<string> = new Set(['object', 'oldObject', 'request', 'namespaceObject']);

/** How a library function's parameter of each type is tested on a lean value and passed to its handler. */
const PARAMETERS: Readonly<Record<string, { test: (v: string) => string; pass: (v: string) => string }>> = {
  string: { test: (v) => `typeof ${v} === 'string'`, pass: (v) => v },
  bool: { test: (v) => `typeof ${v} === 'boolean'`, pass: (v) => v },
  int: { test: (v) => `Number.isSafeInteger(${v})`, pass: (v) => `BigInt(${v})` },
  'list<string>': { test: (v) => `leanStrings(${v})`, pass: (v) => v },
};

/** The map literal keys cel-js leaves out (codegen/runtime.ts mapOfEntries). */
const RESERVED_MAP_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** Thrown while generating: the expression has no lean fragment (its policy then has no lean function). */
class NotLean extends Error {}

interface LeanScope {
  readonly names: ReadonlyMap<string, string>;
  readonly accumulator: string | undefined;
}

const ROOT_SCOPE: LeanScope = { names: new Map(), accumulator: undefined };

/** The handler of `int(string)` (cel-js's), once the library is registered. */
let intOfString: Handler | null | undefined;
function intOfStringHandler(): Handler | null {
  intOfString ??= resolveStatically('int', false, ['string'])?.handler ?? null;
  return intOfString;
}

/**
 * `int(s)` on a lean string: decimal digits short enough to be exact as a double are the number the
 * handler's BigInt makes of them (leading zeros and all); any other string goes to the handler, its
 * value or its error as the exact code gets them.
 */
function leanIntOfString(s: string): unknown {
  if (s.length === 0 || s.length > 15) return leanResult(intOfStringHandler()!(s));
  for (let i = 0; i < s.length; i++) {
    const code = s.charCodeAt(i);
    if (code < 48 || code > 57) return leanResult(intOfStringHandler()!(s));
  }
  return Number(s);
}

/** The value of a plain literal node (`'abc'`, `1`), else undefined. */
function literalOf(node: NodeLike): unknown {
  return node.op === 'value' && plain(node) ? node.args : undefined;
}

/** Whether a node is plain: no macro, no expansion behind it. */
function plain(node: NodeLike): boolean {
  return !node.meta.alternate && !node.meta.macro;
}

/** A step of an optional chain: `x.?f`, `x[?'k']` (its field), or `x[?k]` with any other key (its node). */
function chainStep(node: NodeLike): { field: string } | { key: NodeLike } | undefined {
  if (!plain(node)) return undefined;
  if (node.op === '.?') return { field: (node.args as [NodeLike, string])[1] };
  if (node.op !== '[?]') return undefined;
  const key = (node.args as [NodeLike, NodeLike])[1];
  return key.op === 'value' && typeof key.args === 'string' && plain(key) ? { field: key.args } : { key };
}

class LeanGenerator {
  readonly lines: string[] = [];
  readonly constants: unknown[] = [];
  readonly constantNames = new Map<unknown, string>();
  readonly plainFields = new Set<string>();
  readonly variables = new Set<string>();
  readonly regions = new Map<NodeLike, number>();
  /** Sources known to hold a bool (a comparison's, a negation's...): their kind is not tested again. */
  readonly booleans = new Set<string>();
  /**
   * What the lines before the current one established on every path to it (block-facts.ts):
   * temporaries tested to be maps (requireMap, by name), which are not tested again, and member reads
   * already made (`$t3.spec`, `J.object`, to their temporary), which are not made again: lean values
   * never change, and the reads' costs are charged by their regions whatever code they take (gen).
   * Everything about a temporary is forgotten where it is assigned, in every open block: after a
   * block that assigns it, it may hold another value.
   */
  readonly knownMaps = new BlockFacts<true>();
  readonly knownReads = new BlockFacts<string>();
  temporaries = 0;
  labels = 0;
  depth = 0;

  constructor(
    root: NodeLike,
    /** The type the interpreter's own check gave each node (compiler.ts runtimeTypesOf). */
    readonly runtimeTypes: ReadonlyMap<NodeLike, string>,
  ) {
    forEachRegion(root, (node, units) => {
      if (units !== 0) this.regions.set(node, units);
    });
  }

  k(value: unknown): string {
    let name = this.constantNames.get(value);
    if (name === undefined) {
      name = `$c${this.constants.length}`;
      this.constants.push(value);
      this.constantNames.set(value, name);
    }
    return name;
  }

  t(): string {
    return `$t${this.temporaries++}`;
  }

  emit(line: string): void {
    for (const [, assigned] of line.matchAll(ASSIGNED_TEMPORARY)) this.forget(assigned!);
    this.lines.push('  '.repeat(this.depth) + line);
  }

  /** Forgets what was known of temporary `t`: its value changes. */
  forget(t: string): void {
    this.knownMaps.forget((name) => name === t);
    this.knownReads.forget((read, value) => value === t || read.startsWith(`${t}.`));
  }

  block(head: string, body: () => void): void {
    this.emit(`${head} {`);
    this.knownMaps.open();
    this.knownReads.open();
    this.depth++;
    body();
    this.depth--;
    this.knownReads.close();
    this.knownMaps.close();
    this.emit('}');
  }

  let(expression: string): string {
    const t = this.t();
    this.emit(`${t} = ${expression};`);
    return t;
  }

  charge(units: string): void {
    this.emit(chargeText(units));
  }

  /** Gives up where the generated code reaches this point (`what`: the construct, for readers of the source); the value is never used. */
  giveUp(what: string): string {
    this.emit(`throw BAIL; // ${what.replace(/[^A-Za-z0-9_ .?:!=<>+-]/g, '')}`);
    return 'undefined';
  }

  /** The statement that gives up unless `test` holds. */
  require(test: string): void {
    this.emit(`if (!(${test})) throw BAIL;`);
  }

  /** Gives up unless `value` is a bool (not tested where it is known to be one). */
  requireBoolean(value: string): void {
    if (!this.booleans.has(value) && value !== 'true' && value !== 'false') this.require(`typeof ${value} === 'boolean'`);
  }

  /** A new temporary holding `expression`, a bool. */
  letBoolean(expression: string): string {
    const t = this.let(expression);
    this.booleans.add(t);
    return t;
  }

  /** Gives up unless `value` is a lean map: the test of a JSON object inline, the rest in isLeanMap. */
  requireMap(value: string): void {
    if (this.knownMaps.recall(value)) return;
    this.require(`${value} !== null && ${value} !== undefined && (${value}.constructor === Object || isLeanMap(${value}))`);
    if (TEMPORARY.test(value)) this.knownMaps.remember(value, true);
  }

  /** Member `field` of lean map `o` (tested to be one), undefined when it has none. */
  member(o: string, field: string): string {
    if (IDENTIFIER.test(field) && !(field in Object.prototype)) {
      this.plainFields.add(field);
      return `${o}.${field}`;
    }
    const key = this.k(field);
    return `(Object.hasOwn(${o}, ${key}) ? ${o}[${key}] : undefined)`;
  }

  gen(node: NodeLike, scope: LeanScope): string {
    const units = this.regions.get(node);
    if (units !== undefined) this.charge(String(units));
    const alternate = node.meta.alternate;
    if (alternate) {
      const comprehension = comprehensionOf(alternate);
      return comprehension ? this.comprehension(comprehension, scope) : this.gen(alternate, scope);
    }
    if (node.meta.macro) return this.macro(node, scope);
    switch (node.op) {
      case 'value':
        return this.literal(node.args);
      case 'id':
        return this.identifier(node.args as string, scope);
      case '.':
        return this.select(node, scope);
      case '[]':
        return this.index(node, scope);
      case '&&':
      case '||':
        return this.logical(node, scope, node.op === '||');
      case '?:':
        return this.ternary(node, scope);
      case '!_': {
        const v = this.gen(node.args as NodeLike, scope);
        this.requireBoolean(v);
        return this.letBoolean(`!${v}`);
      }
      case '-_': {
        const v = this.gen(node.args as NodeLike, scope);
        return this.let(`leanArithmetic(0, ${v}, '-')`);
      }
      case '==':
      case '!=': {
        const [l, r] = (node.args as [NodeLike, NodeLike]).map((n) => this.gen(n, scope)) as [string, string];
        return this.equality(l, r, node.op === '!=');
      }
      case '<':
      case '<=':
      case '>':
      case '>=': {
        const [l, r] = (node.args as [NodeLike, NodeLike]).map((n) => this.gen(n, scope)) as [string, string];
        this.require(`Number.isSafeInteger(${l}) && Number.isSafeInteger(${r})`);
        return this.letBoolean(`${l} ${node.op} ${r}`);
      }
      case '+':
        return this.add(node, scope);
      case '-':
      case '*':
      case '/':
      case '%': {
        const [l, r] = (node.args as [NodeLike, NodeLike]).map((n) => this.gen(n, scope)) as [string, string];
        return this.let(`leanArithmetic(${l}, ${r}, '${node.op}')`);
      }
      case 'in':
        return this.membership(node, scope);
      case 'list': {
        const elements = (node.args as NodeLike[]).map((n) => this.gen(n, scope));
        return elements.length === 0 ? 'leanEmpty' : this.let(`[${elements.join(', ')}]`);
      }
      case 'map':
        return this.mapLiteral(node, scope);
      case 'call':
      case 'rcall':
        return this.call(node, scope);
      case 'accuValue':
        return this.let(this.accumulator(scope));
      case 'accuPush': {
        const accu = this.accumulator(scope);
        const element = this.gen(node.args as NodeLike, scope);
        // A map's or filter's result starts as the empty list (leanEmpty); its first element makes its own array.
        this.emit(`if (${accu} === leanEmpty) ${accu} = [${element}];`);
        this.emit(`else ${accu}.push(${element});`);
        return accu;
      }
      default:
        return this.giveUp(`operator ${node.op}`);
    }
  }

  /**
   * `l == r` (`!=` when `negated`). Against a string literal of at most 10 characters (the common
   * `x == ''`, `x != 'Default'`), inline: the charge chargeEquality takes is known but for whether the
   * other string is empty (node-costs: ceil(0.1 * the smaller size), less the node's unit).
   */
  equality(l: string, r: string, negated: boolean): string {
    const literal = [l, r].map((side) => this.constantString(side));
    const side = literal[1] !== undefined ? 1 : literal[0] !== undefined ? 0 : -1;
    const text = side === -1 ? undefined : literal[side]!;
    if (text === undefined || text.length > 10) return this.letBoolean(`leanEquals(${l}, ${r}) === ${!negated}`);
    const other = side === 1 ? l : r;
    const constant = side === 1 ? r : l;
    const t = this.t();
    this.booleans.add(t);
    this.block(`if (typeof ${other} === 'string')`, () => {
      if (text.length === 0) this.emit('M.spent -= 1;');
      else this.emit(`if (${other}.length === 0) M.spent -= 1;`);
      this.emit(`${t} = ${other} ${negated ? '!==' : '==='} ${constant};`);
    });
    this.emit(`else ${t} = leanEquals(${l}, ${r}) === ${!negated};`);
    return t;
  }

  /** The string a source stands for when it is a string constant of this fragment. */
  constantString(src: string): string | undefined {
    const match = /^\$c(\d+)$/.exec(src);
    const value = match === null ? undefined : this.constants[Number(match[1])];
    return typeof value === 'string' ? value : undefined;
  }

  accumulator(scope: LeanScope): string {
    if (scope.accumulator === undefined) throw new NotLean('an accumulator outside a comprehension');
    return scope.accumulator;
  }

  literal(value: unknown): string {
    if (value === true || value === false || value === null) return String(value);
    if (typeof value === 'string') return this.k(value);
    if (typeof value === 'bigint' && value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)) return String(Number(value));
    return this.giveUp(`literal of type ${typeof value}`);
  }

  identifier(name: string, scope: LeanScope): string {
    const local = scope.names.get(name);
    if (local !== undefined) return local;
    if (JSON_NAMES.has(name)) {
      const read = `J.${name}`;
      const known = this.knownReads.recall(read);
      if (known !== undefined) return known;
      const t = this.let(read);
      this.require(`${t} !== undefined`);
      this.knownReads.remember(read, t);
      return t;
    }
    if (name === 'params') return 'P';
    if (name === 'coverage') {
      // A CEL value the activation computes (null without nodes): read as the exact code reads it.
      const t = this.let('A.coverage');
      this.require(`${t} !== undefined`);
      return t;
    }
    return this.giveUp(`identifier ${name}`);
  }

  select(node: NodeLike, scope: LeanScope): string {
    const [operandNode, field] = node.args as [NodeLike, string];
    if (operandNode.op === 'id' && operandNode.args === 'variables' && plain(operandNode) && !scope.names.has('variables')) {
      if (!IDENTIFIER.test(field)) return this.giveUp('a variable name that is not an identifier');
      this.variables.add(field);
      // A line of its own where the variable is first needed here (the assembler writes its
      // evaluation there, once per policy), then its value.
      this.emit(`$V${field}$`);
      return `$v${field}$`;
    }
    const o = this.gen(operandNode, scope);
    const read = TEMPORARY.test(o) ? `${o}.${field}` : undefined;
    const known = read === undefined ? undefined : this.knownReads.recall(read);
    if (known !== undefined) return known;
    this.requireMap(o);
    const t = this.let(this.member(o, field));
    this.require(`${t} !== undefined`);
    if (read !== undefined) this.knownReads.remember(read, t);
    return t;
  }

  index(node: NodeLike, scope: LeanScope): string {
    const [operandNode, keyNode] = node.args as [NodeLike, NodeLike];
    const o = this.gen(operandNode, scope);
    const key = this.gen(keyNode, scope);
    const t = this.t();
    this.emit(`if (Array.isArray(${o}) && Number.isSafeInteger(${key}) && ${key} >= 0 && ${key} < ${o}.length) ${t} = ${o}[${key}];`);
    this.emit(`else if (isLeanMap(${o}) && typeof ${key} === 'string' && Object.hasOwn(${o}, ${key})) ${t} = ${o}[${key}];`);
    this.emit('else throw BAIL;');
    this.require(`${t} !== undefined`);
    return t;
  }

  logical(node: NodeLike, scope: LeanScope, or: boolean): string {
    const [leftNode, rightNode] = node.args as [NodeLike, NodeLike];
    const t = this.t();
    const left = this.gen(leftNode, scope);
    this.requireBoolean(left);
    this.emit(`${t} = ${left};`);
    // `=== true`/`=== false` on a value known to be a bool: TurboFan compiles `if (t)` on a value whose
    // type it does not know (a helper's result) as a full ToBoolean, several type tests long.
    this.block(`if (${t} === ${or ? 'false' : 'true'})`, () => {
      const right = this.gen(rightNode, scope);
      this.requireBoolean(right);
      this.emit(`${t} = ${right};`);
    });
    this.booleans.add(t);
    return t;
  }

  ternary(node: NodeLike, scope: LeanScope): string {
    const [conditionNode, leftNode, rightNode] = node.args as [NodeLike, NodeLike, NodeLike];
    const c = this.gen(conditionNode, scope);
    const t = this.t();
    const known = this.booleans.has(c);
    let left = '';
    let right = '';
    this.block(`if (${c} === true)`, () => this.emit(`${t} = ${(left = this.gen(leftNode, scope))};`));
    this.block(known ? 'else' : `else if (${c} === false)`, () => this.emit(`${t} = ${(right = this.gen(rightNode, scope))};`));
    if (!known) this.emit('else throw BAIL;');
    // Both branches literal bools (a quantifier's step): a bool, tested no further where one is required.
    if (BOOLEAN_LITERALS.has(left) && BOOLEAN_LITERALS.has(right)) this.booleans.add(t);
    return t;
  }

  add(node: NodeLike, scope: LeanScope): string {
    const [leftNode, rightNode] = node.args as [NodeLike, NodeLike];
    const l = this.gen(leftNode, scope);
    const r = this.gen(rightNode, scope);
    const charge = sizedCharge(node, checkedTypeOf(leftNode) ?? 'dyn', checkedTypeOf(rightNode) ?? 'dyn');
    return this.let(`leanAdd(${l}, ${r}, ${charge === undefined ? 'undefined' : this.k(charge)})`);
  }

  membership(node: NodeLike, scope: LeanScope): string {
    const [leftNode, rightNode] = node.args as [NodeLike, NodeLike];
    const l = this.gen(leftNode, scope);
    const r = this.gen(rightNode, scope);
    const charge = sizedCharge(node, checkedTypeOf(leftNode) ?? 'dyn', checkedTypeOf(rightNode) ?? 'dyn');
    const t = this.t();
    this.block(`if (typeof ${l} === 'string' && Array.isArray(${r}) && (${r}.length === 0 || typeof ${r}[0] === 'string'))`, () => {
      if (charge !== undefined) this.emit(`${this.k(charge)}(${l}, ${r});`);
      this.emit(`${t} = ${r}.includes(${l});`);
    });
    this.emit(`else if (typeof ${l} === 'string' && isLeanMap(${r})) ${t} = Object.hasOwn(${r}, ${l}) && ${r}[${l}] !== undefined;`);
    this.emit('else throw BAIL;');
    this.booleans.add(t);
    return t;
  }

  /**
   * `{'k': v, ...}` with string literal keys: one object literal, its members in the order the exact
   * code stores them (a repeated key keeps its first place and its last value, in both). A literal
   * rather than a store per member: V8 builds it from one boilerplate (up to a key that is not a name),
   * where a store per member walks the hidden classes' transitions each time (image-references' maps: a
   * quarter of its lean time).
   */
  mapLiteral(node: NodeLike, scope: LeanScope): string {
    const pairs = node.args as [NodeLike, NodeLike][];
    const keys = pairs.map(([k]) => (k.op === 'value' && typeof k.args === 'string' && plain(k) ? k.args : undefined));
    // `__proto__` among them would set the literal's prototype rather than a member: never written.
    if (keys.some((key) => key === undefined || RESERVED_MAP_KEYS.has(key))) return this.giveUp('map literal with other keys');
    const values = pairs.map(([, v]) => this.gen(v, scope));
    // A key that is a name is written as one; any other is a constant (its JSON literal, as a computed key).
    return this.let(`{ ${keys.map((key, i) => `${IDENTIFIER.test(key!) ? key! : `[${this.k(key)}]`}: ${values[i]!}`).join(', ')} }`);
  }

  call(node: NodeLike, scope: LeanScope): string {
    const receiverCall = node.op === 'rcall';
    const [name, receiverNode, argNodes] = receiverCall
      ? (node.args as [string, NodeLike, NodeLike[]])
      : [(node.args as [string, NodeLike[]])[0], undefined, (node.args as [string, NodeLike[]])[1]];
    const operands = [...(receiverNode ? [receiverNode] : []), ...argNodes];
    if (name === 'size' && operands.length === 1) return this.let(`leanSize(${this.gen(operands[0]!, scope)})`);
    // dyn(x) is x (what it changes is the checker's view).
    if (name === 'dyn' && !receiverCall && operands.length === 1) return this.gen(operands[0]!, scope);
    if (name === 'hasValue' && receiverNode !== undefined && argNodes.length === 0) {
      const chain = this.optionalChain(receiverNode, scope);
      if (chain !== undefined) return this.letBoolean(`${chain.state} === 1`);
    }
    // A library function whose overload the checker's types fix, on parameters lean values can be:
    // its handler, as the exact code calls it (the handler charges what the call costs).
    const what = `call of ${IDENTIFIER.test(name) ? name : 'a function'}`;
    const types = operands.map((operand) => checkedTypeOf(operand));
    const resolved = types.some((type) => type === undefined) ? undefined : resolveStatically(name, receiverCall, types as string[]);
    if (resolved === undefined) return this.dispatchedCall(name, receiverCall, operands, scope, what);
    if (!resolved.parameterTypes.every((type) => Object.hasOwn(PARAMETERS, type))) return this.giveUp(what);
    const literalPattern = resolved.handler === matches ? literalOf(operands[1]!) : undefined;
    const matcher = typeof literalPattern === 'string' ? literalPatternMatcher(literalPattern) : undefined;
    if (matcher !== undefined) {
      // `s.matches('<literal>')`: the pattern compiled at load, the call charged as matches charges it.
      const subject = this.gen(operands[0]!, scope);
      this.require(`typeof ${subject} === 'string'`);
      return this.letBoolean(`${this.k(matcher)}(${subject})`);
    }
    const values = operands.map((operand) => this.gen(operand, scope));
    const parameters = resolved.parameterTypes.map((type) => PARAMETERS[type]!);
    this.require(values.map((value, i) => parameters[i]!.test(value)).join(' && '));
    if (resolved.handler === intOfStringHandler()) return this.let(`${this.k(leanIntOfString)}(${values[0]!})`);
    return this.let(`leanResult(${this.k(resolved.handler)}(${values.map((value, i) => parameters[i]!.pass(value)).join(', ')}))`);
  }

  /**
   * A call whose overload the interpreter resolves from the values (a dyn operand): the same
   * resolution (overloads.ts runtimeResolver, from the interpreter's types), on operands that are
   * strings, bools, safe integers (passed as ints) or lists of strings.
   */
  dispatchedCall(name: string, receiverCall: boolean, operands: readonly NodeLike[], scope: LeanScope, what: string): string {
    const resolve = runtimeResolver(
      name,
      receiverCall,
      operands.map((operand) => {
        const type = this.runtimeTypes.get(operand) ?? 'dyn';
        return /\bdyn\b/.test(type) ? undefined : type;
      }),
    );
    if (resolve === undefined) return this.giveUp(what);
    const values = operands.map((operand) => this.gen(operand, scope));
    // The common case first: the dyn operands are strings. The overload the values then resolve to
    // is the one the same types fix (the same table, searched in the same order), called directly.
    const guessed = operands.map((operand) => {
      const type = this.runtimeTypes.get(operand) ?? 'dyn';
      return /\bdyn\b/.test(type) ? 'string' : type;
    });
    const likely = resolveStatically(name, receiverCall, guessed);
    const t = this.t();
    const dispatched = () => {
      const args = this.let(`[${values.map((value) => `leanOperand(${value})`).join(', ')}]`);
      const handler = this.let(`${this.k(resolve)}(${args})`);
      this.require(`typeof ${handler} === 'function'`);
      this.emit(`${t} = leanResult(${handler}(...${args}));`);
    };
    if (likely === undefined || !likely.parameterTypes.every((type) => Object.hasOwn(PARAMETERS, type))) {
      dispatched();
      return t;
    }
    const parameters = likely.parameterTypes.map((type) => PARAMETERS[type]!);
    this.block(`if (${values.map((value, i) => parameters[i]!.test(value)).join(' && ')})`, () => {
      this.emit(`${t} = leanResult(${this.k(likely.handler)}(${values.map((value, i) => parameters[i]!.pass(value)).join(', ')}));`);
    });
    this.block('else', dispatched);
    return t;
  }

  macro(node: NodeLike, scope: LeanScope): string {
    const has = hasMacroOf(node);
    if (has) {
      const o = this.gen(has.operand, scope);
      this.requireMap(o);
      return this.letBoolean(`${this.member(o, has.field)} !== undefined`);
    }
    const optional = optionalMacroOf(node);
    if (optional?.kind === 'orValue') {
      const chain = this.optionalChain(optional.receiver, scope);
      if (chain === undefined) return this.giveUp('orValue of something else than a chain of .?');
      const t = this.t();
      this.emit(`if (${chain.state} === 1) ${t} = ${chain.member};`);
      this.block('else', () => this.emit(`${t} = ${this.gen(optional.argument, scope)};`));
      return t;
    }
    return this.giveUp('macro');
  }

  /**
   * `root.?a.?b` (and `[?'k']` steps): `state` 1 with `member` the value when every member is there,
   * 0 at the first one missing; each member found costs its unit. Undefined when `receiver` is not
   * such a chain.
   */
  optionalChain(receiver: NodeLike, scope: LeanScope): { state: string; member: string } | undefined {
    const steps: ({ field: string } | { key: NodeLike })[] = [];
    let root = receiver;
    for (let step = chainStep(root); step !== undefined; step = chainStep(root)) {
      steps.unshift(step);
      root = (root.args as [NodeLike, unknown])[0];
    }
    if (steps.length === 0) return undefined;
    const rootValue = this.gen(root, scope);
    // Keys that are not literals: evaluated whatever the chain meets, as the exact code evaluates
    // each `[?k]`'s key after its operand (even an empty one); before the walk here, which changes
    // only the order of what they charge.
    const keys = steps.map((step) => {
      if ('field' in step) return undefined;
      const key = this.gen(step.key, scope);
      this.require(`typeof ${key} === 'string'`);
      return key;
    });
    const member = this.t();
    const state = this.t();
    const found = this.t();
    const done = `$l${this.labels++}`;
    this.emit(`${member} = ${rootValue}; ${state} = 0; ${found} = 0;`);
    this.block(`${done}:`, () => {
      steps.forEach((step, i) => {
        const next = this.t();
        this.requireMap(member);
        const key = keys[i];
        const read = 'field' in step ? this.member(member, step.field) : `(Object.hasOwn(${member}, ${key!}) ? ${member}[${key!}] : undefined)`;
        this.emit(`${next} = ${read};`);
        this.emit(`if (${next} === undefined) break ${done};`);
        this.emit(`${member} = ${next}; ${found}++;`);
      });
      this.emit(`${state} = 1;`);
    });
    this.emit(`if (${found} !== 0) { ${chargeText(found)} }`);
    return { state, member };
  }

  comprehension(c: ComprehensionLike, scope: LeanScope): string {
    const kind = comprehensionKind(c);
    const identity = (value: unknown) => c.result(value) === value;
    const known =
      ((kind === 'all' || kind === 'exists') && identity(true) && identity(false)) || ((kind === 'map' || kind === 'filter') && c.errorsAreFatal && identity([]));
    if (!known) return this.giveUp(`comprehension ${kind ?? ''}`);
    const items = this.let(`leanItems(${this.gen(c.iterable, scope)})`);
    const check = iterationTypeCheck(c, this.runtimeTypes);
    const accu = this.t();
    const iteration = this.t();
    const i = this.t();
    this.emit(`${accu} = ${this.gen(c.init, scope)};`);
    const inner: LeanScope = { names: new Map([...scope.names, [c.iterVarName, iteration]]), accumulator: accu };
    // A quantifier whose accumulator is a bool throughout (boolQuantifierStop: its step is `predicate ?
    // true : false`, a bool here too) stops on one value: a comparison, and the stop's charge inline,
    // instead of calling the metered condition (library/comprehensions.ts) and a ToBoolean per element.
    const stop = boolQuantifierStop(c);
    this.block(`for (${i} = 0; ${i} < ${items}.length; ${i}++)`, () => {
      if (stop !== undefined) this.emit(`if (${accu} === ${stop.stopsOn}) { ${chargeText(String(stop.units))} break; }`);
      else if (c.condition !== undefined) this.emit(`if (!${this.k(c.condition)}(${accu})) break;`);
      this.emit(`${iteration} = ${items}[${i}];`);
      if (check !== undefined) this.require(check(iteration));
      this.emit(`${accu} = ${this.gen(c.step, inner)};`);
    });
    return accu;
  }
}

const BOOLEAN_LITERALS: ReadonlySet<string> = new Set(['true', 'false']);

/** The statement that charges `units` (a number's source) to the meter, as the exact code charges a region. */
function chargeText(units: string): string {
  return `if ((M.spent += ${units}) > M.threshold) over();`;
}

/**
 * The test each iteration value passes where a check typed the range's elements as a primitive (a
 * literal list of strings): the exact code checks the interpreter's type and fails on another
 * element; the checker's type is tested too (a value it excludes makes the lean code give up).
 */
function iterationTypeCheck(c: ComprehensionLike, runtimeTypes: ReadonlyMap<NodeLike, string>): ((value: string) => string) | undefined {
  const elementOf = (type: string) => /^list<(.+)>$/.exec(type)?.[1] ?? /^map<([^,<>]+), /.exec(type)?.[1];
  const tests: Readonly<Record<string, (value: string) => string>> = {
    string: (value) => `typeof ${value} === 'string'`,
    bool: (value) => `typeof ${value} === 'boolean'`,
    int: (value) => `Number.isSafeInteger(${value})`,
  };
  const elements = new Set([elementOf(runtimeTypes.get(c.iterable) ?? 'dyn'), elementOf(checkedTypeOf(c.iterable) ?? 'dyn')]);
  const checks = [...elements].flatMap((element) => (element !== undefined && Object.hasOwn(tests, element) ? [tests[element]!] : []));
  // An element type the lean values cannot hold (double, bytes...): give up on any element.
  const impossible = [...elements].some((element) => element !== undefined && /^(double|uint|bytes|timestamp|duration)$/.test(element));
  if (impossible) return () => 'false';
  if (checks.length === 0) return undefined;
  return (value) => checks.map((check) => check(value)).join(' && ');
}

/**
 * The lean fragment of a checked expression, or undefined when a construct it needs everywhere
 * cannot be lean (a construct reached only on some paths gives up there instead, at run time).
 */
export function leanFragmentOf(ast: unknown, runtimeTypes: ReadonlyMap<NodeLike, string>): LeanFragment | undefined {
  const root = ast as NodeLike;
  const generator = new LeanGenerator(root, runtimeTypes);
  let result: string;
  try {
    result = generator.gen(root, ROOT_SCOPE);
  } catch {
    // NotLean, or an AST shape this generator did not expect: the expression stays exact-only.
    return undefined;
  }
  return {
    source: generator.lines.join('\n'),
    result,
    temporaries: generator.temporaries,
    constants: generator.constants,
    plainFields: [...generator.plainFields],
    variables: [...generator.variables],
  };
}
