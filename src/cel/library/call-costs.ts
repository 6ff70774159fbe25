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

/** cel-go's RegexStringLengthCostFactor: a guess that each regex construct is about four characters. */
export const REGEX_LENGTH_COST_FACTOR = 0.25;

/** The cost of a call that Kubernetes prices at one unit (accessors, and any function without a rule). */
export const NOMINAL_CALL_COST = 1;

/** ceil(size * 0.1): one traversal of something of `size` (StringTraversalCostFactor). */
export function traversal(size: number): number {
  return Math.ceil(size * TRAVERSAL_COST_FACTOR);
}

/** ceil(size * 2 * 0.1): a traversal that also builds a result (replace, split, join, ip.isCanonical). */
export function traversalAndBuild(size: number): number {
  return Math.ceil(size * 2 * TRAVERSAL_COST_FACTOR);
}

/** The size cel-go gives a string: its code points. */
export function stringSize(s: string): number {
  return costSize(s);
}

/** The number of bytes of `s` in UTF-8 (a lone surrogate counts as U+FFFD's 3, as Go's conversion makes it). */
export function utf8Length(s: string): number {
  let bytes = s.length;
  for (let i = 0; i < s.length; i++) {
    const unit = s.charCodeAt(i);
    if (unit < 0x80) continue;
    if (unit < 0x800) {
      bytes += 1;
      continue;
    }
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < s.length) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        // Two UTF-16 units, four bytes.
        bytes += 2;
        i++;
        continue;
      }
    }
    bytes += 2;
  }
  return bytes;
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
  const strCost = Math.ceil((1 + stringSize(s)) * TRAVERSAL_COST_FACTOR);
  const regexCost = Math.ceil(stringSize(pattern) * REGEX_LENGTH_COST_FACTOR);
  return strCost * regexCost;
}

/** contains: ceil(size(s) * 0.1) * ceil(size(sub) * 0.1) (a naive search's product). */
export function containsCost(s: string, sub: string): number {
  return traversal(stringSize(s)) * traversal(stringSize(sub));
}

/** Charges a call that Kubernetes prices at one unit. */
export function chargeNominalCall(): void {
  if (isCostBudgetArmed()) chargeCost(NOMINAL_CALL_COST);
}

/** `handler`, charging one unit per call first: for the functions Kubernetes prices at 1. */
export function nominal<A extends unknown[], R>(handler: (...args: A) => R): (...args: A) => R {
  return (...args: A): R => {
    if (isCostBudgetArmed()) chargeCost(NOMINAL_CALL_COST);
    return handler(...args);
  };
}

/** Charges one traversal of a string: ceil(code points * 0.1). */
export function chargeStringTraversal(s: string): void {
  if (isCostBudgetArmed()) chargeCost(traversal(stringSize(s)));
}

/** Charges `x in list`: the list's size (cel-go treats every membership test as O(n), without the 0.1). */
export function chargeListMembership(list: { readonly length: number } | { readonly size: number }): void {
  if (isCostBudgetArmed()) chargeCost('length' in list ? list.length : list.size);
}

/** Charges an ordering of two strings or two bytes values: ceil(min(size(a), size(b)) * 0.1). */
export function chargeOrdering(a: string | Uint8Array, b: string | Uint8Array): void {
  if (!isCostBudgetArmed()) return;
  const left = costSize(a);
  const right = costSize(b);
  chargeCost(traversal(left < right ? left : right));
}
