// CEL int arithmetic and comparisons on JavaScript numbers, where the values allow it exactly.
//
// CEL ints are BigInts in cel-js, and a JSON number that is an integer in the int64 range converts
// to one (values.ts). BigInt arithmetic allocates and is slow next to number arithmetic, so an
// operand that is a safe integer (|v| ≤ 2^53 - 1) at run time — a JSON number, an int literal, the
// result of an operation below — takes a number path instead:
// - `+`, `-`, `*`: the float result of two safe integers is exact when it is a safe integer itself.
//   The exact result is at least 2^53 in magnitude otherwise, and rounding is monotonic, so the
//   float is too: Number.isSafeInteger on the result tells an exact one from a rounded one.
// - `/` and `%` by a non-zero divisor: `l % r` is exact in floating point, and so is `(l - l % r) / r`
//   (an exact multiple divided): CEL's division truncating toward zero, without trusting a rounded
//   quotient.
// - `<`, `<=`, `>`, `>=`, `==`, `!=` of two safe integers: the ints' order and equality (-0 is 0).
// Anything else — a double (1.5, 1e300, 2^63), an int beyond 2^53, a string, null, a division by
// zero, a result that left the safe range — takes the code that ran before: the operands converted
// to CEL values (ints as BigInt) and the BigInt path or the interpreter's slow path, which report
// overflow, division by zero and type errors exactly as before. A number is only ever read as an
// int where celOf would have made it that same int, so the values are the BigInt path's; no cost is
// charged by arithmetic or ordering on either path, and `==`/`!=` charge what chargeEquality
// charges two ints (a number and a BigInt both have the size 1): 1 unit.
//
// The result of an operation on this path stays a number while it flows into another such
// operation (`a * b + c < d` converts nothing); anywhere else it becomes a BigInt (`cel()`).
import { chargeCost } from '../cost.js';
import type { NodeLike } from '../cel-js-internals.js';
import type { Source } from './emitter.js';
import type { Generator, Scope, Value } from './generator.js';

const INT64_MIN = -(2n ** 63n);

export type IntOperator = '+' | '-' | '*' | '/' | '%';

/** An operand of int arithmetic or of a comparison, as the number path sees it. */
export interface NumericOperand {
  /**
   * Source that is a safe integer exactly when the operand is a CEL int held as a number (then it
   * is the int's value); anything else (undefined, NaN, a fraction, a BigInt) means: ask `cel()`.
   * Undefined when the operand never is such a number (a CEL value, or a type the checker says is
   * not int).
   */
  readonly num: Source | undefined;
  /** `num` is a safe integer whatever the input (an int literal): its test is settled here. */
  readonly settled: boolean;
  /** A settled operand's value. */
  readonly literal?: number;
  /** Emits, where it is called, what gives the operand as a CEL value (valid whatever `num` holds). */
  cel(): Source;
}

/** Whether the interpreter's check leaves room for an int in this node (int, dyn, a type parameter). */
function mayBeInt(g: Generator, node: NodeLike): boolean {
  const type = g.runtimeTypes.get(node) ?? 'dyn';
  return type === 'int' || type === 'dyn' || /^[A-Z]$/.test(type);
}

/** Whether a node is evaluated as its operator says (no macro or alternate behind it). */
function plain(node: NodeLike): boolean {
  return !node.meta.alternate && !node.meta.macro;
}

/** The operand a CEL value or JSON value stands for, read as a number where that is exact. */
function operandOf(g: Generator, node: NodeLike, value: Value): NumericOperand {
  // A JSON number that is a safe integer is the int celOf would make of it; anything else is converted.
  const num = value.json && mayBeInt(g, node) ? value.src : undefined;
  return { num, settled: false, cel: () => g.celOf(value) };
}

/** Evaluates `node` (emitting its statements) as an operand of the number path. */
export function numericOperand(g: Generator, node: NodeLike, scope: Scope): NumericOperand {
  if (plain(node)) {
    switch (node.op) {
      case 'value': {
        const literal = node.args;
        if (typeof literal === 'bigint' && literal >= BigInt(Number.MIN_SAFE_INTEGER) && literal <= BigInt(Number.MAX_SAFE_INTEGER)) {
          return { num: g.k(Number(literal)), settled: true, literal: Number(literal), cel: () => g.literal(literal) };
        }
        break;
      }
      case '+':
      case '-':
      case '*':
      case '/':
      case '%':
        return intArithmetic(g, node, scope, node.op);
      case '-_':
        return intNegation(g, node, scope);
      default:
        break;
    }
  }
  return operandOf(g, node, g.gen(node, scope));
}

/** The `Number.isSafeInteger` tests that put the operands on the number path (none for a literal). */
function safeTests(...operands: NumericOperand[]): string[] {
  return operands.filter((o) => !o.settled).map((o) => `Number.isSafeInteger(${o.num!})`);
}

/**
 * A number-path result: `n` holds the int when the number path computed it, NaN when the code in
 * `generic` ran instead and left its CEL value in `t`.
 */
function numberResult(g: Generator, tests: readonly string[], compute: Source, generic: () => Source): NumericOperand {
  const n = g.out.temporary();
  const t = g.out.temporary();
  g.out.block(`if (!(${[...tests, `Number.isSafeInteger(${n} = ${compute})`].join(' && ')}))`, () => {
    g.emit(`${n} = NaN;`);
    g.emit(`${t} = ${generic()};`);
  });
  return { num: n, settled: false, cel: () => g.let(`Number.isSafeInteger(${n}) ? BigInt(${n}) : ${t}`) };
}

/** `l op r` for an arithmetic node: numbers where exact, else as before (BigInt, strings, lists, the interpreter). */
export function intArithmetic(g: Generator, node: NodeLike, scope: Scope, op: IntOperator): NumericOperand {
  const [leftNode, rightNode] = node.args as [NodeLike, NodeLike];
  const slow = g.operation(`object ${op} oldObject`, [leftNode, rightNode]);
  const left = numericOperand(g, leftNode, scope);
  const right = numericOperand(g, rightNode, scope);
  const generic = (): Source => {
    const l = left.cel();
    const r = right.cel();
    // `/` and `%` have no BigInt path: the interpreter divides (and words division by zero).
    return op === '/' || op === '%' ? g.let(`${slow}(${l}, ${r})`) : g.arithmeticOn(l, r, op, slow).src;
  };
  if (left.num === undefined || right.num === undefined || ((op === '/' || op === '%') && right.literal === 0)) {
    // No number path: a CEL operand, or a division by the literal 0 (always the interpreter's error).
    const t = generic();
    return { num: undefined, settled: false, cel: () => t };
  }
  const l = left.num;
  const r = right.num;
  const tests = safeTests(left, right);
  if ((op === '/' || op === '%') && !right.settled) tests.push(`${r} !== 0`);
  const compute = op === '/' ? `(${l} - ${l} % ${r}) / ${r}` : `${l} ${op} ${r}`;
  return numberResult(g, tests, compute, generic);
}

/** `-x`: a number where x is one (a safe integer's negation is one), else as before. */
export function intNegation(g: Generator, node: NodeLike, scope: Scope): NumericOperand {
  const operandNode = node.args as NodeLike;
  const slow = g.operation('-object', [operandNode]);
  const operand = numericOperand(g, operandNode, scope);
  const generic = (): Source => {
    const v = operand.cel();
    // The interpreter words the overflow of -(-2^63) (and any other operand's error).
    return g.let(`typeof ${v} === 'bigint' && ${v} !== ${g.k(INT64_MIN)} ? -${v} : ${slow}(${v})`);
  };
  if (operand.num === undefined) {
    const t = generic();
    return { num: undefined, settled: false, cel: () => t };
  }
  return numberResult(g, safeTests(operand), `-${operand.num!}`, generic);
}

/** `l op r` for an ordering node: numbers compared where both are safe integers, else `generic(l, r)`. */
export function intComparison(g: Generator, node: NodeLike, scope: Scope, compare: (l: Source, r: Source) => Source, charge: boolean): Value {
  const [leftNode, rightNode] = node.args as [NodeLike, NodeLike];
  const left = numericOperand(g, leftNode, scope);
  const right = numericOperand(g, rightNode, scope);
  const generic = (): Source => compare(left.cel(), right.cel());
  if (left.num === undefined || right.num === undefined) return { src: generic(), json: false };
  const t = g.out.temporary();
  const tests = safeTests(left, right);
  const numbers = (): void => {
    // `==` and `!=` are charged as chargeEquality charges two ints: a number's size is 1 as well, so
    // the charge is ceil(0.1 * 1), 1 unit (written out: chargeEquality inlined is large).
    if (charge) g.emit(`${g.k(chargeCost)}(1);`);
    g.emit(`${t} = ${compareNumbers(node.op as string, left.num!, right.num!)};`);
  };
  if (tests.length === 0) {
    numbers();
    return { src: t, json: false };
  }
  g.out.block(`if (${tests.join(' && ')})`, numbers);
  g.out.block('else', () => g.emit(`${t} = ${generic()};`));
  return { src: t, json: false };
}

function compareNumbers(op: string, l: Source, r: Source): Source {
  switch (op) {
    case '==':
      return `${l} === ${r}`;
    case '!=':
      return `${l} !== ${r}`;
    case '<':
    case '<=':
    case '>':
    case '>=':
      return `${l} ${op} ${r}`;
    default:
      throw new RangeError(`not a comparison: ${op}`);
  }
}
