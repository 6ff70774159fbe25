// A compiled CEL expression as the engine sees it: a function of the activation, nothing more.
// Compilation (parse + type check) lives in policy-scope.ts; this module only names the shapes.
import type { LeanFragment } from './codegen/lean-generator.js';

/**
 * The review's inputs as parsed JSON, for compiled code that reads fields straight from them and
 * converts to CEL values (values.ts) only the parts that reach an operation needing them. Never
 * modified: a mutation makes a new object sharing the untouched subtrees, so conversions by identity
 * stay valid for the whole review.
 */
export interface JsonInputs {
  readonly object: unknown;
  readonly oldObject: unknown;
  readonly request: unknown;
  readonly namespaceObject: unknown;
  /** A forEach default's list element (present whenever the activation sets `element`). */
  readonly element?: unknown;
  /** CEL values of the JSON objects and lists converted so far in this review, by identity. */
  readonly converted: ConversionMemo;
}

/** CEL values of JSON objects and lists by identity: a Map will do (the engine's makes its table on the first conversion). */
export interface ConversionMemo {
  get(json: object): unknown;
  set(json: object, cel: unknown): unknown;
}

/** The variables every policy expression can see. Values are CEL runtime values (see values.ts). */
export interface CelActivation {
  object: unknown;
  oldObject: unknown;
  request: unknown;
  params: unknown;
  variables: unknown;
  namespaceObject: unknown;
  /** Which nodes the object lands on (src/coverage), null when the nodes are not known. */
  coverage: unknown;
  /** Set while a `defaults` entry with `forEach` runs: the current list element and its index. */
  element?: unknown;
  index?: unknown;
  /**
   * When present, `object`, `oldObject`, `request`, `namespaceObject` and `element` as JSON: compiled code reads
   * these and leaves the CEL values above (which the engine converts lazily) to the interpreter.
   */
  readonly json?: JsonInputs;
  /**
   * When present, `variables.<name>` without building the `variables` map: the value, a thrown
   * evaluation error, or undefined for a name the policy does not declare. `slot`: where the variable
   * most likely is among the policy's (its declaration's index), checked against `name` before use.
   */
  variable?(name: string, slot?: number): unknown;
}

export interface CelProgram {
  readonly source: string;
  /** The CEL type the checker inferred, e.g. `bool`, `list<Container>`. */
  readonly resultType: string;
  /** Evaluates with the selected engine (see setCelEngine): the compiled closure when there is one. */
  evaluate(activation: CelActivation): unknown;
  /** Evaluates on cel-js's interpreter, the reference the compiled code is tested against. */
  interpret(activation: CelActivation): unknown;
  /** Why the compiler left this expression to the interpreter; undefined when it compiled it. */
  readonly notCompiled: string | undefined;
  /**
   * True for a variable's program whose `evaluate`, on an activation with JSON inputs, returns JSON
   * rather than a CEL value (a part of the review's JSON, or a list of such parts): its compiled
   * readers read it on as JSON, and the interpreter's `variables` map converts it.
   */
  readonly jsonResult?: boolean;
  /**
   * The expression's lean fragment (codegen/lean-generator.ts), from which the engine assembles a
   * policy's lean function; undefined on the interpreted engine and where the expression has none.
   */
  readonly lean?: LeanFragment;
}

/** `compiled`: checked expressions run as generated closures (compiler.ts); `interpreted`: on cel-js. */
export type CelEngine = 'compiled' | 'interpreted';

let engine: CelEngine = 'compiled';

/** Selects the engine for expressions compiled from now on (`--engine interpreted`, for debugging). */
export function setCelEngine(selected: CelEngine): void {
  engine = selected;
}

export function celEngine(): CelEngine {
  return engine;
}

export type CelErrorKind = 'syntax' | 'type' | 'result-type' | 'limit';

/** A load-time CEL problem with its position inside the expression (0-based character offset). */
export class CelCompileError extends Error {
  constructor(
    readonly kind: CelErrorKind,
    readonly detail: string,
    readonly offset: number,
    readonly expression: string,
  ) {
    super(detail);
    this.name = 'CelCompileError';
  }

  /** The expression's line with a caret under the offending column, as compilers print it. */
  caretSnippet(): string {
    const lineStart = this.expression.lastIndexOf('\n', Math.max(0, this.offset - 1)) + 1;
    let lineEnd = this.expression.indexOf('\n', this.offset);
    if (lineEnd < 0) lineEnd = this.expression.length;
    const line = this.expression.slice(lineStart, lineEnd);
    return `${line}\n${' '.repeat(Math.max(0, this.offset - lineStart))}^`;
  }
}
