// The CEL compiler (src/cel/compiler.ts) against cel-js's interpreter, its reference: every expression
// of the built-in library (which the verify suites run), of the README's policy example and of the
// object-equality fixtures (src/cel/testdata/equality), evaluated both ways on the same activations,
// must agree on the value, the error (class and message) and the cost charged. The inputs are the
// verify suites' real DaemonSets, and fast-check variations of them with fields dropped, replaced
// by values of the wrong type, or added, or with every list reversed (order matters for atomic lists,
// not for listType=map or set ones); each review is tried as CREATE and as UPDATE (with
// oldObject), and with `coverage` both null (no nodes known) and computed from the suites' 67-node
// cluster (test/policies/nodes/cluster.yaml). It also asserts that the compiler covers the whole
// library, so a policy that silently falls back to the interpreter is noticed.
//
// DAEMONGUARD_FUZZ_RUNS sets the number of generated DaemonSets (default 150).
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parse as parseYaml } from 'yaml';
import { Optional } from '@marcbachmann/cel-js';
import { celOf } from '../../src/cel/codegen/runtime.js';
import { measureCost } from '../../src/cel/cost.js';
import type { CelActivation, CelProgram } from '../../src/cel/program.js';
import { isJsonObject, type JsonObject, type JsonValue } from '../../src/common/vocabulary.js';
import { elementActivation, policyActivation, sharedValues } from '../../src/engine/activation.js';
import { loadPolicySet } from '../../src/policy/load-policies.js';
import type { CompiledExpression, CompiledPolicy } from '../../src/policy/types.js';
import { admissionRequest } from '../support/admission-fixtures.js';
import { POLICIES_DIR, repoRoot } from '../support/library-paths.js';
import { seedDaemonSets } from '../robustness/hostile-fixtures.js';
import { applyEdits, edgeAnnotations, edgeMember, edit, reverseLists, strangeValue } from '../support/daemonset-edits.js';

const RUNS = Math.max(1, Number(process.env['DAEMONGUARD_FUZZ_RUNS'] ?? 150));
const BUDGET = 1_000_000;

/** The README's DaemonSetPolicy example(s), from its yaml code blocks. */
async function readmePolicies(): Promise<string> {
  const readme = await readFile(path.join(repoRoot(), 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!).filter((b) => /^kind: DaemonSetPolicy$/m.test(b));
  assert.ok(blocks.length > 0, 'the README shows no DaemonSetPolicy');
  const dir = await mkdtemp(path.join(tmpdir(), 'daemonguard-readme-'));
  await writeFile(path.join(dir, 'readme.yaml'), blocks.join('\n---\n'));
  return dir;
}

const library = await loadPolicySet([POLICIES_DIR]);
/** The nodes the coverage policies' suites use, so that `coverage` is a value and not only null. */
const clusterNodes = (parseYaml(await readFile(path.join(repoRoot(), 'test', 'policies', 'nodes', 'cluster.yaml'), 'utf8')) as { items: JsonObject[] }).items;
assert.ok(clusterNodes.length > 0, 'test/policies/nodes/cluster.yaml lists no nodes');
const readme = await loadPolicySet([await readmePolicies()]);
/** Rules comparing whole declared objects (`object.spec.selector == oldObject.spec.selector`, ...). */
const equality = await loadPolicySet([path.join(repoRoot(), 'src', 'cel', 'testdata', 'equality')]);
assert.ok(equality.policies.length > 0, 'src/cel/testdata/equality holds no policy');
const policies: CompiledPolicy[] = [...library.policies, ...readme.policies, ...equality.policies];

/** Every expression of a policy that evaluates against the review's activation (forEach defaults aside). */
function expressionsOf(policy: CompiledPolicy): CompiledExpression[] {
  return [
    ...policy.matchConditions,
    ...policy.variables,
    ...policy.validations.flatMap((v) => [v.expression, ...(v.messageExpression ? [v.messageExpression] : [])]),
    ...policy.mutations.flatMap((m) => [
      ...(m.when ? [m.when] : []),
      ...(m.jsonPatch ? [m.jsonPatch] : []),
      ...(m.defaults ?? []).flatMap((d) => (d.valueExpression && !d.forEach ? [d.valueExpression] : [])),
    ]),
  ];
}

/** A value in a form deepStrictEqual compares fully (optionals and library values hide their state). */
function normalize(value: unknown): unknown {
  if (value instanceof Optional) return { optional: value.hasValue() ? normalize(value.value()) : 'none' };
  if (Array.isArray(value)) return value.map(normalize);
  if (value instanceof Map) return { map: [...value].map(([k, v]) => [normalize(k), normalize(v)]) };
  if (typeof value === 'object' && value !== null) {
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto === null || proto === Object.prototype) {
      return { proto: proto === null ? 'null' : 'Object', entries: Object.entries(value).map(([k, v]) => [k, normalize(v)]) };
    }
    return { instance: value.constructor.name, text: String(value) };
  }
  return value;
}

interface Outcome {
  value?: unknown;
  error?: string;
  cost: number;
}

function run(evaluate: (activation: CelActivation) => unknown, activation: CelActivation): Outcome {
  const outer = measureCost(Number.MAX_SAFE_INTEGER, (): Omit<Outcome, 'cost'> => {
    try {
      return { value: normalize(measureCost(BUDGET, () => evaluate(activation)).value) };
    } catch (error) {
      const e = error as Error & { summary?: string };
      return { error: `${e.name}: ${(e.summary ?? e.message).split('\n')[0]}` };
    }
  });
  return { ...outer.value, cost: outer.cost };
}

/**
 * What a program returns as the CEL value it stands for: a variable's program may return JSON
 * (CelProgram.jsonResult), which its readers convert as celOf does.
 */
function evaluatedAsCel(program: CelProgram, activation: CelActivation): unknown {
  const value = program.evaluate(activation);
  return program.jsonResult === true ? celOf(value, activation.json!.converted) : value;
}

/** Evaluates each lazy variable once, outside any measurement, so both sides see them settled. */
function settleVariables(activation: CelActivation): void {
  const variables = activation.variables as Record<string, unknown>;
  for (const name of Object.keys(variables)) {
    try {
      void variables[name];
    } catch {
      // A failing variable fails the same way for both sides.
    }
  }
}

let compared = 0;

let comparedWithCoverage = 0;
let comparedPerElement = 0;

function compareOn(object: JsonObject, oldObject: JsonObject | null, nodes: readonly JsonObject[] | null = null, among: readonly CompiledPolicy[] = policies): void {
  const request = admissionRequest(object, oldObject ? { operation: 'UPDATE', oldObject } : {});
  const namespace = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: request.namespace ?? 'default', labels: { team: 'a' } } };
  for (const policy of among) {
    const compiledSide = policyActivation(policy, sharedValues(request, object, namespace, nodes));
    const interpretedSide = policyActivation(policy, sharedValues(request, object, namespace, nodes));
    settleVariables(compiledSide);
    settleVariables(interpretedSide);
    for (const expression of expressionsOf(policy)) {
      const program: CelProgram = expression.program;
      const compiled = run((a) => evaluatedAsCel(program, a), compiledSide);
      const interpreted = run((a) => program.interpret(a), interpretedSide);
      assert.deepStrictEqual(compiled, interpreted, `${policy.name} ${expression.field}: ${program.source}`);
      compared++;
      if (nodes !== null && /\bcoverage\b/.test(program.source) && interpretedSide.coverage !== null) comparedWithCoverage++;
    }
    // forEach defaults: per element of their list, with `element` and `index` set as mutate.ts sets them.
    for (const entry of policy.mutations.flatMap((m) => m.defaults ?? [])) {
      if (!entry.forEach || !entry.valueExpression) continue;
      let list: JsonValue | undefined = object;
      for (const segment of entry.forEach) list = isJsonObject(list) ? list[segment] : Array.isArray(list) ? list[Number(segment)] : undefined;
      if (!Array.isArray(list)) continue;
      const program = entry.valueExpression.program;
      list.forEach((element, index) => {
        const compiled = run((a) => program.evaluate(a), elementActivation(compiledSide, element, BigInt(index)));
        const interpreted = run((a) => program.interpret(a), elementActivation(interpretedSide, element, BigInt(index)));
        assert.deepStrictEqual(compiled, interpreted, `${policy.name} ${entry.valueExpression!.field} [${index}]: ${program.source}`);
        compared++;
        comparedPerElement++;
      });
    }
  }
}

const seeds = seedDaemonSets();

/**
 * Expressions whose generated code takes the compiler's JSON shortcuts (`.?` chains fused into
 * presence tests, has() and field reads on JSON) or carries text that must never become source
 * (quotes, backslashes, `${`, newlines, `__proto__`), as the variables of one policy.
 */
const EDGE_EXPRESSIONS = [
  'object.spec.template.spec.containers.map(c, c.?securityContext.?privileged.orValue(false))',
  "object.spec.template.spec.containers.map(c, c.?securityContext.?capabilities.?add.orValue(['none']))",
  'object.spec.template.spec.containers.map(c, c.?securityContext.?seLinuxOptions.?user.orValue(c.name))',
  'object.spec.template.spec.containers.map(c, c.?securityContext.?capabilities.?add)',
  'object.spec.template.spec.containers.map(c, c.?securityContext.?capabilities.?add.hasValue())',
  'object.spec.template.spec.containers.filter(c, !c.?securityContext.hasValue()).size()',
  'object.spec.template.spec.?hostNetwork.hasValue() || object.metadata.?annotations.?__proto__.hasValue()',
  'object.spec.template.spec.containers.map(c, has(c.securityContext) && has(c.securityContext.privileged))',
  'object.spec.template.spec.containers.map(c, has(c.securityContext.capabilities.add) ? c.securityContext.capabilities.add.size() : -1)',
  "object.spec.template.spec.containers.exists(c, c.?securityContext.?runAsUser.orValue(0) == 0)",
  "object.spec.?template.?spec.?hostNetwork.orValue(false) || object.spec.template.spec.?hostPID.orValue(false)",
  "object.metadata.?annotations.?__proto__.orValue('absent')",
  "object.metadata.?annotations.?constructor.orValue('absent')",
  'has(object.metadata.annotations.__proto__)',
  'has(object.metadata.annotations.constructor)',
  'object.metadata.annotations.__proto__',
  `object.metadata.?annotations[?'we"ird\\\\key\${x}\\n'].orValue('absent')`,
  `'a"b\\\\c\${d}\\n\\'' + "\\u0027'*/" + object.metadata.name`,
  `{'__proto__': 1, 'constructor': 2, 'k"\${x}': 3, 'toString': 4}`,
  // Map literals with literal keys are built member by member (no array of entries): reserved names
  // left out, a repeated key as the interpreter treats it, keys that are not names.
  "{'prototype': 1, 'name': object.metadata.name, 'k.x/y': 2, 'hasOwnProperty': 3}",
  "{'n': object.metadata.name, 'n': 'second'}",
  "object.spec.template.spec.containers.map(c, {'name': c.name, 'image': c.?image.orValue(''), '__proto__': c})",
  `'__proto__' in object.metadata.annotations`,
  "['constructor' in object.metadata.annotations, 'toString' in object.metadata.annotations, 'hostNetwork' in object.metadata.annotations]",
  "object.spec.template.spec.containers.map(c, has(c.resources) && has(c.resources.requests) && 'memory' in c.resources.requests)",
  // `[?k]` on an Optional (runtime.ts optionalIndex) and `== null` on values that are not JSON.
  "object.spec.template.spec.containers.map(c, c.?securityContext.?capabilities[?'add'].orValue(['none']))",
  "object.spec.template.spec.containers.map(c, c.?securityContext[?'seLinuxOptions'][?'user'].hasValue())",
  "object.spec.template.spec.containers.map(c, c.?securityContext.?capabilities.?add[?0].orValue('none'))",
  "object.spec.template.spec.containers.map(c, c.?securityContext[?'runAsUser'].orValue(dyn(null)) == null)",
  "object.spec.template.spec.containers.map(c, null != c.?securityContext[?'capabilities'].orValue(dyn(null)))",
  "object.spec.template.spec.containers.map(c, dyn(c)[?'securityContext'].orValue(null) != null)",
  // `[?'k']` steps in a `.?` chain on JSON (fused as presence tests, the key a constant).
  "object.spec.template.spec.containers.map(c, c[?'securityContext'].?capabilities[?'add'].orValue(['none']))",
  "[object.metadata.?annotations[?'__proto__'].orValue('absent'), object.metadata.?annotations[?'constructor'].orValue('absent')]",
  "[object.metadata.?annotations[?'toString'].hasValue(), object.metadata.?annotations[?'hostNetwork'].hasValue()]",
  `object.metadata[?'annotations'][?'we"ird\\\\key\${x}\\n'].orValue('absent')`,
  // `.orValue({})` keeps the member JSON: read on as a map, iterated, compared.
  "object.metadata.?annotations.orValue({}).filter(k, k.startsWith('we') || object.metadata.annotations[k] == 'found')",
  "object.metadata.?annotations.orValue({}) == {} || size(object.metadata.?annotations.orValue({})) > 1",
  "object.metadata.?annotations.orValue({}).?hostNetwork.orValue('none')",
  // hasValue() on a chain from a dyn value (no overload fixed by the checker).
  "object.spec.template.spec.containers.map(c, dyn(c).?securityContext[?'capabilities'].?add.hasValue())",
  "object.spec.template.spec.containers.exists(c, dyn(c)[?'securityContext'].?seLinuxOptions[?'user'].hasValue())",
  // The same chains on CEL values (a concatenation's converted elements, a list literal's, an
  // Optional): fused into presence tests while each value is a plain map.
  '(object.spec.template.spec.containers + []).map(c, c.?securityContext.?privileged.orValue(false))',
  '(object.spec.template.spec.containers + []).map(c, c.?securityContext.?capabilities.?add.hasValue())',
  "(object.spec.template.spec.containers + []).map(c, c.?securityContext[?'seLinuxOptions'][?'user'].orValue('none'))",
  "(object.spec.template.spec.containers + []).map(c, c[?'securityContext'].?capabilities[?'add'].orValue(['none']))",
  "(object.spec.template.spec.containers + []).exists(c, c.?securityContext.?runAsUser.orValue(0) == 0)",
  "[object.metadata.?annotations.orValue({})].map(a, [a.?__proto__.orValue('absent'), a.?constructor.orValue('absent'), a[?'toString'].hasValue() ? 'own' : 'none'])",
  `[object.metadata.?annotations.orValue({})].map(a, a[?'we"ird\\\\key\${x}\\n'].orValue('absent'))`,
  'optional.of(object.spec.template.spec).?hostNetwork.orValue(false)',
  "optional.of(object.metadata).?annotations.?hostNetwork.orValue('none')",
];

/**
 * forEach defaults' value expressions, which compiled code runs on the list element as JSON (the
 * activation's json.element) and the interpreter on the element converted: member reads, `.?`
 * chains, has(), comprehensions, the element whole, compared and indexed, beside `index`.
 */
const ELEMENT_EXPRESSIONS = [
  'element',
  'element.name',
  "element.name + '-' + string(index)",
  'element.?securityContext.?privileged.orValue(false)',
  "element.?securityContext[?'capabilities'].?add.orValue(['none'])",
  'element.?securityContext.?capabilities.?add.hasValue()',
  'has(element.securityContext) && has(element.securityContext.privileged)',
  'element.?ports.orValue([]).map(p, p.containerPort + index)',
  "element.?env.orValue([]).filter(e, e.name.startsWith('A')).map(e, e.?value.orValue(''))",
  'element == object.spec.template.spec.containers[index]',
  'dyn(element) == null',
  'dyn(element) != null && size(dyn(element)) > 1',
  'dyn(element)[?0].orValue(-1)',
  "dyn(element)[?'name'].orValue('none')",
  "dyn({'copy': element, 'at': index})",
  '[element, element].size()',
];

/** What lands in the containers list the element expressions run over: containers, odd shapes, nested lists. */
const edgeElement: fc.Arbitrary<JsonValue> = fc.oneof(
  strangeValue,
  edgeMember.map((securityContext): JsonValue => ({ name: 'c', image: 'i', securityContext })),
  fc.constantFrom<JsonValue>(
    { name: 'p', ports: [{ containerPort: 80 }, { containerPort: 2 ** 53 }, { containerPort: 'x' }] },
    { name: 'p', ports: null },
    { name: 'e', env: [{ name: 'A', value: 'v' }, { name: 'B' }, { name: 'AX' }] },
    { name: 'e', env: [{ name: 1 }] },
    { name: 1 },
    { name: null },
    [[1, 2], []],
    [['x']],
    [null],
    JSON.parse('{"__proto__": {"name": "n"}, "name": "own"}') as JsonValue,
    { constructor: { name: 'n' }, name: 'c' },
  ),
);

/**
 * Expressions whose generated code works on JSON without converting it: comparisons with `null`,
 * `+` on two lists and size(), over initContainers, containers, the name and the labels (set to
 * anything below) and an oldObject that is null, empty or a DaemonSet.
 */
const JSON_OPERATION_BASE = [
  'oldObject == null',
  'oldObject != null',
  'null == oldObject',
  'object.spec.template.spec.initContainers + object.spec.template.spec.containers',
  'object.spec.template.spec.?initContainers.orValue([]) + object.spec.template.spec.containers',
  'size(object.spec.template.spec.initContainers + object.spec.template.spec.containers)',
  '(object.spec.template.spec.initContainers + object.spec.template.spec.containers)[0]',
  '(object.spec.template.spec.initContainers + object.spec.template.spec.containers).map(e, e)',
  'object.spec.template.spec.initContainers + object.spec.template.spec.containers == object.spec.template.spec.containers',
  'object.spec.template.spec.initContainers + object.spec.template.spec.containers + object.spec.template.spec.initContainers',
  'size(object.spec.template.spec.initContainers)',
  'object.spec.template.spec.containers.size()',
  'size(object.metadata.name) + object.metadata.name.size()',
  'size(object.metadata.labels)',
  // A filter over JSON keeps the elements it selects as JSON: its list read on as JSON by a chained
  // macro, an index, size(), `in`, `==`, `+`, and converted where a CEL value is needed (the result,
  // a map literal's member, dyn()).
  'object.spec.template.spec.containers.filter(c, true)',
  'object.spec.template.spec.containers.filter(c, c != null)',
  "object.spec.template.spec.containers.filter(c, dyn(c) == 'a' || dyn(c) == 1)",
  'object.spec.template.spec.containers.filter(c, dyn(c))',
  'object.spec.template.spec.containers.filter(c, true).map(c, c)',
  "object.spec.template.spec.containers.filter(c, c != null).map(c, c.?name.orValue('none'))",
  'object.spec.template.spec.containers.filter(c, true).filter(c, true).exists(c, dyn(c) == 1.0)',
  'size(object.spec.template.spec.containers.filter(c, true)) == size(object.spec.template.spec.containers)',
  'object.spec.template.spec.containers.filter(c, true) == object.spec.template.spec.containers',
  'object.spec.template.spec.containers.filter(c, true)[0]',
  'object.spec.template.spec.containers.filter(c, true)[0] in object.spec.template.spec.containers',
  'object.spec.template.spec.containers.filter(c, true) + object.spec.template.spec.?initContainers.orValue([]).filter(c, true)',
  "{'kept': object.spec.template.spec.containers.filter(c, c != null)}",
  'dyn(object.spec.template.spec.containers.filter(c, true)).map(c, c)',
  'object.metadata.labels.filter(k, true)',
  "object.metadata.labels.filter(k, k != '').map(k, object.metadata.labels[k])",
];

/**
 * The edge policy's variable (vN, in declaration order) holding `initContainers + containers`: its
 * value stays JSON when both are lists (a CEL value wrapped otherwise), and these read it as JSON.
 */
const CONCATENATED = `variables.v${JSON_OPERATION_BASE.indexOf('object.spec.template.spec.?initContainers.orValue([]) + object.spec.template.spec.containers')}`;
const JSON_OPERATION_EXPRESSIONS = [
  ...JSON_OPERATION_BASE,
  `${CONCATENATED}.map(x, x)`,
  `${CONCATENATED}.map(x, x.?name.orValue('none'))`,
  `${CONCATENATED}.filter(x, x != null).exists(x, has(x.name))`,
  `${CONCATENATED}.all(x, x.?securityContext.?privileged.orValue(false) == false)`,
  `size(${CONCATENATED}) + ${CONCATENATED}.size()`,
  `${CONCATENATED}[0]`,
  `${CONCATENATED}[0].name`,
  `${CONCATENATED} == object.spec.template.spec.containers`,
  `${CONCATENATED} + ${CONCATENATED}`,
  `dyn(${CONCATENATED})`,
  `{'all': ${CONCATENATED}}`,
  // `c ? x : []` keeps x's JSON (the empty literal is the same value either way).
  "(object.metadata.name == 'x' ? object.spec.template.spec.initContainers : []) + object.spec.template.spec.containers",
  "(object.metadata.name != 'x' ? [] : object.spec.template.spec.initContainers).map(c, c)",
  "(size(object.metadata.labels) > 0 ? object.metadata.labels : {}).filter(k, true)",
  "dyn(object.metadata.name) ? object.spec.template.spec.containers : []",
];

/** What the JSON operation expressions read: lists with mixed first elements, nulls, astral strings. */
const jsonOperand: fc.Arbitrary<JsonValue> = fc.oneof(
  strangeValue,
  fc.constantFrom<JsonValue>(
    [1, 'a'],
    ['a', 1],
    [null],
    [null, 1],
    [1.5],
    [1.0],
    [2 ** 63],
    [true, false],
    [[1]],
    [{}],
    [{ a: 1 }, 2],
    ['b', 'c'],
    '\u{1F600}x',
    'a\u{1F600}\u{1F600}',
    '\uD800',
    '\uD800\uDC00\uDC00',
    'x'.repeat(11),
    '\u{1F600}'.repeat(12),
    { k: 'v' },
    { constructor: 1 },
  ),
  fc.array(fc.oneof(fc.integer(), fc.string({ maxLength: 3 }), fc.constant(null)), { maxLength: 4 }),
);

/**
 * Int arithmetic and comparisons, which compiled code does on JS numbers while the operands and the
 * results are safe integers (src/cel/codegen/int-numbers.ts) and as before otherwise: over numbers
 * set below at the edges of 2^53 and 2^63, doubles, strings, null and missing members.
 */
const INT_EXPRESSIONS = [
  'object.spec.minReadySeconds + object.spec.revisionHistoryLimit',
  'object.spec.minReadySeconds - object.spec.revisionHistoryLimit',
  'object.spec.minReadySeconds * object.spec.revisionHistoryLimit',
  'object.spec.minReadySeconds / object.spec.revisionHistoryLimit',
  'object.spec.minReadySeconds % object.spec.revisionHistoryLimit',
  '-object.spec.minReadySeconds',
  '-(object.spec.minReadySeconds - object.spec.revisionHistoryLimit)',
  'object.spec.minReadySeconds < object.spec.revisionHistoryLimit',
  'object.spec.minReadySeconds <= object.spec.revisionHistoryLimit',
  'object.spec.minReadySeconds > object.spec.revisionHistoryLimit',
  'object.spec.minReadySeconds >= object.spec.revisionHistoryLimit',
  'object.spec.minReadySeconds == object.spec.revisionHistoryLimit',
  'object.spec.minReadySeconds != object.spec.revisionHistoryLimit',
  'object.spec.minReadySeconds * 2 + 1 > object.spec.revisionHistoryLimit - 3',
  'object.spec.minReadySeconds * object.spec.minReadySeconds * object.spec.minReadySeconds',
  'object.spec.minReadySeconds + object.spec.revisionHistoryLimit == object.metadata.generation',
  'object.spec.minReadySeconds / 0',
  'object.spec.minReadySeconds % 0',
  'object.spec.minReadySeconds / -1 + object.spec.minReadySeconds % -1',
  'object.spec.minReadySeconds + 9223372036854775807',
  'object.spec.minReadySeconds - 9223372036854775807 - 2',
  '-(object.spec.minReadySeconds - 9223372036854775807 - 1)',
  'object.spec.minReadySeconds * 3037000500',
  'object.spec.minReadySeconds * 4611686018427387904',
  'object.metadata.generation - 1 >= 0',
  'object.metadata.generation == 1',
  'object.metadata.generation != 0',
  'dyn(object.spec.minReadySeconds) < 1.5',
  'dyn(object.spec.minReadySeconds) == 1.0',
  'dyn(double(object.spec.minReadySeconds)) + object.spec.revisionHistoryLimit',
  'dyn(double(object.spec.minReadySeconds)) < object.spec.revisionHistoryLimit',
  'dyn(2.0) * object.spec.minReadySeconds',
  'dyn(3.0) == object.spec.minReadySeconds',
  'string(object.spec.minReadySeconds * 3)',
  'object.spec.template.spec.containers[object.spec.minReadySeconds].name',
  '[10, 20, 30][object.spec.revisionHistoryLimit - 1]',
  'object.spec.minReadySeconds * 3 in [0, 3, 6]',
  '[object.spec.minReadySeconds, object.spec.revisionHistoryLimit].map(x, x * x - 1).filter(x, x % 2 == 0)',
  'object.spec.template.spec.containers.map(c, c.?ports.orValue([]).map(p, p.containerPort + 1))',
  'object.spec.template.spec.containers.all(c, c.?ports.orValue([]).all(p, p.containerPort > 0 && p.containerPort < 65536))',
  'object.spec.template.spec.containers.map(c, c.?ports.orValue([]).map(p, p.containerPort / 2 * 2 == p.containerPort))',
  // Against a literal of each type (the generated code tests only the other operand's type) and
  // between values of no known type, on the same numbers, doubles, strings and nulls.
  "dyn(object.spec.minReadySeconds) != 'x'",
  "'x' == dyn(object.spec.revisionHistoryLimit)",
  'dyn(object.spec.minReadySeconds) == true',
  "'a' + dyn(object.spec.minReadySeconds)",
  'dyn(object.spec.minReadySeconds) - 1',
  '[object.spec.minReadySeconds] == [object.spec.revisionHistoryLimit]',
  '(object.spec.minReadySeconds > 0) == (object.spec.revisionHistoryLimit > 0)',
];

/** The numbers and other values the int expressions read. */
const intOperand: fc.Arbitrary<JsonValue> = fc.oneof(
  fc.constantFrom<JsonValue>(
    0,
    -0,
    1,
    -1,
    2,
    -7,
    2 ** 53 - 1,
    2 ** 53,
    -(2 ** 53 - 1),
    -(2 ** 53),
    94906265,
    94906266,
    3037000499,
    3037000500,
    2 ** 62,
    2 ** 63,
    -(2 ** 63),
    1.5,
    -0.5,
    1e300,
    -1e300,
    'x',
    '',
    null,
    true,
    [],
    {},
  ),
  fc.integer(),
  fc.maxSafeInteger(),
  fc.integer({ min: -1000, max: 1000 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);

async function edgePolicies(expressions: readonly string[] = EDGE_EXPRESSIONS): Promise<readonly CompiledPolicy[]> {
  const dir = await mkdtemp(path.join(tmpdir(), 'daemonguard-codegen-'));
  const variables = expressions.map((expression, i) => `    - name: v${i}\n      expression: ${JSON.stringify(expression)}\n`).join('');
  await writeFile(
    path.join(dir, 'edges.yaml'),
    `apiVersion: daemonguard.dev/v1alpha1\nkind: DaemonSetPolicy\nmetadata:\n  name: codegen-edges\nspec:\n  variables:\n${variables}  validations:\n    - expression: 'true'\n`,
  );
  return (await loadPolicySet([dir])).policies;
}

/** edgePolicies(expressions), asserted to be compiled whole (an expression left to the interpreter tests nothing). */
async function compiledEdgePolicies(expressions: readonly string[], what: string): Promise<{ edges: readonly CompiledPolicy[]; programs: CompiledExpression[] }> {
  const edges = await edgePolicies(expressions);
  const programs = edges.flatMap(expressionsOf);
  assert.deepEqual(
    programs.filter((e) => e.program.notCompiled !== undefined).map((e) => `${e.program.source}: ${e.program.notCompiled}`),
    [],
    `every ${what} expression must be compiled, or it tests nothing`,
  );
  assert.equal(programs.length, expressions.length + 1);
  return { edges, programs };
}

describe('compiled CEL against the interpreter', { timeout: 600_000 }, () => {
  it('compiles every expression of the library and of the README example', () => {
    const notCompiled = policies.flatMap((p) => expressionsOf(p).filter((e) => e.program.notCompiled !== undefined).map((e) => `${p.name} ${e.field}: ${e.program.notCompiled}`));
    const total = policies.reduce((n, p) => n + expressionsOf(p).length, 0);
    console.log(`compiled ${total - notCompiled.length} of ${total} expressions`);
    assert.deepEqual(notCompiled, []);
  });

  it('agrees on the verify suites\' DaemonSets, as CREATE and as UPDATE', () => {
    for (const seed of seeds) {
      compareOn(seed, null);
      compareOn(seed, seeds[0]!);
      compareOn(seed, null, clusterNodes);
    }
    console.log(`${comparedWithCoverage} evaluations of expressions reading a non-null coverage`);
    console.log(`${comparedPerElement} evaluations of forEach defaults, per element`);
    assert.ok(comparedPerElement >= 10, 'the library has forEach defaults; they must be compared per element');
    assert.ok(comparedWithCoverage >= 10, 'the library has coverage policies; their expressions must see a computed coverage');
  });

  it('agrees on UPDATEs whose lists were reordered (containers, env, args, finalizers...)', () => {
    for (const seed of seeds) {
      const reordered = reverseLists(seed) as JsonObject;
      compareOn(seed, reordered);
      compareOn(reordered, seed);
    }
    fc.assert(
      fc.property(fc.nat({ max: seeds.length - 1 }), fc.array(edit, { minLength: 1, maxLength: 4 }), (seed, edits) => {
        compareOn(applyEdits(seeds[seed]!, edits), reverseLists(seeds[seed]!) as JsonObject);
      }),
      { numRuns: Math.ceil(RUNS / 3) },
    );
  });

  it('agrees on DaemonSets with fields dropped, of the wrong type, or added', () => {
    fc.assert(
      fc.property(fc.nat({ max: seeds.length - 1 }), fc.array(edit, { minLength: 1, maxLength: 6 }), fc.boolean(), fc.boolean(), (seed, edits, update, withNodes) => {
        const object = applyEdits(seeds[seed]!, edits);
        try {
          compareOn(object, update ? seeds[(seed + 1) % seeds.length]! : null, withNodes ? clusterNodes : null);
        } catch (error) {
          // fast-check reports the counterexample; the node:test reporter does not show the cause.
          if (process.env['DEBUG_DIFF']) console.log((error as Error).message);
          throw error;
        }
      }),
      { numRuns: RUNS },
    );
    console.log(`${compared} evaluations compared`);
    assert.ok(compared >= 40_000, `only ${compared} evaluations compared; the README reports over 59,000`);
  });

  it('agrees on .? chains, has() and field reads over missing, null, mistyped and reserved members, and on literals with quotes, backslashes and ${', async () => {
    const { edges, programs } = await compiledEdgePolicies(EDGE_EXPRESSIONS, 'edge');
    const seed = seeds[0]!;
    let edgeCompared = 0;
    fc.assert(
      fc.property(fc.array(edgeMember, { minLength: 1, maxLength: 3 }), edgeAnnotations, fc.boolean(), (members, annotations, drop) => {
        const object = structuredClone(seed) as { metadata: JsonObject; spec: { template: { spec: { containers: JsonObject[] } } } } & JsonObject;
        const containers = object.spec.template.spec.containers;
        members.forEach((member, i) => {
          const container = containers[i % containers.length]!;
          if (drop && i === 0) delete container['securityContext'];
          else container['securityContext'] = member;
        });
        object.metadata['annotations'] = annotations;
        compareOn(object, null, null, edges);
        edgeCompared++;
      }),
      { numRuns: Math.max(200, RUNS) },
    );
    // The literals came through as text, not as source: the interpreter's value, checked by hand too.
    const literal = programs.find((e) => e.program.source.startsWith("'a"))!.program;
    const activation = policyActivation(edges[0]!, sharedValues(admissionRequest(seed, {}), seed, null, null));
    assert.equal(literal.evaluate(activation), `a"b\\c\${d}\n'\u0027'*/${String((seed['metadata'] as JsonObject)['name'])}`);
    console.log(`${edgeCompared} DaemonSets compared on the ${EDGE_EXPRESSIONS.length} edge expressions`);
    assert.ok(edgeCompared >= 200, 'the edge expressions must be compared on at least 200 generated DaemonSets');
    // The README gives this count (README, "How the engine gets there").
    assert.ok(EDGE_EXPRESSIONS.length >= 49, `the README reports 49 edge expressions; the test has ${EDGE_EXPRESSIONS.length}`);
  });

  it('agrees on forEach defaults run on each list element as JSON: containers, null, other types, nested lists, reserved keys', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'daemonguard-codegen-'));
    const defaults = ELEMENT_EXPRESSIONS.map(
      (expression, i) => `        - forEach: /spec/template/spec/containers\n          path: /x${i}\n          valueExpression: ${JSON.stringify(expression)}\n`,
    ).join('');
    await writeFile(
      path.join(dir, 'elements.yaml'),
      `apiVersion: daemonguard.dev/v1alpha1\nkind: DaemonSetPolicy\nmetadata:\n  name: codegen-elements\nspec:\n  mutations:\n    - name: elements\n      defaults:\n${defaults}`,
    );
    const edges = (await loadPolicySet([dir])).policies;
    const programs = edges.flatMap((p) => p.mutations.flatMap((m) => m.defaults ?? [])).map((entry) => entry.valueExpression!.program);
    assert.equal(programs.length, ELEMENT_EXPRESSIONS.length);
    assert.deepEqual(
      programs.filter((program) => program.notCompiled !== undefined).map((program) => `${program.source}: ${program.notCompiled}`),
      [],
      'every element expression must be compiled, or it tests nothing',
    );
    const seed = seeds[0]!;
    const before = comparedPerElement;
    fc.assert(
      fc.property(fc.array(edgeElement, { minLength: 1, maxLength: 4 }), (elements) => {
        const object = structuredClone(seed) as { spec: { template: { spec: { containers: JsonValue[] } } } } & JsonObject;
        object.spec.template.spec.containers = structuredClone(elements);
        compareOn(object, null, null, edges);
      }),
      { numRuns: Math.max(200, RUNS) },
    );
    const perElement = comparedPerElement - before;
    console.log(`${perElement} evaluations of the ${ELEMENT_EXPRESSIONS.length} element expressions, per element`);
    assert.ok(perElement >= 200 * ELEMENT_EXPRESSIONS.length, 'the element expressions must be compared on at least 200 generated lists');
  });

  it('agrees on comparisons with null, list concatenation and size() on JSON, as CREATE and as UPDATE', async () => {
    const { edges } = await compiledEdgePolicies(JSON_OPERATION_EXPRESSIONS, 'JSON operation');
    const seed = seeds[0]!;
    // Found by the property below: `+` of two JSON doubles makes the CEL double 1.0, which must not be
    // read again as the JSON int 1 (nor a concatenation of such lists).
    for (const [x, y] of [
      [0.5, 0.5],
      [[0.5], [0.5]],
      [[1.5, 2], [0.5]],
      ['a', 'b'],
    ] as const) {
      const object = structuredClone(seed) as { spec: { template: { spec: JsonObject } } } & JsonObject;
      object.spec.template.spec['initContainers'] = x as unknown as JsonObject;
      object.spec.template.spec['containers'] = y as unknown as JsonObject;
      compareOn(object, null, null, edges);
    }
    let jsonCompared = 0;
    fc.assert(
      fc.property(
        fc.option(jsonOperand, { nil: undefined }),
        fc.option(jsonOperand, { nil: undefined }),
        fc.option(jsonOperand, { nil: undefined }),
        fc.option(jsonOperand, { nil: undefined }),
        fc.nat({ max: 2 }),
        (x, y, name, labels, old) => {
        const object = structuredClone(seed) as { metadata: JsonObject; spec: { template: { spec: JsonObject } } } & JsonObject;
        const pod = object.spec.template.spec;
        if (x === undefined) delete pod['initContainers'];
        else pod['initContainers'] = x;
        if (y !== undefined) pod['containers'] = y;
        if (name !== undefined) object.metadata['name'] = name;
        if (labels !== undefined) object.metadata['labels'] = labels;
        compareOn(object, old === 0 ? null : old === 1 ? {} : seeds[seeds.length - 1]!, null, edges);
        jsonCompared++;
        },
      ),
      { numRuns: Math.max(400, RUNS) },
    );
    console.log(`${jsonCompared} DaemonSets compared on the ${JSON_OPERATION_EXPRESSIONS.length} JSON operation expressions`);
    assert.ok(jsonCompared >= 400, 'the JSON operation expressions must be compared on at least 400 generated DaemonSets');
    // The README gives this count (README, "How the engine gets there").
    assert.ok(JSON_OPERATION_EXPRESSIONS.length >= 45, `the README reports 45 JSON operation expressions; the test has ${JSON_OPERATION_EXPRESSIONS.length}`);
    // The concatenation is the variable those read (a JSON list whenever both operands are lists).
    assert.equal(edges[0]!.variables.find((v) => `variables.${v.name}` === CONCATENATED)?.program.jsonResult, true);
  });

  it('agrees on int arithmetic and comparisons over JSON numbers (safe, beyond 2^53, beyond int64), doubles and other values', async () => {
    const { edges } = await compiledEdgePolicies(INT_EXPRESSIONS, 'int');
    const seed = seeds[0]!;
    const withNumbers = (a: JsonValue | undefined, b: JsonValue | undefined, generation: JsonValue | undefined, ports: (JsonValue | undefined)[]): JsonObject => {
      const object = structuredClone(seed) as { metadata: JsonObject; spec: { template: { spec: { containers: JsonObject[] } } } & JsonObject } & JsonObject;
      const set = (into: JsonObject, key: string, value: JsonValue | undefined) => {
        if (value === undefined) delete into[key];
        else into[key] = value;
      };
      set(object.spec, 'minReadySeconds', a);
      set(object.spec, 'revisionHistoryLimit', b);
      set(object.metadata, 'generation', generation);
      object.spec.template.spec.containers.forEach((container, i) => {
        container['ports'] = ports.slice(i).map((port): JsonObject => (port === undefined ? {} : { containerPort: port }));
      });
      return object;
    };
    // Each edge against each: the overflows of + - * and unary minus, division by zero, 2^53 ± 1.
    const edgesOfInt: JsonValue[] = [0, -0, 1, -1, 3, -3, 2 ** 53 - 1, 2 ** 53, -(2 ** 53 - 1), 2 ** 62, 2 ** 63, -(2 ** 63), 1.5, 1e300, 'x', null];
    for (const a of edgesOfInt) for (const b of edgesOfInt) compareOn(withNumbers(a, b, a, [a, b]), null, null, edges);
    let intCompared = 0;
    fc.assert(
      fc.property(
        fc.option(intOperand, { nil: undefined }),
        fc.option(intOperand, { nil: undefined }),
        fc.option(intOperand, { nil: undefined }),
        fc.array(fc.option(intOperand, { nil: undefined }), { maxLength: 4 }),
        (a, b, generation, ports) => {
          compareOn(withNumbers(a, b, generation, ports), null, null, edges);
          intCompared++;
        },
      ),
      { numRuns: Math.max(400, RUNS) },
    );
    console.log(`${edgesOfInt.length ** 2 + intCompared} DaemonSets compared on the ${INT_EXPRESSIONS.length} int expressions`);
    assert.ok(intCompared >= 400, 'the int expressions must be compared on at least 400 generated DaemonSets');
  });

  it('does not read a member someone added to Object.prototype after the code was generated as the object\'s own', async () => {
    const edges = await edgePolicies();
    const object = structuredClone(seeds[0]!);
    const names = ['privileged', 'securityContext', 'capabilities', 'add', 'hostNetwork', 'annotations', 'memory'];
    for (const name of names) Object.defineProperty(Object.prototype, name, { value: { add: ['polluted'], privileged: true }, configurable: true, writable: true });
    try {
      compareOn(object, null, null, edges);
    } finally {
      for (const name of names) delete (Object.prototype as Record<string, unknown>)[name];
    }
  });
});
