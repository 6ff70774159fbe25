// Charges the cost meter for the operations that build new values, as Kubernetes' CEL cost model
// does, so that an expression cannot allocate without bound before its budget or deadline stops it:
// `l + l` repeated 25 times builds a list of 2^25 elements, which used to cost nothing.
//   - list + list: cel-js copies both operands, so it is charged for the size of the result (cel-go
//     builds a lazy view instead, which is why Kubernetes charges 1; the copy here is not O(1), and
//     this is the one call priced above Kubernetes on purpose: 1 + the result's length).
//   - string + string and bytes + bytes: exactly as Kubernetes charges, ceil((size(a) + size(b)) *
//     0.1), a string's size being its code points (call-costs.ts).
// The `+` node itself pays 1 (node-costs.ts, as for any operator), and it charges the rest of string
// and bytes concatenation where cel-go prices it by size (node-costs.ts sizedCharge).
// List and map literals are priced with the nodes (node-costs.ts).
// The charge is taken before the copy, so an over-budget concatenation never allocates.
import type { Environment } from '@marcbachmann/cel-js';
import { chargeCost, isCostBudgetArmed } from '../cost.js';
import { shadowBuiltinOperator, type RegistryLike } from '../cel-js-internals.js';
import { rememberConcatenation } from './string-sizes.js';

export { LIST_LITERAL_COST, MAP_LITERAL_COST } from '../node-costs.js';

export function concatLists(a: readonly unknown[], b: readonly unknown[]): unknown[] {
  // 1 + the result's length in all, the node's unit included.
  if (isCostBudgetArmed()) chargeCost(a.length + b.length);
  const out = new Array<unknown>(a.length + b.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i];
  for (let i = 0; i < b.length; i++) out[a.length + i] = b[i];
  return out;
}

export function concatStrings(a: string, b: string): string {
  const result = a + b;
  // Its size, known from the operands' the charge just measured: the next `+` needs it (string-sizes.ts).
  rememberConcatenation(a, b, result);
  return result;
}

export function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

export function registerAllocationCosts(env: Environment, registry: RegistryLike): void {
  const same = (type: string) => (d: { leftType: { name: string }; rightType: { name: string } | null }) =>
    d.leftType.name === type && d.rightType?.name === type;
  shadowBuiltinOperator(registry, '+', (d) => same('list<V>')(d) || same('string')(d) || same('bytes')(d));
  env.registerOperator('list<V> + list<V>', concatLists);
  env.registerOperator('string + string', concatStrings);
  env.registerOperator('bytes + bytes', concatBytes);
}
