// Compiles a policy's CEL expressions: type-checked against Kubernetes' own DaemonSet schema at load,
// evaluated on plain JSON at review time.
//
// Two environments, on purpose. The checker environment declares `object` as a typed DaemonSet so
// that `object.spec.tempalte` is refused at load. The runtime environment declares every variable as
// `dyn`, because cel-js would otherwise convert each object into wrapper classes on every review; the
// checker has already proven the field accesses, so evaluation can run on the JSON values directly.
// The checked AST is then compiled to closures (compiler.ts) that use the checker's types for their
// fast paths and the runtime environment's interpreter as their reference and slow path; the
// interpreter runs the whole expression when the compiler does not cover it, or with --engine interpreted.
import { Environment, type ASTNode } from '@marcbachmann/cel-js';
import { BoundedCache } from '../common/bounded-cache.js';
import { newBaseEnvironment } from './base-environment.js';
import { registerJsonPatchLibrary } from './jsonpatch-library.js';
import { installNodeCosts } from './node-costs.js';
import { meterEqualities } from './library/equality-cost.js';
import { applyKubernetesEquality } from './library/kubernetes-equality.js';
import { JSONPATCH_FIELDS, JSONPATCH_TYPE } from './constructible-types.js';
import { compileExpression, NotCompiled, OPERAND_NAMES, runtimeTypesOf, type InterpretedOperation } from './compiler.js';
import { leanFragmentOf, type LeanFragment } from './codegen/lean-generator.js';
import { forEachNode, type NodeLike } from './cel-js-internals.js';
import { CelCompileError, celEngine, type CelActivation, type CelProgram } from './program.js';
import k8sTypes from './k8s-types.generated.json' with { type: 'json' };

type TypeTable = Record<string, Record<string, string>>;

const REQUEST_TYPES: TypeTable = {
  GroupVersionKind: { group: 'string', version: 'string', kind: 'string' },
  GroupVersionResource: { group: 'string', version: 'string', resource: 'string' },
  UserInfo: { username: 'string', uid: 'string', groups: 'list<string>', extra: 'map<string, list<string>>' },
  AdmissionRequest: {
    uid: 'string',
    kind: 'GroupVersionKind',
    resource: 'GroupVersionResource',
    subResource: 'string',
    requestKind: 'GroupVersionKind',
    requestResource: 'GroupVersionResource',
    requestSubResource: 'string',
    name: 'string',
    namespace: 'string',
    operation: 'string',
    userInfo: 'UserInfo',
    dryRun: 'bool',
    options: 'dyn',
  },
};

/**
 * `coverage`: where the object lands among the known nodes (src/coverage, built by
 * engine/coverage-value.ts), null when no nodes are known. Footprints are quantities.
 */
const COVERAGE_TYPES: TypeTable = {
  CoverageNode: { name: 'string', labels: 'map<string, string>' },
  CoverageExcludedNode: { name: 'string', labels: 'map<string, string>', reason: 'string' },
  CoverageResources: { cpu: 'kubernetes.Quantity', memory: 'kubernetes.Quantity' },
  CoverageFootprint: { pod: 'CoverageResources', total: 'CoverageResources' },
  Coverage: {
    totalNodes: 'int',
    scheduledNodes: 'list<CoverageNode>',
    excludedNodes: 'list<CoverageExcludedNode>',
    unfitNodes: 'list<CoverageExcludedNode>',
    footprint: 'CoverageFootprint',
  },
};

const RUNTIME_VARIABLES = [
  'object',
  'oldObject',
  'request',
  'params',
  'variables',
  'namespaceObject',
  'coverage',
  'element',
  'index',
] as const;

const NAMED_TYPE = /^[A-Z][A-Za-z0-9]*$/;

/** Names of the custom types a CEL type string refers to (`list<Container>` -> Container). */
function referencedTypes(type: string): string[] {
  return type.split(/[<>,\s]+/).filter((part) => NAMED_TYPE.test(part));
}

/** Registers types so that every type is declared after the types its fields use (cel-js needs that). */
function registerTypeTable(env: Environment, table: TypeTable, known: Set<string>): void {
  const visiting = new Set<string>();
  const visit = (name: string): void => {
    if (known.has(name) || visiting.has(name)) return;
    const fields = table[name];
    if (!fields) return;
    visiting.add(name);
    const resolved: Record<string, string> = {};
    for (const [field, type] of Object.entries(fields)) {
      for (const ref of referencedTypes(type)) visit(ref);
      // A reference still unknown here is a cycle: fall back to dyn rather than fail.
      resolved[field] = referencedTypes(type).every((ref) => known.has(ref)) ? type : 'dyn';
    }
    env.registerType(name, { fields: resolved });
    declareEquality(env, name);
    known.add(name);
    visiting.delete(name);
  };
  for (const name of Object.keys(table)) visit(name);
}

/**
 * Declares `T == T` and `T == null` (cel-js derives the `!=` and reversed forms) for a declared object
 * type, as Kubernetes' CEL accepts equality between any two values of one type: immutability rules
 * such as `object.spec.selector == oldObject.spec.selector` are common on UPDATE.
 */
function declareEquality(env: Environment, name: string): void {
  env.registerOperator(`${name} == null`, (a: unknown, b: unknown) => a === b);
  // Only the check uses this overload: expressions run in the runtime environment, where every value
  // is dyn and `==` compares by the schema of the checked type (library/kubernetes-equality.ts: lists
  // by their list type, the rest with cel-js's equality), in both engines.
  env.registerOperator(`${name} == ${name}`, () => {
    throw new Error(`internal: the type checker's ${name} == ${name} was evaluated; evaluation belongs to the runtime environment`);
  });
}

let typedBaseCache: Environment | undefined;
let runtimeCache: Environment | undefined;

/** The checker's base: the CEL libraries plus the Kubernetes object types. Built once, then cloned. */
function typedBase(): Environment {
  if (!typedBaseCache) {
    const env = newBaseEnvironment().clone();
    registerJsonPatchLibrary(env);
    const known = new Set<string>();
    registerTypeTable(env, k8sTypes.types as TypeTable, known);
    registerTypeTable(env, REQUEST_TYPES, known);
    registerTypeTable(env, COVERAGE_TYPES, known);
    // Only the checker knows JSONPatch as a type: at run time a JSONPatch is a plain map (dyn).
    env.registerType(JSONPATCH_TYPE, { fields: { ...JSONPATCH_FIELDS } });
    declareEquality(env, JSONPATCH_TYPE);
    typedBaseCache = env;
  }
  return typedBaseCache as Environment;
}

/** The evaluator: every variable dyn, values are the JSON-derived CEL values from values.ts. */
function runtimeEnvironment(): Environment {
  if (!runtimeCache) {
    const env = newBaseEnvironment().clone();
    registerJsonPatchLibrary(env);
    for (const name of RUNTIME_VARIABLES) env.registerVariable(name, 'dyn');
    runtimeCache = env;
  }
  return runtimeCache as Environment;
}

export type ExpectedResult = 'bool' | 'string' | 'list' | 'any';

function resultMatches(actual: string, expected: ExpectedResult): boolean {
  if (expected === 'any' || actual === 'dyn') return true;
  if (expected === 'list') return actual === 'list' || actual.startsWith('list<');
  return actual === expected;
}

interface CelErrorLike {
  message: string;
  summary?: string;
  range?: { start: number; end: number } | undefined;
}

function offsetOf(error: CelErrorLike): number {
  return error.range?.start ?? 0;
}

function summaryOf(error: CelErrorLike): string {
  return (error.summary ?? error.message).split('\n')[0] ?? error.message;
}

/** Infers a CEL type from plain params data so that `params.alowedNamespaces` is a load error too. */
function inferParamType(value: unknown): string {
  if (value === null || value === undefined) return 'dyn';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'string') return 'string';
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'double';
  if (Array.isArray(value)) {
    const types = new Set(value.map(inferParamType));
    const only = types.size === 1 ? [...types][0] : undefined;
    return only && !only.startsWith('map') && !only.startsWith('list') ? `list<${only}>` : 'list<dyn>';
  }
  const types = new Set(Object.values(value as Record<string, unknown>).map(inferParamType));
  const only = types.size === 1 ? [...types][0] : undefined;
  return only && !only.startsWith('map') && !only.startsWith('list') ? `map<string, ${only}>` : 'map<string, dyn>';
}

/**
 * One policy's view of CEL: its params type, the variables declared so far, and `element` while a
 * forEach default is compiled. Expressions compiled through a scope can only see what it declares.
 */
/**
 * The environment of a Kubernetes-native policy (ValidatingAdmissionPolicy, MutatingAdmissionPolicy),
 * as the apiserver declares it (k8s.io/apiserver pkg/admission/plugin/cel/compile.go): `object`,
 * `oldObject` and `params` are dyn (a misspelt field is an error when evaluated, not at load), `params`
 * exists only with a paramKind, and there is no `coverage`.
 */
export interface NativeScopeOptions {
  hasParams: boolean;
}

/** Everything a policy's checker environment is built from (PolicyScope's declarations at one point). */
interface CheckerDeclarations {
  readonly paramFields: Readonly<Record<string, string>>;
  readonly variableFields: Readonly<Record<string, string>>;
  readonly native: NativeScopeOptions | undefined;
  readonly elementType: string | undefined;
}

function checkerEnvironment({ paramFields, variableFields, native, elementType }: CheckerDeclarations): Environment {
  const env = typedBase().clone();
  env.registerType('Params', { fields: { ...paramFields } });
  const registrable: Record<string, string> = {};
  for (const [name, type] of Object.entries(variableFields)) {
    registrable[name] = isRegistrable(type) ? type : 'dyn';
  }
  env.registerType('Variables', { fields: registrable });
  if (native) {
    env.registerVariable('object', 'dyn');
    env.registerVariable('oldObject', 'dyn');
    env.registerVariable('namespaceObject', 'Namespace');
    env.registerVariable('request', 'AdmissionRequest');
    if (native.hasParams) env.registerVariable('params', 'dyn');
    env.registerVariable('variables', 'Variables');
    return env;
  }
  env.registerVariable('object', 'DaemonSet');
  env.registerVariable('oldObject', 'DaemonSet');
  env.registerVariable('namespaceObject', 'Namespace');
  env.registerVariable('request', 'AdmissionRequest');
  env.registerVariable('coverage', 'Coverage');
  env.registerVariable('params', 'Params');
  env.registerVariable('variables', 'Variables');
  if (elementType) {
    env.registerVariable('element', elementType);
    env.registerVariable('index', 'int');
  }
  return env;
}

/**
 * The checked AST of an expression that checked before, in a new environment of the same
 * declarations: for the compiler's function on CEL values, compiled on first use, so that the
 * program does not keep the first checked AST and its environment for a use that may never come.
 */
function checkAgain(expression: string, declarations: CheckerDeclarations): () => ASTNode {
  return () => {
    try {
      return parseChecked(checkerEnvironment(declarations), expression).checked.ast;
    } catch (error) {
      throw new Error(`internal: ${expression} no longer type-checks: ${(error as Error).message}`);
    }
  };
}

/** `expression` parsed and type-checked in `env`, with its type; a CelCompileError when it does not check. */
function parseChecked(env: Environment, expression: string): { checked: ReturnType<Environment['parse']>; type: string } {
  let checked: ReturnType<Environment['parse']>;
  let result: ReturnType<Environment['check']>;
  try {
    checked = env.parse(expression);
    result = checked.check();
  } catch (error) {
    throw toCompileError(error, expression);
  }
  if (!result.valid) throw toCompileError(result.error, expression);
  return { checked, type: String(result.type) };
}

export class PolicyScope {
  readonly #paramFields: Record<string, string> = {};
  readonly #variableFields: Record<string, string> = {};
  /** The variables whose programs return JSON (CelProgram.jsonResult): their readers read them as JSON. */
  readonly #jsonVariables = new Set<string>();
  readonly #native: NativeScopeOptions | undefined;
  #checker: Environment | undefined;
  /** What the checker's environment depends on, as part of the key of the program cache. */
  #declarations: string | undefined;

  constructor(params: Record<string, unknown> | undefined, native?: NativeScopeOptions) {
    for (const [key, value] of Object.entries(params ?? {})) this.#paramFields[key] = inferParamType(value);
    this.#native = native;
  }

  /** Declares `variables.<name>` with the type its expression was inferred to have, and whether its program returns JSON. */
  declareVariable(name: string, type: string, json = false): void {
    this.#variableFields[name] = type;
    if (json) this.#jsonVariables.add(name);
    else this.#jsonVariables.delete(name);
    this.#checker = undefined;
    this.#declarations = undefined;
  }

  #checkerFor(elementType: string | undefined): Environment {
    if (!elementType && this.#checker) return this.#checker;
    const env = checkerEnvironment(this.#checkerDeclarations(elementType));
    if (!elementType) this.#checker = env;
    return env;
  }

  /** What the checker's environment declares, as a copy: later declarations do not change it. */
  #checkerDeclarations(elementType: string | undefined): CheckerDeclarations {
    return { paramFields: { ...this.#paramFields }, variableFields: { ...this.#variableFields }, native: this.#native, elementType };
  }

  /** The CEL type of an expression, or a CelCompileError. Used for forEach lists and variables. */
  typeOf(expression: string, elementType?: string): string {
    const env = this.#checkerFor(elementType);
    let result: ReturnType<Environment['check']>;
    try {
      result = env.check(expression);
    } catch (error) {
      throw toCompileError(error, expression);
    }
    if (!result.valid) throw toCompileError(result.error, expression);
    return String(result.type);
  }

  /** The checked AST of an expression in this scope: what the compiler reads (for tests of that reading). */
  checkedAst(expression: string, elementType?: string): ASTNode {
    return parseChecked(this.#checkerFor(elementType), expression).checked.ast;
  }

  /**
   * Parses and type-checks an expression, then prepares it for evaluation.
   * `elementType` declares `element` (and `index`) for expressions evaluated per list element.
   * `variable`: the expression of a variable, whose value may stay JSON (CelProgram.jsonResult).
   */
  compile(expression: string, expected: ExpectedResult, elementType?: string, variable = false): CelProgram {
    // A native policy's `object` is dyn: what it accepts, a DaemonSetPolicy's check may refuse.
    this.#declarations ??= JSON.stringify([this.#native ?? null, this.#paramFields, this.#variableFields, [...this.#jsonVariables].sort()]);
    const key = `${celEngine()}|${expected}|${variable}|${elementType ?? ''}|${this.#declarations}|${expression}`;
    const cached = programs.get(key);
    if (cached !== undefined) return cached;
    const program = this.#compileNew(expression, expected, elementType, variable);
    programs.set(key, program);
    return program;
  }

  #compileNew(expression: string, expected: ExpectedResult, elementType: string | undefined, variable: boolean): CelProgram {
    const { checked, type: resultType } = parseChecked(this.#checkerFor(elementType), expression);
    if (!resultMatches(resultType, expected)) {
      throw new CelCompileError(
        'result-type',
        `the expression must evaluate to ${expected}, but its type is ${resultType}`,
        0,
        expression,
      );
    }
    // Checked: policies whose declarations differ only where this expression does not read them
    // share its program (its generated function, and the optimized code V8 makes of it).
    const read = declarationsRead(checked.ast, this.#paramFields, this.#variableFields);
    // Which of the variables it reads are JSON: generated code reads those as JSON.
    const jsonRead = Object.keys(read.variables ?? {}).filter((name) => this.#jsonVariables.has(name)).sort();
    const readKey = `${celEngine()}|${expected}|${variable}|${elementType ?? ''}|${JSON.stringify([this.#native ?? null, read, jsonRead])}|${expression}`;
    const shared = programsByDeclarationsRead.get(readKey);
    if (shared !== undefined) return shared;
    const program = this.#prepare(expression, elementType, checked, resultType, variable);
    programsByDeclarationsRead.set(readKey, program);
    return program;
  }

  #prepare(expression: string, elementType: string | undefined, checked: ReturnType<Environment['parse']>, resultType: string, variable: boolean): CelProgram {
    let interpret: (activation: CelActivation) => unknown;
    let parsed: ReturnType<Environment['parse']>;
    let runtimeChecked: boolean;
    try {
      parsed = runtimeEnvironment().parse(expression);
      // Checked now rather than on the first evaluation, so that the literal and equality meters see the final AST.
      runtimeChecked = parsed.check().valid;
      if (runtimeChecked) {
        installNodeCosts(parsed.ast, checked.ast);
        // Before the meter, which must wrap the Kubernetes comparison and charge once per `==`.
        applyKubernetesEquality(checked.ast, parsed.ast);
        meterEqualities(parsed.ast);
      }
      interpret = (activation) => parsed(activation as unknown as Record<string, unknown>);
    } catch (error) {
      throw toCompileError(error, expression);
    }
    let evaluate = interpret;
    let notCompiled: string | undefined;
    let jsonResult = false;
    let lean: LeanFragment | undefined;
    try {
      if (!runtimeChecked) throw new NotCompiled('the interpreter refuses the expression at run time');
      const code = compileExpression(checked.ast, parsed.ast, interpretedOperation, checkAgain(expression, this.#checkerDeclarations(elementType)), {
        variableSlots: Object.keys(this.#variableFields),
        jsonVariables: new Set(this.#jsonVariables),
        resultAsJson: variable,
      });
      if (celEngine() === 'compiled') {
        evaluate = code.evaluate;
        jsonResult = code.jsonResult;
        lean = leanFragmentOf(checked.ast, runtimeTypesOf(checked.ast, parsed.ast));
      }
    } catch (error) {
      if (!(error instanceof NotCompiled)) throw error;
      notCompiled = error.reason;
    }
    return { source: expression, resultType, evaluate, interpret, notCompiled, jsonResult, lean };
  }
}

/**
 * Programs by expression and everything its check depends on (the engine, the expected result, the
 * types of params, variables and element): policies that share an expression and those types share
 * its parse, check and compiled code. A program holds no state of its own, so sharing is safe.
 */
const programs = new BoundedCache<CelProgram>(4096);
/** Programs by expression and the declarations its checked AST reads (see declarationsRead). */
const programsByDeclarationsRead = new BoundedCache<CelProgram>(4096);

type DeclarationsRead = Record<string, string | null> | Readonly<Record<string, string>>;

/**
 * Of `params` and `variables`, what a checked expression can see: when it reads one only as
 * `params.f` / `variables.f` (also `.?f`, `has(...)`), the types of those fields (null where a field is
 * not declared); when it reads it any other way (the whole map, or a comprehension variable of that
 * name), every field. Two scopes that agree on these check the expression to the same types.
 */
function declarationsRead(ast: ASTNode, paramFields: Readonly<Record<string, string>>, variableFields: Readonly<Record<string, string>>): { params?: DeclarationsRead; variables?: DeclarationsRead } {
  const declared = { params: paramFields, variables: variableFields };
  const fields: { params?: Record<string, string | null>; variables?: Record<string, string | null> } = {};
  const uses = { params: 0, variables: 0 };
  const selected = { params: 0, variables: 0 };
  const nameOf = (node: unknown): 'params' | 'variables' | undefined => {
    if (typeof node !== 'object' || node === null || (node as NodeLike).op !== 'id') return undefined;
    const name = (node as NodeLike).args;
    return name === 'params' || name === 'variables' ? name : undefined;
  };
  forEachNode(ast, (node) => {
    const identifier = nameOf(node);
    if (identifier !== undefined) uses[identifier]++;
    if (node.op !== '.' && node.op !== '.?') return;
    const [operand, field] = node.args as [unknown, unknown];
    const selectedName = nameOf(operand);
    if (selectedName === undefined || typeof field !== 'string') return;
    selected[selectedName]++;
    (fields[selectedName] ??= {})[field] = Object.hasOwn(declared[selectedName], field) ? declared[selectedName][field]! : null;
  });
  const read: { params?: DeclarationsRead; variables?: DeclarationsRead } = {};
  for (const name of ['params', 'variables'] as const) {
    if (uses[name] === 0) continue;
    read[name] = uses[name] === selected[name] ? sortedByKey(fields[name]!) : declared[name];
  }
  return read;
}

function sortedByKey<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Interpreted operations by operand types and source; a policy set of a few thousand expressions uses a few hundred. */
const operations = new BoundedCache<InterpretedOperation>(4096);
/** Environments by operand types: an operation is parsed in the one declaring its operands so. */
const operandEnvironments = new BoundedCache<Environment>(256);

/** The number of cached operations and environments (for the test that they stay bounded). */
export function operationCacheSize(): { operations: number; environments: number; limits: [number, number] } {
  return { operations: operations.size, environments: operandEnvironments.size, limits: [operations.limit, operandEnvironments.limit] };
}

function operandEnvironment(operandTypes: readonly string[]): Environment {
  const key = OPERAND_NAMES.map((_, i) => operandTypes[i] ?? 'dyn').join(';');
  let env = operandEnvironments.get(key);
  if (env === undefined) {
    env = newBaseEnvironment().clone();
    registerJsonPatchLibrary(env);
    for (const [i, name] of OPERAND_NAMES.entries()) {
      try {
        env.registerVariable(name, operandTypes[i] ?? 'dyn');
      } catch {
        // A type only a literal has (list<T> of `[]`): dyn, which resolves the same at run time.
        env.registerVariable(name, 'dyn');
      }
    }
    operandEnvironments.set(key, env);
  }
  return env;
}

/**
 * One operation on the interpreter, its operands bound to the runtime variables (compiler.ts's slow
 * path for values the fast paths do not cover). Parsed once per distinct operation, when it first runs.
 */
function interpretedOperation(source: string, operandTypes: readonly string[]): InterpretedOperation {
  const key = `${operandTypes.join(';')}|${source}`;
  let operation = operations.get(key);
  if (!operation) {
    // Parsed on the first run, not at load: most operations only run on malformed reviews, and each
    // set of operand types parses in an environment of its own (an overload table of about 100 KB).
    let parsed: ReturnType<Environment['parse']> | undefined;
    operation = (...operands) => {
      parsed ??= operandEnvironment(operandTypes).parse(source);
      const activation: Record<string, unknown> = {};
      for (let i = 0; i < operands.length; i++) activation[OPERAND_NAMES[i]!] = operands[i];
      return parsed(activation);
    };
    operations.set(key, operation);
  }
  return operation;
}

/** Whether a checker-inferred type can be declared as a field type (optionals and type values cannot). */
function isRegistrable(type: string): boolean {
  if (type.startsWith('optional') || type === 'type' || type.startsWith('type<')) return false;
  return referencedTypes(type).every(
    (ref) => ref === 'Params' || ref === JSONPATCH_TYPE || ref in (k8sTypes.types as TypeTable) || ref in REQUEST_TYPES || ref in COVERAGE_TYPES,
  );
}

function toCompileError(error: unknown, expression: string): CelCompileError {
  if (error instanceof CelCompileError) return error;
  if (error instanceof Error) {
    const celError = error as Error & CelErrorLike;
    const kind = error.name === 'ParseError' ? 'syntax' : error.name === 'TypeError' ? 'type' : 'limit';
    return new CelCompileError(kind, summaryOf(celError), offsetOf(celError), expression);
  }
  return new CelCompileError('syntax', String(error), 0, expression);
}
