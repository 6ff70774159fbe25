// `==` and `!=` between two values of one declared Kubernetes object type (LabelSelector,
// ObjectMeta, PodTemplateSpec, JSONPatch): the checker accepts them as Kubernetes' CEL does, and both
// engines compare structurally (fields, maps by key, lists by their schema's list type: listType=map by
// key, listType=set as a set, atomic in order; a field present on one side only makes the values differ).
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli } from '../../test/support/cli-process.js';
import { PolicyScope } from './policy-scope.js';
import { CelCompileError, type CelActivation } from './program.js';
import { toCelValue } from './values.js';

const POLICY_DIR = 'src/cel/testdata/equality';

interface DaemonSetShape {
  labels?: Record<string, string>;
  selector?: unknown;
  template?: unknown;
}

function daemonSet(shape: DaemonSetShape = {}): Record<string, unknown> {
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'agent', namespace: 'default', labels: shape.labels ?? { app: 'agent' } },
    spec: {
      selector: shape.selector ?? { matchLabels: { app: 'agent' } },
      template: shape.template ?? { metadata: { labels: { app: 'agent' } }, spec: { containers: [{ name: 'agent', image: 'agent:1' }] } },
    },
  };
}

function activation(object: unknown, oldObject: unknown): CelActivation {
  return {
    object: toCelValue(object),
    oldObject: oldObject === null ? null : toCelValue(oldObject),
    request: toCelValue({ operation: oldObject === null ? 'CREATE' : 'UPDATE' }),
    params: null,
    variables: {},
    namespaceObject: null,
    coverage: null,
  };
}

/** Compiles against the DaemonSet-typed checker and evaluates on both engines, which must agree. */
function evaluate(expression: string, object: unknown, oldObject: unknown): unknown {
  const program = new PolicyScope(undefined).compile(expression, 'any');
  assert.equal(program.notCompiled, undefined, `${expression} is compiled, not left to the interpreter`);
  const compiled = program.evaluate(activation(object, oldObject));
  const interpreted = program.interpret(activation(object, oldObject));
  assert.equal(compiled, interpreted, `${expression}: the compiled code and the interpreter agree`);
  return compiled;
}

function compileError(expression: string): CelCompileError {
  try {
    new PolicyScope(undefined).compile(expression, 'any');
  } catch (error) {
    assert.ok(error instanceof CelCompileError, String(error));
    return error;
  }
  assert.fail(`expected ${expression} to be refused at load`);
}

describe('equality between values of one declared object type', () => {
  it('compares LabelSelectors structurally with == and !=', () => {
    const same = daemonSet();
    const otherLabels = daemonSet({ selector: { matchLabels: { app: 'other' } } });
    const extraField = daemonSet({ selector: { matchLabels: { app: 'agent' }, matchExpressions: [] } });
    assert.equal(evaluate('object.spec.selector == oldObject.spec.selector', same, daemonSet()), true);
    assert.equal(evaluate('object.spec.selector != oldObject.spec.selector', same, daemonSet()), false);
    assert.equal(evaluate('object.spec.selector == oldObject.spec.selector', otherLabels, same), false);
    assert.equal(evaluate('object.spec.selector != oldObject.spec.selector', otherLabels, same), true);
    // A field present on one side only (even an empty list) makes the objects differ.
    assert.equal(evaluate('object.spec.selector == oldObject.spec.selector', extraField, same), false);
    assert.equal(evaluate('oldObject.spec.selector == object.spec.selector', extraField, same), false);
  });

  it('compares atomic lists in order and maps by key, with ints equal to the same doubles', () => {
    const expressions = (order: string[]) => daemonSet({ selector: { matchExpressions: order.map((key) => ({ key, operator: 'Exists' })) } });
    assert.equal(evaluate('object.spec.selector == oldObject.spec.selector', expressions(['a', 'b']), expressions(['a', 'b'])), true);
    assert.equal(evaluate('object.spec.selector == oldObject.spec.selector', expressions(['a', 'b']), expressions(['b', 'a'])), false);
    const labels = daemonSet({ labels: { a: '1', b: '2' } });
    const reordered = daemonSet({ labels: { b: '2', a: '1' } });
    assert.equal(evaluate('object.metadata == oldObject.metadata', labels, reordered), true);
    assert.equal(evaluate('object.metadata != oldObject.metadata', labels, daemonSet({ labels: { a: '1' } })), true);
    const grace = (seconds: number) => daemonSet({ template: { spec: { terminationGracePeriodSeconds: seconds, containers: [] } } });
    // JSON 30 and 30.0 are one number (an int); 30 and 30.5 (a double) are not.
    assert.equal(evaluate('object.spec.template == oldObject.spec.template', grace(30), grace(30.0)), true);
    assert.equal(evaluate('object.spec.template == oldObject.spec.template', grace(30), grace(30.5)), false);
    assert.equal(evaluate('object.spec.template.spec == dyn(oldObject.spec.template.spec)', grace(30), grace(30)), true);
  });

  it('compares listType=map lists by key and listType=set lists as sets, as Kubernetes does', () => {
    const agent = { name: 'agent', image: 'agent:1', env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }], args: ['--a', '--b'] };
    const sidecar = { name: 'sidecar', image: 'sidecar:1' };
    const pod = (containers: unknown[]) => daemonSet({ template: { metadata: { labels: { app: 'agent' } }, spec: { containers } } });
    // containers: listType=map keyed by name, so their order does not matter...
    assert.equal(evaluate('object.spec.template == oldObject.spec.template', pod([agent, sidecar]), pod([sidecar, agent])), true);
    assert.equal(evaluate('object.spec.template != oldObject.spec.template', pod([agent, sidecar]), pod([sidecar, agent])), false);
    assert.equal(evaluate('object.spec.template.spec.containers == oldObject.spec.template.spec.containers', pod([agent, sidecar]), pod([sidecar, agent])), true);
    // ...but their content does, and so does their number.
    const agent2 = { ...agent, image: 'agent:2' };
    assert.equal(evaluate('object.spec.template == oldObject.spec.template', pod([agent2, sidecar]), pod([sidecar, agent])), false);
    assert.equal(evaluate('object.spec.template != oldObject.spec.template', pod([agent2, sidecar]), pod([sidecar, agent])), true);
    assert.equal(evaluate('object.spec.template == oldObject.spec.template', pod([agent, sidecar]), pod([agent])), false);
    assert.equal(evaluate('object.spec.template == oldObject.spec.template', pod([agent, sidecar]), pod([agent, { ...sidecar, name: 'other' }])), false);
    // env: listType=map keyed by name, inside a container.
    const envReordered = { ...agent, env: [{ name: 'B', value: '2' }, { name: 'A', value: '1' }] };
    assert.equal(evaluate('object.spec.template == oldObject.spec.template', pod([agent]), pod([envReordered])), true);
    assert.equal(evaluate('object.spec.template.spec.containers[0].env == oldObject.spec.template.spec.containers[0].env', pod([agent]), pod([envReordered])), true);
    const envChanged = { ...agent, env: [{ name: 'B', value: '2' }, { name: 'A', value: '3' }] };
    assert.equal(evaluate('object.spec.template == oldObject.spec.template', pod([agent]), pod([envChanged])), false);
    // args: atomic, compared in order.
    const argsReordered = { ...agent, args: ['--b', '--a'] };
    assert.equal(evaluate('object.spec.template == oldObject.spec.template', pod([agent]), pod([argsReordered])), false);
    assert.equal(evaluate('object.spec.template.spec.containers[0].args == oldObject.spec.template.spec.containers[0].args', pod([agent]), pod([argsReordered])), false);
    // ports: listType=map keyed by containerPort and protocol together.
    const tcp = { containerPort: 53, protocol: 'TCP' };
    const udp = { containerPort: 53, protocol: 'UDP' };
    const withPorts = (ports: unknown[]) => pod([{ ...agent, ports }]);
    assert.equal(evaluate('object.spec.template == oldObject.spec.template', withPorts([tcp, udp]), withPorts([udp, tcp])), true);
    assert.equal(evaluate('object.spec.template == oldObject.spec.template', withPorts([tcp, udp]), withPorts([udp, { ...tcp, containerPort: 54 }])), false);
    // tolerations: an atomic list of objects, compared in order.
    const tolerations = (keys: string[]) =>
      daemonSet({ template: { spec: { containers: [agent], tolerations: keys.map((key) => ({ key, operator: 'Exists' })) } } });
    assert.equal(evaluate('object.spec.template == oldObject.spec.template', tolerations(['a', 'b']), tolerations(['a', 'b'])), true);
    assert.equal(evaluate('object.spec.template == oldObject.spec.template', tolerations(['a', 'b']), tolerations(['b', 'a'])), false);
    // metadata.finalizers: listType=set.
    const finalizers = (list: string[]) => ({ ...daemonSet(), metadata: { name: 'agent', namespace: 'default', finalizers: list } });
    assert.equal(evaluate('object.metadata == oldObject.metadata', finalizers(['a', 'b']), finalizers(['b', 'a'])), true);
    assert.equal(evaluate('object.metadata.finalizers == oldObject.metadata.finalizers', finalizers(['a', 'b']), finalizers(['b', 'a'])), true);
    assert.equal(evaluate('object.metadata == oldObject.metadata', finalizers(['a', 'b']), finalizers(['a', 'c'])), false);
    // A list of declared objects that is not a field (a literal) compares in order, its elements by their schema.
    assert.equal(evaluate('[object.spec.template] == [oldObject.spec.template]', pod([agent, sidecar]), pod([sidecar, agent])), true);
    // A list of the same strings read from an untyped place still compares in order.
    assert.equal(evaluate('dyn(object.metadata.finalizers) == dyn(oldObject.metadata.finalizers)', finalizers(['a', 'b']), finalizers(['b', 'a'])), false);
  });

  it('compares lists and maps of declared objects, and JSONPatch literals', () => {
    assert.equal(evaluate('[object.spec.selector] == [oldObject.spec.selector]', daemonSet(), daemonSet()), true);
    assert.equal(evaluate("{'s': object.spec.template} != {'s': oldObject.spec.template}", daemonSet(), daemonSet({ template: {} })), true);
    assert.equal(evaluate("JSONPatch{op: 'add', path: '/a', value: 1} == JSONPatch{op: 'add', path: '/a', value: 1.0}", daemonSet(), null), true);
    assert.equal(evaluate("JSONPatch{op: 'add', path: '/a'} != JSONPatch{op: 'add', path: '/b'}", daemonSet(), null), true);
  });

  it('compares a declared object with null in either order', () => {
    assert.equal(evaluate('object.spec.selector == null', daemonSet(), null), false);
    assert.equal(evaluate('null != oldObject', daemonSet(), daemonSet()), true);
    assert.equal(evaluate('oldObject == null', daemonSet(), null), true);
    assert.equal(evaluate('null == oldObject.spec.template', daemonSet(), daemonSet()), false);
    assert.equal(evaluate('dyn(object.spec.selector) != null && object.spec.selector != null', daemonSet(), null), true);
  });

  it('still refuses == between two different object types, as Kubernetes does', () => {
    assert.match(compileError('object.spec.selector == object.metadata').message, /no such overload: LabelSelector == ObjectMeta/);
    assert.match(compileError("object.spec.selector == {'matchLabels': {'app': 'agent'}}").message, /no such overload: LabelSelector == map/);
  });

  it('denies an UPDATE that changes the selector, through the CLI with --old', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'daemonguard-equality-'));
    const write = async (name: string, value: unknown): Promise<string> => {
      const file = join(dir, name);
      await writeFile(file, JSON.stringify(value));
      return file;
    };
    const old = await write('old.json', daemonSet());
    const same = await write('same.json', daemonSet());
    const newSelector = await write('selector.json', daemonSet({ selector: { matchLabels: { app: 'agent' }, matchExpressions: [{ key: 'app', operator: 'Exists' }] } }));
    const newImage = await write('image.json', daemonSet({ template: { metadata: { labels: { app: 'agent' } }, spec: { containers: [{ name: 'agent', image: 'agent:2' }] } } }));
    const run = (file: string) => runCli(['test', '-p', POLICY_DIR, '-o', 'json', '--operation', 'UPDATE', '--old', old, file]);
    const violations = async (file: string): Promise<{ code: number | null; messages: string[] }> => {
      const result = await run(file);
      assert.equal(result.stderr, '', 'the policy loads: no type error');
      const report = JSON.parse(result.stdout) as { results: { violations: { message: string }[] }[] };
      return { code: result.code, messages: report.results.flatMap((r) => r.violations.map((v) => v.message)) };
    };
    assert.deepEqual(await violations(same), { code: 0, messages: [] });
    assert.deepEqual(await violations(newSelector), { code: 1, messages: ['spec.selector may not change after creation'] });
    assert.deepEqual(await violations(newImage), { code: 1, messages: ['a pod template change needs a new annotation example.com/change-ticket'] });
    const create = await runCli(['test', '-p', POLICY_DIR, '-o', 'json', newSelector]);
    assert.equal(create.code, 0, 'a CREATE has no oldObject to compare with');
  });
});
