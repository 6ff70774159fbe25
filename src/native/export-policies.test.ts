// What `daemonguard export` writes for a policy, and what it names as not exportable and why. The
// documents' acceptance by a real kube-apiserver, and their agreement with daemonguard, are proven
// in test/e2e/export.e2e.test.ts and differential.e2e.test.ts.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { JsonObject } from '../common/vocabulary.js';
import { loadPolicySet } from '../policy/load-policies.js';
import { REPO_ROOT } from '../../test/support/cli-process.js';
import { exportPolicies } from './export-policies.js';
import type { ExportOptions, PolicyExport } from './export-types.js';

const TESTDATA = path.join(REPO_ROOT, 'src/native/testdata');
const LIBRARY = path.join(REPO_ROOT, 'policies');
const OPTIONS: ExportOptions = { namePrefix: 'dg-', excludeNamespaces: [] };

function byPolicy(results: readonly PolicyExport[]): Map<string, PolicyExport> {
  return new Map(results.map((r) => [r.policy, r]));
}

function documentsOf(result: PolicyExport | undefined): JsonObject[] {
  assert.ok(result?.kind === 'exported', `expected an export, got ${JSON.stringify(result)}`);
  return result.documents;
}

describe('export --format vap', () => {
  it('turns exact namespace names into a selector on kubernetes.io/metadata.name, keeping the operations and object selector', async () => {
    const results = byPolicy(exportPolicies(await loadPolicySet([path.join(TESTDATA, 'globs.yaml')]), 'vap', OPTIONS));
    const [policy, binding] = documentsOf(results.get('exact-namespaces'));
    assert.deepEqual((policy!.spec as JsonObject).matchConstraints, {
      resourceRules: [{ apiGroups: ['apps'], apiVersions: ['v1'], resources: ['daemonsets'], operations: ['CREATE'], scope: 'Namespaced' }],
      namespaceSelector: {
        matchExpressions: [
          { key: 'kubernetes.io/metadata.name', operator: 'In', values: ['monitoring', 'logging'] },
          { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['logging-canary'] },
        ],
      },
      objectSelector: { matchLabels: { tier: 'node' } },
    });
    assert.deepEqual(binding!.spec, { policyName: 'dg-exact-namespaces', validationActions: ['Deny'] });
    assert.equal((policy!.spec as JsonObject).failurePolicy, 'Fail');
  });

  it('names a real glob, a read of coverage and a function the apiserver lacks as not exportable, with the field and why', async () => {
    const results = byPolicy(exportPolicies(await loadPolicySet([path.join(TESTDATA, 'globs.yaml')]), 'vap', OPTIONS));
    assert.deepEqual(results.get('glob-namespaces'), {
      policy: 'glob-namespaces',
      kind: 'not-exportable',
      reason: 'spec.match: spec.match.namespaces has the glob "kube-*", which no label selector can express (only exact names and "*" alone can be exported)',
    });
    const reverse = results.get('string-reverse');
    assert.match(reverse?.kind === 'not-exportable' ? reverse.reason : '', /^spec\.validations\[0\]\.expression: calls <string>\.reverse\(\), which the kube-apiserver lacks/);
    const coverage = results.get('reads-coverage');
    assert.equal(coverage?.kind, 'not-exportable');
    assert.match(coverage.kind === 'not-exportable' ? coverage.reason : '', /^spec\.validations\[0\]\.expression: reads `coverage`/);
  });

  it('adds the namespaces given on the command line to every binding and replaces the validationActions when asked', async () => {
    const results = exportPolicies(await loadPolicySet([path.join(TESTDATA, 'globs.yaml')]), 'vap', { namePrefix: '', excludeNamespaces: ['kube-system'], validationActions: ['Warn'] });
    const [, binding] = documentsOf(results.find((r) => r.policy === 'exact-namespaces'));
    assert.deepEqual(binding!.spec, {
      policyName: 'exact-namespaces',
      validationActions: ['Warn'],
      matchResources: { namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system'] }] } },
    });
  });

  it('names a policy that an exception lifts: the native policy would hold what the exception lifts', async () => {
    const results = byPolicy(exportPolicies(await loadPolicySet([path.join(TESTDATA, 'globs.yaml'), path.join(TESTDATA, 'exception.yaml')]), 'vap', OPTIONS));
    const result = results.get('exact-namespaces');
    assert.equal(result?.kind, 'not-exportable');
    assert.match(result.kind === 'not-exportable' ? result.reason : '', /^the DaemonSetPolicyException monitoring\/legacy-agent lifts it for some DaemonSets/);
  });

  it('skips a purely mutating policy, saying to use --format map', async () => {
    const results = byPolicy(exportPolicies(await loadPolicySet([path.join(LIBRARY, 'defaults', 'default-seccomp.yaml')]), 'vap', OPTIONS));
    assert.deepEqual(results.get('default-seccomp'), { policy: 'default-seccomp', kind: 'skipped', reason: 'no validations (export its mutations with --format map)' });
  });
});

describe('export --format map', () => {
  it('writes a default as a JSONPatch add at the first missing field, behind presence tests and the mutation\'s when', async () => {
    const results = byPolicy(exportPolicies(await loadPolicySet([path.join(LIBRARY, 'defaults', 'default-seccomp.yaml')]), 'map', OPTIONS));
    const [policy, binding] = documentsOf(results.get('default-seccomp'));
    assert.equal(policy!.kind, 'MutatingAdmissionPolicy');
    assert.equal(binding!.kind, 'MutatingAdmissionPolicyBinding');
    const spec = policy!.spec as { mutations: { patchType: string; jsonPatch: { expression: string } }[]; reinvocationPolicy: string; failurePolicy: string };
    assert.equal(spec.failurePolicy, 'Ignore');
    assert.equal(spec.mutations.length, 1);
    assert.equal(spec.mutations[0]!.patchType, 'JSONPatch');
    const expression = spec.mutations[0]!.jsonPatch.expression;
    assert.ok(expression.startsWith('(!variables.windows && '), expression);
    assert.ok(
      expression.includes(
        "!has(object.spec.template.spec.securityContext) ? [JSONPatch{op: 'add', path: '/spec/template/spec/securityContext', value: {'seccompProfile': dyn({'type': dyn('RuntimeDefault')})}}]",
      ),
      expression,
    );
    assert.ok(expression.includes("!has(object.spec.template.spec.securityContext.seccompProfile) ? [JSONPatch{op: 'add', path: '/spec/template/spec/securityContext/seccompProfile', value: {'type': dyn('RuntimeDefault')}}]"), expression);
  });

  it('writes a forEach default per element, with element and index, and a computed value that may be null', async () => {
    const results = byPolicy(exportPolicies(await loadPolicySet([path.join(LIBRARY, 'defaults', 'default-probes.yaml')]), 'map', OPTIONS));
    const [policy] = documentsOf(results.get('default-probes'));
    const [readiness] = (policy!.spec as { mutations: { jsonPatch: { expression: string } }[] }).mutations;
    const expression = readiness!.jsonPatch.expression;
    assert.ok(expression.startsWith('object.?spec.?template.?spec.?containers.orValue([]).transformList(index, element,'), expression);
    assert.ok(expression.includes("!has(element.readinessProbe) ? [dyn(variables.derived.exists("), expression);
    assert.ok(expression.includes(".filter(dgValue, dgValue != null).map(dgValue, JSONPatch{op: 'add', path: '/spec/template/spec/containers/' + string(index) + '/readinessProbe', value: dgValue})"), expression);
    assert.ok(expression.endsWith('.flatten()'), expression);
  });

  it('tests a map key that is no identifier with `in`, negated as a whole, and escapes it in the pointer', async () => {
    const results = byPolicy(exportPolicies(await loadPolicySet([path.join(REPO_ROOT, 'test/e2e/testdata/export/edge-cases.yaml')]), 'map', OPTIONS));
    const [policy] = documentsOf(results.get('edge-owner-label'));
    const [labels] = (policy!.spec as { mutations: { jsonPatch: { expression: string } }[] }).mutations;
    assert.ok(labels!.jsonPatch.expression.includes("!('example.com/owner' in object.metadata.labels) ? [dyn('platform')]"), labels!.jsonPatch.expression);
    assert.ok(labels!.jsonPatch.expression.includes("path: '/metadata/labels/example.com~1owner'"), labels!.jsonPatch.expression);
  });

  it('turns a jsonPatch list of maps into JSONPatch objects, field for field', async () => {
    const results = byPolicy(exportPolicies(await loadPolicySet([path.join(LIBRARY, 'defaults', 'default-revision-history.yaml')]), 'map', OPTIONS));
    const [policy] = documentsOf(results.get('default-revision-history'));
    const [mutation] = (policy!.spec as { mutations: { jsonPatch: { expression: string } }[] }).mutations;
    assert.ok(mutation!.jsonPatch.expression.includes("[dyn({'op': dyn('add'), 'path': dyn('/spec/revisionHistoryLimit'), 'value': dyn(5)})]"), mutation!.jsonPatch.expression);
    assert.ok(mutation!.jsonPatch.expression.includes('.map(dgPatch, JSONPatch{op: dgPatch.op, path: dgPatch.path, ?value: dgPatch.?value, ?from: dgPatch.?from})'));
  });

  it('names a policy whose later step reads object, which the apiserver would show already mutated', async () => {
    const results = byPolicy(exportPolicies(await loadPolicySet([path.join(TESTDATA, 'mutations-not-exportable.yaml')]), 'map', OPTIONS));
    const result = results.get('later-step-reads-object');
    assert.equal(result?.kind, 'not-exportable');
    assert.match(result.kind === 'not-exportable' ? result.reason : '', /^spec\.mutations\[0\]\.defaults\[1\]: reads `object` after an earlier step/);
  });

  it('names a default whose path has a CEL reserved word, which the apiserver spells differently for fields and map keys', async () => {
    const results = byPolicy(exportPolicies(await loadPolicySet([path.join(TESTDATA, 'mutations-not-exportable.yaml')]), 'map', OPTIONS));
    const result = results.get('reserved-word-key');
    assert.match(result?.kind === 'not-exportable' ? result.reason : '', /^spec\.mutations\[0\]\.defaults\[0\]\.path: the path \/metadata\/labels\/namespace has "namespace", a CEL reserved word/);
  });
});
