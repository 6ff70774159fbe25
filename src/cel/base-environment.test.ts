import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BASE_ENVIRONMENT_OPTIONS,
  MAX_AST_NODES,
  MAX_LIST_LITERAL_ELEMENTS,
  MAX_NESTING_DEPTH,
  newBaseEnvironment,
} from './base-environment.js';

describe('newBaseEnvironment', () => {
  it('declares no variables, so callers can declare object, params, ...', () => {
    const env = newBaseEnvironment();
    for (const name of ['object', 'oldObject', 'request', 'params', 'variables', 'namespaceObject']) {
      assert.equal(env.hasVariable(name), false, name);
    }
    env.registerVariable('object', 'dyn');
    env.registerVariable('params', 'map<string, dyn>');
    assert.equal(env.evaluate("object.a + params.b", { object: { a: 1n }, params: { b: 2n } }), 3n);
  });

  it('returns independent environments', () => {
    const a = newBaseEnvironment();
    const b = newBaseEnvironment();
    a.registerVariable('x', 'int');
    assert.equal(b.hasVariable('x'), false);
    b.registerVariable('x', 'string');
    assert.equal(b.evaluate('x + "!"', { x: 'hi' }), 'hi!');
  });

  it('keeps the Kubernetes overloads in clones that register their own types and functions', () => {
    const env = newBaseEnvironment().clone();
    env.registerType('Container', { fields: { name: 'string' } });
    env.registerFunction('twice(int): int', (x: bigint) => x * 2n);
    env.registerVariable('c', 'Container');
    assert.equal(env.evaluate("'TacoÉ'.lowerAscii()"), 'tacoÉ');
    assert.equal(env.evaluate("'a😀b'.indexOf('b')"), 2n);
    assert.equal(env.evaluate('c.name.upperAscii()', { c: { name: 'abc' } }), 'ABC');
    assert.throws(() => env.evaluate("'x'.matches('(?=x)')"), /invalid regular expression/);
    assert.equal(env.evaluate('twice(21)'), 42n);
  });

  it('enables optionals and mixed aggregate literals', () => {
    assert.equal(BASE_ENVIRONMENT_OPTIONS.enableOptionalTypes, true);
    const env = newBaseEnvironment();
    assert.deepEqual(env.evaluate("[1, 'a', true]"), [1n, 'a', true]);
    assert.equal(env.evaluate("{'a': 1}.?b.orValue(2)"), 2n);
  });

  it('enforces the structural parse limits', () => {
    const env = newBaseEnvironment();
    const deep = `${'['.repeat(MAX_NESTING_DEPTH + 1)}1${']'.repeat(MAX_NESTING_DEPTH + 1)}`;
    assert.throws(() => env.parse(deep), /maxDepth|depth/i);
    const long = `[${Array.from({ length: MAX_LIST_LITERAL_ELEMENTS + 1 }, () => '1').join(',')}]`;
    assert.throws(() => env.parse(long), /maxListElements|list/i);
    const wide = Array.from({ length: MAX_AST_NODES }, () => '1').join(' + ');
    assert.throws(() => env.parse(wide), /maxAstNodes|nodes/i);
    // Ordinary policy expressions are nowhere near the limits.
    env.parse(`${'['.repeat(20)}1${']'.repeat(20)}`);
  });

  it('evaluates synchronously: no Promise checks on comparisons despite custom operators', () => {
    const env = newBaseEnvironment();
    env.registerVariable('xs', 'list<int>');
    env.registerFunction('plusOne(int): int', (x: bigint) => x + 1n);
    const program = env.parse("xs.filter(x, x == 5 || x < 2).size() == plusOne(1) && 'a'.lowerAscii() == 'a'");
    assert.ok(program.check().valid);
    assert.equal((program.ast as unknown as { maybeAsync: boolean }).maybeAsync, false);
    assert.equal(program({ xs: [0n, 5n, 9n] }), true);
  });

  it('is cheap to create after the first call', () => {
    newBaseEnvironment();
    const started = performance.now();
    for (let i = 0; i < 1_000; i++) newBaseEnvironment();
    const perCall = (performance.now() - started) / 1_000;
    assert.ok(perCall < 1, `newBaseEnvironment took ${perCall.toFixed(3)} ms per call`);
  });
});
