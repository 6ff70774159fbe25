import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { constructedTypeName } from './object-construction.js';
import { PolicyScope } from './policy-scope.js';
import { CelCompileError, type CelActivation } from './program.js';
import { fromCelValue, toCelValue } from './values.js';

const daemonSet = {
  apiVersion: 'apps/v1',
  kind: 'DaemonSet',
  metadata: { name: 'agent', labels: { app: 'agent' } },
  spec: { template: { spec: { containers: [{ name: 'agent', image: 'agent:1' }] } } },
};

function activation(): CelActivation {
  return {
    object: toCelValue(daemonSet),
    oldObject: null,
    request: toCelValue({ operation: 'CREATE' }),
    params: toCelValue({ replicas: 3, image: 'proxy:2' }),
    variables: {},
    namespaceObject: null,
    coverage: null,
  };
}

/** Compiles with the DaemonSet-typed checker and evaluates on both engines, which must agree. */
function run(expression: string): { value: unknown; type: string; compiled: boolean; raw: unknown } {
  const program = new PolicyScope({ replicas: 3, image: 'proxy:2' }).compile(expression, 'any');
  const raw = program.evaluate(activation());
  const interpreted = program.interpret(activation());
  assert.deepEqual(fromCelValue(raw), fromCelValue(interpreted), 'the compiled code and the interpreter agree');
  return { value: fromCelValue(raw), type: program.resultType, compiled: program.notCompiled === undefined, raw };
}

function compileError(expression: string): CelCompileError {
  try {
    new PolicyScope({ replicas: 3 }).compile(expression, 'any');
  } catch (error) {
    assert.ok(error instanceof CelCompileError, String(error));
    return error;
  }
  assert.fail(`expected ${expression} to be refused at load`);
}

describe('object construction in CEL (MutatingAdmissionPolicy syntax)', () => {
  it('builds JSONPatch operations with values of any type, compiled as well as interpreted', () => {
    const result = run("[JSONPatch{op: 'add', path: '/metadata/labels/' + jsonpatch.escapeKey('a/b'), value: 'x'}, JSONPatch{op: 'replace', path: '/spec/x', value: {'n': [1, 2.5, true, null]}}]");
    assert.equal(result.type, 'list<JSONPatch>');
    assert.equal(result.compiled, true);
    assert.deepEqual(result.value, [
      { op: 'add', path: '/metadata/labels/a~1b', from: '', value: 'x' },
      { op: 'replace', path: '/spec/x', from: '', value: { n: [1, 2.5, true, null] } },
    ]);
    assert.equal(constructedTypeName((result.raw as unknown[])[0]), 'JSONPatch');
  });

  it('types a JSONPatch field read', () => {
    assert.equal(run("JSONPatch{op: 'remove', path: '/spec/x'}.op").value, 'remove');
    assert.equal(run("JSONPatch{op: 'remove', path: '/spec/x'}.op").type, 'string');
  });

  it("reads a JSONPatch's unset op, path or from as '' and has() as false, as Kubernetes' JSONPatch struct does", () => {
    assert.equal(run("JSONPatch{op: 'add', path: '/x'}.from").value, '');
    assert.equal(run("JSONPatch{op: 'add', path: '/x'}.from == ''").value, true);
    assert.equal(run("JSONPatch{value: 1}.op + '|' + JSONPatch{value: 1}.path").value, '|');
    assert.equal(run("has(JSONPatch{op: 'add', path: '/x'}.from)").value, false);
    assert.equal(run("has(JSONPatch{op: 'add', path: '/x', from: ''}.from)").value, false);
    assert.equal(run("has(JSONPatch{op: 'copy', path: '/x', from: '/y'}.from)").value, true);
    assert.equal(run("has(JSONPatch{op: 'add', path: '/x'}.value)").value, false);
    assert.equal(run("has(JSONPatch{op: 'add', path: '/x', value: 0}.value)").value, true);
    for (const expression of ["JSONPatch{op: 'add', path: '/x'}.from", "has(JSONPatch{op: 'add', path: '/x'}.from)"]) {
      assert.equal(run(expression).compiled, true, expression);
    }
    // `value` has no default: reading it when unset stays an error, on both engines.
    const program = new PolicyScope({}).compile("JSONPatch{op: 'remove', path: '/x'}.value", 'any');
    assert.throws(() => program.evaluate(activation()), /No such key: value/);
    assert.throws(() => program.interpret(activation()), /No such key: value/);
  });

  it('builds nested apply configurations typed from the DaemonSet schema', () => {
    const result = run(
      "Object{spec: Object.spec{template: Object.spec.template{spec: Object.spec.template.spec{containers: [Object.spec.template.spec.containers{name: 'proxy', image: params.image}]}}}}",
    );
    assert.equal(result.type, 'DaemonSet');
    assert.equal(result.compiled, true);
    assert.deepEqual(result.value, { spec: { template: { spec: { containers: [{ name: 'proxy', image: 'proxy:2' }] } } } });
    assert.equal(constructedTypeName(result.raw), 'Object');
    assert.equal(run('Object.spec{minReadySeconds: params.replicas}.minReadySeconds').type, 'int');
    assert.deepEqual(run("Object.metadata{labels: {'a': 'b'}, annotations: object.metadata.?annotations.orValue({})}").value, { labels: { a: 'b' }, annotations: {} });
  });

  it('accepts a trailing comma and whitespace or newlines between the name parts', () => {
    assert.deepEqual(run("Object . spec\n{ minReadySeconds: 1, }").value, { minReadySeconds: 1 });
  });

  it('refuses an unknown type at load, naming it, with the position of the name', () => {
    const error = compileError("[1].map(x, Foo{a: x})");
    assert.equal(error.kind, 'type');
    assert.match(error.message, /unknown type 'Foo'/);
    assert.equal(error.offset, 11);
    const misspelt = compileError('Object{spec: Object.spec.tempalte{}}');
    assert.match(misspelt.message, /unknown type 'Object.spec.tempalte': Object.spec \(DaemonSetSpec\) has no field 'tempalte'/);
    assert.equal(misspelt.offset, 13);
    assert.match(compileError('Object.spec.minReadySeconds{}').message, /'minReadySeconds' of Object.spec is a int, not an object/);
  });

  it('refuses an unknown or repeated field at load, at the field', () => {
    const unknown = compileError("Object.spec{replicas: 1}");
    assert.match(unknown.message, /Object.spec \(DaemonSetSpec\) has no field 'replicas'; its fields are: minReadySeconds, /);
    assert.equal(unknown.offset, 12);
    assert.match(compileError("JSONPatch{op: 'add', pth: '/x'}").message, /JSONPatch \(JSONPatch\) has no field 'pth'/);
    const twice = compileError("JSONPatch{op: 'add', op: 'remove'}");
    assert.match(twice.message, /field 'op' is set twice/);
    assert.equal(twice.offset, 21);
    assert.match(compileError('Object{__proto__: 1}').message, /has no field '__proto__'/);
  });

  it('refuses a value of the wrong type at load, at the value', () => {
    const wrong = compileError("Object.spec{minReadySeconds: 'ten'}");
    assert.match(wrong.message, /field 'minReadySeconds' of Object.spec is int, but the value is string/);
    assert.equal(wrong.offset, 29);
    assert.match(compileError("Object.metadata{labels: {'a': 1}}").message, /is map<string, string>, but the value is map<string, int>/);
    assert.match(compileError('JSONPatch{op: 1}').message, /field 'op' of JSONPatch is string, but the value is int/);
    assert.match(compileError('Object.spec{minReadySeconds: null}').message, /field 'minReadySeconds' of Object.spec is int, but the value is null/);
    assert.equal(run("JSONPatch{op: 'add', path: '/x', value: null}").value !== undefined, true, 'a JSONPatch value may be null');
  });

  it('refuses a nested type whose name does not follow the field path, as Kubernetes does', () => {
    const error = compileError("Object.spec.template.spec{initContainers: [Object.spec.template.spec.containers{name: 'x'}]}");
    assert.match(error.message, /unexpected type name "Object.spec.template.spec.containers", expected "Object.spec.template.spec.initContainers"/);
    assert.equal(error.offset, 43);
  });

  it('checks a JSONPatch string field at run time when its type is only known then', () => {
    const program = new PolicyScope({}).compile("JSONPatch{op: dyn(1), path: '/x'}", 'any');
    assert.throws(() => program.evaluate(activation()), /unexpected type int for JSONPatch 'op' field, want string/);
    assert.throws(() => program.interpret(activation()), /unexpected type int for JSONPatch 'op' field, want string/);
  });

  it('refuses optional field initializers and non-identifier field names as syntax errors', () => {
    assert.equal(compileError("JSONPatch{?op: optional.of('add')}").kind, 'syntax');
    const quoted = compileError("JSONPatch{'op': 'add'}");
    assert.equal(quoted.kind, 'syntax');
    assert.match(quoted.message, /expected a field name in JSONPatch/);
  });

  it('leaves ordinary maps, selections and calls alone', () => {
    assert.deepEqual(run("{'a': object.metadata.name}").value, { a: 'agent' });
    assert.equal(run('object.spec.template.spec.containers.size()').value, 1);
  });
});
