// Typed object construction in CEL, as Kubernetes' MutatingAdmissionPolicy uses it:
//   JSONPatch{op: 'add', path: '/spec/x', value: 1}
//   Object{spec: Object.spec{template: Object.spec.template{...}}}
// cel-js has no message construction in its grammar. We extend its parser (cel-js-internals.ts) so
// that `Name.path{field: value, ...}` parses into an ordinary call node,
//   daemonguard_construct('Name.path', {'field': value, ...})
// whose nodes keep the user's positions (the type name's, each field name's, each value's). Both the
// interpreter and the compiler evaluate it as the call it is; its check step is ours: it refuses an
// unknown type or field and a value of the wrong type, naming them, and gives the checker the
// constructed type (DaemonSetSpec for Object.spec) so that what follows is type-checked too.
import { Environment, EvaluationError, ParseError, type ASTNode } from '@marcbachmann/cel-js';
import {
  TOKEN,
  probeParserInternals,
  type OperatorLike,
  type ParserInternals,
  type ParserLike,
} from './cel-js-internals.js';
import { isAssignable, resolveConstructible, JSONPATCH_TYPE, OBJECT_TYPE } from './constructible-types.js';
import { addOverload, type Handler } from './overloads.js';

/** cel-go's StructCreateBaseCost: what Kubernetes charges for constructing JSONPatch{...} or Object{...} (charged with the nodes, node-costs.ts). */
export { STRUCT_CREATE_COST } from './node-costs.js';

/** The function a construction calls; registered by registerObjectConstruction. */
export const CONSTRUCT_FUNCTION = 'daemonguard_construct';

const TYPE_NAME = Symbol('daemonguard.celTypeName');

interface FieldInit {
  readonly name: string;
  readonly key: ASTNode;
  readonly value: ASTNode;
}

interface Construction {
  readonly typeName: string;
  readonly typeNode: ASTNode;
  readonly fields: readonly FieldInit[];
}

const constructions = new WeakMap<object, Construction>();

/** The construction a node was parsed from (`Object.spec{...}`), if it was one. */
export function constructionOf(node: unknown): Construction | undefined {
  return typeof node === 'object' && node !== null ? constructions.get(node) : undefined;
}

/** The type name a value was constructed with (`Object.spec`, `JSONPatch`), undefined for plain values. */
export function constructedTypeName(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const name = (value as { [TYPE_NAME]?: unknown })[TYPE_NAME];
  return typeof name === 'string' ? name : undefined;
}

// A qualified name directly followed by `{`: nothing else in CEL's grammar puts a brace there.
const CONSTRUCTION_AHEAD = /[A-Za-z_][A-Za-z0-9_]*(?:\s*\.\s*[A-Za-z_][A-Za-z0-9_]*)*\s*\{/y;

function parseError(parser: ParserLike, message: string, start: number, end: number): ParseError {
  return new ParseError({ message, node: { pos: start, start, end, input: parser.input } } as never);
}

function takeNode(parser: ParserLike, start: number): void {
  if (parser.astNodesRemaining-- <= 0) throw parseError(parser, 'Exceeded maxAstNodes', start, start);
}

function parseConstruction(parser: ParserLike, internals: ParserInternals, constructOperator: OperatorLike): ASTNode {
  const { newNode, operators } = internals;
  const input = parser.input;
  const start = parser.pos;
  const segments: string[] = [];
  let nameEnd = parser.lexer.pos;
  segments.push(String(parser.value));
  parser.consume(TOKEN.IDENTIFIER);
  while (parser.match(TOKEN.DOT)) {
    parser.consume(TOKEN.DOT);
    nameEnd = parser.lexer.pos;
    segments.push(String(parser.value));
    parser.consume(TOKEN.IDENTIFIER);
  }
  const typeName = segments.join('.');
  takeNode(parser, start);
  const typeNode = newNode(input, start, start, nameEnd, operators.value, typeName);
  const brace = parser.consume(TOKEN.LBRACE);
  const fields: FieldInit[] = [];
  while (!parser.match(TOKEN.RBRACE)) {
    const fieldStart = parser.pos;
    const fieldEnd = parser.lexer.pos;
    if (parser.match(TOKEN.QUESTION)) {
      throw parseError(parser, `optional field initializers (?field: value) are not supported in ${typeName}{...}`, fieldStart, fieldEnd);
    }
    if (!parser.match(TOKEN.IDENTIFIER)) {
      throw parseError(parser, `expected a field name in ${typeName}{...}, e.g. ${typeName}{name: value}`, fieldStart, fieldEnd);
    }
    const name = String(parser.value);
    parser.consume(TOKEN.IDENTIFIER);
    parser.consume(TOKEN.COLON);
    if (fields.length >= parser.limits.maxMapEntries) throw parseError(parser, `Exceeded maxMapEntries (${parser.limits.maxMapEntries})`, fieldStart, fieldEnd);
    takeNode(parser, fieldStart);
    const key = newNode(input, fieldStart, fieldStart, fieldEnd, operators.value, name);
    fields.push({ name, key, value: parser.parseExpression() });
    if (!parser.match(TOKEN.COMMA)) break;
    parser.consume(TOKEN.COMMA);
  }
  const end = parser.lexer.pos;
  parser.consume(TOKEN.RBRACE);
  takeNode(parser, brace);
  const map = newNode(
    input,
    brace,
    brace,
    end,
    operators.map,
    fields.map((f) => [f.key, f.value]),
  );
  takeNode(parser, start);
  const call = newNode(input, start, start, end, constructOperator, [CONSTRUCT_FUNCTION, [typeNode, map]]);
  constructions.set(call, { typeName, typeNode, fields });
  return call;
}

interface TypeLike {
  readonly name: string;
}

interface CheckerLike {
  readonly dynType: TypeLike;
  readonly registry: { readonly objectTypes?: ReadonlyMap<string, unknown>; getType(name: string): TypeLike };
  createError(code: string, message: string, node: unknown): Error;
}

/** Constructions written directly as a field's value, or as elements of a list literal there. */
function nestedConstructions(value: ASTNode): Construction[] {
  const direct = constructionOf(value);
  if (direct) return [direct];
  const node = value as unknown as { op: string; args: unknown };
  if (node.op !== 'list' || !Array.isArray(node.args)) return [];
  return (node.args as unknown[]).flatMap((element) => {
    const found = constructionOf(element);
    return found ? [found] : [];
  });
}

function checkedTypeName(node: ASTNode): string | undefined {
  return (node as unknown as { checkedType?: TypeLike }).checkedType?.name;
}

function checkConstruction(call: OperatorLike, checker: CheckerLike, node: ASTNode, ctx: unknown): TypeLike {
  const construction = constructionOf(node)!;
  const { typeName } = construction;
  const target = resolveConstructible(typeName);
  if ('error' in target) throw checker.createError('unknown_type', target.error, construction.typeNode);
  const seen = new Set<string>();
  for (const field of construction.fields) {
    if (seen.has(field.name)) throw checker.createError('duplicate_field', `field '${field.name}' is set twice in ${typeName}{...}`, field.key);
    seen.add(field.name);
    if (!Object.hasOwn(target.fields, field.name)) {
      const known = Object.keys(target.fields).sort().join(', ');
      throw checker.createError('unknown_field', `${typeName} (${target.schemaType}) has no field '${field.name}'; its fields are: ${known}`, field.key);
    }
  }
  try {
    call.check(checker, node, ctx);
  } catch (error) {
    if (error instanceof Error && /no matching overload for 'daemonguard_construct/.test(error.message)) {
      throw checker.createError('unsupported', `${typeName}{...} cannot be constructed in this expression`, construction.typeNode);
    }
    throw error;
  }
  for (const field of construction.fields) {
    const expected = target.fields[field.name]!;
    if (target.kind === 'Object') {
      const path = `${typeName}.${field.name}`;
      for (const nested of nestedConstructions(field.value)) {
        if (nested.typeName !== path) {
          throw checker.createError(
            'type_name_mismatch',
            `unexpected type name "${nested.typeName}", expected "${path}", which matches the field path from the root Object type`,
            nested.typeNode,
          );
        }
      }
    }
    const actual = checkedTypeName(field.value);
    if (!isAssignable(actual, expected)) {
      throw checker.createError('field_type', `field '${field.name}' of ${typeName} is ${expected}, but the value is ${actual}`, field.value);
    }
  }
  // The checker environment registers the schema (and JSONPatch) types: the construction then has
  // its precise type. The runtime environment does not (its values are plain maps): dyn.
  const registry = checker.registry;
  if (registry.objectTypes?.has(target.schemaType)) return registry.getType(target.schemaType);
  return checker.dynType;
}

let installed: ParserInternals | undefined;

/** Extends cel-js's parser (all environments of this process) with `Name{field: value}`. Idempotent. */
export function installObjectConstructionSyntax(): void {
  if (installed) return;
  const internals = probeParserInternals(new Environment());
  const call = internals.operators.call;
  const constructOperator: OperatorLike = {
    name: call.name,
    check: (checker, node, ctx) => checkConstruction(call, checker as CheckerLike, node as ASTNode, ctx),
    evaluate: call.evaluate,
  };
  const proto = internals.parserPrototype;
  const parsePrimary = proto.parsePrimary;
  Object.defineProperty(proto, 'parsePrimary', {
    configurable: true,
    writable: true,
    value(this: ParserLike): ASTNode {
      if (this.type === TOKEN.IDENTIFIER) {
        CONSTRUCTION_AHEAD.lastIndex = this.pos;
        if (CONSTRUCTION_AHEAD.test(this.input)) return parseConstruction(this, internals, constructOperator);
      }
      return parsePrimary.call(this);
    },
  });
  installed = internals;
  // The token numbers are cel-js's private constants: prove they still mean what we think.
  const probe = new Environment().parse("JSONPatch{op: 'add'}").ast as unknown as { op?: string; args?: unknown[] };
  if (probe.op !== 'call' || probe.args?.[0] !== CONSTRUCT_FUNCTION) throw new Error('cel-js internals changed: the object construction syntax no longer parses');
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'bigint') return 'int';
  if (typeof value === 'number') return 'double';
  if (typeof value === 'boolean') return 'bool';
  if (Array.isArray(value)) return 'list';
  return typeof value === 'object' ? 'map' : typeof value;
}

/** The string fields of a JSONPatch, '' when not given (k8s.io/apiserver/pkg/cel/mutation JSONPatchVal). */
export const JSONPATCH_STRING_FIELDS: readonly string[] = Object.freeze(['op', 'path', 'from']);

/** Builds a constructed value: a map (without prototype, like values.ts builds them) tagged with its type name. */
function construct(typeName: string, fields: unknown): Record<string, unknown> {
  const entries: [string, unknown][] = fields instanceof Map ? [...(fields as Map<string, unknown>)] : Object.entries(fields as Record<string, unknown>);
  const out = Object.create(null) as Record<string, unknown>;
  // Kubernetes' JSONPatch is a struct: an op, path or from left out reads as '' (and has() is false
  // for it, see hasField), not as a missing key. `value` has no default.
  if (typeName === JSONPATCH_TYPE) for (const name of JSONPATCH_STRING_FIELDS) out[name] = '';
  for (const [name, value] of entries) {
    if (typeName === JSONPATCH_TYPE && name !== 'value' && typeof value !== 'string') {
      throw new EvaluationError(`unexpected type ${kindOf(value)} for JSONPatch '${name}' field, want string`);
    }
    out[name] = value;
  }
  Object.defineProperty(out, TYPE_NAME, { value: typeName, enumerable: false });
  return out;
}

/** Registers the function constructions call. Every environment that parses policy CEL needs it. */
export function registerObjectConstruction(env: Environment): void {
  installObjectConstructionSyntax();
  env.registerFunction(`${CONSTRUCT_FUNCTION}(string, map<dyn, dyn>): dyn`, construct);
  // One handler for every environment, so that compiled code calls it directly (overloads.ts).
  addOverload(null, CONSTRUCT_FUNCTION, ['string', 'map<dyn, dyn>'], construct as Handler);
}


/**
 * Kubernetes' run-time check of an apply configuration (ObjectVal.CheckTypeNamesMatchFieldPathNames):
 * every constructed object inside must be named after its field path from the root. The checker
 * catches the direct cases at load; this covers values that came through variables or functions.
 */
export function typeNameMismatches(value: unknown, path: string[] = [constructedTypeName(value) ?? OBJECT_TYPE]): string[] {
  const found: string[] = [];
  const name = constructedTypeName(value);
  const expected = path.join('.');
  if (name !== undefined && name !== expected) {
    found.push(`unexpected type name "${name}", expected "${expected}", which matches field name path from root Object type`);
  }
  if (Array.isArray(value)) {
    for (const element of value) found.push(...typeNameMismatches(element, path));
  } else if (value instanceof Map) {
    for (const [key, element] of value) found.push(...typeNameMismatches(element, name === undefined ? path : [...path, String(key)]));
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, element] of Object.entries(value)) found.push(...typeNameMismatches(element, name === undefined ? path : [...path, key]));
  }
  return found;
}
