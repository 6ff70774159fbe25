// `==` and `!=` on values of declared Kubernetes object types, compared as Kubernetes compares them.
//
// Kubernetes' CEL wraps an object converted from JSON with its OpenAPI schema
// (k8s.io/apiserver/pkg/cel/common/values.go), and the schema decides how lists compare:
// - `x-kubernetes-list-type: map` (containers by name, env by name, ports by containerPort+protocol):
//   equal when both have the same length and every element of the right side has an element with the
//   same key values on the left that equals it, so the order does not matter;
// - `x-kubernetes-list-type: set` (metadata.finalizers): the same length and every element of the right
//   side is one of the left side's, order aside;
// - atomic lists (tolerations, args, the default): element by element, in order.
// Objects compare field by field (the same number of fields, each of the left one equal on the right)
// and maps by key. As in cel-go, the left operand decides: `a == b` asks a's value to compare itself.
//
// At run time every value is dyn, so the checker's type of the left operand selects the schema: a
// declared object type, or a list read as a field of one (`c.env`, whose field rule says listType=map).
// The list types and keys come from src/cel/apply-schema.generated.json, the field types from
// k8s-types.generated.json. Scalars, and anything not shaped as its schema says, compare as cel-js does.
import k8sTypes from '../k8s-types.generated.json' with { type: 'json' };
import applySchema from '../apply-schema.generated.json' with { type: 'json' };
import type { ASTNode } from '@marcbachmann/cel-js';
import { checkedTypeOf, forEachNode, replaceBinaryHandler, type NodeLike } from '../cel-js-internals.js';

interface FieldRule {
  readonly list?: string;
  readonly keys?: readonly string[];
}
interface TypeRule {
  readonly fields?: Readonly<Record<string, FieldRule>>;
}

const FIELDS: Readonly<Record<string, Readonly<Record<string, string>>>> = k8sTypes.types;
const RULES = applySchema.types as Readonly<Record<string, TypeRule>>;

/** How a value of a declared type compares. */
export type EqualityShape =
  | { readonly kind: 'struct'; readonly name: string }
  | { readonly kind: 'list'; readonly element: EqualityShape; readonly list: 'atomic' | 'set' | 'map'; readonly keys: readonly string[] }
  | { readonly kind: 'map'; readonly value: EqualityShape }
  | { readonly kind: 'scalar' };

/** cel-js's own equality, used for scalars and for values not shaped as their schema says. */
export type GenericEquals = (left: unknown, right: unknown) => boolean;

const SCALAR: EqualityShape = { kind: 'scalar' };

function shapeOfType(type: string, rule: FieldRule | undefined): EqualityShape {
  const element = /^list<(.+)>$/.exec(type)?.[1];
  if (element !== undefined) {
    const list = rule?.list === 'map' || rule?.list === 'set' ? rule.list : 'atomic';
    return { kind: 'list', element: shapeOfType(element, undefined), list, keys: rule?.keys ?? [] };
  }
  const value = /^map<string, (.+)>$/.exec(type)?.[1];
  if (value !== undefined) return { kind: 'map', value: shapeOfType(value, undefined) };
  if (Object.hasOwn(FIELDS, type)) return { kind: 'struct', name: type };
  return SCALAR;
}

function fieldShape(struct: string, field: string): EqualityShape | undefined {
  const fields = FIELDS[struct];
  if (!fields || !Object.hasOwn(fields, field)) return undefined;
  return shapeOfType(fields[field]!, RULES[struct]?.fields?.[field]);
}

/**
 * The shape `==` must follow for a checked operand node, or undefined when plain cel-js equality is
 * already Kubernetes' (the operand is not typed by a declared object type or by a field of one).
 */
export function equalityShapeOf(operand: NodeLike): EqualityShape | undefined {
  const type = checkedTypeOf(operand);
  if (type === undefined) return undefined;
  if (Object.hasOwn(FIELDS, type)) return { kind: 'struct', name: type };
  if (!type.startsWith('list<') && !type.startsWith('map<')) return undefined;
  // A list or map read as a field of a declared object: its rule (listType) belongs to that field.
  if (operand.op === '.') {
    const [owner, field] = operand.args as [NodeLike, string];
    const ownerType = checkedTypeOf(owner);
    if (ownerType !== undefined && Object.hasOwn(FIELDS, ownerType)) {
      const shape = fieldShape(ownerType, field);
      if (shape && shape.kind !== 'scalar') return shape;
    }
  }
  // Any other list or map (a literal such as `[object.spec.selector]`) compares in order and by key,
  // and its declared elements by their schema.
  const shape = shapeOfType(type, undefined);
  return holdsDeclaredObject(shape) ? shape : undefined;
}

function holdsDeclaredObject(shape: EqualityShape): boolean {
  if (shape.kind === 'list') return holdsDeclaredObject(shape.element);
  if (shape.kind === 'map') return holdsDeclaredObject(shape.value);
  return shape.kind === 'struct';
}

function isPlainMap(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === null || proto === Object.prototype;
}

/** A scalar as a Go map key would tell it apart: int 1 and double 1.0 differ, absent and null agree. */
function scalarKey(value: unknown): string | undefined {
  if (value === undefined || value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'bigint':
    case 'number':
    case 'boolean':
      return `${typeof value}:${String(value)}`;
    default:
      return undefined;
  }
}

function listMapKey(element: unknown, keys: readonly string[]): string | undefined {
  if (!isPlainMap(element)) return undefined;
  const parts: string[] = [];
  for (const key of keys) {
    const part = scalarKey(Object.hasOwn(element, key) ? element[key] : undefined);
    if (part === undefined) return undefined;
    parts.push(JSON.stringify(part));
  }
  return parts.join(',');
}

function listsEqual(shape: Extract<EqualityShape, { kind: 'list' }>, left: unknown[], right: unknown[], generic: GenericEquals): boolean {
  if (left.length !== right.length) return false;
  if (shape.list === 'atomic' || (shape.list === 'map' && shape.keys.length === 0)) {
    for (let i = 0; i < left.length; i++) if (!valuesEqual(shape.element, left[i], right[i], generic)) return false;
    return true;
  }
  if (shape.list === 'set') {
    const members = new Set<string>();
    for (const element of left) {
      const key = scalarKey(element);
      if (key === undefined) return generic(left, right);
      members.add(key);
    }
    for (const element of right) {
      const key = scalarKey(element);
      if (key === undefined) return generic(left, right);
      if (!members.has(key)) return false;
    }
    return true;
  }
  // listType=map: the left side indexed by key (a repeated key keeps its last element, as Go's map does).
  const byKey = new Map<string, unknown>();
  for (const element of left) {
    const key = listMapKey(element, shape.keys);
    if (key === undefined) return generic(left, right);
    byKey.set(key, element);
  }
  for (const element of right) {
    const key = listMapKey(element, shape.keys);
    if (key === undefined) return generic(left, right);
    if (!byKey.has(key) || !valuesEqual(shape.element, byKey.get(key), element, generic)) return false;
  }
  return true;
}

function mapsEqual(valueShape: (key: string) => EqualityShape, left: Record<string, unknown>, right: Record<string, unknown>, generic: GenericEquals): boolean {
  const keys = Object.keys(left);
  if (keys.length !== Object.keys(right).length) return false;
  for (const key of keys) {
    if (!Object.hasOwn(right, key)) return false;
    if (!valuesEqual(valueShape(key), left[key], right[key], generic)) return false;
  }
  return true;
}

/** `left == right` for values of `shape`, as Kubernetes' CEL answers it. */
export function valuesEqual(shape: EqualityShape, left: unknown, right: unknown, generic: GenericEquals): boolean {
  switch (shape.kind) {
    case 'struct':
      if (!isPlainMap(left) || !isPlainMap(right)) return generic(left, right);
      return mapsEqual((field) => fieldShape(shape.name, field) ?? SCALAR, left, right, generic);
    case 'map':
      if (!isPlainMap(left) || !isPlainMap(right)) return generic(left, right);
      return mapsEqual(() => shape.value, left, right, generic);
    case 'list':
      if (!Array.isArray(left) || !Array.isArray(right)) return generic(left, right);
      return listsEqual(shape, left, right, generic);
    case 'scalar':
      return generic(left, right);
  }
}

/** The `==` (or `!=`) a compiled or interpreted node runs given cel-js's own equality, or undefined to keep cel-js's. */
export function kubernetesEqualityFor(checkedNode: NodeLike): ((left: unknown, right: unknown, generic: GenericEquals) => boolean) | undefined {
  if (checkedNode.op !== '==' && checkedNode.op !== '!=') return undefined;
  const shape = equalityShapeOf((checkedNode.args as [NodeLike, NodeLike])[0]);
  if (!shape) return undefined;
  const negated = checkedNode.op === '!=';
  return (left, right, generic) => valuesEqual(shape, left, right, generic) !== negated;
}

/**
 * Makes the interpreter's `==` and `!=` on declared object types compare as Kubernetes does. The
 * runtime AST is untyped (every value dyn), so the types come from the checked AST of the same source,
 * node by node. Must run before the equality cost meter wraps the same nodes.
 */
export function applyKubernetesEquality(checkedAst: ASTNode, runtimeAst: ASTNode): void {
  const checkedNodes: NodeLike[] = [];
  const runtimeNodes: NodeLike[] = [];
  forEachNode(checkedAst, (node) => checkedNodes.push(node));
  forEachNode(runtimeAst, (node) => runtimeNodes.push(node));
  if (checkedNodes.length !== runtimeNodes.length) throw new Error('internal: the checked and the runtime expressions differ in shape');
  for (let i = 0; i < checkedNodes.length; i++) {
    const equals = kubernetesEqualityFor(checkedNodes[i]!);
    const runtime = runtimeNodes[i]!;
    if (!equals) continue;
    if (runtime.op !== checkedNodes[i]!.op) throw new Error('internal: the checked and the runtime expressions differ in shape');
    const negated = runtime.op === '!=';
    replaceBinaryHandler(runtime, (original) => (left, right) => equals(left, right, (l, r) => (original(l, r) === true) !== negated));
  }
}
