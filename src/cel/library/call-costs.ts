// What one call of a function costs, in Kubernetes' units, so that a budget here runs out where the
// kube-apiserver's does. The rules come from two Go sources and are reproduced as formulas, with the
// same float64 arithmetic (JavaScript numbers are float64, so `Math.ceil(n * 0.1)` rounds exactly as
// Go's `math.Ceil(float64(n) * 0.1)`, including 30 * 0.1 = 3.0000000000000004 → 4):
//   - Kubernetes' CostEstimator.CallCost (k8s.io/apiserver/pkg/cel/library/cost.go), consulted first,
//     keyed by function name: the lists, strings, regex, quantity, URL, IP and CIDR libraries;
//   - cel-go's CostTracker.costCall (interpreter/runtimecost.go) for what Kubernetes leaves to it:
//     contains, startsWith, endsWith, matches, string and bytes concatenation, conversions between
//     string and bytes, `in` on a list, orderings of strings and bytes, strings.format and
//     strings.quote; every other call costs 1.
// A size is what cel-go's actualSize gives: a string's code points, bytes' length, a list's elements,
// a map's entries, an IP's or a CIDR prefix's bytes, 1 for anything else (equality-cost.ts costSize).
// Each handler charges its call once, before doing the work when the cost depends on the operands
// only (an over-budget call then never runs), after it when the cost depends on the result (join).
import { chargeCost, isCostBudgetArmed } from '../cost.js';
import { costSize, TRAVERSAL_COST_FACTOR } from './equality-cost.js';
import { codePointCount, utf8Length } from './string-sizes.js';

/** cel-go's RegexStringLengthCostFactor: a guess that each regex construct is about four characters. */
export const REGEX_LENGTH_COST_FACTOR = 0.25;

/** The cost of a call that Kubernetes prices at one unit (accessors, and any function without a rule). */
export const NOMINAL_CALL_COST = 1;

/** ceil(size * 0.1): one traversal of something of `size` (StringTraversalCostFactor). */
export function traversal(size: number): number {
  return Math.ceil(size * TRAVERSAL_COST_FACTOR);
}

/**
 * traversal(size(s)) without measuring short strings: up to 10 UTF-16 units hold 1 to 10 code
 * points, all of which round up to 1 (and only the empty string costs 0).
 */
export function stringTraversal(s: string): number {
  if (s.length <= 10) return s.length === 0 ? 0 : 1;
  return traversal(codePointCount(s));
}

/** traversal(size(a) + size(b)), without measuring when both together are short. */
export function pairTraversal(a: string, b: string): number {
  const units = a.length + b.length;
  if (units <= 10) return units === 0 ? 0 : 1;
  return traversal(codePointCount(a) + codePointCount(b));
}

/** ceil(size * 2 * 0.1): a traversal that also builds a result (replace, split, join, ip.isCanonical). */
export function traversalAndBuild(size: number): number {
  return Math.ceil(size * 2 * TRAVERSAL_COST_FACTOR);
}

/** The size cel-go gives a string: its code points. */
export function stringSize(s: string): number {
  // Exact even for short strings (unlike equality's shortcut): sizes are added up before rounding.
  return codePointCount(s);
}

/**
 * Kubernetes' traversalCost: a string's or bytes' length in bytes times 0.1, truncated; the sum over
 * a list's elements or a map's keys and values; 1 for anything else. The lists library charges it.
 */
export function traversalCost(value: unknown): number {
  if (typeof value === 'string') return Math.trunc(utf8Length(value) * TRAVERSAL_COST_FACTOR);
  if (typeof value !== 'object' || value === null) return 1;
  if (value instanceof Uint8Array) return Math.trunc(value.length * TRAVERSAL_COST_FACTOR);
  if (Array.isArray(value)) {
    let cost = 0;
    for (const element of value) cost += traversalCost(element);
    return cost;
  }
  if (value instanceof Map) {
    let cost = 0;
    for (const [k, v] of value) cost += traversalCost(k) + traversalCost(v);
    return cost;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto === null || proto === Object.prototype) {
    let cost = 0;
    for (const [k, v] of Object.entries(value)) if (v !== undefined) cost += traversalCost(k) + traversalCost(v);
    return cost;
  }
  return 1;
}

/**
 * matches, find and findAll: ceil((1 + size(s)) * 0.1) * ceil(size(pattern) * 0.25). The 1 keeps an
 * expensive pattern from costing nothing on an empty string.
 */
export function regexCost(s: string, pattern: string): number {
  return regexCostWithPattern(s, regexPatternUnits(pattern));
}

/** The pattern's factor of regexCost: ceil(size(pattern) * 0.25). */
export function regexPatternUnits(pattern: string): number {
  return Math.ceil(stringSize(pattern) * REGEX_LENGTH_COST_FACTOR);
}

/** regexCost with the pattern's factor worked out already (regexPatternUnits). */
export function regexCostWithPattern(s: string, patternUnits: number): number {
  return Math.ceil((1 + stringSize(s)) * TRAVERSAL_COST_FACTOR) * patternUnits;
}

/** contains: ceil(size(s) * 0.1) * ceil(size(sub) * 0.1) (a naive search's product). */
export function containsCost(s: string, sub: string): number {
  return stringTraversal(s) * stringTraversal(sub);
}

/** Charges a call that Kubernetes prices at one unit. */
export function chargeNominalCall(): void {
  if (isCostBudgetArmed()) chargeCost(NOMINAL_CALL_COST);
}

/**
 * `handler`, charging one unit per call first: for the functions Kubernetes prices at 1. One wrapper
 * per arity, so that a call allocates no arguments array.
 */
export function nominal<R>(handler: () => R): () => R;
export function nominal<A, R>(handler: (a: A) => R): (a: A) => R;
export function nominal<A, B, R>(handler: (a: A, b: B) => R): (a: A, b: B) => R;
export function nominal(handler: (...args: never[]) => unknown): (...args: never[]) => unknown {
  const call = handler as (a?: unknown, b?: unknown) => unknown;
  if (handler.length > 2) throw new RangeError('nominal() wraps functions of at most two parameters');
  return (a?: unknown, b?: unknown) => {
    if (isCostBudgetArmed()) chargeCost(NOMINAL_CALL_COST);
    return call(a, b);
  };
}

/** Charges one traversal of a string: ceil(code points * 0.1). */
export function chargeStringTraversal(s: string): void {
  if (isCostBudgetArmed()) chargeCost(stringTraversal(s));
}

/**
 * Charges `x in list`: the list's size (cel-go treats every membership test as O(n), without the
 * 0.1), less the unit the `in` node pays itself (node-costs.ts).
 */
export function chargeListMembership(list: { readonly length: number } | { readonly size: number }): void {
  if (isCostBudgetArmed()) chargeCost(('length' in list ? list.length : list.size) - 1);
}

/**
 * Charges an ordering of two strings or two bytes values: ceil(min(size(a), size(b)) * 0.1), less the
 * unit the operator's node pays itself (node-costs.ts).
 */
export function chargeOrdering(a: string | Uint8Array, b: string | Uint8Array): void {
  if (!isCostBudgetArmed()) return;
  const left = costSize(a);
  const right = costSize(b);
  chargeCost(traversal(left < right ? left : right) - 1);
}
