// Charges the cost meter for the operations that build new values, as Kubernetes' CEL cost model
// does, so that an expression cannot allocate without bound before its budget or deadline stops it:
// `l + l` repeated 25 times builds a list of 2^25 elements, which used to cost nothing.
//   - list + list: cel-js copies both operands, so it is charged for the size of the result (cel-go
//     builds a lazy view instead, which is why Kubernetes charges 1; the copy here is not O(1), and
//     this is the one call priced above Kubernetes on purpose: 1 + the result's length).
//   - string + string and bytes + bytes: exactly as Kubernetes charges, ceil((size(a) + size(b)) *
//     0.1), a string's size being its code points (call-costs.ts).
//   - list and map literals: the base costs Kubernetes charges for creating a list (10) or a map (30).
// The charge is taken before the copy, so an over-budget concatenation never allocates.
import type { ASTNode, Environment } from '@marcbachmann/cel-js';
import { chargeCost, chargeList, isCostBudgetArmed } from '../cost.js';
import { pairTraversal, traversal } from './call-costs.js';
import { chargeNodeEvaluation, shadowBuiltinOperator, type RegistryLike } from '../cel-js-internals.js';

/** cel-go's ListCreateBaseCost and MapCreateBaseCost (common/cost.go). */
export const LIST_LITERAL_COST = 10;
export const MAP_LITERAL_COST = 30;

export function concatLists(a: readonly unknown[], b: readonly unknown[]): unknown[] {
  chargeList(a.length + b.length);
  const out = new Array<unknown>(a.length + b.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i];
  for (let i = 0; i < b.length; i++) out[a.length + i] = b[i];
  return out;
}

export function concatStrings(a: string, b: string): string {
  if (isCostBudgetArmed()) chargeCost(pairTraversal(a, b));
  return a + b;
}

export function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (isCostBudgetArmed()) chargeCost(traversal(a.length + b.length));
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

export function chargeListLiteral(): void {
  chargeCost(LIST_LITERAL_COST);
}

export function chargeMapLiteral(): void {
  chargeCost(MAP_LITERAL_COST);
}

export function registerAllocationCosts(env: Environment, registry: RegistryLike): void {
  const same = (type: string) => (d: { leftType: { name: string }; rightType: { name: string } | null }) =>
    d.leftType.name === type && d.rightType?.name === type;
  shadowBuiltinOperator(registry, '+', (d) => same('list<V>')(d) || same('string')(d) || same('bytes')(d));
  env.registerOperator('list<V> + list<V>', concatLists);
  env.registerOperator('string + string', concatStrings);
  env.registerOperator('bytes + bytes', concatBytes);
}

/** Makes the interpreter charge list and map literals in a parsed expression each time it builds one. */
export function meterLiterals(ast: ASTNode): void {
  chargeNodeEvaluation(ast, { list: chargeListLiteral, map: chargeMapLiteral });
}
