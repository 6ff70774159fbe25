// Runs the cel-spec conformance suite (shipped in @bufbuild/cel-spec) through newBaseEnvironment()
// and reports pass / fail / skipped per section, as a markdown table on stdout and in RESULTS.md.
//
// Tests that need protobuf message types we do not model (TestAllTypes, wrappers, enums, proto
// containers) are skipped with a reason. Failures are reported, not fatal: the exit code is 0 when
// the suite ran. `--verbose` (or CONFORMANCE_VERBOSE=1) prints every failure with its reason.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Optional, type Environment } from '@marcbachmann/cel-js';
import { Duration, UnsignedInt } from '@marcbachmann/cel-js/evaluator';
import { tests as conformanceSuite } from '@bufbuild/cel-spec/testdata/conformance.js';
import { newBaseEnvironment } from '../../src/cel/base-environment.js';
import { compileExpression, NotCompiled, OPERAND_NAMES, type InterpretedOperation, type OperationFactory } from '../../src/cel/compiler.js';

export const SECTIONS = [
  'basic',
  'comparisons',
  'conversions',
  'fields',
  'fp_math',
  'integer_math',
  'lists',
  'logic',
  'macros',
  'optionals',
  'parse',
  'plumbing',
  'string',
  'string_ext',
  'timestamps',
] as const;

/** The JSON form of cel.expr.Value / cel.expr.Type as the suite ships them. */
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

interface SerializedTest {
  name?: string;
  expr: string;
  value?: JsonObject;
  evalError?: JsonObject;
  typedResult?: JsonObject;
  bindings?: Record<string, JsonObject>;
  typeEnv?: JsonObject[];
  disableCheck?: boolean;
  checkOnly?: boolean;
  container?: string;
}

interface SerializedSuite {
  name: string;
  suites?: SerializedSuite[];
  tests?: Array<{ original: SerializedTest }>;
}

class Skip extends Error {}

const PROTO_MESSAGE =
  /\b(TestAllTypes|NestedTestAllTypes|NestedMessage|NestedEnum|GlobalEnum|TestRequired|google\.protobuf\.(?!Duration\b|Timestamp\b)\w+|cel\.expr\.)/;

function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** cel.expr.Type (JSON) -> a cel-js type string. */
function typeString(t: Json | undefined): string {
  if (!isObject(t)) throw new Skip('unsupported type declaration');
  if (typeof t.primitive === 'string') {
    const names: Record<string, string> = {
      BOOL: 'bool',
      INT64: 'int',
      UINT64: 'uint',
      DOUBLE: 'double',
      STRING: 'string',
      BYTES: 'bytes',
    };
    const name = names[t.primitive];
    if (name) return name;
  }
  if ('null' in t) return 'null';
  if ('dyn' in t) return 'dyn';
  if (isObject(t.listType)) return `list<${typeString(t.listType.elemType)}>`;
  if (isObject(t.mapType)) return `map<${typeString(t.mapType.keyType)}, ${typeString(t.mapType.valueType)}>`;
  if (t.wellKnown === 'DURATION' || t.messageType === 'google.protobuf.Duration') return 'google.protobuf.Duration';
  if (t.wellKnown === 'TIMESTAMP' || t.messageType === 'google.protobuf.Timestamp') return 'google.protobuf.Timestamp';
  if (typeof t.messageType === 'string') throw new Skip('protobuf message types');
  throw new Skip('unsupported type declaration');
}

function durationFromString(text: string): Duration {
  const match = /^(-?)(\d+)(?:\.(\d{1,9}))?s$/.exec(text);
  if (!match) throw new Skip('unsupported duration literal');
  const sign = match[1] === '-' ? -1 : 1;
  const seconds = BigInt(match[2]!) * BigInt(sign);
  const nanos = Number((match[3] ?? '').padEnd(9, '0')) * sign;
  return new Duration(seconds, nanos);
}

/** cel.expr.Value (JSON) -> a cel-js runtime value. */
function celValue(v: Json | undefined): unknown {
  if (!isObject(v)) throw new Skip('unsupported value');
  if ('nullValue' in v) return null;
  if ('boolValue' in v) return v.boolValue === true;
  if ('int64Value' in v) return BigInt(v.int64Value as string | number);
  if ('uint64Value' in v) return new UnsignedInt(BigInt(v.uint64Value as string | number));
  if ('doubleValue' in v) return Number(v.doubleValue);
  if ('stringValue' in v) return v.stringValue ?? '';
  if ('bytesValue' in v) return new Uint8Array(Buffer.from(String(v.bytesValue ?? ''), 'base64'));
  if ('listValue' in v) {
    const list = isObject(v.listValue) && Array.isArray(v.listValue.values) ? v.listValue.values : [];
    return list.map((item) => celValue(item));
  }
  if ('mapValue' in v) {
    const entries = isObject(v.mapValue) && Array.isArray(v.mapValue.entries) ? v.mapValue.entries : [];
    const pairs = entries.map((e) => {
      if (!isObject(e)) throw new Skip('unsupported value');
      return [celValue(e.key), celValue(e.value)] as const;
    });
    if (pairs.every(([k]) => typeof k === 'string')) {
      const out = Object.create(null) as Record<string, unknown>;
      for (const [k, value] of pairs) out[k as string] = value;
      return out;
    }
    return new Map(pairs);
  }
  if ('typeValue' in v) return { typeName: v.typeValue };
  if (isObject(v.objectValue)) {
    const type = v.objectValue['@type'];
    if (type === 'type.googleapis.com/google.protobuf.Duration') return durationFromString(String(v.objectValue.value));
    if (type === 'type.googleapis.com/google.protobuf.Timestamp') return new Date(String(v.objectValue.value));
    throw new Skip('protobuf message types');
  }
  if ('enumValue' in v) throw new Skip('protobuf enums');
  throw new Skip('unsupported value');
}

function typeNameOf(v: unknown): string | undefined {
  if (typeof v === 'object' && v !== null && Object.prototype.toString.call(v).startsWith('[object Type<')) {
    return (v as { name: string }).name;
  }
  return undefined;
}

/** Strict CEL equality for expectations: same kinds, NaN equals NaN, maps compare by entries. */
function sameValue(actual: unknown, expected: unknown): boolean {
  if (typeof expected === 'number') {
    return typeof actual === 'number' && (Number.isNaN(expected) ? Number.isNaN(actual) : actual === expected);
  }
  if (typeof expected !== 'object' || expected === null) return actual === expected;
  if (expected instanceof UnsignedInt) return actual instanceof UnsignedInt && actual.value === expected.value;
  if (expected instanceof Uint8Array) {
    return actual instanceof Uint8Array && Buffer.from(actual).equals(Buffer.from(expected));
  }
  if (expected instanceof Duration) {
    return actual instanceof Duration && actual.seconds === expected.seconds && actual.nanos === expected.nanos;
  }
  if (expected instanceof Date) return actual instanceof Date && actual.getTime() === expected.getTime();
  if ('typeName' in expected && Object.keys(expected).length === 1) {
    const name = (expected as { typeName: unknown }).typeName;
    const actualName = typeNameOf(actual);
    return actualName === name || (name === 'null_type' && actualName === 'null');
  }
  if (Array.isArray(expected)) {
    return Array.isArray(actual) && actual.length === expected.length && expected.every((e, i) => sameValue(actual[i], e));
  }
  const expectedEntries = expected instanceof Map ? [...expected.entries()] : Object.entries(expected);
  const actualMap =
    actual instanceof Map
      ? actual
      : typeof actual === 'object' && actual !== null && !Array.isArray(actual)
        ? new Map(Object.entries(actual))
        : undefined;
  if (!actualMap || actualMap.size !== expectedEntries.length) return false;
  return expectedEntries.every(([k, v]) => {
    for (const [ak, av] of actualMap) if (sameValue(ak, k)) return sameValue(av, v);
    return false;
  });
}

function describe(v: unknown): string {
  if (typeof v === 'bigint') return `${v}`;
  if (v instanceof UnsignedInt) return `${v.value}u`;
  if (v instanceof Optional) return v.hasValue() ? `optional(${describe(v.value())})` : 'optional.none()';
  const typeName = typeNameOf(v);
  if (typeName) return `type(${typeName})`;
  try {
    return JSON.stringify(v, (_k, value: unknown) => (typeof value === 'bigint' ? `${value}` : value)) ?? String(v);
  } catch {
    return String(v);
  }
}

type Outcome = { status: 'pass' } | { status: 'fail'; reason: string } | { status: 'skip'; reason: string };

function environmentFor(base: Environment, test: SerializedTest): Environment {
  const env = base.clone();
  const declared = new Set<string>();
  for (const decl of test.typeEnv ?? []) {
    if (!isObject(decl) || typeof decl.name !== 'string') continue;
    if (!isObject(decl.ident)) throw new Skip('function declarations in the test environment');
    const type = typeString(decl.ident.type);
    try {
      env.registerVariable(decl.name, type);
      declared.add(decl.name);
    } catch {
      // cel-js refuses names such as `true` or `null`; the literal wins, as the test expects.
    }
  }
  for (const name of Object.keys(test.bindings ?? {})) {
    if (declared.has(name)) continue;
    try {
      env.registerVariable(name, 'dyn');
    } catch {
      // as above
    }
  }
  return env;
}

/** The compiler's slow path (one operation on the interpreter) in a test's own environment. */
function operationsIn(env: Environment): OperationFactory {
  return (source: string, operandTypes: readonly string[]): InterpretedOperation => {
    const scope = env.clone();
    for (const [i, name] of OPERAND_NAMES.entries()) {
      try {
        scope.registerVariable(name, operandTypes[i] ?? 'dyn');
      } catch {
        scope.registerVariable(name, 'dyn');
      }
    }
    const parsed = scope.parse(source);
    return (...operands) => {
      const activation: Record<string, unknown> = {};
      for (let i = 0; i < operands.length; i++) activation[OPERAND_NAMES[i]!] = operands[i];
      return parsed(activation);
    };
  };
}

/** How many checked expressions the compiler took, and where compiled and interpreted evaluation disagreed. */
export const compilerReport = { compiled: 0, interpreted: 0, disagreements: [] as string[] };

/**
 * Evaluates a checked expression compiled (compiler.ts), and on the interpreter as well: the suite's
 * verdict is the compiled one's, and any difference from the interpreter is reported.
 */
function evaluateCompiled(env: Environment, program: ReturnType<Environment['parse']>, activation: Record<string, unknown>, name: string): unknown {
  let code: ReturnType<typeof compileExpression>;
  try {
    code = compileExpression(program.ast, program.ast, operationsIn(env));
  } catch (error) {
    if (!(error instanceof NotCompiled)) throw error;
    compilerReport.interpreted++;
    return program(activation);
  }
  compilerReport.compiled++;
  const outcome = (run: () => unknown): { value?: unknown; error?: string } => {
    try {
      return { value: run() };
    } catch (error) {
      return { error: ((error as Error & { summary?: string }).summary ?? String(error)).split('\n')[0] };
    }
  };
  const compiled = outcome(() => code.evaluate(activation as never));
  const interpreted = outcome(() => program(activation));
  const agree = compiled.error !== undefined ? compiled.error === interpreted.error : interpreted.error === undefined && sameValue(compiled.value, interpreted.value);
  if (!agree) compilerReport.disagreements.push(`${name}: compiled ${compiled.error ?? describe(compiled.value)}, interpreted ${interpreted.error ?? describe(interpreted.value)}`);
  if (compiled.error !== undefined) throw new Error(compiled.error);
  return compiled.value;
}

function runTest(base: Environment, test: SerializedTest): Outcome {
  try {
    if (test.container) throw new Skip('protobuf container');
    if (PROTO_MESSAGE.test(test.expr)) throw new Skip('protobuf message types');
    if (test.checkOnly) throw new Skip('type-check-only test');
    const env = environmentFor(base, test);
    const activation: Record<string, unknown> = {};
    for (const [name, binding] of Object.entries(test.bindings ?? {})) activation[name] = celValue(binding.value);
    // A test with no expectation expects `true` (the suite's default result matcher).
    const expected =
      test.value !== undefined
        ? celValue(test.value)
        : test.typedResult !== undefined
          ? celValue(test.typedResult.result)
          : true;
    const expectError = test.evalError !== undefined;
    let actual: unknown;
    try {
      const program = env.parse(test.expr);
      if (!test.disableCheck) {
        const checked = program.check();
        if (!checked.valid) {
          if (expectError) return { status: 'pass' };
          return { status: 'fail', reason: `type check: ${(checked.error?.message ?? '').split('\n')[0]}` };
        }
      }
      actual = test.disableCheck ? program(activation) : evaluateCompiled(env, program, activation, test.name ?? test.expr);
    } catch (error) {
      if (error instanceof Skip) throw error;
      if (expectError) return { status: 'pass' };
      return { status: 'fail', reason: `error: ${(error instanceof Error ? error.message : String(error)).split('\n')[0]}` };
    }
    if (expectError) return { status: 'fail', reason: `expected an error, got ${describe(actual)}` };
    if (sameValue(actual, expected)) return { status: 'pass' };
    return { status: 'fail', reason: `expected ${describe(expected)}, got ${describe(actual)}` };
  } catch (error) {
    if (error instanceof Skip) return { status: 'skip', reason: error.message };
    return { status: 'fail', reason: `runner: ${error instanceof Error ? error.message : String(error)}` };
  }
}

export interface SectionResult {
  section: string;
  pass: number;
  fail: number;
  skipped: number;
  skipReasons: Map<string, number>;
  failures: Array<{ name: string; expr: string; reason: string }>;
}

export function runConformance(sections: readonly string[] = SECTIONS): SectionResult[] {
  const base = newBaseEnvironment();
  const suites = (conformanceSuite as unknown as SerializedSuite).suites ?? [];
  const results: SectionResult[] = [];
  for (const section of sections) {
    const suite = suites.find((s) => s.name === section);
    const result: SectionResult = { section, pass: 0, fail: 0, skipped: 0, skipReasons: new Map(), failures: [] };
    const walk = (s: SerializedSuite, path: string): void => {
      for (const { original } of s.tests ?? []) {
        const outcome = runTest(base, original);
        const name = `${path}/${original.name ?? original.expr}`;
        if (outcome.status === 'pass') result.pass++;
        else if (outcome.status === 'skip') {
          result.skipped++;
          result.skipReasons.set(outcome.reason, (result.skipReasons.get(outcome.reason) ?? 0) + 1);
        } else {
          result.fail++;
          result.failures.push({ name, expr: original.expr, reason: outcome.reason });
        }
      }
      for (const child of s.suites ?? []) walk(child, `${path}/${child.name}`);
    };
    if (suite) walk(suite, section);
    results.push(result);
  }
  return results;
}

export function renderMarkdown(results: readonly SectionResult[], withFailures: boolean): string {
  const lines: string[] = [];
  lines.push('| section | pass | fail | skipped |', '| --- | ---: | ---: | ---: |');
  const total = { pass: 0, fail: 0, skipped: 0 };
  for (const r of results) {
    lines.push(`| ${r.section} | ${r.pass} | ${r.fail} | ${r.skipped} |`);
    total.pass += r.pass;
    total.fail += r.fail;
    total.skipped += r.skipped;
  }
  lines.push(`| **total** | **${total.pass}** | **${total.fail}** | **${total.skipped}** |`);
  const reasons = new Map<string, number>();
  for (const r of results) for (const [reason, n] of r.skipReasons) reasons.set(reason, (reasons.get(reason) ?? 0) + n);
  if (reasons.size > 0) {
    lines.push('', '| skipped because | tests |', '| --- | ---: |');
    for (const [reason, n] of [...reasons].sort((a, b) => b[1] - a[1])) lines.push(`| ${reason} | ${n} |`);
  }
  if (withFailures) {
    const failures = results.flatMap((r) => r.failures);
    if (failures.length > 0) {
      lines.push('', '<details><summary>Failing tests</summary>', '');
      for (const f of failures) lines.push(`- \`${f.name}\`: \`${f.expr.replace(/`/g, "'").replace(/\n/g, ' ')}\` — ${f.reason.replace(/\|/g, '\\|')}`);
      lines.push('', '</details>');
    }
  }
  return lines.join('\n');
}

function main(): void {
  const verbose = process.argv.includes('--verbose') || process.env.CONFORMANCE_VERBOSE === '1';
  const started = performance.now();
  const results = runConformance();
  const elapsed = Math.round(performance.now() - started);
  const table = renderMarkdown(results, false);
  console.log(table);
  console.log(`\nRan in ${elapsed} ms.`);
  const { compiled, interpreted, disagreements } = compilerReport;
  console.log(`Compiled ${compiled} of ${compiled + interpreted} checked expressions; compiled and interpreted disagree on ${disagreements.length}.`);
  for (const d of disagreements) console.log(`  DIFFERS ${d}`);
  if (verbose) {
    for (const r of results) for (const f of r.failures) console.log(`FAIL ${f.name}: ${f.expr}\n     ${f.reason}`);
  }
  const resultsFile = fileURLToPath(new URL('../../../test/conformance/RESULTS.md', import.meta.url));
  const header =
    '# CEL conformance\n\n' +
    'The cel-spec conformance suite (from `@bufbuild/cel-spec`) run through `newBaseEnvironment()` ' +
    'by `npm run conformance`. Tests that need protobuf message types daemonguard does not model are skipped.\n\n' +
    'Checked expressions run compiled (`src/cel/compiler.ts`) and are also evaluated on the interpreter: ' +
    `${compilerReport.compiled} of ${compilerReport.compiled + compilerReport.interpreted} compiled; the two disagree on ` +
    `${compilerReport.disagreements.length}.\n\n`;
  writeFileSync(resultsFile, `${header}${renderMarkdown(results, true)}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
