// Kubernetes' list library (k8s.io/apiserver/pkg/cel/library/lists.go):
//   <list<T>>.isSorted() <bool>, <list<T>>.min() <T>, <list<T>>.max() <T>   T comparable
//   <list<T>>.sum() <T>                                                     T int, uint, double, duration
//   <list<T>>.indexOf(<T>) <int>, <list<T>>.lastIndexOf(<T>) <int>          T equatable
// min and max of an empty list are errors ("min called on empty list"); sum of an empty list is the
// zero of its type (0 for an untyped empty list).
// Each call costs what Kubernetes charges: one traversal of the list (call-costs.ts traversalCost: 1
// per scalar element, a string's bytes times 0.1 truncated), so [1, 2, 3].sum() costs 3 and a list of
// short strings costs 0.
import type { Environment } from '@marcbachmann/cel-js';
import { Duration, UnsignedInt } from '@marcbachmann/cel-js/evaluator';
import { chargeCost, isCostBudgetArmed } from '../cost.js';
import { traversalCost } from './call-costs.js';
import { celCompare, celEquals, celError, define, describeType } from './support.js';

const TIMESTAMP = 'google.protobuf.Timestamp';
const DURATION = 'google.protobuf.Duration';

/** Kubernetes' comparableTypes, in its order (an untyped empty list resolves to the first). */
export const COMPARABLE_TYPES = ['int', 'uint', 'double', 'bool', DURATION, TIMESTAMP, 'string', 'bytes'] as const;
/** Kubernetes' summableTypes. */
export const SUMMABLE_TYPES = ['int', 'uint', 'double', DURATION] as const;

const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;

function chargeTraversal(list: readonly unknown[]): void {
  if (isCostBudgetArmed()) chargeCost(traversalCost(list));
}

function isSorted(list: readonly unknown[]): boolean {
  chargeTraversal(list);
  for (let i = 1; i < list.length; i++) if (celCompare(list[i - 1], list[i]) > 0) return false;
  return true;
}

function extreme(name: 'min' | 'max', preferred: number): (list: readonly unknown[]) => unknown {
  return (list) => {
    chargeTraversal(list);
    if (list.length === 0) throw celError(`${name} called on empty list`);
    let result = list[0];
    for (let i = 1; i < list.length; i++) if (celCompare(result, list[i]) === preferred) result = list[i];
    return result;
  };
}

function sumInts(list: readonly unknown[]): bigint {
  chargeTraversal(list);
  let total = 0n;
  for (const v of list) {
    if (typeof v !== 'bigint') throw celError(`no such overload: sum of int and ${describeType(v)}`);
    total += v;
    if (total > INT64_MAX || total < INT64_MIN) throw celError('integer overflow');
  }
  return total;
}

function sumUints(list: readonly unknown[]): UnsignedInt {
  chargeTraversal(list);
  let total = 0n;
  for (const v of list) {
    if (!(v instanceof UnsignedInt)) throw celError(`no such overload: sum of uint and ${describeType(v)}`);
    total += v.value;
    if (total > UINT64_MAX) throw celError('unsigned integer overflow');
  }
  return new UnsignedInt(total);
}

function sumDoubles(list: readonly unknown[]): number {
  chargeTraversal(list);
  let total = 0;
  for (const v of list) {
    if (typeof v !== 'number') throw celError(`no such overload: sum of double and ${describeType(v)}`);
    total += v;
  }
  return total;
}

const NANOS = 1_000_000_000n;
const MAX_DURATION_NANOS = 315_576_000_000n * NANOS; // the protobuf Duration range cel-go enforces

function sumDurations(list: readonly unknown[]): Duration {
  chargeTraversal(list);
  let total = 0n;
  for (const v of list) {
    if (!(v instanceof Duration)) throw celError(`no such overload: sum of duration and ${describeType(v)}`);
    total += v.seconds * NANOS + BigInt(v.nanos);
    if (total > MAX_DURATION_NANOS || total < -MAX_DURATION_NANOS) throw celError('duration overflow');
  }
  const seconds = total / NANOS;
  return new Duration(seconds, Number(total - seconds * NANOS));
}

function indexOf(list: readonly unknown[], item: unknown): bigint {
  chargeTraversal(list);
  for (let i = 0; i < list.length; i++) if (celEquals(list[i], item)) return BigInt(i);
  return -1n;
}

function lastIndexOf(list: readonly unknown[], item: unknown): bigint {
  chargeTraversal(list);
  for (let i = list.length - 1; i >= 0; i--) if (celEquals(list[i], item)) return BigInt(i);
  return -1n;
}

export function registerListsLibrary(env: Environment): void {
  for (const t of COMPARABLE_TYPES) {
    define(env, `list<${t}>.isSorted(): bool`, isSorted);
    define(env, `list<${t}>.min(): ${t}`, extreme('min', 1));
    define(env, `list<${t}>.max(): ${t}`, extreme('max', -1));
  }
  define(env, 'list<int>.sum(): int', sumInts);
  define(env, 'list<uint>.sum(): uint', sumUints);
  define(env, 'list<double>.sum(): double', sumDoubles);
  define(env, `list<${DURATION}>.sum(): ${DURATION}`, sumDurations);
  define(env, 'list<A>.indexOf(A): int', indexOf);
  define(env, 'list<A>.lastIndexOf(A): int', lastIndexOf);
}
