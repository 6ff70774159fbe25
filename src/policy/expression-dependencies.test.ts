import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { admissionRequest, daemonSet, policyYaml, writeTree } from '../../test/support/admission-fixtures.js';
import { review } from '../engine/review.js';
import { expressionDependencies } from './expression-dependencies.js';
import { loadPolicySet } from './load-policies.js';

describe('expressionDependencies', () => {
  it('tells params, variables and request reads apart, ignoring fields, methods and strings', () => {
    const onlyParams = expressionDependencies("params.allowed.map(p, p.lowerAscii()) + ['object', \"request\"]");
    assert.deepEqual(onlyParams, { params: true, variables: new Set(), requestScoped: false, namespaceObject: false, coverage: false });
    const fieldNamedObject = expressionDependencies('variables.list.exists(x, x.object == params.request)');
    assert.deepEqual(fieldNamedObject, { params: true, variables: new Set(['list']), requestScoped: false, namespaceObject: false, coverage: false });
    assert.equal(expressionDependencies('object.spec.template.spec.containers').requestScoped, true);
    assert.equal(expressionDependencies("request.namespace == 'x'").requestScoped, true);
    assert.equal(expressionDependencies('variables.?optional.orValue(1)').variables.has('optional'), true);
    // `variables` used whole could read anything.
    assert.equal(expressionDependencies("'a' in variables").requestScoped, true);
    // namespaceObject as a name, not as a field or inside a string.
    assert.equal(expressionDependencies('namespaceObject.metadata.?labels.orValue({})').namespaceObject, true);
    assert.equal(expressionDependencies('namespaceObject != null && params.x').namespaceObject, true);
    assert.equal(expressionDependencies("object.metadata.namespaceObject == 'namespaceObject'").namespaceObject, false);
    // coverage depends on the object under review: request-scoped, never evaluated once at load.
    const coverage = expressionDependencies('coverage == null ? 0 : size(coverage.scheduledNodes)');
    assert.equal(coverage.coverage, true);
    assert.equal(coverage.requestScoped, true);
    assert.equal(expressionDependencies("params.coverage + 'coverage'").coverage, false);
  });
});

describe('variables that need no request', () => {
  it('a params-only variable is evaluated once at load; request-reading ones are not', async () => {
    const dir = await writeTree({
      'p.yaml': policyYaml('normalized', `
      params:
        prefixes: ["/var/run/", "/proc"]
      variables:
        - name: normalized
          expression: "params.prefixes.map(p, p.endsWith('/') ? p.substring(0, size(p) - 1) : p)"
        - name: derived
          expression: "variables.normalized.map(p, p + '/')"
        - name: mounts
          expression: "object.spec.template.spec.?volumes.orValue([]).filter(v, has(v.hostPath)).map(v, v.hostPath.path)"
        - name: mixed
          expression: "variables.mounts.filter(m, variables.derived.exists(p, m.startsWith(p)))"
      validations:
        - expression: "size(variables.mixed) == 0"
          messageExpression: "'forbidden: ' + variables.mixed.join(', ')"
      `),
    });
    const set = await loadPolicySet([dir]);
    const [normalized, derived, mounts, mixed] = set.policies[0]!.variables;
    assert.deepEqual(normalized!.constant, { value: ['/var/run', '/proc'] });
    assert.deepEqual(derived!.constant, { value: ['/var/run/', '/proc/'] });
    assert.equal(mounts!.constant, undefined);
    assert.equal(mounts!.sharedKey, `cel|${mounts!.program.source}`);
    assert.equal(mixed!.constant, undefined);
    assert.equal(mixed!.sharedKey, undefined);
    const object = daemonSet({ podSpec: { volumes: [{ name: 'sock', hostPath: { path: '/var/run/docker.sock' } }] } });
    const decision = review(admissionRequest(object), set, { phase: 'validate' });
    assert.equal(decision.violations[0]!.message, 'forbidden: /var/run/docker.sock');
  });

  it('policies sharing a request-only variable see the object as mutated so far', async () => {
    const shared = 'object.metadata.?labels.orValue({})';
    const dir = await writeTree({
      'a.yaml': policyYaml('a-label', `
      variables:
        - name: labels
          expression: "${shared}"
      mutations:
        - name: add
          when: "!('a' in variables.labels)"
          defaults:
            - path: /metadata/labels/a
              value: "1"
      `),
      'b.yaml': policyYaml('b-label', `
      variables:
        - name: labels
          expression: "${shared}"
      mutations:
        - name: add
          when: "'a' in variables.labels && !('b' in variables.labels)"
          defaults:
            - path: /metadata/labels/b
              value: "2"
      `),
    });
    const set = await loadPolicySet([dir]);
    const decision = review(admissionRequest(daemonSet()), set, { phase: 'mutate' });
    assert.deepEqual(decision.patch.map((op) => op.path), ['/metadata/labels/a', '/metadata/labels/b']);
  });
});
