import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import type { ASTNode } from '@marcbachmann/cel-js';
import { newBaseEnvironment } from './base-environment.js';
import { forEachNode, hasMacroOf, optionalMacroOf, type NodeLike } from './cel-js-internals.js';
import { parseType, resolveStatically, runtimeResolver } from './overloads.js';
import { PolicyScope } from './policy-scope.js';
import { POLICIES_DIR, repoRoot } from '../../test/support/library-paths.js';

// Building the base environment reads the overload table.
newBaseEnvironment();

/**
 * What cel-js's checker resolved for a call node, read from the fields it leaves on the node (the
 * resolution the compiler used before it had its own table): the handler of the first overload that
 * accepts the operand types, when no operand type has dyn in it.
 */
function celJsResolution(node: NodeLike): { handler: unknown; parameterTypes: string[] } | undefined {
  type TypeLike = { name: string; hasDynType?: boolean };
  type Declaration = { macro: boolean; handler: unknown; receiverType: TypeLike | null; argTypes: TypeLike[] };
  const checked = node as unknown as { argTypes?: TypeLike[]; candidates?: { findFunction(args: TypeLike[], receiver: TypeLike | null): Declaration | null } };
  if (!checked.candidates || !checked.argTypes || checked.argTypes.some((t) => t.hasDynType !== false)) return undefined;
  let receiver: TypeLike | null = null;
  if (node.op === 'rcall') {
    receiver = ((node.args as [string, { checkedType?: TypeLike }])[1].checkedType ?? null) as TypeLike | null;
    if (!receiver || receiver.hasDynType !== false) return undefined;
  }
  const declaration = checked.candidates.findFunction(checked.argTypes, receiver);
  // A declaration with type parameters comes back without argTypes: those were never resolved statically.
  if (!declaration || declaration.macro || typeof declaration.handler !== 'function' || !Array.isArray(declaration.argTypes)) return undefined;
  return { handler: declaration.handler, parameterTypes: [...(declaration.receiverType ? [declaration.receiverType.name] : []), ...declaration.argTypes.map((t) => t.name)] };
}

function operandsOf(node: NodeLike): { name: string; receiverCall: boolean; operands: NodeLike[] } {
  if (node.op === 'rcall') {
    const [name, receiver, args] = node.args as [string, NodeLike, NodeLike[]];
    return { name, receiverCall: true, operands: [receiver, ...args] };
  }
  const [name, args] = node.args as [string, NodeLike[]];
  return { name, receiverCall: false, operands: args };
}

/** Every policy document under `dir` (recursively). */
async function policiesUnder(dir: string): Promise<{ file: string; spec: Record<string, unknown> }[]> {
  const found: { file: string; spec: Record<string, unknown> }[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.yaml')) continue;
    const file = path.join(entry.parentPath, entry.name);
    for (const document of parseAllDocuments(await readFile(file, 'utf8'))) {
      const policy = document.toJS() as { kind?: string; spec?: Record<string, unknown> } | null;
      if (policy?.kind === 'DaemonSetPolicy' && policy.spec) found.push({ file, spec: policy.spec });
    }
  }
  return found;
}

interface Checked {
  readonly where: string;
  readonly ast: ASTNode;
}

/** The checked AST of every expression of a policy, in a scope declared as the loader declares it. */
function checkedExpressions(file: string, spec: Record<string, unknown>): Checked[] {
  const scope = new PolicyScope(spec['params'] as Record<string, unknown> | undefined);
  const out: Checked[] = [];
  const add = (where: string, expression: unknown, elementType?: string): void => {
    if (typeof expression === 'string') out.push({ where: `${file}: ${where}`, ast: scope.checkedAst(expression, elementType) });
  };
  const list = (value: unknown): Record<string, unknown>[] => (Array.isArray(value) ? (value as Record<string, unknown>[]) : []);
  for (const [i, condition] of list(spec['matchConditions']).entries()) add(`matchConditions[${i}]`, condition['expression']);
  for (const variable of list(spec['variables'])) {
    add(`variables.${String(variable['name'])}`, variable['expression']);
    scope.declareVariable(String(variable['name']), scope.typeOf(String(variable['expression'])));
  }
  for (const [i, validation] of list(spec['validations']).entries()) {
    add(`validations[${i}]`, validation['expression']);
    add(`validations[${i}].messageExpression`, validation['messageExpression']);
  }
  for (const [i, mutation] of list(spec['mutations']).entries()) {
    add(`mutations[${i}].when`, mutation['when']);
    for (const [j, entry] of list(mutation['defaults']).entries()) {
      const forEach = entry['forEach'];
      const elementType =
        typeof forEach === 'string' ? /^list<(.+)>$/.exec(scope.typeOf(`object${forEach.split('/').join('.')}`))?.[1] : undefined;
      add(`mutations[${i}].defaults[${j}]`, entry['valueExpression'], elementType);
    }
  }
  return out;
}

describe('the overload table', () => {
  it('parses types with nested arguments, and list and map without them as their dyn forms', () => {
    assert.deepEqual(parseType('map<string, list<int>>'), {
      name: 'map',
      args: [
        { name: 'string', args: [] },
        { name: 'list', args: [{ name: 'int', args: [] }] },
      ],
    });
    assert.deepEqual(parseType('list'), parseType('list<dyn>'));
    assert.deepEqual(parseType('map'), parseType('map<dyn, dyn>'));
    assert.equal(parseType('kubernetes.Quantity').name, 'kubernetes.Quantity');
    assert.throws(() => parseType('list<int'), /malformed CEL type/);
  });

  it('resolves statically typed calls to the overload whose parameters accept them, type parameters bound consistently', () => {
    const size = resolveStatically('size', false, ['list<Container>']);
    assert.ok(size);
    assert.deepEqual(size.parameterTypes, ['list<dyn>']);
    assert.equal(size.handler(['a', 'b']), 2n);
    assert.equal(resolveStatically('size', false, ['string'])?.handler('héllo'), 5n);
    const join = resolveStatically('join', true, ['list<string>', 'string']);
    assert.equal(join?.handler(['a', 'b'], '-'), 'a-b');
    assert.equal(resolveStatically('join', true, ['list<int>', 'string']), undefined, 'no join on a list of ints');
    // list<A>.indexOf(A): whether the values bind A consistently is decided at run time.
    assert.equal(resolveStatically('indexOf', true, ['list<int>', 'int']), undefined);
    assert.equal(resolveStatically('size', false, ['dyn']), undefined, 'a dyn operand is resolved at run time');
    assert.equal(resolveStatically('noSuchFunction', false, ['string']), undefined);
  });

  it('resolves from the values at run time as the interpreter does, a list by its first element', () => {
    const resolve = runtimeResolver('join', true, [undefined, 'string']);
    assert.ok(resolve);
    assert.equal(resolve([['a'], ','])?.(['a', 'b'], ','), 'a,b');
    assert.equal(resolve([[], ','])?.([], ','), '', 'an empty list is list<dyn>, which join accepts');
    assert.equal(resolve([[1n], ',']), null, 'no overload for a list of ints');
    assert.equal(resolve([new Map(), ',']), undefined, 'a map is left to the interpreter');
    assert.equal(runtimeResolver('join', true, [undefined, 'kubernetes.Quantity']), undefined);
    // list<A>.indexOf(A): A bound by the receiver's first element, then required of the argument.
    const indexOf = runtimeResolver('indexOf', true, [undefined, undefined]);
    assert.equal(indexOf?.([[1n], 1n])?.([1n, 2n], 2n), 1n);
    assert.equal(indexOf?.([[1n], 'x']), null);
  });

  it("picks the handler and parameter types cel-js's checker picks, on every call of the built-in library and the test policies", async () => {
    const policies = [...(await policiesUnder(POLICIES_DIR)), ...(await policiesUnder(path.join(repoRoot(), 'src', 'cel', 'testdata')))];
    assert.ok(policies.length >= 18, `only ${policies.length} policies found`);
    let calls = 0;
    let resolved = 0;
    const disagreements: string[] = [];
    /** Compares the table's resolution with cel-js's on every call of a checked expression. */
    const compareCalls = (where: string, ast: ASTNode): void => {
      forEachNode(ast, (node) => {
        if ((node.op !== 'call' && node.op !== 'rcall') || hasMacroOf(node) || optionalMacroOf(node) || node.meta.alternate) return;
        calls++;
        const { name, receiverCall, operands } = operandsOf(node);
        const types = operands.map((operand) => (operand as unknown as { checkedType?: { name: string } }).checkedType?.name ?? 'dyn');
        const ours = resolveStatically(name, receiverCall, types);
        const theirs = celJsResolution(node);
        if (theirs) resolved++;
        if (ours?.handler !== theirs?.handler || JSON.stringify(ours?.parameterTypes) !== JSON.stringify(theirs?.parameterTypes)) {
          disagreements.push(`${where}: ${name}(${types.join(', ')}): ours ${JSON.stringify(ours?.parameterTypes)}, cel-js ${JSON.stringify(theirs?.parameterTypes)}`);
        }
      });
    };
    for (const { file, spec } of policies) {
      for (const { where, ast } of checkedExpressions(path.relative(repoRoot(), file), spec)) compareCalls(where, ast);
    }
    // A native policy's scope: the JSONPatch library and object construction, registered on each
    // environment rather than the base.
    const native = new PolicyScope(undefined, { hasParams: false });
    for (const expression of [
      "[JSONPatch{op: 'add', path: '/metadata/labels/' + jsonpatch.escapeKey('example.com/x'), value: 'y'}]",
      'Object{spec: Object.spec{minReadySeconds: 5}}',
    ]) {
      compareCalls(`native ${expression}`, native.checkedAst(expression));
    }
    assert.deepEqual(disagreements, []);
    // The library's calls (join, split, size, string(), quantity(), ...); fewer would mean the walk missed them.
    assert.ok(calls >= 270, `only ${calls} calls`);
    assert.ok(resolved >= 200, `only ${resolved} statically resolved calls`);
  });
});
