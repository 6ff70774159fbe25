// DaemonSetPolicyException documents through the loader: beside policies in the same files and folders,
// checked against schema/daemonsetpolicyexception.schema.json with file:line errors, and refused when
// they name a policy that does not exist (a separate check, so a cluster can report it in status).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { exceptionYaml, policyYaml, writeTree } from '../../test/support/admission-fixtures.js';
import { readPackageJson } from '../common/package-root.js';
import { parseSourceText } from '../common/yaml-documents.js';
import { unknownPolicyProblems } from './compile-exception.js';
import { compileDocuments, loadDocuments, loadPolicySet, PolicyLoadError, type PolicyProblem } from './load-policies.js';

const POLICY = policyYaml('control-plane-tolerations', 'validations:\n  - expression: "true"\n');
const HOST_PORTS = policyYaml('host-ports', 'validations:\n  - expression: "true"\n');
const EXCEPTION = exceptionYaml('kube-system', 'calico-on-control-plane', `
  policies: [control-plane-tolerations]
  match:
    names: [calico-node]
    objectSelector: {matchLabels: {k8s-app: calico-node}}
  reason: Calico must run on every node, control plane included.
  expires: "2027-06-30T00:00:00Z"
`);

async function problemsOf(files: Record<string, string>): Promise<{ root: string; problems: PolicyProblem[]; message: string }> {
  const root = await writeTree(files);
  try {
    await loadPolicySet([root]);
  } catch (error) {
    assert.ok(error instanceof PolicyLoadError, `expected PolicyLoadError, got ${String(error)}`);
    return { root, problems: error.problems, message: error.message };
  }
  assert.fail('the set loaded, but a problem was expected');
}

describe('schema/daemonsetpolicyexception.schema.json', () => {
  it('stays structural, as a CRD openAPIV3Schema must be: a type on every node, no oneOf/anyOf/not', () => {
    const schema = readPackageJson('schema', 'daemonsetpolicyexception.schema.json') as Record<string, unknown>;
    const definitions = schema['definitions'] as Record<string, unknown>;
    const untyped: string[] = [];
    const walk = (node: Record<string, unknown>, at: string): void => {
      for (const keyword of ['oneOf', 'anyOf', 'allOf', 'not']) if (keyword in node) untyped.push(`${at}: ${keyword}`);
      const resolved = typeof node['$ref'] === 'string' ? (definitions[node['$ref'].replace('#/definitions/', '')] as Record<string, unknown>) : node;
      if (typeof resolved['type'] !== 'string') untyped.push(`${at}: no type`);
      for (const [key, child] of Object.entries((resolved['properties'] ?? {}) as Record<string, Record<string, unknown>>)) walk(child, `${at}.${key}`);
      for (const key of ['items', 'additionalProperties']) {
        const child = resolved[key];
        if (typeof child === 'object' && child !== null) walk(child as Record<string, unknown>, `${at}.${key}`);
      }
    };
    walk(schema, '');
    assert.deepEqual(untyped, []);
  });
});

describe('loading DaemonSetPolicyExceptions', () => {
  it('loads exceptions beside policies, in one file or another, indexed by the policies they name', async () => {
    const root = await writeTree({ 'policies.yaml': `${POLICY}---\n${EXCEPTION}`, 'more/ports.yaml': HOST_PORTS });
    const set = await loadPolicySet([root]);
    assert.deepEqual(set.policies.map((p) => p.name), ['host-ports', 'control-plane-tolerations']);
    assert.equal(set.exceptions.length, 1);
    const [exception] = set.exceptions;
    assert.deepEqual(
      { id: exception!.id, policies: exception!.policies, reason: exception!.reason, expires: exception!.expires, file: exception!.source.file, line: exception!.source.line },
      { id: 'kube-system/calico-on-control-plane', policies: ['control-plane-tolerations'], reason: 'Calico must run on every node, control plane included.', expires: { text: '2027-06-30T00:00:00Z', at: Date.parse('2027-06-30T00:00:00Z') }, file: join(root, 'policies.yaml'), line: 9 },
    );
    assert.deepEqual([...set.exceptionsByPolicy.keys()], ['control-plane-tolerations']);
  });

  it('refuses an exception naming a policy that does not exist, at the name, listing the policies there are', async () => {
    const typo = EXCEPTION.replace('[control-plane-tolerations]', '[control-plane-tolerations, host-port]');
    const { root, message } = await problemsOf({ 'a.yaml': `${POLICY}---\n${HOST_PORTS}---\n${typo}` });
    assert.equal(message, `1 problem in the policies:\n${join(root, 'a.yaml')}:23:41: exception "kube-system/calico-on-control-plane" spec.policies[1]: no policy is named "host-port"; the policies are: control-plane-tolerations, host-ports`);
  });

  it('keeps that check apart, for a cluster to report in the exception status instead of refusing the set', async () => {
    const sources = parseSourceText('cluster/kube-system/calico-on-control-plane', EXCEPTION);
    const compiled = await compileDocuments(sources);
    assert.deepEqual([compiled.problems, compiled.policies.length, compiled.exceptions.length], [[], 0, 1]);
    const problems = unknownPolicyProblems(compiled.exceptions, ['host-ports']);
    assert.deepEqual(problems.map((p) => [p.exception, p.field, p.message]), [
      ['kube-system/calico-on-control-plane', 'spec.policies[0]', 'no policy is named "control-plane-tolerations"; the policies are: host-ports'],
    ]);
  });

  it('loads in-memory documents through the same code as files (loadDocuments)', async () => {
    const sources = [...parseSourceText('cluster/policy', POLICY), ...parseSourceText('cluster/exception', EXCEPTION)];
    const set = await loadDocuments(sources);
    assert.deepEqual([set.policies.map((p) => p.name), set.exceptions.map((e) => e.id), set.files], [['control-plane-tolerations'], ['kube-system/calico-on-control-plane'], []]);
    await assert.rejects(loadDocuments(parseSourceText('cluster/exception', EXCEPTION)), (error: unknown) => error instanceof PolicyLoadError && /cluster\/exception:\d+:\d+: exception .* no policy is named/.test(error.message));
  });

  it('requires metadata.namespace, saying why', async () => {
    const { problems } = await problemsOf({ 'a.yaml': `${POLICY}---\n${EXCEPTION.replace('  namespace: kube-system\n', '')}` });
    assert.deepEqual(problems.map((p) => [p.line, p.field, p.message]), [[12, 'metadata', 'missing required field "namespace": an exception applies only to the DaemonSets of its own namespace']]);
  });

  it('refuses wildcards in policies, an empty policy list, a blank reason, a match without criteria, an unknown field, each at its line', async () => {
    const broken = exceptionYaml('kube-system', 'broken', `
      policies: ["control-plane-*"]
      match: {}
      reason: "  "
      expire: "2027-06-30T00:00:00Z"
    `);
    const empty = exceptionYaml('kube-system', 'empty', `
      policies: []
      match: {names: [x]}
      reason: r
    `);
    const { problems } = await problemsOf({ 'a.yaml': `${POLICY}---\n${broken}---\n${empty}` });
    assert.deepEqual(problems.map((p) => `${p.line} ${p.exception} ${p.field}: ${p.message}`), [
      '18 kube-system/broken spec.expire: unknown field "expire"',
      '15 kube-system/broken spec.policies[0]: must be the name of a policy, spelled out (no wildcards): lower-case letters, digits and "-"',
      '16 kube-system/broken spec.match: give names, objectSelector or both',
      '17 kube-system/broken spec.reason: must not be blank',
      '26 kube-system/empty spec.policies: must not be empty',
    ]);
  });

  it('refuses an empty objectSelector (it would match every DaemonSet) and an expiry that is not RFC 3339', async () => {
    const broad = exceptionYaml('kube-system', 'broad', `
      policies: [control-plane-tolerations]
      match: {objectSelector: {}}
      reason: r
      expires: "2027-06-30"
    `);
    const { problems } = await problemsOf({ 'a.yaml': `${POLICY}---\n${broad}` });
    assert.deepEqual(problems.map((p) => `${p.line} ${p.field}: ${p.message}`), [
      '16 spec.match.objectSelector: an empty selector would match every DaemonSet in the namespace: give matchLabels or matchExpressions, or to except them all on purpose, names: ["*"]',
      '18 spec.expires: "2027-06-30" is not an RFC 3339 time; write it as 2027-06-30T00:00:00Z',
    ]);
  });

  it('refuses the same exception name twice in a namespace, not in two namespaces, nor a policy of the same name', async () => {
    const again = EXCEPTION;
    const elsewhere = EXCEPTION.replace('namespace: kube-system', 'namespace: monitoring');
    const named = policyYaml('calico-on-control-plane', 'validations:\n  - expression: "true"\n');
    const { root, problems } = await problemsOf({ 'a.yaml': `${POLICY}---\n${EXCEPTION}`, 'b.yaml': `${elsewhere}---\n${named}---\n${again}` });
    assert.deepEqual(problems.map((p) => `${p.file.slice(root.length + 1)}:${p.line} ${p.exception}: ${p.message}`), [
      `b.yaml:25 kube-system/calico-on-control-plane: duplicate exception name in its namespace; first defined at ${join(root, 'a.yaml')}:12`,
    ]);
  });
});
