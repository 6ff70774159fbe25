// Charges `==` and `!=` as Kubernetes does at run time, so that comparing two large lists inside a
// nested comprehension spends budget in proportion to the work.
//
// cel-go's runtime cost tracker (interpreter/runtimecost.go, costCall, the Equals/NotEquals overloads)
// prices an equality by the smaller operand: it takes the size of each operand, where a string's size
// is its number of code points, bytes their number of bytes, a list its number of elements and a map
// its number of entries, and anything without a size (ints, bools, null, timestamps, quantities...)
// counts as 1. The charge is that smaller size times the string traversal factor 0.1, rounded up,
// computed in float64 (as JavaScript numbers are, so the rounding is the same). So two scalars cost 1,
// an empty list or string costs 0, 10 elements cost 1 and 11 cost 2. Typed Kubernetes objects are maps
// at run time in both Kubernetes and daemonguard, so comparing them is priced by their number of fields.
//
// Both engines charge once per comparison, after both operands are evaluated and before comparing.
import { Optional, type ASTNode } from '@marcbachmann/cel-js';
import { chargeCost, isCostBudgetArmed } from '../cost.js';
import { interceptBinaryOperands } from '../cel-js-internals.js';
import { codePointCount } from './string-sizes.js';

/** cel-go's StringTraversalCostFactor (common/cost.go). */
export const TRAVERSAL_COST_FACTOR = 0.1;

/**
 * The size cel-go's cost tracker gives a value: the CEL size() of strings, bytes, lists and maps, an
 * optional's value's size when it has one, else 1.
 */
export function costSize(value: unknown): number {
  if (typeof value === 'string') {
    // Below 11 UTF-16 units the charge is 1 (or 0 when empty) whatever the code point count.
    return value.length <= 10 ? value.length : codePointCount(value);
  }
  if (typeof value !== 'object' || value === null) return 1;
  if (Array.isArray(value)) return value.length;
  if (value instanceof Uint8Array) return value.length;
  if (value instanceof Map) return value.size;
  if (value instanceof Optional) return value.hasValue() ? costSize(value.value()) : 1;
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto === null || proto === Object.prototype) return Object.keys(value).length;
  return 1;
}

/** What cel-go charges for `a == b` or `a != b`. */
export function equalityCost(a: unknown, b: unknown): number {
  const left = costSize(a);
  const right = costSize(b);
  return Math.ceil((left < right ? left : right) * TRAVERSAL_COST_FACTOR);
}

/**
 * Charges the armed budget for comparing `a` and `b`, less the unit the `==` node pays itself
 * (node-costs.ts: charged even when an operand fails, as cel-go charges a comparison with an error);
 * a no-op when none is armed.
 */
export function chargeEquality(a: unknown, b: unknown): void {
  if (isCostBudgetArmed()) chargeCost(equalityCost(a, b) - 1);
}

/** Makes the interpreter charge every `==` and `!=` in a checked expression each time it compares. */
export function meterEqualities(ast: ASTNode): void {
  interceptBinaryOperands(ast, ['==', '!='], chargeEquality);
}
