// The code generator: one walk over a checked CEL AST that writes, per node, the statements of the
// expression's JavaScript function (see compiler.ts for the design and why it stays exact).
import { EvaluationError, Optional } from '@marcbachmann/cel-js';
import { concatLists, concatStrings } from '../library/allocations.js';
import { overThreshold, regionMeter } from '../cost.js';
import { chargeIfPresent, forEachRegion, sizedCharge } from '../node-costs.js';
import { boolQuantifierStop } from '../library/comprehensions.js';
import { chargeEquality } from '../library/equality-cost.js';
import { hasField } from '../library/standard.js';
import {
  checkedTypeOf,
  comprehensionOf,
  hasMacroOf,
  optionalMacroOf,
  type ComprehensionLike,
  type NodeLike,
} from '../cel-js-internals.js';
import { kubernetesEqualityFor } from '../library/kubernetes-equality.js';
import { resolveStatically, runtimeResolver } from '../overloads.js';
import { Emitter, quoted, type Source } from './emitter.js';
import { guardSource } from './guards.js';
import { intArithmetic, intComparison, intNegation, type NumericOperand } from './int-numbers.js';
import {
  celItems,
  celOf,
  chargeJsonNullEquality,
  describeKind,
  indexedMember,
  isPlainMap,
  jsonIndexedMember,
  jsonListItems,
  jsonObjectKeys,
  mapOfEntries,
  optionalIndex,
  optionalSelect,
  relabel,
  inJson,
  jsonHasField,
  sameFirstElementType,
} from './runtime.js';
import { NotCompiled, OPERAND_NAMES, type OperationFactory } from './contract.js';

const INT64_MIN = -(2n ** 63n);

/** optionalSelects, each step charged its unit when its member is there (node-costs.ts), as unfused code charges it. */
function chargedOptionalSelects(optional: unknown, fields: readonly string[], slows: readonly ((operand: unknown) => unknown)[]): unknown {
  let value = optional;
  for (let i = 0; i < fields.length; i++) {
    value = optionalSelect(value, fields[i]!, slows[i]!);
    chargeIfPresent(value);
  }
  return value;
}

/** Where celChain leaves a chain's state: 0 empty, 1 its value is the member returned, 2 the Optional returned. */
const celChainState = { state: 0 };

/**
 * `root.?fields[0].?fields[1]...` on a CEL value, consumed by orValue or hasValue, in one call: while
 * each value is a plain map (optionalSelect's test) its own member is read on and a member it does
 * not have empties the chain, with no Optional made; at anything else (an Optional root, a Map, an
 * own member left undefined) the rest runs as unfused code would (chargedOptionalSelects), from the
 * root or from an Optional of the member reached. Each member found costs its unit (node-costs.ts),
 * charged after the chain, as the fused chain on JSON charges it.
 */
function celChain(root: unknown, fields: readonly string[], slows: readonly ((operand: unknown) => unknown)[]): unknown {
  let member = root;
  let found = 0;
  let state = 1;
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i]!;
    if (isPlainMap(member)) {
      if (!Object.hasOwn(member, field)) {
        state = 0;
        break;
      }
      const next = member[field];
      if (next !== undefined) {
        member = next;
        found++;
        continue;
      }
    }
    member = chargedOptionalSelects(i === 0 ? member : Optional.of(member), fields.slice(i), slows.slice(i));
    state = 2;
    break;
  }
  if (found !== 0 && (regionMeter.spent += found) > regionMeter.threshold) overThreshold();
  celChainState.state = state;
  return member;
}

/** Whether a node is the list literal `[]`. */
function isEmptyListLiteral(node: NodeLike): boolean {
  return node.op === 'list' && (node.args as NodeLike[]).length === 0 && !node.meta.alternate && !node.meta.macro;
}

/** Whether a node is the map literal `{}`. */
function isEmptyMapLiteral(node: NodeLike): boolean {
  return node.op === 'map' && (node.args as unknown[]).length === 0 && !node.meta.alternate && !node.meta.macro;
}

/**
 * A step of an optional chain: `x.?f`, or `x[?'k']` with a string literal key, which the interpreter
 * evaluates as the same optional field access (cel-js's oFieldAccess on the key).
 */
function isChainStep(node: NodeLike): boolean {
  if (node.meta.alternate || node.meta.macro) return false;
  if (node.op === '.?') return true;
  if (node.op !== '[?]') return false;
  const key = (node.args as [NodeLike, NodeLike])[1];
  return key.op === 'value' && typeof key.args === 'string' && !key.meta.alternate && !key.meta.macro;
}

/** The field a chain step reads (isChainStep). */
function stepField(step: NodeLike): string {
  const key = (step.args as [NodeLike, NodeLike | string])[1];
  return step.op === '.?' ? (key as string) : ((key as NodeLike).args as string);
}

/** Whether a node is the literal `null` (no macro or alternate behind it). */
function isNullLiteral(node: NodeLike): boolean {
  return node.op === 'value' && node.args === null && !node.meta.alternate && !node.meta.macro;
}
const INT64_MAX = 2n ** 63n - 1n;

/** A node's value in the generated code: a temporary, a constant or a literal, and whether it is JSON. */
export interface Value {
  readonly src: Source;
  /**
   * JSON from the activation's `json` (or a part of it) rather than a CEL value: field and index
   * reads on it stay property reads, and it is converted (celOf) only where it meets an operation
   * that needs a CEL value. A JSON value converts to the CEL value the interpreter sees for the same
   * part of the converted object, and converting that again changes nothing.
   */
  readonly json: boolean;
  /** The value's `typeof` when the compiler knows it (a literal), so that a guard on it can be left out. */
  readonly typeOf?: string;
  /**
   * What the value reads (`object`, `object.spec`, `variables.x`, an iteration variable's temporary
   * and fields of it), when reading it again gives the same value or the same error: a read with a
   * key is computed once where the emitter still knows it (Emitter.recall).
   */
  readonly key?: string;
}

/** The scope of iteration variables and the accumulator: CEL name -> generated variable. */
export interface Scope {
  readonly names: ReadonlyMap<string, Value>;
  readonly accumulator: Source | undefined;
  /**
   * True inside a `filter` over a JSON range (Generator.keepsJsonElements): the accumulator holds the
   * kept elements as JSON, so `accuPush`, `accuValue` and the step's `?:` pass it on unconverted.
   */
  readonly jsonAccumulator?: boolean;
}

/**
 * A fused `.?` chain (Generator.optionalChain): `state` is 0 when the chain is empty, 1 when
 * `member` is its value (JSON when `json`, else a CEL value), 2 when `generic` holds the Optional it
 * evaluated to.
 */
interface FusedChain {
  readonly state: Source;
  readonly member: Source;
  readonly generic: Source;
  readonly json: boolean;
}

/**
 * The variables compiled code reads as JSON when the activation carries them (see JsonInputs).
 * `element` is declared only for a forEach default's expressions, whose activations carry it there.
 */
const JSON_NAMES: ReadonlySet<string> = new Set(['object', 'oldObject', 'request', 'namespaceObject', 'element']);

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The keys a map literal leaves out (runtime.ts mapOfEntries, as cel-js builds maps). */
const RESERVED_MAP_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** The string of a string literal that is a name (what a field select may read), else undefined. */
function identifierLiteral(node: NodeLike): string | undefined {
  const { args } = node;
  return node.op === 'value' && typeof args === 'string' && IDENTIFIER.test(args) && !node.meta.alternate && !node.meta.macro ? args : undefined;
}

/** The inline test that a JSON value is an object (runtime.ts isJsonObject, written out). */
function jsonObjectTest(value: Source): Source {
  return `(typeof ${value} === 'object' && ${value} !== null && !Array.isArray(${value}))`;
}

export class Generator {
  readonly out = new Emitter();
  /** The nodes that start a cost region, with what each charges when it starts (node-costs.ts). */
  readonly regions = new Map<NodeLike, number>();

  constructor(
    readonly factory: OperationFactory,
    /** The type the interpreter's own check gave each node. */
    readonly runtimeTypes: ReadonlyMap<NodeLike, string>,
    /** Whether `object`, `oldObject`, `request`, `namespaceObject` and `element` are read from the activation's JSON. */
    readonly jsonInputs: boolean,
    /** The scope's variables in declaration order: the slot each `variables.x` read names (a hint, see select). */
    readonly variableSlots: readonly string[] = [],
    /** The scope's variables whose values are JSON on an activation with JSON inputs (CelProgram.jsonResult). */
    readonly jsonVariables: ReadonlySet<string> = new Set(),
  ) {}

  /**
   * The statements that set up the function for an activation with JSON inputs (`json` read once: on
   * the engine's activation it is a getter). An activation without JSON inputs goes to `withoutJson`.
   */
  jsonPrologue(withoutJson: Source): string[] {
    return ['const J = activation.json;', `if (J === undefined) return ${withoutJson}(activation);`, 'const converted = J.converted;'];
  }

  /** The generated name of a constant. */
  k(value: unknown): Source {
    return this.out.constant(value);
  }

  emit(line: string): void {
    this.out.emit(line);
  }

  /** A new temporary holding `expression`. */
  let(expression: Source): Source {
    const t = this.out.temporary();
    this.emit(`${t} = ${expression};`);
    return t;
  }

  /** `value` as a CEL value: JSON converted (source over the prologue's `converted`). */
  celOf(value: Value): Source {
    if (!value.json) return value.src;
    // Converting is by identity (the review's memo): the same JSON converts to the same value.
    const key = value.key === undefined ? undefined : `celOf ${value.key}`;
    return this.out.recallOrRead(key, () => this.let(`${this.k(celOf)}(${value.src}, converted)`));
  }

  /** The node's value, always a CEL value: JSON converted where the node yields it. */
  cel(node: NodeLike, scope: Scope): Source {
    return this.celOf(this.gen(node, scope));
  }

  operation(source: string, operands: readonly NodeLike[] = []): Source {
    return this.k(
      this.factory(
        source,
        operands.map((node) => this.runtimeTypes.get(node) ?? 'dyn'),
      ),
    );
  }

  /**
   * The test that JSON value `o` has the member `field` (a validated identifier), its value read into
   * `into` along the way: an object that is not a list, whose member is there and not inherited.
   * A member is inherited only from the prototypes a JSON-flagged value can have (Object's; Map's for
   * a converted value a slow path returned), so for a name those do not define (`spec`, `image`)
   * the property read alone decides, as long as nobody added the name to them since (checked at
   * run time: a load from a prototype that does not have it, which V8 caches); for a name they do
   * define (`constructor`, `size`, `__proto__`) and after any such change, Object.hasOwn decides.
   */
  jsonMember(o: Source, field: string, into: Source): Source {
    // A key that is not an identifier (`[?'example.com/key']` in a chain) is a constant, never source.
    const key = IDENTIFIER.test(field) ? quoted(field) : this.k(field);
    const own = `Object.hasOwn(${o}, ${key})`;
    const inheritable = field in Object.prototype || field in Map.prototype;
    const notInherited = inheritable ? own : `(${this.k(Object.prototype)}[${key}] === undefined && ${this.k(Map.prototype)}[${key}] === undefined || ${own})`;
    return `${jsonObjectTest(o)} && (${into} = ${o}[${key}]) !== undefined && ${notInherited}`;
  }

  /**
   * jsonMember for a CEL value: `o` is a plain map (isPlainMap) whose member `field` is there and not
   * inherited, read into `into`. The only prototype such a map can have is Object's, so for a name it
   * does not define the read alone decides, as in jsonMember (params.allowed: no Object.hasOwn call).
   */
  celMember(o: Source, field: string, into: Source): Source {
    const key = quoted(field);
    const own = `Object.hasOwn(${o}, ${key})`;
    const notInherited = field in Object.prototype ? own : `(${this.k(Object.prototype)}[${key}] === undefined || ${own})`;
    // A map without prototype (params, converted JSON) is told apart inline, without calling isPlainMap.
    const plainMap = `(typeof ${o} === 'object' && ${o} !== null && (Object.getPrototypeOf(${o}) === null || ${this.k(isPlainMap)}(${o})))`;
    return `${plainMap} && (${into} = ${o}[${key}]) !== undefined && ${notInherited}`;
  }

  /**
   * isPlainMap(o), answered without reading the prototype for an object whose `constructor` is
   * Object's (what JSON.parse and object literals make; an own `constructor` member of JSON is never
   * a function).
   */
  plainMapTest(o: Source): Source {
    return `(typeof ${o} === 'object' && ${o} !== null && (${o}.constructor === Object || ${this.k(isPlainMap)}(${o})))`;
  }

  /** `throw new EvaluationError(message)` with cel-js's wording. */
  throwCel(message: string): string {
    return `throw new ${this.k(EvaluationError)}(${this.k(message)});`;
  }

  /** Charges the node costs of `root` where the interpreter does (node-costs.ts): call before generating it. */
  meterRegions(root: NodeLike): void {
    forEachRegion(root, (node, units) => {
      if (units !== 0) this.regions.set(node, units);
    });
  }

  /**
   * The statement that charges `units` (a number's source) to the armed budget: an addition and a
   * comparison, the call only when the budget ran out or the clock is due (cost.ts regionMeter).
   */
  charge(units: Source): string {
    const meter = this.k(regionMeter);
    return `if ((${meter}.spent += ${units}) > ${meter}.threshold) ${this.k(overThreshold)}();`;
  }

  /** `.?f` / `[?k]` cost a unit when the member is there (node-costs.ts): the statement for Optional `t`. */
  chargeIfPresent(t: Source): string {
    return `if (${t}.hasValue()) { ${this.charge('1')} }`;
  }

  gen(node: NodeLike, scope: Scope): Value {
    // A region's node costs, once where it starts (the whole expression, a branch, a loop's step).
    const units = this.regions.get(node);
    if (units !== undefined) this.emit(this.charge(String(units)));
    const alternate = node.meta.alternate;
    if (alternate) {
      const comprehension = comprehensionOf(alternate);
      if (comprehension) return this.comprehension(comprehension, scope);
      return this.gen(alternate, scope);
    }
    if (node.meta.macro) return this.macro(node, scope);
    switch (node.op) {
      case 'value':
        return { src: this.literal(node.args), json: false, typeOf: typeof node.args };
      case 'id':
        return this.identifier(node.args as string, scope);
      case '.':
        return this.select(node, scope, false);
      case '.?':
        return this.select(node, scope, true);
      case '[]':
        return this.index(node, scope, false);
      case '[?]':
        return this.index(node, scope, true);
      case '&&':
      case '||':
        return this.logical(node, scope, node.op === '||');
      case '?:':
        return this.ternary(node, scope);
      case '!_':
        return this.not(node, scope);
      case '-_':
        return this.celValue(intNegation(this, node, scope));
      case '==':
      case '!=':
        return this.equality(node, scope, node.op === '!=');
      case '<':
      case '<=':
      case '>':
      case '>=':
        return this.ordering(node, scope, node.op);
      case '+':
        if (this.jsonInputs && /^list\b/.test(checkedTypeOf(node) ?? '')) return this.listConcatenation(node, scope);
        return this.celValue(intArithmetic(this, node, scope, node.op));
      case '-':
      case '*':
      case '/':
      case '%':
        return this.celValue(intArithmetic(this, node, scope, node.op));
      case 'in':
        return this.membership(node, scope);
      case 'list':
        return this.listLiteral(node, scope);
      case 'map':
        return this.mapLiteral(node, scope);
      case 'call':
      case 'rcall':
        return this.call(node, scope);
      case 'accuValue':
        // A copy: the accumulator may change before the value is used (evaluation is in place).
        return { src: this.let(this.accumulator(scope)), json: scope.jsonAccumulator === true };
      case 'accuInc': {
        const accu = this.accumulator(scope);
        return { src: this.let(`${accu} = ${accu} + 1`), json: false };
      }
      case 'accuPush': {
        const accu = this.accumulator(scope);
        const list = this.let(accu);
        const json = scope.jsonAccumulator === true;
        const element = json ? this.jsonElement(node.args as NodeLike, scope) : this.cel(node.args as NodeLike, scope);
        this.emit(`${list}.push(${element});`);
        return { src: list, json };
      }
      default:
        throw new NotCompiled(`operator ${node.op}`);
    }
  }

  /** A literal: booleans and null written out, anything else a constant. */
  literal(value: unknown): Source {
    if (value === true || value === false || value === null) return String(value);
    return this.k(value);
  }

  accumulator(scope: Scope): Source {
    if (scope.accumulator === undefined) throw new NotCompiled('accumulator outside a comprehension');
    return scope.accumulator;
  }

  identifier(name: string, scope: Scope): Value {
    const local = scope.names.get(name);
    if (local !== undefined) return local;
    if (!(OPERAND_NAMES as readonly string[]).includes(name)) throw new NotCompiled(`identifier ${name}`);
    const json = this.jsonInputs && JSON_NAMES.has(name);
    // The review's JSON is the same object at every read.
    const key = json ? name : undefined;
    const src = this.out.recallOrRead(key, () => {
      // The interpreter's message for an unset variable, from the interpreter.
      const unknown = this.operation(name);
      const t = this.let(`${json ? 'J' : 'activation'}[${quoted(name)}]`);
      this.emit(`if (${t} === undefined) ${t} = ${unknown}(undefined);`);
      return t;
    });
    return { src, json, key };
  }

  /** `a.f` and `a.?f`: a property read when `a` is a map (or an optional of one). */
  select(node: NodeLike, scope: Scope, optional: boolean): Value {
    const [operandNode, field] = node.args as [NodeLike, string];
    if (!IDENTIFIER.test(field)) throw new NotCompiled(`field name ${field}`);
    if (optional) return this.optionalSelect(node, this.gen(operandNode, scope));
    const key = quoted(field);
    if (operandNode.op === 'id' && operandNode.args === 'variables' && !scope.names.has('variables')) {
      // `variables.x`: without the map the interpreter needs (activation.variable), which evaluates a
      // variable once per review (its value or its error). The slot is where the scope this code was
      // generated in declared it; a policy sharing the program may declare it elsewhere, so the
      // activation checks the name there and looks it up by name when it differs.
      const read = `variables.${field}`;
      const slot = this.variableSlots.indexOf(field);
      const src = this.out.recallOrRead(read, () => {
        const slow = this.operation(`object.${field}`, [operandNode]);
        const t = this.out.temporary();
        this.emit(`${t} = activation.variable !== undefined ? activation.variable(${key}, ${slot}) : undefined;`);
        this.out.block(`if (${t} === undefined)`, () => {
          const operand = this.gen(operandNode, scope);
          this.emit(`${t} = ${this.k(isPlainMap)}(${operand.src}) && Object.hasOwn(${operand.src}, ${key}) ? ${operand.src}[${key}] : undefined;`);
          this.emit(`if (${t} === undefined) ${t} = ${slow}(${operand.src});`);
        });
        return t;
      });
      // A variable whose value is JSON is read on as JSON (its readers and it are compiled in one scope).
      return { src, json: this.jsonInputs && this.jsonVariables.has(field), key: read };
    }
    const operand = this.gen(operandNode, scope);
    // A field of a value read by key is the same value (or error) at every read.
    const read = operand.key === undefined ? undefined : `${operand.key}.${field}`;
    const src = this.out.recallOrRead(read, () => {
      const slow = this.operation(`object.${field}`, [operandNode]);
      const t = this.out.temporary();
      const o = operand.src;
      if (operand.json) {
        // JSON: a member that is there is read as it is; anything else is the converted value's answer.
        this.emit(`if (!(${this.jsonMember(o, field, t)})) ${t} = ${slow}(${this.k(celOf)}(${o}, converted));`);
      } else {
        this.emit(`if (!(${this.celMember(o, field, t)})) ${t} = ${slow}(${o});`);
      }
      return t;
    });
    return { src, json: operand.json, key: read };
  }

  /** `a.?f` on the evaluated operand of the `.?` node `node`: an Optional. */
  optionalSelect(node: NodeLike, operand: Value): Value {
    const [operandNode, field] = node.args as [NodeLike, string];
    const slow = this.operation(`object.?${field}`, [operandNode]);
    const o = operand.src;
    if (operand.json) {
      const Opt = this.k(Optional);
      const t = this.out.temporary();
      const member = this.out.temporary();
      this.emit(`if (${this.jsonMember(o, field, member)}) ${t} = ${Opt}.of(${this.k(celOf)}(${member}, converted));`);
      this.emit(`else if (${this.plainMapTest(o)}) ${t} = ${Opt}.none();`);
      this.emit(`else ${t} = ${slow}(${this.k(celOf)}(${o}, converted));`);
      this.emit(this.chargeIfPresent(t));
      return { src: t, json: false };
    }
    // Out of line (runtime.ts optionalSelect): an Optional's member or a CEL map's, the same steps
    // as the interpreter's, in a few bytes of code per use.
    const t = this.let(`${this.k(optionalSelect)}(${o}, ${this.k(field)}, ${slow})`);
    this.emit(this.chargeIfPresent(t));
    return { src: t, json: false };
  }

  /** `a[i]` and `a[?i]`: an array read for a list and an int, a property read for a map and a string. */
  index(node: NodeLike, scope: Scope, optional: boolean): Value {
    const [operandNode, keyNode] = node.args as [NodeLike, NodeLike];
    const slow = this.operation(optional ? 'object[?oldObject]' : 'object[oldObject]', [operandNode, keyNode]);
    const Opt = this.k(Optional);
    const operand = this.gen(operandNode, scope);
    const key = this.cel(keyNode, scope);
    const o = operand.src;
    const t = this.out.temporary();
    if (operand.json) {
      const cel = `${this.k(celOf)}(${o}, converted)`;
      // What the interpreter returns from the converted value is that value's part: JSON-derived.
      if (!optional) {
        this.emit(`${t} = ${this.k(jsonIndexedMember)}(${o}, ${key});`);
        this.emit(`if (${t} === undefined) ${t} = ${slow}(${cel}, ${key});`);
        return { src: t, json: true };
      }
      const member = this.out.temporary();
      this.out.block(`if (${this.k(isPlainMap)}(${o}) && typeof ${key} === 'string')`, () => {
        this.emit(`${member} = Object.hasOwn(${o}, ${key}) ? ${o}[${key}] : undefined;`);
        this.emit(`${t} = ${member} === undefined ? ${Opt}.none() : ${Opt}.of(${this.k(celOf)}(${member}, converted));`);
      });
      this.emit(`else ${t} = ${slow}(${cel}, ${key});`);
      this.emit(this.chargeIfPresent(t));
      return { src: t, json: false };
    }
    if (!optional) {
      this.emit(`${t} = ${this.k(indexedMember)}(${o}, ${key});`);
      this.emit(`if (${t} === undefined) ${t} = ${slow}(${o}, ${key});`);
      return { src: t, json: false };
    }
    // Out of line (runtime.ts optionalIndex): a CEL map's member, or an Optional's (`a.?b[?'k']`).
    this.emit(`${t} = ${this.k(optionalIndex)}(${o}, ${key}, ${slow});`);
    this.emit(this.chargeIfPresent(t));
    return { src: t, json: false };
  }

  /** CEL's commutative && and ||: an error on one side is absorbed when the other side decides. */
  logical(node: NodeLike, scope: Scope, or: boolean): Value {
    const [leftNode, rightNode] = node.args as [NodeLike, NodeLike];
    const decides = String(or);
    const other = String(!or);
    const slow = this.operation(or ? 'object || oldObject' : 'object && oldObject', [leftNode, rightNode]);
    const l = this.out.temporary();
    const t = this.out.temporary();
    this.out.block(
      'try',
      () => {
        this.emit(`${l} = ${this.cel(leftNode, scope)};`);
      },
      `} catch (error) { ${l} = error; }`,
    );
    this.out.block(`if (${l} === ${decides}) ${t} = ${decides}; else`, () => {
      const r = this.cel(rightNode, scope);
      this.emit(`if (${r} === ${decides}) ${t} = ${decides};`);
      this.emit(`else if (${l} === ${other} && ${r} === ${other}) ${t} = ${other};`);
      // Errors and non-bool operands: the interpreter's message, by the interpreter. A left error
      // stands when the right side is a bool that does not decide; else the right side is the culprit.
      this.out.block(`else if (${l} instanceof Error)`, () => {
        this.emit(`if (${r} === ${other}) throw ${l};`);
        this.emit(`${t} = ${slow}(${other}, ${r});`);
      });
      this.emit(`else ${t} = ${slow}(${l}, ${r});`);
    });
    return { src: t, json: false };
  }

  ternary(node: NodeLike, scope: Scope): Value {
    const [conditionNode, leftNode, rightNode] = node.args as [NodeLike, NodeLike, NodeLike];
    const slow = this.operation('object ? oldObject : request', [conditionNode]);
    // A macro's predicate carries its own message ("all(var, predicate) predicate must return bool").
    const label = conditionNode.meta.label;
    const c = this.cel(conditionNode, scope);
    const t = this.out.temporary();
    // The step of a filter keeping JSON elements: both branches are its accumulator, left as JSON.
    const filterStep = scope.jsonAccumulator === true && leftNode.op === 'accuPush' && rightNode.op === 'accuValue';
    // `c ? x : []` (or `{}`): the empty literal is the same value as JSON and as CEL, so the result is
    // JSON when x is (`(p ? object.spec.initContainers : []) + ...` converts nothing).
    const emptyLiteral = (n: NodeLike) => isEmptyListLiteral(n) || isEmptyMapLiteral(n);
    const besideEmpty = this.jsonInputs && !filterStep && (emptyLiteral(leftNode) || emptyLiteral(rightNode));
    let json = filterStep;
    const branch = (n: NodeLike): Source => {
      if (filterStep) return this.jsonElement(n, scope);
      if (!besideEmpty || emptyLiteral(n)) return this.cel(n, scope);
      const value = this.gen(n, scope);
      json = value.json;
      return value.src;
    };
    this.out.block(`if (${c} === true)`, () => this.emit(`${t} = ${branch(leftNode)};`));
    this.out.block(`else if (${c} === false)`, () => this.emit(`${t} = ${branch(rightNode)};`));
    this.out.block('else', () => {
      if (label === undefined) this.emit(`${t} = ${slow}(${c}, null, null);`);
      else this.emit(`try { ${t} = ${slow}(${c}, null, null); } catch (error) { throw ${this.k(relabel)}(error, ${this.k(label)}); }`);
    });
    return { src: t, json };
  }

  /**
   * The node's value where the generated code keeps JSON as it is (a filter's accumulator and the
   * elements it keeps): the caller made sure it is JSON, and a value that is not would be a compiler
   * error, which makes the expression interpreted rather than wrong.
   */
  jsonElement(node: NodeLike, scope: Scope): Source {
    const value = this.gen(node, scope);
    if (!value.json) throw new NotCompiled(`a ${node.op} that is not JSON in a filter over JSON`);
    return value.src;
  }

  not(node: NodeLike, scope: Scope): Value {
    const slow = this.operation('!object', [node.args as NodeLike]);
    const v = this.cel(node.args as NodeLike, scope);
    return { src: this.let(`typeof ${v} === 'boolean' ? !${v} : ${slow}(${v})`), json: false };
  }

  /** A number-path operand or result (int-numbers.ts) as the CEL value other operations take. */
  celValue(operand: NumericOperand): Value {
    return { src: operand.cel(), json: false };
  }

  equality(node: NodeLike, scope: Scope, negated: boolean): Value {
    const slow = this.operation(negated ? 'object != oldObject' : 'object == oldObject', node.args as NodeLike[]);
    const kubernetes = kubernetesEqualityFor(node);
    const nullSide = (node.args as NodeLike[]).findIndex(isNullLiteral);
    if (nullSide !== -1) {
      // JSON against `null`: every other value differs from null (cel-js's `==`, and Kubernetes'
      // equality falls back to it for null), so no conversion is needed, and the charge is the same.
      const other = this.gen((node.args as NodeLike[])[1 - nullSide]!, scope);
      if (other.json) {
        const v = other.src;
        const t = this.out.temporary();
        // JSON as parsed (a slow path may have left a CEL value of another kind: compared as before).
        this.out.block(`if (typeof ${v} !== 'object' || ${v} === null || Array.isArray(${v}) || ${v}.constructor === Object)`, () => {
          this.emit(`${this.k(chargeJsonNullEquality)}(${v});`);
          this.emit(`${t} = ${v} ${negated ? '!==' : '==='} null;`);
        });
        this.out.block('else', () => {
          const o = this.celOf(other);
          const [l, r] = nullSide === 0 ? ['null', o] : [o, 'null'];
          this.emit(`${t} = ${this.compareValues(l, r, negated, kubernetes, slow).src};`);
        });
        return { src: t, json: false };
      }
      const o = this.celOf(other);
      const [l, r] = nullSide === 0 ? ['null', o] : [o, 'null'];
      return this.compareValues(l, r, negated, kubernetes, slow);
    }
    if (kubernetes) {
      const [leftNode, rightNode] = node.args as [NodeLike, NodeLike];
      const l = this.cel(leftNode, scope);
      return this.compareValues(l, this.cel(rightNode, scope), negated, kubernetes, slow);
    }
    // Two safe-integer numbers compare as numbers (int-numbers.ts); the rest as CEL values.
    return intComparison(this, node, scope, (l, r) => this.compareValues(l, r, negated, kubernetes, slow).src, true);
  }

  /** `l == r` (or `!=`) on evaluated CEL values, charged first. */
  compareValues(
    l: Source,
    r: Source,
    negated: boolean,
    kubernetes: ReturnType<typeof kubernetesEqualityFor>,
    slow: Source,
  ): Value {
    if (kubernetes) {
      // Charged as the interpreter charges it (library/equality-cost.ts), before comparing.
      this.emit(`${this.k(chargeEquality)}(${l}, ${r});`);
      // A declared object type (or a list field of one): compared with its schema's list types, as the
      // interpreter does (library/kubernetes-equality.ts), with cel-js's `==` for the scalars.
      // The parts of the operands are of any type: cel-js's `==` on two dyn values.
      const dynEquals = this.factory('object == oldObject', ['dyn', 'dyn']);
      const generic = (a: unknown, b: unknown): boolean => dynEquals(a, b) === true;
      return { src: this.let(`${this.k(kubernetes)}(${l}, ${r}, ${this.k(generic)})`), json: false };
    }
    const t = this.out.temporary();
    const same = negated ? '!==' : '===';
    // A literal's type is known here (a constant): the tests below that it settles are left out.
    const known = this.out.constantTypeOf(r) ?? this.out.constantTypeOf(l);
    // The operand whose type is not known.
    const value = this.out.constantTypeOf(r) !== undefined ? l : r;
    const generic = (stringTest: string | undefined): void => {
      // Charged as the interpreter charges it (library/equality-cost.ts), before comparing.
      this.emit(`${this.k(chargeEquality)}(${l}, ${r});`);
      this.emit(stringTest === undefined ? `${t} = ${slow}(${l}, ${r});` : `${t} = ${stringTest} ? ${l} ${same} ${r} : ${slow}(${l}, ${r});`);
    };
    if (l === 'null' || r === 'null') {
      // `x == null` on a value that is not JSON (`coverage`, an `orValue(null)`): null equals null;
      // any other value is compared by the interpreter.
      const other = l === 'null' ? r : l;
      this.emit(`${this.k(chargeEquality)}(${l}, ${r});`);
      this.emit(`${t} = ${other} === null ? ${String(!negated)} : ${slow}(${l}, ${r});`);
      return { src: t, json: false };
    }
    // Two ints or two bools: both of size 1, ceil(0.1 * 1) = 1 unit, the unit the `==` node paid
    // already (node-costs.ts): nothing more to charge.
    const scalars = (test: string): void => {
      this.out.block(`if (${test})`, () => {
        this.emit(`${t} = ${l} ${same} ${r};`);
      });
      this.out.block('else', () => generic(known === undefined ? `typeof ${l} === 'string' && typeof ${r} === 'string'` : undefined));
    };
    if (known === 'bigint' || known === 'boolean') scalars(`typeof ${value} === '${known}'`);
    else if (known === 'string') generic(`typeof ${value} === 'string'`);
    else if (known !== undefined) generic(undefined);
    else scalars(`(typeof ${l} === 'bigint' || typeof ${l} === 'boolean') && typeof ${l} === typeof ${r}`);
    return { src: t, json: false };
  }

  ordering(node: NodeLike, scope: Scope, op: '<' | '<=' | '>' | '>='): Value {
    const slow = this.operation(`object ${op} oldObject`, node.args as NodeLike[]);
    // Two ints compare here (as numbers when both are safe integers, int-numbers.ts): strings (code
    // points against UTF-16 units), doubles (NaN, mixed int/double comparisons) and the rest go to
    // the interpreter.
    return intComparison(
      this,
      node,
      scope,
      (l, r) => {
        this.chargeSized(node, l, r);
        return this.let(`typeof ${l} === 'bigint' && typeof ${r} === 'bigint' ? ${l} ${op} ${r} : ${slow}(${l}, ${r})`);
      },
      false,
    );
  }

  /** What `+`, an ordering or `in` charges by its operands' sizes where cel-go does (node-costs.ts sizedCharge). */
  chargeSized(node: NodeLike, l: Source, r: Source): void {
    const [leftNode, rightNode] = node.args as [NodeLike, NodeLike];
    // The checker's types (this walk's nodes are the checker's), as the interpreter's hook reads them.
    const charge = sizedCharge(node, checkedTypeOf(leftNode) ?? 'dyn', checkedTypeOf(rightNode) ?? 'dyn');
    if (charge !== undefined) this.emit(`${this.k(charge)}(${l}, ${r});`);
  }

  /**
   * `l op r` on evaluated CEL values. (Two JSON lists could stay JSON, but the same `+` on other
   * values makes a CEL value that converting again would change: 0.5 + 0.5 is the double 1, which
   * as JSON would read as the int 1. A value's JSON-ness is fixed when the code is generated, so the
   * result is always a CEL value.)
   */
  arithmeticOn(l: Source, r: Source, op: '+' | '-' | '*', slow: Source, node?: NodeLike): Value {
    if (node !== undefined) this.chargeSized(node, l, r);
    const t = this.out.temporary();
    // A literal operand's type (a constant) leaves one fast path: the others cannot apply.
    const known = this.out.constantTypeOf(l) ?? this.out.constantTypeOf(r);
    const paths: string[] = [];
    if (known === undefined || known === 'bigint') {
      this.out.block(`if (typeof ${l} === 'bigint' && typeof ${r} === 'bigint')`, () => {
        this.emit(`${t} = ${l} ${op} ${r};`);
        this.emit(`if (${t} < ${this.k(INT64_MIN)} || ${t} > ${this.k(INT64_MAX)}) ${t} = ${slow}(${l}, ${r});`);
      });
      paths.push('bigint');
    }
    if (op === '+' && (known === undefined || known === 'string')) {
      this.emit(`${paths.length > 0 ? 'else ' : ''}if (typeof ${l} === 'string' && typeof ${r} === 'string') ${t} = ${this.k(concatStrings)}(${l}, ${r});`);
      paths.push('string');
    }
    if (op === '+' && known === undefined) {
      this.emit(`else if (Array.isArray(${l}) && Array.isArray(${r}) && ${this.k(sameFirstElementType)}(${l}, ${r})) ${t} = ${this.k(concatLists)}(${l}, ${r});`);
      paths.push('list');
    }
    this.emit(`${paths.length > 0 ? 'else ' : ''}${t} = ${slow}(${l}, ${r});`);
    return { src: t, json: false };
  }

  /**
   * `l + r` that the checker typed as a list. Two JSON lists whose operands the interpreter types
   * `dyn` (or `list<dyn>`) are concatenated as they are: the interpreter concatenates any two such
   * lists, and its result is this one's elements converted. The list is JSON then, so a chained
   * macro reads its elements as JSON and a variable keeps it (`variables.containers`, read by
   * dozens of expressions, used to be converted whole on every review). Other operands (which the
   * apiserver's schema never lets through) take the generic `+`, whose CEL value is wrapped.
   */
  listConcatenation(node: NodeLike, scope: Scope): Value {
    const [leftNode, rightNode] = node.args as [NodeLike, NodeLike];
    const slow = this.operation('object + oldObject', [leftNode, rightNode]);
    const left = this.gen(leftNode, scope);
    const right = this.gen(rightNode, scope);
    const untyped = (n: NodeLike) => /^(dyn|list<dyn>)$/.test(this.runtimeTypes.get(n) ?? 'dyn');
    if (!left.json || !right.json || !untyped(leftNode) || !untyped(rightNode)) {
      return this.arithmeticOn(this.celOf(left), this.celOf(right), '+', slow, node);
    }
    const t = this.out.temporary();
    const l = left.src;
    const r = right.src;
    this.out.block(`if (Array.isArray(${l}) && Array.isArray(${r}))`, () => {
      this.chargeSized(node, l, r);
      // concatLists charges what the interpreter's `+` charges (library/allocations.ts).
      this.emit(`${t} = ${this.k(concatLists)}(${l}, ${r});`);
    });
    this.out.block('else', () => {
      const generic = this.arithmeticOn(this.celOf(left), this.celOf(right), '+', slow, node);
      this.emit(`${t} = ${this.k(inJson)}(${generic.src});`);
    });
    return { src: t, json: true };
  }

  membership(node: NodeLike, scope: Scope): Value {
    const [leftNode, rightNode] = node.args as [NodeLike, NodeLike];
    const slow = this.operation('object in oldObject', node.args as NodeLike[]);
    const l = this.cel(leftNode, scope);
    const right = this.gen(rightNode, scope);
    const t = this.out.temporary();
    // The interpreter types a list by its first element: a string looked up in a list of strings.
    // Charged as the interpreter's `in` charges: the list's size where cel-go prices it so.
    const inList = (list: Source) => {
      this.chargeSized(node, l, list);
      return `if (typeof ${l} === 'string' && Array.isArray(${list}) && (${list}.length === 0 || typeof ${list}[0] === 'string')) ${t} = ${list}.includes(${l}); else ${t} = ${slow}(${l}, ${list});`;
    };
    if (right.json) {
      const r = right.src;
      // A string key in a JSON object (whose keys are all strings): the interpreter's map lookup. A
      // literal key that is a name (`'memory' in c.resources.requests`) is read as a field is (jsonMember).
      const key = identifierLiteral(leftNode);
      if (key !== undefined) this.emit(`if (${this.jsonMember(r, key, this.out.temporary())}) ${t} = true;`);
      else this.emit(`if (typeof ${l} === 'string' && ${jsonObjectTest(r)} && Object.hasOwn(${r}, ${l})) ${t} = ${r}[${l}] !== undefined;`);
      this.emit(`else if (typeof ${l} === 'string' && ${this.k(isPlainMap)}(${r})) ${t} = false;`);
      this.out.block('else', () => {
        const list = this.let(`${this.k(celOf)}(${r}, converted)`);
        this.emit(inList(list));
      });
      return { src: t, json: false };
    }
    this.emit(inList(right.src));
    return { src: t, json: false };
  }

  listLiteral(node: NodeLike, scope: Scope): Value {
    const elementNodes = node.args as NodeLike[];
    const elements = new Array<Source>(elementNodes.length);
    // The interpreter evaluates elements last to first: the same order gives the same first error.
    for (let i = elementNodes.length - 1; i >= 0; i--) elements[i] = this.cel(elementNodes[i]!, scope);
    return { src: this.let(`[${elements.join(', ')}]`), json: false };
  }

  mapLiteral(node: NodeLike, scope: Scope): Value {
    const pairs = node.args as [NodeLike, NodeLike][];
    const entries: Source[] = [];
    for (const [k, v] of pairs) entries.push(this.cel(k, scope), this.cel(v, scope));
    const keys = pairs.map(([k]) => (k.op === 'value' && typeof k.args === 'string' && !k.meta.alternate && !k.meta.macro ? k.args : undefined));
    if (keys.some((key) => key === undefined)) return { src: this.let(`${this.k(mapOfEntries)}([${entries.join(', ')}])`), json: false };
    // Every key a string literal (`{'name': c.name, ...}`): built as mapOfEntries builds it, member by
    // member in order on an ordinary object, the reserved names left out when the code is generated,
    // without the array of entries. A key that is a name is written as a property (its own inline
    // cache), any other is a constant.
    const t = this.let('{}');
    keys.forEach((key, i) => {
      if (RESERVED_MAP_KEYS.has(key!)) return;
      this.emit(`${t}[${IDENTIFIER.test(key!) ? quoted(key!) : this.k(key)}] = ${entries[2 * i + 1]!};`);
    });
    return { src: t, json: false };
  }

  call(node: NodeLike, scope: Scope): Value {
    const receiverCall = node.op === 'rcall';
    const [name, receiverNode, argNodes] = receiverCall
      ? (node.args as [string, NodeLike, NodeLike[]])
      : [(node.args as [string, NodeLike[]])[0], undefined, (node.args as [string, NodeLike[]])[1]];
    if (argNodes.length + (receiverCall ? 1 : 0) > OPERAND_NAMES.length) throw new NotCompiled(`call of ${name} with too many arguments`);
    if (!IDENTIFIER.test(name)) throw new NotCompiled(`function name ${name}`);
    const operandNodes = [...(receiverNode ? [receiverNode] : []), ...argNodes];
    const fusedReceiver = name === 'hasValue' && receiverNode !== undefined && argNodes.length === 0 ? this.optionalChain(receiverNode, scope) : undefined;
    const names = OPERAND_NAMES.slice(0, operandNodes.length);
    const source = receiverCall ? `${names[0]}.${name}(${names.slice(1).join(', ')})` : `${name}(${names.join(', ')})`;
    const slow = this.operation(source, operandNodes);
    const resolved = this.resolvedCall(node, name, operandNodes);
    const handler = resolved?.handler;
    // All operands, receiver first; the interpreter evaluates them last to first.
    const values = new Array<Value>(operandNodes.length);
    if (fusedReceiver !== undefined) {
      // `chain.hasValue()`: the call below gets a shared empty or present Optional when the fused
      // chain decided, so the handler runs as before without an Optional made per evaluation.
      const receiver = this.out.temporary();
      const some = this.k(Optional.of(true));
      const none = this.k(Optional.none());
      this.emit(`${receiver} = ${fusedReceiver.state} === 1 ? ${some} : ${fusedReceiver.state} === 0 ? ${none} : ${fusedReceiver.generic};`);
      values[0] = { src: receiver, json: false };
      if (handler === undefined) {
        // No overload the checker fixed (`m.?a[?'k'].hasValue()` on a dyn `m`): the receiver is an
        // Optional here whatever the chain met (its shared constants, or the Optional its unfused
        // steps made), and optional.hasValue() is the only overload the interpreter can pick for it.
        return { src: this.let(`${receiver}.hasValue()`), json: false };
      }
    } else {
      const parameter = resolved?.parameterTypes[0];
      if (name === 'size' && operandNodes.length === 1 && parameter !== undefined && /^list<([A-Z]|dyn)>$/.test(parameter)) {
        const value = this.gen(operandNodes[0]!, scope);
        if (value.json) {
          // size() of a JSON list: the handler reads the length, which converting does not change.
          const t = this.out.temporary();
          this.emit(`if (Array.isArray(${value.src})) ${t} = ${this.k(handler)}(${value.src});`);
          this.out.block('else', () => {
            const generic = this.callOn(node, receiverNode, argNodes, slow, [{ src: this.celOf(value), json: false }], resolved);
            this.emit(`${t} = ${generic.src};`);
          });
          return { src: t, json: false };
        }
        values[0] = value;
      } else {
        for (let i = operandNodes.length - 1; i >= 0; i--) {
          const value = this.gen(operandNodes[i]!, scope);
          values[i] = value.json ? { src: this.celOf(value), json: false } : value;
        }
      }
    }
    return this.callOn(node, receiverNode, argNodes, slow, values, resolved);
  }

  /** A call on its evaluated operands (CEL values, receiver first); `resolved`: the overload the checker's types fix (resolvedCall). */
  callOn(
    node: NodeLike,
    receiverNode: NodeLike | undefined,
    argNodes: NodeLike[],
    slow: Source,
    values: readonly Value[],
    resolved: ReturnType<typeof resolveStatically>,
  ): Value {
    const name = (node.args as [string])[0];
    const operandNodes = [...(receiverNode ? [receiverNode] : []), ...argNodes];
    const handler = resolved?.handler;
    const operands = values.map((value) => value.src);
    const args = operands.join(', ');
    const guards = handler === undefined ? undefined : resolved!.parameterTypes.map((type, i) => guardSource(type, values[i]!, this.out));
    if (guards !== undefined && guards.every((g) => g !== undefined)) {
      const test = guards.filter((g) => g !== 'true');
      if (test.length === 0) return { src: this.let(`${this.k(handler)}(${args})`), json: false };
      return { src: this.let(`${test.join(' && ')} ? ${this.k(handler)}(${args}) : ${slow}(${args})`), json: false };
    }
    // No overload the checker could fix (a dyn operand): resolved from the values, as the
    // interpreter does, when the interpreter's own check left the call to run time as well.
    if (!this.dispatchedAtRunTime(receiverNode, argNodes)) return { src: this.let(`${slow}(${args})`), json: false };
    const resolve = runtimeResolver(
      name,
      node.op === 'rcall',
      operandNodes.map((n) => {
        const type = this.runtimeTypes.get(n) ?? 'dyn';
        return /\bdyn\b/.test(type) ? undefined : type;
      }),
    );
    if (resolve === undefined) return { src: this.let(`${slow}(${args})`), json: false };
    const overload = this.let(`${this.k(resolve)}([${args}])`);
    return { src: this.let(`${overload} ? ${overload}(${args}) : ${slow}(${args})`), json: false };
  }

  macro(node: NodeLike, scope: Scope): Value {
    const optional = optionalMacroOf(node);
    if (optional) {
      if (optional.kind === 'orValue') {
        const fused = this.fusedOrValue(optional.receiver, optional.argument, scope);
        if (fused !== undefined) return fused;
      }
      const Opt = this.k(Optional);
      // cel-js's own wording (optional.js) for a receiver or an argument that is not an optional.
      const description = optional.kind === 'orValue' ? 'optional.orValue(value)' : 'optional.or(optional)';
      const receiver = this.cel(optional.receiver, scope);
      const t = this.out.temporary();
      this.emit(`if (!(${receiver} instanceof ${Opt})) ${this.throwCel(`${description} receiver must be optional`)}`);
      if (optional.kind === 'orValue') {
        this.emit(`if (${receiver}.hasValue()) ${t} = ${receiver}.value();`);
        this.out.block('else', () => this.emit(`${t} = ${this.cel(optional.argument, scope)};`));
        return { src: t, json: false };
      }
      this.emit(`if (${receiver}.hasValue()) ${t} = ${receiver};`);
      this.out.block('else', () => {
        const other = this.cel(optional.argument, scope);
        this.emit(`if (!(${other} instanceof ${Opt})) ${this.throwCel(`${description} argument must be optional`)}`);
        this.emit(`${t} = ${other};`);
      });
      return { src: t, json: false };
    }
    const has = hasMacroOf(node);
    if (!has) throw new NotCompiled(`macro ${String((node.args as unknown[])?.[0] ?? node.op)}`);
    const operand = this.gen(has.operand, scope);
    const o = operand.src;
    const call = `${this.k(operand.json ? jsonHasField : hasField)}(${o}, ${this.k(has.field)})`;
    if (!operand.json || !IDENTIFIER.test(has.field)) return { src: this.let(call), json: false };
    // JSON: a member that is there is a presence test; the rest (absent, not an object) is hasField's.
    const member = this.out.temporary();
    return { src: this.let(`${this.jsonMember(o, has.field, member)} ? true : ${call}`), json: false };
  }

  /**
   * A chain step's interpreter on its operand alone: `o.?f`, or `o[?'k']` with its literal key (the
   * interpreter runs both as the same optional field access).
   */
  stepSlow(step: NodeLike): (operand: unknown) => unknown {
    const [operandNode, keyNode] = step.args as [NodeLike, NodeLike | string];
    const operandType = this.runtimeTypes.get(operandNode) ?? 'dyn';
    if (step.op === '.?') return this.factory(`object.?${keyNode as string}`, [operandType]);
    const index = this.factory('object[?oldObject]', [operandType, this.runtimeTypes.get(keyNode as NodeLike) ?? 'dyn']);
    const key = stepField(step);
    return (operand: unknown) => index(operand, key);
  }

  /**
   * `x.?a.?b` consumed in the same expression (by orValue, hasValue) as presence tests, without the
   * Optionals and, on JSON, without converting the objects on the way. On JSON: while each member
   * read is a JSON object of its own (its `constructor` is Object's: not a list, not a Map, no
   * `constructor` key of its own, which is what makes the interpreter's view of it a plain map with
   * the same members), a missing member is the empty optional and a present one is read on. On a
   * CEL value (a comprehension's element of a converted list, a variable): the same, out of line
   * (celChain), while each value is a plain map. At the first value that is anything else the chain
   * goes on exactly as unfused code would, from an Optional of that value. Undefined when `receiver`
   * is not a `.?` chain.
   */
  optionalChain(receiver: NodeLike, scope: Scope): FusedChain | undefined {
    const steps: NodeLike[] = [];
    let root = receiver;
    while (isChainStep(root)) {
      steps.unshift(root);
      root = (root.args as [NodeLike, unknown])[0];
    }
    if (steps.length === 0 || steps.some((step) => step.op === '.?' && !IDENTIFIER.test(stepField(step)))) return undefined;
    const Opt = this.k(Optional);
    const rootValue = this.gen(root, scope);
    if (!rootValue.json) {
      // One call, with the chain's fields and each step's interpreter as constants.
      const fields = steps.map(stepField);
      const slows = steps.map((step) => this.stepSlow(step));
      const member = this.let(`${this.k(celChain)}(${rootValue.src}, ${this.k(fields)}, ${this.k(slows)})`);
      const state = this.let(`${this.k(celChainState)}.state`);
      return { state, member, generic: member, json: false };
    }
    // The member read so far and, once the chain left plain maps, the Optional it continues on.
    const member = this.out.temporary();
    const generic = this.out.temporary();
    const state = this.out.temporary();
    // How many steps found their member: each costs a unit (node-costs.ts), charged once after.
    const found = this.out.temporary();
    const done = this.out.label();
    // The rest of the chain from an Optional (or, from the first step, from the root), out of line:
    // the path a value that is not a plain map takes, each step as unfused code would (optionalSelect).
    const continueFrom = (index: number, optional: Source) => {
      const rest = steps.slice(index);
      if (rest.length === 0) {
        this.emit(`${generic} = ${optional}; ${state} = 2; break ${done};`);
        return;
      }
      const fields = rest.map(stepField);
      const slows = rest.map((step) => this.stepSlow(step));
      this.emit(`${generic} = ${this.k(chargedOptionalSelects)}(${optional}, ${this.k(fields)}, ${this.k(slows)}); ${state} = 2; break ${done};`);
    };
    this.emit(`${found} = 0;`);
    this.out.block(`${done}:`, () => {
      this.emit(`${member} = ${rootValue.src};`);
      steps.forEach((step, index) => {
        const field = stepField(step);
        const next = this.out.temporary();
        if (index === 0) {
          // As select() on JSON: read, else empty for a map, else the interpreter on the converted value.
          this.emit(`if (${this.jsonMember(member, field, next)}) { ${member} = ${next}; ${found} = 1; }`);
          this.emit(`else if (${this.plainMapTest(member)}) { ${state} = 0; break ${done}; }`);
          this.out.block('else', () => {
            const slow = this.k(this.stepSlow(step));
            const first = this.let(`${slow}(${this.k(celOf)}(${member}, converted))`);
            this.emit(this.chargeIfPresent(first));
            continueFrom(1, first);
          });
          return;
        }
        this.out.block(`if (typeof ${member} === 'object' && ${member} !== null && ${member}.constructor === Object)`, () => {
          this.emit(`if (${this.jsonMember(member, field, next)}) { ${member} = ${next}; ${found} = ${index + 1}; }`);
          this.emit(`else { ${state} = 0; break ${done}; }`);
        });
        this.out.block('else', () => continueFrom(index, this.let(`${Opt}.of(${this.k(celOf)}(${member}, converted))`)));
      });
      this.emit(`${state} = 1;`);
    });
    this.emit(`if (${found} !== 0) { ${this.charge(found)} }`);
    return { state, member, generic, json: true };
  }

  /** `chain.orValue(argument)` on a fused chain. */
  fusedOrValue(receiver: NodeLike, argument: NodeLike, scope: Scope): Value | undefined {
    const chain = this.optionalChain(receiver, scope);
    if (chain === undefined) return undefined;
    const t = this.out.temporary();
    // `.orValue([])` and `.orValue({})`: the member stays JSON (an empty list or map is the same in
    // JSON and CEL, and the Optional's value on the generic path is a CEL value, which converting
    // again leaves as it is).
    const keepsJson = chain.json && (isEmptyListLiteral(argument) || isEmptyMapLiteral(argument));
    const value = chain.json && !keepsJson ? `${this.k(celOf)}(${chain.member}, converted)` : chain.member;
    this.emit(`if (${chain.state} === 1) ${t} = ${value};`);
    this.out.block(`else if (${chain.state} === 2)`, () => {
      const value = this.orValueOn(chain.generic, argument, scope);
      this.emit(`${t} = ${value.src};`);
    });
    this.out.block('else', () => this.emit(`${t} = ${this.cel(argument, scope)};`));
    return { src: t, json: keepsJson };
  }

  /** `optional.orValue(argument)` on an evaluated receiver, as cel-js's macro does it. */
  orValueOn(receiver: Source, argument: NodeLike, scope: Scope): Value {
    const t = this.out.temporary();
    this.emit(`if (!(${receiver} instanceof ${this.k(Optional)})) ${this.throwCel('optional.orValue(value) receiver must be optional')}`);
    this.emit(`if (${receiver}.hasValue()) ${t} = ${receiver}.value();`);
    this.out.block('else', () => this.emit(`${t} = ${this.cel(argument, scope)};`));
    return { src: t, json: false };
  }

  comprehension(c: ComprehensionLike, scope: Scope): Value {
    const checkElement = this.iterationTypeCheck(c);
    const notIterable = this.operation('object.exists(x, true)', [c.iterable]);
    const { condition, result, errorsAreFatal } = c;
    if (!errorsAreFatal && condition === undefined) throw new NotCompiled('a quantifier without a loop condition');
    const range = this.gen(c.iterable, scope);
    // A JSON range: its elements (or its keys) are the iteration variable's values, unconverted.
    const jsonRange = checkElement === undefined && range.json;
    const collection = jsonRange ? range.src : this.celOf(range);
    const items = this.out.temporary();
    const iteration = this.out.temporary();
    const accuSlot = this.out.temporary();
    const t = this.out.temporary();
    const done = this.out.label();
    // A filter over JSON keeps the elements it selects as they are: its list is JSON too, converted
    // only where an operation needs a CEL value (a variable's value, a map literal's member), and a
    // chained `map` or `exists` reads their members as JSON. Converted at once, as the interpreter
    // has them, each element kept would be copied whole (a container: every port, mount and env var).
    const keepsJson = jsonRange && this.keepsJsonElements(c);
    const inner: Scope = {
      names: new Map([...scope.names, [c.iterVarName, { src: iteration, json: jsonRange, key: iteration }]]),
      accumulator: accuSlot,
      jsonAccumulator: keepsJson,
    };
    const cond = condition === undefined ? undefined : this.k(condition);
    const check = checkElement === undefined ? undefined : this.k(checkElement);
    this.out.block(`${done}:`, () => {
      if (jsonRange) {
        this.emit(`if (Array.isArray(${collection})) ${items} = ${this.k(jsonListItems)}(${collection});`);
        this.emit(`else if (${this.k(isPlainMap)}(${collection})) ${items} = ${this.k(jsonObjectKeys)}(${collection});`);
        // Anything else as the interpreter has it: iterable if a slow path or a wrapped value made it a
        // CEL list or map (its items then CEL values, which the JSON paths read as they read JSON).
        this.emit(`else if ((${items} = ${this.k(celItems)}(${this.k(celOf)}(${collection}, converted))) === undefined) { ${t} = ${notIterable}(${this.k(celOf)}(${collection}, converted)); break ${done}; }`);
      } else {
        this.emit(`${items} = ${this.k(celItems)}(${collection});`);
        this.emit(`if (${items} === undefined) { ${t} = ${notIterable}(${collection}); break ${done}; }`);
      }
      const accu = this.out.temporary();
      this.emit(`${accu} = ${this.cel(c.init, scope)};`);
      this.emit(`${accuSlot} = ${accu};`);
      const i = this.out.temporary();
      const length = this.out.temporary();
      this.emit(`${length} = ${items}.length;`);
      const element = () => {
        if (check !== undefined) this.emit(`${check}(${items}[${i}]);`);
        this.emit(`${iteration} = ${items}[${i}];`);
      };
      if (errorsAreFatal) {
        this.out.block(`for (${i} = 0; ${i} < ${length}; ${i}++)`, () => {
          if (cond !== undefined) this.emit(`if (!${cond}(${accu})) break;`);
          element();
          this.emit(`${accu} = ${keepsJson ? this.jsonElement(c.step, inner) : this.cel(c.step, inner)};`);
          this.emit(`${accuSlot} = ${accu};`);
        });
        this.emit(`${t} = ${this.k(result)}(${accu});`);
        return;
      }
      // A quantifier (all, exists): an error in one step is kept while the others may still decide.
      const error = this.out.temporary();
      this.emit(`${error} = undefined;`);
      // Its accumulator a bool throughout (boolQuantifierStop): the metered condition, a call and a
      // ToBoolean per element, is a comparison with the value it stops on, its charge inline where it
      // returns false (library/comprehensions.ts), and the result, the identity, is the accumulator.
      const stop = boolQuantifierStop(c);
      this.out.block(`for (${i} = 0; ${i} < ${length}; ${i}++)`, () => {
        if (stop === undefined) this.emit(`if (!${cond!}(${accu})) { ${t} = ${this.k(result)}(${accu}); break ${done}; }`);
        else this.emit(`if (${accu} === ${stop.stopsOn}) { ${this.charge(String(stop.units))} ${t} = ${accu}; break ${done}; }`);
        element();
        const next = this.out.temporary();
        this.out.block('try', () => this.emit(`${next} = ${this.cel(c.step, inner)};`), `} catch (caught) { ${error} ??= caught; continue; }`);
        this.emit(`${accu} = ${next};`);
        this.emit(`${accuSlot} = ${accu};`);
      });
      if (stop === undefined) {
        this.emit(`if (${error} && ${cond!}(${accu})) throw ${error};`);
        this.emit(`${t} = ${this.k(result)}(${accu});`);
      } else {
        this.emit(`if (${error}) { if (${accu} !== ${stop.stopsOn}) throw ${error}; ${this.charge(String(stop.units))} }`);
        this.emit(`${t} = ${accu};`);
      }
    });
    return { src: t, json: keepsJson };
  }

  /**
   * Whether comprehension `c` is `filter(x, predicate)` as cel-js expands it: an empty list to start,
   * each step `predicate ? accuPush(x) : accuValue`, errors fatal, no loop condition, and a result
   * that is the accumulator itself. Only then does its list hold nothing but elements of its range.
   */
  keepsJsonElements(c: ComprehensionLike): boolean {
    const { init, step } = c;
    if (!c.errorsAreFatal || c.condition !== undefined || init.op !== 'list' || (init.args as readonly unknown[]).length !== 0) return false;
    if (step.op !== '?:' || step.meta.alternate || step.meta.macro) return false;
    const [, push, keep] = step.args as [NodeLike, NodeLike, NodeLike];
    if (push.op !== 'accuPush' || keep.op !== 'accuValue') return false;
    const pushed = push.args as NodeLike;
    if (pushed.op !== 'id' || pushed.args !== c.iterVarName || pushed.meta.alternate || pushed.meta.macro) return false;
    const probe: unknown[] = [];
    return c.result(probe) === probe;
  }

  /**
   * The interpreter checks each iteration value against the element type its check inferred (a list
   * literal's, a map literal's keys'): the same test and message, or undefined when that type is dyn.
   */
  iterationTypeCheck(c: ComprehensionLike): ((value: unknown) => void) | undefined {
    const rangeType = this.runtimeTypes.get(c.iterable) ?? 'dyn';
    const element = /^list<(.+)>$/.exec(rangeType)?.[1] ?? /^map<([^,<>]+), /.exec(rangeType)?.[1] ?? 'dyn';
    if (element === 'dyn' || /^[A-Z]$/.test(element)) return undefined;
    const names: Readonly<Record<string, string>> = { string: 'string', bigint: 'int', boolean: 'bool', number: 'double' };
    // Aggregate element types come from literals whose elements were built to match them.
    if (!Object.values(names).includes(element)) return undefined;
    const name = c.iterVarName;
    return (value) => {
      const actual = names[typeof value];
      if (actual === element) return;
      throw new EvaluationError(`Variable '${name}' is not of type '${element}', got '${actual ?? describeKind(value)}'`);
    };
  }

  /** The overload the checker's types of the operands (receiver first) fix for a call; undefined when they fix none. */
  resolvedCall(node: NodeLike, name: string, operandNodes: readonly NodeLike[]): ReturnType<typeof resolveStatically> {
    const types: string[] = [];
    for (const operand of operandNodes) {
      const type = checkedTypeOf(operand);
      if (type === undefined) return undefined;
      types.push(type);
    }
    return resolveStatically(name, node.op === 'rcall', types);
  }

  /** Whether the interpreter resolves this call's overload from the values (its check left a dyn operand). */
  dispatchedAtRunTime(receiverNode: NodeLike | undefined, argNodes: NodeLike[]): boolean {
    const dynamic = (n: NodeLike) => /\bdyn\b/.test(this.runtimeTypes.get(n) ?? 'dyn');
    if (argNodes.some(dynamic)) return true;
    return receiverNode !== undefined && (this.runtimeTypes.get(receiverNode) ?? 'dyn') === 'dyn';
  }

}
