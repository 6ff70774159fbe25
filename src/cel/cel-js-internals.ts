// The two things cel-js 8.0.0 has no public API for, kept in one place so that an upgrade has one
// file to check (the tests of every library, and the conformance run, fail loudly if these break):
//
// 1. Replacing a built-in overload. cel-js refuses to register a signature that overlaps an existing
//    one (e.g. our `string.lowerAscii()` over its own, which lowercases non-ASCII letters too). We
//    "shadow" the built-in declarations: our registry's function lookup filters them out, for our
//    registry and (through its clone hook) for every registry cloned from it, so the lead's
//    `newBaseEnvironment().clone()` keeps our overloads even after it registers types of its own.
//
// 2. Synchronous evaluation. cel-js treats every handler registered without `{async: false}` as
//    possibly returning a Promise, and operator overloads cannot be registered with that flag at
//    all: one custom `==` (ours for quantities, IPs...) would make every `==` node in every
//    expression check its operands for Promises (10-20% slower on comparison-heavy expressions).
//    daemonguard evaluates synchronously (the cost meter refuses Promise results), so our registries
//    report a call or operator as asynchronous only when its handler is an `async function`.
//
// 3. Replacing a built-in macro (all, exists, ...) with a metered one. The parser expands a call
//    through the last macro registered for a name and arity, whatever its receiver type, while the
//    overlap check compares receiver types: a macro declared on a different receiver (`map.all`
//    instead of `list.all`) is accepted and wins. Its expander receives the parser, which is how we
//    reach the registry for (1) without any other hook.
import type { ASTNode } from '@marcbachmann/cel-js';

/** The parts of a cel-js FunctionDeclaration we read. */
export interface DeclarationLike {
  readonly name: string;
  readonly macro: boolean;
  readonly receiverType: { readonly name: string } | null;
  readonly argTypes: ReadonlyArray<{ readonly name: string }>;
  readonly handler: (...args: unknown[]) => unknown;
}

/** The parts of a cel-js Candidates (the overloads for one name and arity) we read and write. */
interface CandidatesLike {
  declarations: DeclarationLike[];
  macro: DeclarationLike | false;
  async: boolean;
  readonly registry: unknown;
}

/** The parts of a cel-js Registry we use. */
export interface RegistryLike {
  functionCandidates(receiverCall: boolean, name: string, argCount: number): CandidatesLike;
  operatorCandidates(operator: string): CandidatesLike;
  clone(opts: unknown): RegistryLike;
}

/** What cel-js hands a macro expander at parse time. */
export interface MacroExpansion {
  ast: ASTNode;
  args: ASTNode[];
  receiver: ASTNode | null;
  methodName: string;
  parser: { registry: RegistryLike };
}

/** What a macro expander may return: a replacement AST (`callAst`), or typeCheck/evaluate hooks. */
export type MacroResult =
  | { callAst: ASTNode & { args: unknown } }
  | {
      typeCheck(checker: unknown, macro: unknown, ctx: unknown): unknown;
      evaluate(evaluator: unknown, macro: unknown, ctx: unknown): unknown;
    };

export type MacroExpander = (expansion: MacroExpansion) => MacroResult;

function isRegistryLike(value: unknown): value is RegistryLike {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as RegistryLike).functionCandidates === 'function' &&
    typeof (value as RegistryLike).clone === 'function'
  );
}

/** Reads the registry out of a macro expansion, refusing anything that does not look like one. */
export function registryOf(expansion: MacroExpansion): RegistryLike {
  const registry = expansion.parser?.registry;
  if (!isRegistryLike(registry)) {
    throw new Error('cel-js internals changed: a macro expansion no longer carries the registry');
  }
  return registry;
}

const shadowedByRegistry = new WeakMap<RegistryLike, Set<DeclarationLike>>();

function isAsyncFunction(handler: unknown): boolean {
  return typeof handler === 'function' && (handler as { [Symbol.toStringTag]?: string })[Symbol.toStringTag] === 'AsyncFunction';
}

function markSynchronous(candidates: CandidatesLike): void {
  if (candidates.async && !candidates.declarations.some((d) => isAsyncFunction(d.handler))) candidates.async = false;
}

function filterCandidates(candidates: CandidatesLike, shadowed: ReadonlySet<DeclarationLike>): void {
  markSynchronous(candidates);
  if (!candidates.declarations.some((d) => shadowed.has(d))) return;
  candidates.declarations = candidates.declarations.filter((d) => !shadowed.has(d));
  let macro: DeclarationLike | false = false;
  for (const d of candidates.declarations) if (d.macro) macro = d;
  candidates.macro = macro;
}

/**
 * Makes `registry` (and every registry later cloned from it) hide the shadowed declarations from
 * overload resolution and macro expansion, and report synchronous overloads as such. Idempotent.
 */
export function installRegistryHooks(registry: RegistryLike, shadowed: Set<DeclarationLike> = new Set()): void {
  if (shadowedByRegistry.has(registry)) return;
  shadowedByRegistry.set(registry, shadowed);
  const proto = Object.getPrototypeOf(registry) as RegistryLike;
  const lookup = proto.functionCandidates;
  const operatorLookup = proto.operatorCandidates;
  const clone = proto.clone;
  Object.defineProperty(registry, 'operatorCandidates', {
    configurable: true,
    value(this: RegistryLike, operator: string): CandidatesLike {
      const candidates = operatorLookup.call(this, operator);
      filterCandidates(candidates, shadowed);
      return candidates;
    },
  });
  Object.defineProperty(registry, 'functionCandidates', {
    configurable: true,
    value(this: RegistryLike, receiverCall: boolean, name: string, argCount: number): CandidatesLike {
      const candidates = lookup.call(this, receiverCall, name, argCount);
      filterCandidates(candidates, shadowed);
      return candidates;
    },
  });
  Object.defineProperty(registry, 'clone', {
    configurable: true,
    value(this: RegistryLike, opts: unknown): RegistryLike {
      const child = clone.call(this, opts);
      installRegistryHooks(child, shadowed);
      return child;
    },
  });
}

/**
 * Hides the built-in overloads of `name` with `argCount` arguments (receiver-style calls when
 * `receiverCall`) whose signature `matches`, so that our own registration of the same signature is
 * accepted and is the one resolved. Must run on a registry that already owns its overload table
 * (i.e. after the environment registered at least one function), never on cel-js's global one.
 */
export function shadowBuiltinOverloads(
  registry: RegistryLike,
  receiverCall: boolean,
  name: string,
  argCount: number,
  matches: (declaration: DeclarationLike) => boolean = () => true,
): number {
  installRegistryHooks(registry);
  const shadowed = shadowedByRegistry.get(registry)!;
  const candidates = registry.functionCandidates(receiverCall, name, argCount);
  if (candidates.registry !== registry) {
    throw new Error('refusing to shadow overloads in a registry shared with other environments');
  }
  let count = 0;
  for (const declaration of [...candidates.declarations]) {
    if (matches(declaration)) {
      shadowed.add(declaration);
      count++;
    }
  }
  filterCandidates(candidates, shadowed);
  return count;
}

/**
 * The overloads of `name` with `argCount` arguments (receiver-style calls when `receiverCall`) that
 * resolution considers, in the order it tries them, without macros and without the built-ins our
 * libraries replaced: for the overload table of our own (overloads.ts).
 */
export function declaredOverloads(
  registry: RegistryLike,
  receiverCall: boolean,
  name: string,
  argCount: number,
): { receiverType: string | null; parameterTypes: string[]; handler: (...args: unknown[]) => unknown }[] {
  const declarations = registry.functionCandidates(receiverCall, name, argCount).declarations;
  return declarations
    .filter((d) => !d.macro && typeof d.handler === 'function')
    .map((d) => ({ receiverType: d.receiverType?.name ?? null, parameterTypes: d.argTypes.map((t) => t.name), handler: d.handler }));
}

/** The parts of a cel-js OperatorDeclaration we read. */
export interface OperatorDeclarationLike {
  readonly leftType: { readonly name: string };
  readonly rightType: { readonly name: string } | null;
}

/**
 * Hides built-in overloads of an operator (`-_` for unary minus, `/`, `+`...) whose operand types
 * `matches`, so that a corrected overload can be registered in their place. Like
 * shadowBuiltinOverloads, it must run before any expression is checked in this registry, and the
 * replacement must be registered right after (registration resets cel-js's overload cache).
 */
export function shadowBuiltinOperator(
  registry: RegistryLike,
  operator: string,
  matches: (declaration: OperatorDeclarationLike) => boolean,
): number {
  installRegistryHooks(registry);
  const shadowed = shadowedByRegistry.get(registry)!;
  const candidates = registry.operatorCandidates(operator);
  if (candidates.registry !== registry) {
    throw new Error('refusing to shadow operators in a registry shared with other environments');
  }
  let count = 0;
  for (const declaration of [...candidates.declarations]) {
    if (matches(declaration as unknown as OperatorDeclarationLike)) {
      shadowed.add(declaration);
      count++;
    }
  }
  filterCandidates(candidates, shadowed);
  return count;
}

/** Finds a built-in macro declaration (e.g. `list.all(ast, ast)`) to wrap. */
export function findBuiltinMacro(
  registry: RegistryLike,
  name: string,
  argCount: number,
  receiverTypeName: string,
): DeclarationLike {
  const found = registry
    .functionCandidates(true, name, argCount)
    .declarations.find((d) => d.macro && (d.receiverType?.name ?? '').split('<')[0] === receiverTypeName);
  if (!found) throw new Error(`cel-js internals changed: no built-in macro ${receiverTypeName}.${name}/${argCount}`);
  return found;
}

// 4. Walking a parsed expression, macro expansions included. cel-js keeps a macro's expansion in the
//    call node's private metadata (`meta.alternate` for comprehensions, `meta.macro` for has(),
//    cel.bind() and our optional macros), which its public AST type does not describe.

/** The parts of a cel-js AST node the walk reads and the literal meter writes. */
export interface NodeLike {
  readonly op: string;
  readonly args: unknown;
  readonly meta: {
    evaluate?: (this: unknown, evaluator: unknown, node: unknown, ctx: unknown) => unknown;
    alternate?: NodeLike;
    macro?: Record<string, unknown>;
    /** A macro predicate's own wording for "must return bool". */
    label?: string;
  };
  setMeta(key: string, value: unknown): NodeLike;
}

function isNodeLike(value: unknown): value is NodeLike {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as NodeLike).op === 'string' &&
    typeof (value as NodeLike).setMeta === 'function' &&
    typeof (value as NodeLike).meta === 'object'
  );
}

/** Calls `visit` once for every node of the expression, including those inside macro expansions. */
export function forEachNode(root: ASTNode, visit: (node: NodeLike) => void): void {
  const seen = new Set<unknown>();
  const walk = (value: unknown): void => {
    if (typeof value !== 'object' || value === null || seen.has(value)) return;
    seen.add(value);
    if (isNodeLike(value)) {
      visit(value);
      walk(value.args);
      walk(value.meta.alternate);
      walk(value.meta.macro);
      return;
    }
    if (Array.isArray(value)) {
      for (const element of value) walk(element);
      return;
    }
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) return;
    for (const member of Object.values(value)) walk(member);
  };
  walk(root);
}

/** A checked binary node: cel-js's checker stores the function that receives the evaluated operands. */
interface CheckedBinaryLike {
  handle?: (left: unknown, right: unknown, node: unknown, evaluator: unknown) => unknown;
}

/**
 * Makes the interpreter call `observe(left, right)` with the evaluated operands of every binary node
 * whose operator is in `ops`, before the operator runs. Must run after the expression was type-checked:
 * the checker sets the node's operand handler, which evaluation then calls each time.
 */
export function interceptBinaryOperands(root: ASTNode, ops: readonly string[], observe: (left: unknown, right: unknown) => void): void {
  forEachNode(root, (node) => {
    if (!ops.includes(node.op)) return;
    const checked = node as unknown as CheckedBinaryLike;
    const original = checked.handle;
    if (typeof original !== 'function') {
      throw new Error(`cel-js internals changed: a checked '${node.op}' node has no operand handler to meter`);
    }
    checked.handle = function observedHandle(left: unknown, right: unknown, ast: unknown, evaluator: unknown) {
      observe(left, right);
      return original(left, right, ast, evaluator);
    };
  });
}

/**
 * Replaces the operand handler of a checked binary node: `replace` receives cel-js's own handler
 * (bound to the node's evaluation) and returns the one evaluation calls instead. Must run after the
 * expression was type-checked and before any other wrapper (such as the equality cost meter).
 */
export function replaceBinaryHandler(node: NodeLike, replace: (original: (left: unknown, right: unknown) => unknown) => (left: unknown, right: unknown) => unknown): void {
  const checked = node as unknown as CheckedBinaryLike;
  const original = checked.handle;
  if (typeof original !== 'function') {
    throw new Error(`cel-js internals changed: a checked '${node.op}' node has no operand handler to replace`);
  }
  checked.handle = function replacedHandle(left: unknown, right: unknown, ast: unknown, evaluator: unknown) {
    return replace((l, r) => original(l, r, ast, evaluator))(left, right);
  };
}

// 5. What the compiler (compiler.ts) reads from a checked AST: the checker's type of a node and the
//    shapes of cel-js's comprehension and has() expansions.

interface TypeLike {
  readonly name: string;
}

interface CheckedNodeLike {
  checkedType?: TypeLike;
}

/** The type the checker inferred for a node, e.g. `list<dyn>`; undefined if it was not checked. */
export function checkedTypeOf(node: unknown): string | undefined {
  return (node as CheckedNodeLike).checkedType?.name;
}

/** A comprehension as cel-js's macros expand it (all, exists, exists_one, map, filter). */
export interface ComprehensionLike {
  readonly iterable: NodeLike;
  readonly init: NodeLike;
  readonly step: NodeLike;
  readonly iterVarName: string;
  readonly errorsAreFatal: boolean;
  readonly condition: ((accumulator: unknown) => boolean) | undefined;
  readonly result: (accumulator: unknown) => unknown;
}

export function comprehensionOf(node: NodeLike): ComprehensionLike | undefined {
  if (node.op !== 'comprehension') return undefined;
  const args = node.args as ComprehensionLike;
  if (!isNodeLike(args.iterable) || !isNodeLike(args.init) || !isNodeLike(args.step) || typeof args.result !== 'function') {
    throw new Error('cel-js internals changed: a comprehension no longer has iterable, init, step and result');
  }
  return args;
}

/** `has(x.f)` as our has() macro (library/standard.ts) records it: the operand node and the field. */
export function hasMacroOf(node: NodeLike): { operand: NodeLike; field: string } | undefined {
  const macro = node.meta.macro as { select?: { op?: string; args?: [unknown, unknown] } } | undefined;
  const select = macro?.select;
  if (node.op !== 'call' || (node.args as [string])[0] !== 'has' || !select || select.op !== '.') return undefined;
  const [operand, field] = select.args ?? [];
  if (!isNodeLike(operand) || typeof field !== 'string') return undefined;
  return { operand, field };
}

/** `x.orValue(y)` and `x.or(y)`, which cel-js implements as macros (the argument is evaluated lazily). */
export function optionalMacroOf(node: NodeLike): { kind: 'orValue' | 'or'; receiver: NodeLike; argument: NodeLike } | undefined {
  const macro = node.meta.macro as { functionDesc?: unknown; receiver?: unknown; arg?: unknown } | undefined;
  if (!macro || !isNodeLike(macro.receiver) || !isNodeLike(macro.arg)) return undefined;
  if (macro.functionDesc === 'optional.orValue(value)') return { kind: 'orValue', receiver: macro.receiver, argument: macro.arg };
  if (macro.functionDesc === 'optional.or(optional)') return { kind: 'or', receiver: macro.receiver, argument: macro.arg };
  return undefined;
}

// 6. Extending the grammar. cel-js's parser has no message construction (`JSONPatch{op: 'add'}`), so
//    object-construction.ts wraps the parser's `parsePrimary` and builds ordinary AST nodes for it. The
//    parser, its token numbers and the AST node class are private to cel-js; we reach them once
//    through a macro expansion (which hands its expander the parser) on a throwaway environment.

/** cel-js 8.0.0's token numbers (parser.js `TOKEN`); installObjectConstructionSyntax self-tests them. */
export const TOKEN = Object.freeze({ IDENTIFIER: 5, LBRACE: 25, RBRACE: 26, DOT: 27, COMMA: 28, COLON: 29, QUESTION: 30 });

/** The parts of a cel-js Parser the construction syntax reads and drives. */
export interface ParserLike {
  type: number;
  pos: number;
  input: string;
  astNodesRemaining: number;
  readonly value: unknown;
  readonly lexer: { pos: number };
  readonly limits: { maxMapEntries: number };
  consume(tokenType: number): number;
  match(tokenType: number): boolean;
  parseExpression(): ASTNode;
  parsePrimary(): ASTNode;
}

/** An operator as cel-js's ASTNode constructor takes it: its name and its check and evaluate steps. */
export interface OperatorLike {
  readonly name: string;
  readonly check: (checker: unknown, node: unknown, ctx: unknown) => unknown;
  readonly evaluate: (evaluator: unknown, node: unknown, ctx: unknown) => unknown;
}

export interface ParserInternals {
  readonly parserPrototype: ParserLike;
  /** `new ASTNode(input, pos, start, end, operator, args)`. */
  newNode(input: string, pos: number, start: number, end: number, operator: OperatorLike, args: unknown): ASTNode;
  readonly operators: { readonly call: OperatorLike; readonly map: OperatorLike; readonly value: OperatorLike };
}

function operatorOf(node: unknown, name: string): OperatorLike {
  const candidate = node as { op?: unknown; meta?: { check?: unknown; evaluate?: unknown } };
  const meta = candidate?.meta;
  if (candidate?.op !== name || typeof meta?.check !== 'function' || typeof meta.evaluate !== 'function') {
    throw new Error(`cel-js internals changed: no ${name} node where the parser probe expected one`);
  }
  return { name, check: meta.check as OperatorLike['check'], evaluate: meta.evaluate as OperatorLike['evaluate'] };
}

/**
 * Reaches the parser's prototype, the AST node class and the call/map/value operators by parsing
 * `probe(f({'k': 1}))` with a macro named probe on `env` (a throwaway environment).
 */
export function probeParserInternals(env: { registerFunction(signature: string, handler: unknown): unknown; parse(source: string): unknown }): ParserInternals {
  let seen: { parser: unknown; call: unknown } | undefined;
  env.registerFunction('daemonguardParserProbe(ast): bool', (expansion: MacroExpansion) => {
    seen = { parser: expansion.parser, call: expansion.args[0] };
    return { callAst: expansion.args[0] };
  });
  env.parse("daemonguardParserProbe(f({'k': 1}))");
  if (!seen || typeof seen.parser !== 'object' || seen.parser === null) throw new Error('cel-js internals changed: the parser probe did not run');
  const parserPrototype = Object.getPrototypeOf(seen.parser) as ParserLike;
  if (typeof parserPrototype.parsePrimary !== 'function' || typeof parserPrototype.parseExpression !== 'function') {
    throw new Error('cel-js internals changed: the parser has no parsePrimary/parseExpression');
  }
  const call = seen.call as { args: [string, unknown[]]; constructor: new (...args: unknown[]) => ASTNode };
  const map = call.args?.[1]?.[0] as { args: [unknown, unknown][] } | undefined;
  const operators = {
    call: operatorOf(call, 'call'),
    map: operatorOf(map, 'map'),
    value: operatorOf(map?.args[0]?.[0], 'value'),
  };
  const NodeClass = call.constructor;
  return {
    parserPrototype,
    operators,
    newNode: (input, pos, start, end, operator, args) => new NodeClass(input, pos, start, end, operator, args),
  };
}
