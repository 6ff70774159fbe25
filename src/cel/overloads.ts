// The function overloads of daemonguard's CEL environment as a table of our own, so that the compiler
// picks a call's handler without asking cel-js's overload resolution (which has no public API):
// statically, from the operand types the checker inferred, or at run time, from the operand values
// when the checker left an operand dyn.
//
// The table is read once from the base environment (every library's overloads and cel-js's built-ins
// that remain after our replacements, in cel-js's order), plus the few overloads each environment
// registers for itself (addOverload); the choice follows the interpreter's rule: the first overload,
// in that order, whose receiver and parameter types accept the operands' types, where dyn accepts
// and is accepted by anything and a type parameter (`A`, `T`) accepts anything but must stand for
// the same type wherever it appears in the signature. overloads.test.ts holds the choice to cel-js's
// checker on every call of the built-in library, the test policies and a native policy's JSONPatch.
import type { Environment } from '@marcbachmann/cel-js';
import { declaredOverloads, type RegistryLike } from './cel-js-internals.js';

export type Handler = (...args: unknown[]) => unknown;

/** A CEL type as a tree: `map<string, list<int>>` is map with arguments string and list<int>. */
interface TypeTree {
  readonly name: string;
  readonly args: readonly TypeTree[];
}

interface Overload {
  readonly receiver: TypeTree | null;
  readonly parameters: readonly TypeTree[];
  /** The parameter types as cel-js writes them, receiver first (the generated guards read these). */
  readonly parameterTypes: readonly string[];
  readonly handler: Handler;
  /** Whether the signature has type parameters. */
  readonly generic: boolean;
}

/** The overloads of each function by `name/arity` (receiver-style calls under `.name/arity`), in cel-js's order. */
const table = new Map<string, Overload[]>();
let tableRead = false;

function keyOf(receiverCall: boolean, name: string, argCount: number): string {
  return `${receiverCall ? '.' : ''}${name}/${argCount}`;
}

/**
 * Reads every non-macro overload of `env` (the base environment, built) into the table. Called once,
 * when the base environment is complete; a second call changes nothing.
 */
export function readOverloads(env: Environment, registry: RegistryLike): void {
  if (tableRead) return;
  tableRead = true;
  const seen = new Set<string>();
  for (const definition of env.getDefinitions().functions) {
    const receiverCall = definition.receiverType !== null;
    const key = keyOf(receiverCall, definition.name, definition.params.length);
    if (seen.has(key)) continue;
    seen.add(key);
    const overloads = declaredOverloads(registry, receiverCall, definition.name, definition.params.length).map((declaration) =>
      overloadOf(declaration.receiverType, declaration.parameterTypes, declaration.handler),
    );
    if (overloads.length > 0) table.set(key, overloads);
  }
}

/**
 * Adds an overload that environments cloned from the base register for themselves (the JSONPatch
 * library, object construction), after the base's overloads of its name: the handler must be one
 * function shared by every such environment. Registering it again changes nothing.
 */
export function addOverload(receiverType: string | null, name: string, parameterTypes: readonly string[], handler: Handler): void {
  const key = keyOf(receiverType !== null, name, parameterTypes.length);
  const overloads = table.get(key) ?? [];
  if (overloads.some((overload) => overload.handler === handler)) return;
  overloads.push(overloadOf(receiverType, parameterTypes, handler));
  table.set(key, overloads);
}

function overloadOf(receiverType: string | null, parameterTypes: readonly string[], handler: Handler): Overload {
  const receiver = receiverType === null ? null : parseType(receiverType);
  const parameters = parameterTypes.map(parseType);
  return {
    receiver,
    parameters,
    parameterTypes: [...(receiverType === null ? [] : [receiverType]), ...parameterTypes],
    handler,
    generic: (receiver !== null && hasParameter(receiver)) || parameters.some(hasParameter),
  };
}

/** Parses a CEL type name (`list<string>`, `map<string, dyn>`, `kubernetes.Quantity`). */
export function parseType(text: string): TypeTree {
  let position = 0;
  const parse = (): TypeTree => {
    const start = position;
    while (position < text.length && !'<>,'.includes(text[position]!)) position++;
    const name = text.slice(start, position).trim();
    const args: TypeTree[] = [];
    if (text[position] === '<') {
      position++;
      for (;;) {
        args.push(parse());
        if (text[position] === ',') {
          position++;
          continue;
        }
        if (text[position] !== '>') throw new Error(`internal: malformed CEL type ${text}`);
        position++;
        break;
      }
    }
    // cel-js writes `list` and `map` for their dyn forms.
    if (args.length === 0 && name === 'list') return { name, args: [DYN] };
    if (args.length === 0 && name === 'map') return { name, args: [DYN, DYN] };
    return { name, args };
  };
  const type = parse();
  if (position !== text.length) throw new Error(`internal: malformed CEL type ${text}`);
  return type;
}

const DYN: TypeTree = { name: 'dyn', args: [] };

/** A type parameter of a signature: one capital letter (`A`, `T`, `K`, `V`). */
function isParameter(type: TypeTree): boolean {
  return type.args.length === 0 && /^[A-Z]$/.test(type.name);
}

/** Whether `a` and `b` accept each other: equal, or dyn (or a type parameter) where they differ. */
function compatible(a: TypeTree, b: TypeTree): boolean {
  if (a.name === 'dyn' || b.name === 'dyn' || isParameter(a) || isParameter(b)) return true;
  return a.name === b.name && a.args.length === b.args.length && a.args.every((arg, i) => compatible(arg, b.args[i]!));
}

/**
 * Whether declared type `declared` accepts `actual`, binding the signature's type parameters in
 * `bindings`: a parameter seen before must stand for a type compatible with the one it stood for.
 */
function accepts(declared: TypeTree, actual: TypeTree, bindings: Map<string, TypeTree>): boolean {
  if (isParameter(declared)) {
    const bound = bindings.get(declared.name);
    if (bound === undefined) {
      bindings.set(declared.name, actual);
      return true;
    }
    return compatible(bound, actual);
  }
  if (declared.name === 'dyn' || actual.name === 'dyn' || isParameter(actual)) return true;
  if (declared.args.length === 0) return declared.name === actual.name && actual.args.length === 0;
  if (declared.name !== actual.name || declared.args.length !== actual.args.length) return false;
  return declared.args.every((arg, i) => accepts(arg, actual.args[i]!, bindings));
}

function find(overloads: readonly Overload[], receiver: TypeTree | null, args: readonly TypeTree[]): Overload | undefined {
  for (const overload of overloads) {
    const bindings = new Map<string, TypeTree>();
    if (receiver !== null && overload.receiver !== null && !accepts(overload.receiver, receiver, bindings)) continue;
    if (args.every((arg, i) => accepts(overload.parameters[i]!, arg, bindings))) return overload;
  }
  return undefined;
}

function hasParameter(type: TypeTree): boolean {
  return isParameter(type) || type.args.some(hasParameter);
}

function hasDyn(type: TypeTree): boolean {
  return type.name === 'dyn' || type.args.some(hasDyn);
}

/**
 * The overload a call resolves to when the checker fixed every operand's type (receiver first), with
 * its parameter types; undefined when an operand is dyn (resolved at run time) or nothing matches.
 */
export function resolveStatically(
  name: string,
  receiverCall: boolean,
  operandTypes: readonly string[],
): { handler: Handler; parameterTypes: readonly string[] } | undefined {
  const overloads = table.get(keyOf(receiverCall, name, operandTypes.length - (receiverCall ? 1 : 0)));
  if (overloads === undefined) return undefined;
  const types = operandTypes.map(parseType);
  if (types.some(hasDyn)) return undefined;
  const overload = find(overloads, receiverCall ? types[0]! : null, receiverCall ? types.slice(1) : types);
  // A signature with type parameters (`list<A>.indexOf(A)`) is left to run time: whether the values
  // bind them consistently is the interpreter's test, which a guard per operand cannot make.
  if (overload === undefined || overload.generic) return undefined;
  return { handler: overload.handler, parameterTypes: overload.parameterTypes };
}

/** The runtime types the run-time resolution distinguishes, numbered from 1 (see runtimeTypeCode). */
const RUNTIME_TYPE_NAMES = ['string', 'int', 'bool', 'double', 'list', 'list<string>', 'list<int>', 'list<bool>', 'list<double>'] as const;
const RUNTIME_TYPES = RUNTIME_TYPE_NAMES.map(parseType);
const RESOLVABLE = new Set<string>(RUNTIME_TYPE_NAMES.filter((name) => name !== 'list'));

/**
 * For a call the checker could not resolve (an operand of type dyn), resolves the overload from the
 * values as the interpreter does (a value's type; a list's by its first element), for values whose
 * type is a primitive or a list of primitives. The resolver returns the handler, null when no
 * overload matches, or undefined when a value is of another kind (the caller then asks the
 * interpreter). Undefined when a statically typed operand is of a type it does not handle.
 */
export function runtimeResolver(
  name: string,
  receiverCall: boolean,
  /** Per operand (receiver first): the type the interpreter's check fixed, or undefined where it left dyn. */
  staticTypes: readonly (string | undefined)[],
): ((values: readonly unknown[]) => Handler | null | undefined) | undefined {
  const overloads = table.get(keyOf(receiverCall, name, staticTypes.length - (receiverCall ? 1 : 0))) ?? [];
  if (staticTypes.some((t) => t !== undefined && !RESOLVABLE.has(t))) return undefined;
  const fixed = staticTypes.map((t) => (t === undefined ? undefined : parseType(t)));
  const cache = new Map<number, Handler | null>();
  // The operands' types as one number (a digit per operand in base RUNTIME_TYPE_NAMES.length + 1,
  // 0 where the check fixed the type), so that a call after the first of its kind allocates
  // nothing; the last signature is kept apart, as a call site mostly sees one.
  const base = RUNTIME_TYPE_NAMES.length + 1;
  let lastKey = -1;
  let lastHandler: Handler | null = null;
  return (values) => {
    let key = 0;
    for (let i = values.length - 1; i >= 0; i--) {
      let code = 0;
      if (fixed[i] === undefined) {
        code = runtimeTypeCode(values[i]);
        if (code === 0) return undefined;
      }
      key = key * base + code;
    }
    if (key === lastKey) return lastHandler;
    let handler = cache.get(key);
    if (handler === undefined) {
      const types = values.map((value, i) => fixed[i] ?? RUNTIME_TYPES[runtimeTypeCode(value) - 1]!);
      handler = find(overloads, receiverCall ? types[0]! : null, receiverCall ? types.slice(1) : types)?.handler ?? null;
      cache.set(key, handler);
    }
    lastKey = key;
    lastHandler = handler;
    return handler;
  };
}

/** A value's type as the interpreter sees it (a list's by its first element), as 1 + its index in RUNTIME_TYPE_NAMES, or 0 for other kinds. */
function runtimeTypeCode(value: unknown): number {
  const primitive = primitiveTypeCode(value);
  if (primitive !== 0) return primitive;
  if (!Array.isArray(value)) return 0;
  if (value.length === 0) return 5;
  const element = primitiveTypeCode(value[0]);
  return element === 0 ? 0 : element + 5;
}

function primitiveTypeCode(value: unknown): number {
  switch (typeof value) {
    case 'string':
      return 1;
    case 'bigint':
      return 2;
    case 'boolean':
      return 3;
    case 'number':
      return 4;
    default:
      return 0;
  }
}
