// Compiles a type-checked CEL expression into one generated JavaScript function that computes exactly
// what cel-js's interpreter computes on the same activation: the same value, the same error message,
// the same cost charged at the same points, the operands evaluated in the same order.
//
// How: a walk over the checked AST writes, per node, straight-line statements into the function's
// source (codegen/emitter.ts), each node's value in a `let` temporary; the source is instantiated once
// with `new Function`, its constants (literals, handlers, slow-path operations, messages) written as
// JSON literals where they are strings, numbers, bools or null and passed in as an array otherwise,
// so no text of the policy is ever part of the source as code (field names read as properties are
// validated identifiers written as JSON strings too; codegen/emitter.ts literalOf). Where the speed
// comes from: V8 sees one function per expression whose call sites (a handler, a property read of
// `spec`) each meet one target and one object shape, instead of closures shared by every node of a
// kind; comprehensions are loops over `let` variables; calls whose overload the checker fixed call the
// handler behind `typeof` guards.
//
// And no converted copy of the review: `object`, `oldObject`, `request` and `namespaceObject` are
// read as the parsed JSON (the activation's `json`). Field and index reads, `has()`, `.?`, `in` and
// comprehension ranges work on it as it is, behind a guard that a JSON value passes cheaply (an
// object that is not an array and has the member); a part of it is converted to CEL values
// (values.ts: ints as BigInt, objects with a null prototype, once per review by identity) only where
// it meets an operation that needs CEL values: a library function, arithmetic or a comparison on
// anything but safe integers (which codegen/int-numbers.ts computes on as numbers), a slow path. A value that misses the member takes the exact test the interpreter's view implies (the
// prototype test), since a slow path may hand back a converted value (a Map, say) in JSON's place.
//
// Why it stays exact: every fast path is guarded by a test of the runtime values that mirrors how the
// interpreter would have picked its overload (it types a list by its first element, an optional as
// optional<dyn>). A value that fails the guard (a DaemonSet with a string where an object belongs, an
// int that left the int64 range) takes the slow path, which runs the single operation on the
// interpreter itself: a one-node program (`object == oldObject`, `object.f(oldObject)`) evaluated with
// the operands bound to its variables. Costs match because the generated code calls the same metered
// handlers, the same metered comprehension conditions, and charges literals where the interpreter
// does. A construct the compiler does not know makes the whole expression fall back to the
// interpreter (`compileExpression` returns the reason), so nothing is ever half-compiled.
//
// The parts: codegen/generator.ts walks the AST and writes the statements, codegen/emitter.ts holds the
// source and its constants, codegen/guards.ts writes the overload guards, codegen/int-numbers.ts writes
// int arithmetic and comparisons on numbers, codegen/runtime.ts has the helpers the generated code
// calls, codegen/contract.ts what the callers and the slow path agree on.
import type { ASTNode } from '@marcbachmann/cel-js';
import { forEachNode, checkedTypeOf, type NodeLike } from './cel-js-internals.js';
import type { CelActivation } from './program.js';
import { Generator } from './codegen/generator.js';
import { NotCompiled, type OperationFactory } from './codegen/contract.js';

export { NotCompiled, OPERAND_NAMES, type InterpretedOperation, type OperationFactory } from './codegen/contract.js';

export interface CompiledExpressionCode {
  evaluate(activation: CelActivation): unknown;
  /** The generated source for an activation with JSON inputs (for tests and for reading). */
  readonly source: string;
  /** `evaluate` returns JSON on an activation with JSON inputs (see CompileOptions.resultAsJson). */
  readonly jsonResult: boolean;
}

export interface CompileOptions {
  /** The variables the expression's scope declares, in order: where `variables.x` most likely is (a hint the activation checks). */
  readonly variableSlots?: readonly string[];
  /** The scope's variables whose values are JSON (their programs' jsonResult): read on as JSON. */
  readonly jsonVariables?: ReadonlySet<string>;
  /**
   * Return the value as JSON when the generated code has it as JSON (a part of the review's JSON, a
   * filter's or a concatenation's list of such parts) instead of converting it: for a variable, whose
   * readers are compiled knowing it, and whose interpreter readers get it converted
   * (engine/activation.ts variablesMap).
   */
  readonly resultAsJson?: boolean;
}

type Evaluate = (activation: CelActivation) => unknown;

/**
 * Compiles a checked AST, or throws NotCompiled with the construct that is not supported yet.
 *
 * `checkAgain` returns a fresh checked AST of the same expression, for the function on CEL values
 * (compiled on first use, which a webhook mostly never makes). Without it that function is compiled
 * from `ast`, which then stays in memory with everything the checker hung on it: the checker's
 * registry of types and overloads, about 100 KB for each policy's environment.
 */
export function compileExpression(
  ast: ASTNode,
  runtimeAst: ASTNode,
  operation: OperationFactory,
  checkAgain?: () => ASTNode,
  options: CompileOptions = {},
): CompiledExpressionCode {
  // Nothing in this scope that a closure below captures may refer to `ast` (see checkAgain).
  const checkedAst = checkAgain ?? keep(ast);
  // For an activation without JSON inputs (constants at load, the conformance suite): compiled on first use.
  let onCel: Evaluate | undefined;
  const withoutJson: Evaluate = (activation) => (onCel ??= generate(checkedAst(), runtimeAst, operation, false, withoutJson, options).code)(activation);
  const onJson = generate(ast, runtimeAst, operation, true, withoutJson, options);
  return { evaluate: onJson.code, source: onJson.source, jsonResult: onJson.jsonResult };
}

function keep(ast: ASTNode): () => ASTNode {
  return () => ast;
}

/** The checker's nodes with the types the interpreter's own check gave the same nodes ('dyn' where it gave none). */
export function runtimeTypesOf(ast: ASTNode, runtimeAst: ASTNode): Map<NodeLike, string> {
  const checkedNodes: NodeLike[] = [];
  const runtimeNodes: NodeLike[] = [];
  forEachNode(ast, (node) => checkedNodes.push(node));
  forEachNode(runtimeAst, (node) => runtimeNodes.push(node));
  if (checkedNodes.length !== runtimeNodes.length) throw new NotCompiled('the checked and the runtime expressions differ in shape');
  const runtimeTypes = new Map<NodeLike, string>();
  for (let i = 0; i < checkedNodes.length; i++) {
    const checked = checkedNodes[i]!;
    const runtime = runtimeNodes[i]!;
    if (checked.op !== runtime.op) throw new NotCompiled('the checked and the runtime expressions differ in shape');
    runtimeTypes.set(checked, checkedTypeOf(runtime) ?? 'dyn');
  }
  return runtimeTypes;
}

/** One generated function: on the review's JSON (`jsonInputs`), or on CEL values. */
function generate(
  ast: ASTNode,
  runtimeAst: ASTNode,
  operation: OperationFactory,
  jsonInputs: boolean,
  withoutJson: Evaluate,
  options: CompileOptions,
): { code: Evaluate; source: string; jsonResult: boolean } {
  const generator = new Generator(operation, runtimeTypesOf(ast, runtimeAst), jsonInputs, options.variableSlots, options.jsonVariables);
  try {
    generator.meterRegions(ast as unknown as NodeLike);
    const value = generator.gen(ast as unknown as NodeLike, { names: new Map(), accumulator: undefined });
    const jsonResult = jsonInputs && options.resultAsJson === true && value.json;
    const root = jsonResult ? value.src : generator.celOf(value);
    // The function on JSON is the program's `evaluate` itself (no wrapper call per evaluation, which
    // V8 could not inline: every program's wrapper would share one call site); it hands an
    // activation without JSON to the function compiled for CEL values.
    const prologue = jsonInputs ? generator.jsonPrologue(generator.k(withoutJson)) : [];
    return { ...generator.out.instantiate<Evaluate>(prologue, root), jsonResult };
  } catch (error) {
    // An AST shape this compiler did not expect is a reason to interpret, never a load failure.
    if (error instanceof NotCompiled) throw error;
    throw new NotCompiled(`compiler error: ${error instanceof Error ? error.message : String(error)}`);
  }
}
