import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSourceText } from '../common/yaml-documents.js';
import { compileDocuments } from '../policy/load-policies.js';
import { compileNativeDocuments } from './compile-native.js';
import { compileMatchResources } from './match-resources.js';
import { PARAMS_NOT_FOUND, paramObjectOf, resolveParams } from './params.js';

const DAEMONSET_RULE = '{apiGroups: [apps], apiVersions: [v1], resources: [daemonsets], operations: [CREATE, UPDATE]}';

function policy(name: string, extra = '', rules = `[${DAEMONSET_RULE}]`): string {
  return `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: ${name}}
spec:
  matchConstraints:
    resourceRules: ${rules}
  validations: [{expression: "object.metadata.name != 'bad'"}]
${extra}
`;
}

function binding(name: string, policyName: string, extra = ''): string {
  return `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: ${name}}
spec:
  policyName: ${policyName}
  validationActions: [Deny]
${extra}
`;
}

function compile(...documents: string[]): ReturnType<typeof compileNativeDocuments> {
  const sources = parseSourceText('native.yaml', documents.join('---\n'));
  const params = sources.map(paramObjectOf).filter((p) => p !== undefined && !p.apiVersion.startsWith('admissionregistration'));
  return compileNativeDocuments(sources, params.filter((p) => p !== undefined));
}

const request = (over: Partial<Parameters<ReturnType<typeof compileMatchResources>['notMatched']>[0]> = {}) => ({
  operation: 'CREATE' as const,
  namespace: 'default',
  name: 'agent',
  resource: { group: 'apps', version: 'v1', resource: 'daemonsets' },
  object: { metadata: { labels: { app: 'agent' } } },
  oldObject: null,
  ...over,
});

describe('native matchResources, as the apiserver matches them', () => {
  it('matches apps/v1 daemonsets by group, version, resource and operation, and names the DaemonSet operations', () => {
    const match = compileMatchResources({ resourceRules: [{ apiGroups: ['apps'], apiVersions: ['v1'], resources: ['daemonsets'], operations: ['CREATE'] }] }, 'm');
    assert.deepEqual([...match.operations], ['CREATE']);
    assert.equal(match.notMatched(request()), undefined);
    assert.equal(match.notMatched(request({ operation: 'UPDATE' })), 'm.resourceRules not matched');
  });
  it('a rule for pods, for daemonsets/status or for cluster scope matches no DaemonSet', () => {
    for (const rule of [
      { apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], operations: ['*' as const] },
      { apiGroups: ['apps'], apiVersions: ['v1'], resources: ['daemonsets/status'], operations: ['*' as const] },
      { apiGroups: ['*'], apiVersions: ['*'], resources: ['*'], operations: ['*' as const], scope: 'Cluster' as const },
    ]) assert.equal(compileMatchResources({ resourceRules: [rule] }, 'm').operations.size, 0, JSON.stringify(rule));
  });
  it('resourceNames narrow by name (a generateName CREATE has none), excludeResourceRules win', () => {
    const match = compileMatchResources({
      resourceRules: [{ apiGroups: ['*'], apiVersions: ['*'], resources: ['*'], operations: ['*'], resourceNames: ['agent'] }],
      excludeResourceRules: [{ apiGroups: ['apps'], apiVersions: ['v1'], resources: ['daemonsets'], operations: ['UPDATE'] }],
    }, 'm');
    assert.equal(match.notMatched(request()), undefined);
    assert.equal(match.notMatched(request({ name: '' })), 'm.resourceRules not matched');
    assert.equal(match.notMatched(request({ operation: 'UPDATE' })), 'm.excludeResourceRules matched');
  });
  it('objectSelector matches the new or the old object', () => {
    const match = compileMatchResources({ resourceRules: [{ apiGroups: ['apps'], apiVersions: ['v1'], resources: ['*'], operations: ['*'] }], objectSelector: { matchLabels: { app: 'old' } } }, 'm');
    assert.equal(match.notMatched(request()), 'm.objectSelector not matched');
    assert.equal(match.notMatched(request({ operation: 'UPDATE', oldObject: { metadata: { labels: { app: 'old' } } } })), undefined);
  });
});

describe('native params (paramRef), as the apiserver collects them', () => {
  const params = parseSourceText('params.yaml', [
    'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: limits, namespace: a, labels: {tier: x}}\n',
    'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: limits, namespace: b, labels: {tier: y}}\n',
    'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other, namespace: a, labels: {tier: x}}\n',
  ].join('---\n')).map(paramObjectOf).filter((p) => p !== undefined);
  const kind = { apiVersion: 'v1', kind: 'ConfigMap' };
  it('no paramKind or no paramRef: one evaluation with null params', () => {
    assert.deepEqual(resolveParams(undefined, { name: 'x', parameterNotFoundAction: 'Deny' }, params), [{}]);
    assert.deepEqual(resolveParams(kind, undefined, params), [{}]);
  });
  it('a name in a namespace: that object; missing with Deny: the apiserver error; missing with Allow: nothing', () => {
    assert.equal(resolveParams(kind, { name: 'limits', namespace: 'a', parameterNotFoundAction: 'Deny' }, params)[0]?.param?.namespace, 'a');
    assert.deepEqual(resolveParams(kind, { name: 'nope', namespace: 'a', parameterNotFoundAction: 'Deny' }, params), [{ configurationError: PARAMS_NOT_FOUND }]);
    assert.deepEqual(resolveParams(kind, { name: 'nope', namespace: 'a', parameterNotFoundAction: 'Allow' }, params), []);
  });
  it('a selector: one evaluation per object selected', () => {
    const found = resolveParams(kind, { selector: { matchLabels: { tier: 'x' } }, namespace: 'a', parameterNotFoundAction: 'Allow' }, params);
    assert.deepEqual(found.map((e) => e.param?.name).sort(), ['limits', 'other']);
  });
  it('no namespace on a namespaced kind: the params of the request\'s namespace, and the Deny error elsewhere', () => {
    const found = resolveParams(kind, { name: 'limits', parameterNotFoundAction: 'Deny' }, params);
    assert.deepEqual(found.filter((e) => e.param).map((e) => e.onlyInNamespace).sort(), ['a', 'b']);
    const denial = found.find((e) => e.configurationError);
    assert.deepEqual([...(denial?.exceptNamespaces ?? [])].sort(), ['a', 'b']);
  });
});

describe('compileNativeDocuments: pairing policies with bindings', () => {
  it('one CompiledPolicy per binding, named policy/binding, with the binding\'s actions', () => {
    const compiled = compile(policy('p'), binding('b1', 'p'), binding('b2', 'p', '  matchResources: {namespaceSelector: {matchLabels: {env: prod}}}'));
    assert.deepEqual(compiled.problems, []);
    assert.deepEqual(compiled.policies.map((p) => p.name), ['p/b1', 'p/b2']);
    assert.equal(compiled.policies[1]?.namespaceSelector?.({ env: 'prod' }), true);
    assert.equal(compiled.policies[1]?.namespaceSelector?.({ env: 'dev' }), false);
  });
  it('notes a binding without policy, a policy without binding, and a policy for pods only', () => {
    const compiled = compile(binding('orphan', 'missing'), policy('lonely'), policy('pods', '', '[{apiGroups: [""], apiVersions: [v1], resources: [pods], operations: [CREATE]}]'), binding('pods-b', 'pods'));
    assert.deepEqual(compiled.problems, []);
    assert.deepEqual(compiled.policies, []);
    const messages = compiled.notes.map((n) => `${n.line}: ${n.message}`);
    assert.ok(messages.some((m) => m.includes('binds ValidatingAdmissionPolicy "missing", which is not loaded')), messages.join('\n'));
    assert.ok(messages.some((m) => m.includes('"lonely" has no ValidatingAdmissionPolicyBinding')), messages.join('\n'));
    assert.ok(messages.some((m) => m.includes('"pods" matches no apps/v1 DaemonSet')), messages.join('\n'));
  });
  it('an unknown field, authorizer, and a MutatingAdmissionPolicy without mutations are load problems at their line', () => {
    const compiled = compile(
      policy('typo', '  validationz: []'),
      policy('authz', '  matchConditions: [{name: a, expression: "authorizer.group(\'\').resource(\'pods\').check(\'get\').allowed()"}]'),
      'apiVersion: admissionregistration.k8s.io/v1\nkind: MutatingAdmissionPolicy\nmetadata: {name: m}\nspec:\n  matchConstraints:\n    resourceRules: [' + DAEMONSET_RULE + ']\n  mutations: []\n',
    );
    const text = compiled.problems.map((p) => `${p.line} ${p.field}: ${p.message}`);
    assert.ok(text.some((t) => t.startsWith('8 spec.validationz: ') && t.includes('unknown field')), text.join('\n'));
    assert.ok(text.some((t) => t.includes('spec.matchConditions[0].expression') && t.includes('authorizer')), text.join('\n'));
    assert.ok(text.some((t) => t.includes('spec.reinvocationPolicy is required')), text.join('\n'));
    assert.ok(text.some((t) => t.includes('needs at least one entry in spec.mutations')), text.join('\n'));
  });
  it('reads the items of a List (kubectl get ... -o yaml), problems at the item\'s line', async () => {
    const list = `apiVersion: v1
kind: List
items:
  - apiVersion: admissionregistration.k8s.io/v1
    kind: ValidatingAdmissionPolicy
    metadata: {name: p}
    spec:
      matchConstraints:
        resourceRules: [${DAEMONSET_RULE}]
      validations: [{expression: "true"}]
  - apiVersion: admissionregistration.k8s.io/v1
    kind: ValidatingAdmissionPolicyBinding
    metadata: {name: b}
    spec: {policyName: p, validationActions: [Deny], validationActionz: []}
`;
    const compiled = await compileDocuments(parseSourceText('list.yaml', list));
    assert.deepEqual(compiled.problems.map((p) => `${p.line} ${p.field}`), ['14 spec.validationActionz']);
    const fixed = await compileDocuments(parseSourceText('list.yaml', list.replace(', validationActionz: []', '')));
    assert.deepEqual(fixed.policies.map((p) => p.name), ['p/b']);
  });
});
