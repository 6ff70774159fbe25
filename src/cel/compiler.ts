// Compiles a type-checked CEL expression into a tree of JavaScript closures, one per AST node, that
// computes exactly what cel-js's interpreter computes on the same activation: the same value, the same
// error message, the same cost charged at the same points.
//
// Where the speed comes from: no per-node dispatch through cel-js's evaluator, no runtime overload
// resolution when the operands have the types the checker proved (a `typeof` test instead), field
// reads as property reads, comprehensions as plain loops over a slot array, literals built directly.
// And no converted copy of the review: `object`, `oldObject`, `request` and `namespaceObject` are
// read as the parsed JSON (the activation's `json`). Field and index reads, `has()`, `in` and
// comprehension ranges work on it as it is; a part of it is converted to CEL values (values.ts:
// ints as BigInt, objects with a null prototype, once per review by identity) only where it meets an
// operation that needs CEL values: a library function, arithmetic, a comparison, a slow path.
//
// Why it stays exact: every fast path is guarded by a test of the runtime values that mirrors how the
// interpreter would have picked its overload (it types a list by its first element, an optional as
// optional<dyn>). A value that fails the guard (a DaemonSet with a string where an object belongs, an
// int that left the int64 range) takes the slow path, which runs the single operation on the
// interpreter itself: a one-node program (`object == oldObject`, `object.f(oldObject)`) evaluated with
// the operands bound to its variables. Costs match because the compiled code calls the same metered
// handlers, the same metered comprehension conditions, and charges literals where the interpreter
// does. A construct the compiler does not know makes the whole expression fall back to the
// interpreter (`compileExpression` returns the reason), so nothing is ever half-compiled.
import { EvaluationError, Optional, type ASTNode } from '@marcbachmann/cel-js';
import {
  chargeListLiteral,
  chargeMapLiteral,
  concatLists,
  concatStrings,
} from './library/allocations.js';
import { chargeEquality } from './library/equality-cost.js';
import { hasField } from './library/standard.js';
import {
  comprehensionOf,
  hasMacroOf,
  optionalMacroOf,
  resolvedCall,
  runtimeCallResolver,
  forEachNode,
  checkedTypeOf,
  type ComprehensionLike,
  type NodeLike,
} from './cel-js-internals.js';
import type { CelActivation, JsonInputs } from './program.js';
import { celOfJson } from './values.js';
import { kubernetesEqualityFor } from './library/kubernetes-equality.js';

/** Evaluates one operation on the interpreter, the operands bound to the program's variables. */
export type InterpretedOperation = (...operands: unknown[]) => unknown;

/**
 * Builds the interpreted program for one operation, e.g. `object == oldObject`, its operands declared
 * with the types the interpreter's own check gave them (`string`, `list<dyn>`, `dyn`): the interpreter
 * resolves overloads at check time or at run time, and words its errors, by those.
 */
export type OperationFactory = (source: string, operandTypes: readonly string[]) => InterpretedOperation;

/** The runtime variables an interpreted operation binds its operands to, in order. */
export const OPERAND_NAMES = ['object', 'oldObject', 'request', 'params', 'variables', 'namespaceObject', 'coverage', 'element', 'index'] as const;

type Locals = unknown[];
type Code = (activation: CelActivation, locals: Locals) => unknown;

export class NotCompiled extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'NotCompiled';
  }
}

/** A value as the interpreter sees a plain CEL map (an object without a class of its own). */
function isPlainMap(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === null || proto === Object.prototype;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** The scope of iteration variables and accumulators: name -> slot in the locals array. */
interface Scope {
  readonly names: ReadonlyMap<string, number>;
  readonly accumulator: number | undefined;
}

/** The variables compiled code reads as JSON when the activation carries them (see JsonInputs). */
const JSON_NAMES: ReadonlySet<string> = new Set(['object', 'oldObject', 'request', 'namespaceObject']);

/** A JSON value read by compiled code as the CEL value it stands for (values.ts). */
function celOf(value: unknown, activation: CelActivation): unknown {
  // Strings, bools and null are the same in both; the rest is converted (objects once per review).
  if (typeof value === 'string' || typeof value === 'boolean' || value === null) return value;
  return celOfJson(value, (activation.json as JsonInputs).converted);
}

class Compiler {
  slots = 0;
  /**
   * Code whose value is JSON from the activation's `json` (or a part of it) rather than a CEL value:
   * field and index reads on it stay property reads, and it is converted (celOf) only where it meets
   * an operation that needs a CEL value. A JSON value converts to the CEL value the interpreter sees
   * for the same part of the converted object, and converting that again changes nothing.
   */
  readonly json = new WeakSet<Code>();
  /** Comprehension slots whose iteration variable holds JSON. */
  readonly jsonSlots = new Set<number>();

  constructor(
    readonly factory: OperationFactory,
    /** The type the interpreter's own check gave each node. */
    readonly runtimeTypes: ReadonlyMap<NodeLike, string>,
    /** Whether `object`, `oldObject`, `request` and `namespaceObject` are read from the activation's JSON. */
    readonly jsonInputs: boolean,
  ) {}

  /** Code for `node` whose value is always a CEL value: JSON converted where the node yields it. */
  cel(node: NodeLike, scope: Scope): Code {
    const code = this.compile(node, scope);
    if (!this.json.has(code)) return code;
    return (activation, locals) => celOf(code(activation, locals), activation);
  }

  /** Marks code as yielding JSON. */
  jsonCode(code: Code): Code {
    this.json.add(code);
    return code;
  }

  operation(source: string, operands: readonly NodeLike[] = []): InterpretedOperation {
    return this.factory(
      source,
      operands.map((node) => this.runtimeTypes.get(node) ?? 'dyn'),
    );
  }

  compile(node: NodeLike, scope: Scope): Code {
    const alternate = node.meta.alternate;
    if (alternate) {
      const comprehension = comprehensionOf(alternate);
      if (comprehension) return this.comprehension(comprehension, scope);
      return this.compile(alternate, scope);
    }
    if (node.meta.macro) return this.macro(node, scope);
    switch (node.op) {
      case 'value': {
        const value = node.args;
        return () => value;
      }
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
        return this.negate(node, scope);
      case '==':
      case '!=':
        return this.equality(node, scope, node.op === '!=');
      case '<':
      case '<=':
      case '>':
      case '>=':
        return this.ordering(node, scope, node.op);
      case '+':
      case '-':
      case '*':
        return this.arithmetic(node, scope, node.op);
      case '/':
      case '%':
        return this.binaryOnInterpreter(node, scope, node.op);
      case 'in':
        return this.membership(node, scope);
      case 'list':
        return this.listLiteral(node, scope);
      case 'map':
        return this.mapLiteral(node, scope);
      case 'call':
      case 'rcall':
        return this.call(node, scope);
      case 'accuValue': {
        const slot = this.accumulator(scope);
        return (_a, locals) => locals[slot];
      }
      case 'accuInc': {
        const slot = this.accumulator(scope);
        return (_a, locals) => (locals[slot] = (locals[slot] as number) + 1);
      }
      case 'accuPush': {
        const slot = this.accumulator(scope);
        const element = this.cel(node.args as NodeLike, scope);
        return (activation, locals) => {
          const list = locals[slot] as unknown[];
          list.push(element(activation, locals));
          return list;
        };
      }
      default:
        throw new NotCompiled(`operator ${node.op}`);
    }
  }

  accumulator(scope: Scope): number {
    if (scope.accumulator === undefined) throw new NotCompiled('accumulator outside a comprehension');
    return scope.accumulator;
  }

  identifier(name: string, scope: Scope): Code {
    const slot = scope.names.get(name);
    if (slot !== undefined) {
      const code: Code = (_a, locals) => locals[slot];
      return this.jsonSlots.has(slot) ? this.jsonCode(code) : code;
    }
    if (!(OPERAND_NAMES as readonly string[]).includes(name)) throw new NotCompiled(`identifier ${name}`);
    const unknown = this.operation(name);
    if (this.jsonInputs && JSON_NAMES.has(name)) {
      const key = name as keyof JsonInputs;
      return this.jsonCode((activation) => {
        const value = (activation.json as JsonInputs)[key];
        return value === undefined ? unknown(undefined) : value;
      });
    }
    const key = name as keyof CelActivation;
    return (activation) => {
      const value = activation[key];
      // The interpreter's message for an unset variable, from the interpreter.
      return value === undefined ? unknown(undefined) : value;
    };
  }

  /** `a.f` and `a.?f`: a property read when `a` is a plain map (or an optional of one). */
  select(node: NodeLike, scope: Scope, optional: boolean): Code {
    const [operandNode, field] = node.args as [NodeLike, string];
    const operand = this.compile(operandNode, scope);
    const slow = this.operation(optional ? `object.?${field}` : `object.${field}`, [operandNode]);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(field)) throw new NotCompiled(`field name ${field}`);
    if (this.json.has(operand)) {
      // JSON: a member that is there is read as it is; anything else is the converted value's error.
      if (!optional) return this.jsonCode(jsonFieldRead(field)(operand, slow));
      return (activation, locals) => {
        const value = operand(activation, locals);
        if (isPlainMap(value)) {
          const member = Object.hasOwn(value, field) ? value[field] : undefined;
          return member === undefined ? Optional.none() : Optional.of(celOf(member, activation));
        }
        return slow(celOf(value, activation));
      };
    }
    if (!optional) {
      const read: Code = (activation, locals) => {
        const value = operand(activation, locals);
        if (isPlainMap(value) && Object.hasOwn(value, field)) {
          const member = value[field];
          if (member !== undefined) return member;
        }
        return slow(value);
      };
      if (operandNode.op !== 'id' || operandNode.args !== 'variables' || scope.names.has('variables')) return read;
      // `variables.x`: by name, without the map the interpreter needs (activation.variable).
      return (activation, locals) => {
        if (activation.variable !== undefined) {
          const value = activation.variable(field);
          if (value !== undefined) return value;
        }
        return read(activation, locals);
      };
    }
    return (activation, locals) => {
      const original = operand(activation, locals);
      let value = original;
      if (value instanceof Optional) {
        if (!value.hasValue()) return Optional.none();
        value = value.value();
      }
      if (isPlainMap(value)) return Object.hasOwn(value, field) ? Optional.of(value[field]) : Optional.none();
      // The operand as evaluated: the interpreter's check may have typed it as an optional.
      return slow(original);
    };
  }

  /** `a[i]` and `a[?i]`: an array read for a list and an int, a property read for a map and a string. */
  index(node: NodeLike, scope: Scope, optional: boolean): Code {
    const [operandNode, keyNode] = node.args as [NodeLike, NodeLike];
    const operand = this.compile(operandNode, scope);
    const key = this.cel(keyNode, scope);
    const slow = this.operation(optional ? 'object[?oldObject]' : 'object[oldObject]', [operandNode, keyNode]);
    if (this.json.has(operand)) {
      // What the interpreter returns from the converted value is that value's part: JSON-derived.
      if (!optional) {
        return this.jsonCode((activation, locals) => {
          const value = operand(activation, locals);
          const k = key(activation, locals);
          const member = indexedMember(value, k);
          return member !== undefined ? member : slow(celOf(value, activation), k);
        });
      }
      return (activation, locals) => {
        const value = operand(activation, locals);
        const k = key(activation, locals);
        if (isPlainMap(value) && typeof k === 'string') {
          const member = Object.hasOwn(value, k) ? value[k] : undefined;
          return member === undefined ? Optional.none() : Optional.of(celOf(member, activation));
        }
        return slow(celOf(value, activation), k);
      };
    }
    return (activation, locals) => {
      const value = operand(activation, locals);
      const k = key(activation, locals);
      if (!optional) {
        const member = indexedMember(value, k);
        return member !== undefined ? member : slow(value, k);
      }
      if (isPlainMap(value) && typeof k === 'string') return Object.hasOwn(value, k) ? Optional.of(value[k]) : Optional.none();
      return slow(value, k);
    };
  }

  /** CEL's commutative && and ||: an error on one side is absorbed when the other side decides. */
  logical(node: NodeLike, scope: Scope, or: boolean): Code {
    const [leftNode, rightNode] = node.args as [NodeLike, NodeLike];
    const left = this.cel(leftNode, scope);
    const right = this.cel(rightNode, scope);
    const decides = or;
    const slow = this.operation(or ? 'object || oldObject' : 'object && oldObject', [leftNode, rightNode]);
    return (activation, locals) => {
      let l: unknown;
      try {
        l = left(activation, locals);
      } catch (error) {
        l = error;
      }
      if (l === decides) return decides;
      const r = right(activation, locals);
      if (r === decides) return decides;
      if (l === !decides && r === !decides) return !decides;
      // Errors and non-bool operands: the interpreter's message, by the interpreter. A left error
      // stands when the right side is a bool that does not decide; else the right side is the culprit.
      if (l instanceof Error) {
        if (r === !decides) throw l;
        return slow(!decides, r);
      }
      return slow(l, r);
    };
  }

  ternary(node: NodeLike, scope: Scope): Code {
    const [conditionNode, leftNode, rightNode] = node.args as [NodeLike, NodeLike, NodeLike];
    const condition = this.cel(conditionNode, scope);
    const left = this.cel(leftNode, scope);
    const right = this.cel(rightNode, scope);
    const slow = this.operation('object ? oldObject : request', [conditionNode]);
    // A macro's predicate carries its own message ("all(var, predicate) predicate must return bool").
    const label = conditionNode.meta.label;
    return (activation, locals) => {
      const c = condition(activation, locals);
      if (c === true) return left(activation, locals);
      if (c === false) return right(activation, locals);
      try {
        return slow(c, null, null);
      } catch (error) {
        throw label === undefined ? error : relabel(error, label);
      }
    };
  }

  not(node: NodeLike, scope: Scope): Code {
    const operand = this.cel(node.args as NodeLike, scope);
    const slow = this.operation('!object', [node.args as NodeLike]);
    return (activation, locals) => {
      const value = operand(activation, locals);
      return typeof value === 'boolean' ? !value : slow(value);
    };
  }

  negate(node: NodeLike, scope: Scope): Code {
    const operand = this.cel(node.args as NodeLike, scope);
    const slow = this.operation('-object', [node.args as NodeLike]);
    return (activation, locals) => {
      const value = operand(activation, locals);
      return typeof value === 'bigint' && value !== INT64_MIN ? -value : slow(value);
    };
  }

  binary(node: NodeLike, scope: Scope): [Code, Code] {
    const [leftNode, rightNode] = node.args as [NodeLike, NodeLike];
    return [this.cel(leftNode, scope), this.cel(rightNode, scope)];
  }

  binaryOnInterpreter(node: NodeLike, scope: Scope, op: string): Code {
    const [left, right] = this.binary(node, scope);
    const slow = this.operation(`object ${op} oldObject`, node.args as NodeLike[]);
    return (activation, locals) => {
      const l = left(activation, locals);
      return slow(l, right(activation, locals));
    };
  }

  equality(node: NodeLike, scope: Scope, negated: boolean): Code {
    const [left, right] = this.binary(node, scope);
    const slow = this.operation(negated ? 'object != oldObject' : 'object == oldObject', node.args as NodeLike[]);
    const kubernetes = kubernetesEqualityFor(node);
    if (kubernetes) {
      // A declared object type (or a list field of one): compared with its schema's list types, as the
      // interpreter does (library/kubernetes-equality.ts), with cel-js's `==` for the scalars.
      // The parts of the operands are of any type: cel-js's `==` on two dyn values.
      const dynEquals = this.factory('object == oldObject', ['dyn', 'dyn']);
      const generic = (l: unknown, r: unknown): boolean => dynEquals(l, r) === true;
      return (activation, locals) => {
        const l = left(activation, locals);
        const r = right(activation, locals);
        chargeEquality(l, r);
        return kubernetes(l, r, generic);
      };
    }
    return (activation, locals) => {
      const l = left(activation, locals);
      const r = right(activation, locals);
      // Charged as the interpreter charges it (library/equality-cost.ts), before comparing.
      chargeEquality(l, r);
      const t = typeof l;
      if (t === typeof r && (t === 'string' || t === 'bigint' || t === 'boolean')) return negated ? l !== r : l === r;
      return slow(l, r);
    };
  }

  ordering(node: NodeLike, scope: Scope, op: string): Code {
    const [left, right] = this.binary(node, scope);
    const slow = this.operation(`object ${op} oldObject`, node.args as NodeLike[]);
    const compare =
      op === '<'
        ? (l: string | bigint, r: string | bigint) => l < r
        : op === '<='
          ? (l: string | bigint, r: string | bigint) => l <= r
          : op === '>'
            ? (l: string | bigint, r: string | bigint) => l > r
            : (l: string | bigint, r: string | bigint) => l >= r;
    return (activation, locals) => {
      const l = left(activation, locals);
      const r = right(activation, locals);
      // Only ints compare here: strings (code points against UTF-16 units), doubles (NaN, mixed
      // int/double comparisons) and the rest go to the interpreter.
      if (typeof l === 'bigint' && typeof r === 'bigint') return compare(l, r);
      return slow(l, r);
    };
  }

  arithmetic(node: NodeLike, scope: Scope, op: '+' | '-' | '*'): Code {
    const [left, right] = this.binary(node, scope);
    const slow = this.operation(`object ${op} oldObject`, node.args as NodeLike[]);
    return (activation, locals) => {
      const l = left(activation, locals);
      const r = right(activation, locals);
      if (typeof l === 'bigint' && typeof r === 'bigint') {
        const result = op === '+' ? l + r : op === '-' ? l - r : l * r;
        if (result >= INT64_MIN && result <= INT64_MAX) return result;
        return slow(l, r);
      }
      if (op === '+') {
        if (typeof l === 'string' && typeof r === 'string') return concatStrings(l, r);
        if (Array.isArray(l) && Array.isArray(r) && sameFirstElementType(l, r)) return concatLists(l, r);
      }
      return slow(l, r);
    };
  }

  membership(node: NodeLike, scope: Scope): Code {
    const [leftNode, rightNode] = node.args as [NodeLike, NodeLike];
    const left = this.cel(leftNode, scope);
    const rightCode = this.compile(rightNode, scope);
    const slow = this.operation('object in oldObject', node.args as NodeLike[]);
    if (this.json.has(rightCode)) {
      // A string key in a JSON object (whose keys are all strings): the interpreter's map lookup.
      return (activation, locals) => {
        const l = left(activation, locals);
        const r = rightCode(activation, locals);
        if (typeof l === 'string' && isPlainMap(r)) return Object.hasOwn(r, l) && r[l] !== undefined;
        const list = celOf(r, activation);
        if (typeof l === 'string' && Array.isArray(list) && (list.length === 0 || typeof list[0] === 'string')) return list.includes(l);
        return slow(l, list);
      };
    }
    const right = rightCode;
    return (activation, locals) => {
      const l = left(activation, locals);
      const r = right(activation, locals);
      // The interpreter types a list by its first element: a string looked up in a list of strings.
      if (typeof l === 'string' && Array.isArray(r) && (r.length === 0 || typeof r[0] === 'string')) return r.includes(l);
      return slow(l, r);
    };
  }

  listLiteral(node: NodeLike, scope: Scope): Code {
    const elements = (node.args as NodeLike[]).map((element) => this.cel(element, scope));
    const count = elements.length;
    return (activation, locals) => {
      chargeListLiteral();
      const out = new Array<unknown>(count);
      // The interpreter evaluates elements last to first: the same order gives the same first error.
      for (let i = count - 1; i >= 0; i--) out[i] = elements[i]!(activation, locals);
      return out;
    };
  }

  mapLiteral(node: NodeLike, scope: Scope): Code {
    const entries = (node.args as [NodeLike, NodeLike][]).map(([k, v]) => [this.cel(k, scope), this.cel(v, scope)] as const);
    return (activation, locals) => {
      chargeMapLiteral();
      const results: [unknown, unknown][] = [];
      for (const [k, v] of entries) {
        const key = k(activation, locals);
        results.push([key, v(activation, locals)]);
      }
      // As cel-js builds map literals: an ordinary object, reserved names left out.
      const out: Record<string, unknown> = {};
      for (const [key, value] of results) {
        if (key === '__proto__' || key === 'constructor' || key === 'prototype') continue;
        out[key as string] = value;
      }
      return out;
    };
  }

  call(node: NodeLike, scope: Scope): Code {
    const receiverCall = node.op === 'rcall';
    const [name, receiverNode, argNodes] = receiverCall
      ? (node.args as [string, NodeLike, NodeLike[]])
      : [(node.args as [string, NodeLike[]])[0], undefined, (node.args as [string, NodeLike[]])[1]];
    if (argNodes.length + (receiverCall ? 1 : 0) > OPERAND_NAMES.length) throw new NotCompiled(`call of ${name} with too many arguments`);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new NotCompiled(`function name ${name}`);
    // All operands, receiver first; the interpreter evaluates them last to first.
    const operands = [...(receiverNode ? [receiverNode] : []), ...argNodes].map((operand) => this.cel(operand, scope));
    const names = OPERAND_NAMES.slice(0, operands.length);
    const source = receiverCall ? `${names[0]}.${name}(${names.slice(1).join(', ')})` : `${name}(${names.join(', ')})`;
    const slow = this.operation(source, [...(receiverNode ? [receiverNode] : []), ...argNodes]);
    const resolved = resolvedCall(node);
    const guards = resolved?.parameterTypes.map(guardFor);
    const handler = resolved?.handler;
    const count = operands.length;
    const fast = handler !== undefined && guards !== undefined && guards.every((g) => g !== undefined);
    // No overload the checker could fix (a dyn operand): resolved from the values, as the
    // interpreter does, when the interpreter's own check left the call to run time as well.
    const operandNodes = [...(receiverNode ? [receiverNode] : []), ...argNodes];
    const resolve =
      fast || !this.dispatchedAtRunTime(receiverNode, argNodes)
        ? undefined
        : runtimeCallResolver(
            node,
            operandNodes.map((n) => {
              const type = this.runtimeTypes.get(n) ?? 'dyn';
              return /\bdyn\b/.test(type) ? undefined : type;
            }),
          );
    return (activation, locals) => {
      const values = new Array<unknown>(count);
      for (let i = count - 1; i >= 0; i--) values[i] = operands[i]!(activation, locals);
      if (resolve) {
        const resolved = resolve(values);
        if (resolved) return resolved(...values);
        return slow(...values);
      }
      if (fast) {
        let ok = true;
        for (let i = 0; i < count; i++) {
          if (!guards[i]!(values[i])) {
            ok = false;
            break;
          }
        }
        if (ok) return handler(...values);
      }
      return slow(...values);
    };
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

  /** Whether the interpreter resolves this call's overload from the values (its check left a dyn operand). */
  dispatchedAtRunTime(receiverNode: NodeLike | undefined, argNodes: NodeLike[]): boolean {
    const dynamic = (n: NodeLike) => /\bdyn\b/.test(this.runtimeTypes.get(n) ?? 'dyn');
    if (argNodes.some(dynamic)) return true;
    return receiverNode !== undefined && (this.runtimeTypes.get(receiverNode) ?? 'dyn') === 'dyn';
  }

  macro(node: NodeLike, scope: Scope): Code {
    const optional = optionalMacroOf(node);
    if (optional) {
      const receiver = this.cel(optional.receiver, scope);
      const argument = this.cel(optional.argument, scope);
      // cel-js's own wording (optional.js) for a receiver or an argument that is not an optional.
      const description = optional.kind === 'orValue' ? 'optional.orValue(value)' : 'optional.or(optional)';
      if (optional.kind === 'orValue') {
        return (activation, locals) => {
          const value = receiver(activation, locals);
          if (!(value instanceof Optional)) throw new EvaluationError(`${description} receiver must be optional`);
          return value.hasValue() ? value.value() : argument(activation, locals);
        };
      }
      return (activation, locals) => {
        const value = receiver(activation, locals);
        if (!(value instanceof Optional)) throw new EvaluationError(`${description} receiver must be optional`);
        if (value.hasValue()) return value;
        const other = argument(activation, locals);
        if (!(other instanceof Optional)) throw new EvaluationError(`${description} argument must be optional`);
        return other;
      };
    }
    const has = hasMacroOf(node);
    if (!has) throw new NotCompiled(`macro ${String((node.args as unknown[])?.[0] ?? node.op)}`);
    const operand = this.compile(has.operand, scope);
    const field = has.field;
    return (activation, locals) => hasField(operand(activation, locals), field);
  }

  comprehension(c: ComprehensionLike, scope: Scope): Code {
    const checkElement = this.iterationTypeCheck(c);
    // A JSON range: its elements (or its keys) are the iteration variable's values, unconverted.
    const range = this.compile(c.iterable, scope);
    const jsonRange = checkElement === undefined && this.json.has(range);
    const iterable: Code = jsonRange || !this.json.has(range) ? range : (activation, locals) => celOf(range(activation, locals), activation);
    const init = this.cel(c.init, scope);
    const iterSlot = this.slots++;
    const accuSlot = this.slots++;
    if (jsonRange) this.jsonSlots.add(iterSlot);
    const inner: Scope = { names: new Map([...scope.names, [c.iterVarName, iterSlot]]), accumulator: accuSlot };
    const step = this.cel(c.step, inner);
    const { condition, result, errorsAreFatal } = c;
    const notIterable = this.operation('object.exists(x, true)', [c.iterable]);
    return (activation, locals) => {
      const collection = iterable(activation, locals);
      let items: unknown[];
      if (jsonRange) {
        if (Array.isArray(collection)) items = collection.includes(undefined) ? collection.map((item: unknown) => item ?? null) : collection;
        else if (isPlainMap(collection)) items = Object.keys(collection).filter((key) => collection[key] !== undefined);
        else return notIterable(celOf(collection, activation));
      } else if (Array.isArray(collection)) items = collection;
      else if (collection instanceof Set) items = [...collection];
      else if (collection instanceof Map) items = [...collection.keys()];
      else if (collection !== null && typeof collection === 'object') items = Object.keys(collection);
      else return notIterable(collection);
      let accu = init(activation, locals);
      locals[accuSlot] = accu;
      const length = items.length;
      if (errorsAreFatal) {
        for (let i = 0; i < length; i++) {
          if (condition && !condition(accu)) break;
          if (checkElement) checkElement(items[i]);
          locals[iterSlot] = items[i];
          accu = step(activation, locals);
          locals[accuSlot] = accu;
        }
        return result(accu);
      }
      // A quantifier (all, exists): an error in one step is kept while the others may still decide.
      let error: unknown;
      for (let i = 0; i < length; i++) {
        if (!condition!(accu)) return result(accu);
        if (checkElement) checkElement(items[i]);
        locals[iterSlot] = items[i];
        let next: unknown;
        try {
          next = step(activation, locals);
        } catch (caught) {
          error ??= caught;
          continue;
        }
        accu = next;
        locals[accuSlot] = accu;
      }
      if (error && condition!(accu)) throw error;
      return result(accu);
    };
  }
}

type FieldRead = (operand: Code, slow: InterpretedOperation) => Code;

const fieldReads = new Map<string, FieldRead>();

/**
 * `json.field` for one field name: the read of a member that is there, else the interpreter's error
 * on the converted value. Made from source once per field name so that the property read has a call
 * site of its own: V8 then sees the few object shapes that field is read from (a DaemonSet's `spec`, a
 * container's `image`) instead of every shape every field read meets, which is the difference between
 * an inline cache hit and a dictionary lookup. The name is an identifier (checked by the caller) and
 * is written as a JSON string literal.
 */
function jsonFieldRead(field: string): FieldRead {
  let read = fieldReads.get(field);
  if (read === undefined) {
    const key = JSON.stringify(field);
    const make = new Function(
      'isPlainMap',
      'celOf',
      `return (operand, slow) => (activation, locals) => {
        const value = operand(activation, locals);
        if (typeof value === 'object' && value !== null && Object.hasOwn(value, ${key}) && isPlainMap(value)) {
          const member = value[${key}];
          if (member !== undefined) return member;
        }
        return slow(celOf(value, activation));
      };`,
    ) as (isPlainMap: (value: unknown) => boolean, celOf: (value: unknown, activation: CelActivation) => unknown) => FieldRead;
    read = make(isPlainMap, celOf);
    fieldReads.set(field, read);
  }
  return read;
}

/** `value[k]` for a list and an in-range int or a map and a key it has; undefined otherwise (the slow path's case). */
function indexedMember(value: unknown, k: unknown): unknown {
  if (Array.isArray(value)) {
    return typeof k === 'bigint' && k >= 0n && k < BigInt(value.length) ? (value[Number(k)] as unknown) : undefined;
  }
  return isPlainMap(value) && typeof k === 'string' && Object.hasOwn(value, k) ? value[k] : undefined;
}

/** cel-js's name for the kind of a value that is not a primitive (its debugType, without element types). */
function describeKind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'list';
  if (isPlainMap(value) || value instanceof Map) return 'map';
  return String((value as { constructor?: { name?: string } } | undefined)?.constructor?.name ?? typeof value);
}

function sameFirstElementType(a: unknown[], b: unknown[]): boolean {
  if (a.length === 0 || b.length === 0) return true;
  const x = typeof a[0];
  return x === typeof b[0] && (x === 'string' || x === 'bigint' || x === 'boolean');
}

type Guard = (value: unknown) => boolean;

/** The interpreter's "Ternary condition must be bool, got 'T'" with a macro's own wording instead. */
function relabel(error: unknown, label: string): unknown {
  if (!(error instanceof EvaluationError)) return error;
  const summary = error.summary ?? error.message;
  const prefix = 'Ternary condition must be bool';
  return summary.startsWith(prefix) ? new EvaluationError(label + summary.slice(prefix.length)) : error;
}

/** A type parameter (`A`, `T`, ...) or dyn: any value resolves to the same overload. */
const TYPE_PARAMETER = /^([A-Z]|dyn)$/;

const PRIMITIVE_GUARDS: Readonly<Record<string, Guard>> = {
  string: (v) => typeof v === 'string',
  int: (v) => typeof v === 'bigint',
  bool: (v) => typeof v === 'boolean',
  double: (v) => typeof v === 'number',
};

/**
 * The runtime test under which the interpreter would pick the same overload the checker picked for a
 * parameter of type `type`, or undefined when there is no cheap such test (the call then always goes
 * through the interpreter's overload resolution).
 */
function guardFor(type: string): Guard | undefined {
  const primitive = PRIMITIVE_GUARDS[type];
  if (primitive) return primitive;
  if (TYPE_PARAMETER.test(type)) return () => true;
  if (type.startsWith('optional<')) return (v) => v instanceof Optional;
  const list = /^list<(.+)>$/.exec(type);
  if (list && TYPE_PARAMETER.test(list[1]!)) return (v) => Array.isArray(v);
  if (/^map<([A-Z]|dyn), ([A-Z]|dyn)>$/.test(type)) return (v) => isPlainMap(v) || v instanceof Map;
  if (list) {
    const element = PRIMITIVE_GUARDS[list[1]!];
    // A list of a primitive type: the interpreter types the list by its first element; an empty list
    // could match another overload (sum() of ints or of doubles), so it takes the slow path.
    if (element) return (v) => Array.isArray(v) && v.length > 0 && element(v[0]);
  }
  return undefined;
}

export interface CompiledExpressionCode {
  evaluate(activation: CelActivation): unknown;
}

/** Compiles a checked AST, or throws NotCompiled with the construct that is not supported yet. */
export function compileExpression(ast: ASTNode, runtimeAst: ASTNode, operation: OperationFactory): CompiledExpressionCode {
  const checkedNodes: NodeLike[] = [];
  const runtimeNodes: NodeLike[] = [];
  forEachNode(ast, (node) => checkedNodes.push(node));
  forEachNode(runtimeAst, (node) => runtimeNodes.push(node));
  if (checkedNodes.length !== runtimeNodes.length) throw new NotCompiled('the checked and the runtime expressions differ in shape');
  const runtimeTypes = new Map<NodeLike, string>();
  for (let i = 0; i < checkedNodes.length; i++) {
    const checked = checkedNodes[i]!;
    const runtime = runtimeNodes[i]!;
    if (checked.op !== runtime.op) throw new NotCompiled('the checked and the runtime expressions differ in shape');
    runtimeTypes.set(checked, checkedTypeOf(runtime) ?? 'dyn');
  }
  const compile = (jsonInputs: boolean): Compiled => {
    const compiler = new Compiler(operation, runtimeTypes, jsonInputs);
    try {
      const root = compiler.cel(ast as unknown as NodeLike, { names: new Map(), accumulator: undefined });
      return { root, slots: compiler.slots };
    } catch (error) {
      // An AST shape this compiler did not expect is a reason to interpret, never a load failure.
      if (error instanceof NotCompiled) throw error;
      throw new NotCompiled(`compiler error: ${error instanceof Error ? error.message : String(error)}`);
    }
  };
  const onJson = compile(true);
  // For an activation without JSON inputs (constants at load, the conformance suite): compiled on first use.
  let onCel: Compiled | undefined;
  return {
    evaluate(activation) {
      const { root, slots } = activation.json === undefined ? (onCel ??= compile(false)) : onJson;
      return root(activation, slots === 0 ? EMPTY_LOCALS : new Array<unknown>(slots));
    },
  };
}

interface Compiled {
  root: Code;
  slots: number;
}

const EMPTY_LOCALS: Locals = [];

