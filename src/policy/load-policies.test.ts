import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { policyYaml, writeTree } from '../../test/support/admission-fixtures.js';
import { POLICIES_DIR } from '../../test/support/library-paths.js';
import { listManifestFiles } from '../common/yaml-documents.js';
import { MAX_POLICY_FILE_BYTES, PolicyLoadError, loadPolicySet, type PolicyProblem } from './load-policies.js';

const GOOD = policyYaml(
  'privileged-namespaces',
  `
  params:
    allowedNamespaces: [kube-system]
  variables:
    - name: containers
      expression: "object.spec.template.spec.containers + object.spec.template.spec.?initContainers.orValue([])"
  validations:
    - expression: "request.namespace in params.allowedNamespaces || variables.containers.all(c, !c.?securityContext.?privileged.orValue(false))"
      messageExpression: "'privileged containers are allowed only in: ' + params.allowedNamespaces.join(', ')"
      reason: Forbidden
`,
);

async function problemsOf(files: Record<string, string>): Promise<{ root: string; problems: PolicyProblem[] }> {
  const root = await writeTree(files);
  try {
    await loadPolicySet([root]);
  } catch (error) {
    assert.ok(error instanceof PolicyLoadError, `expected PolicyLoadError, got ${String(error)}`);
    return { root, problems: error.problems };
  }
  assert.fail('the policies loaded, but a problem was expected');
}

describe('loadPolicySet', () => {
  it('loads policies from nested folders, .yaml/.yml/.json files and multi-document files', async () => {
    const root = await writeTree({
      'a.yaml': GOOD,
      'nested/deeper/b.yml': `${policyYaml('two', 'validations:\n  - expression: "true"\n')}---\n${policyYaml('three', 'validations:\n  - expression: "true"\n')}`,
      'c.json': JSON.stringify({ apiVersion: 'daemonguard.dev/v1alpha1', kind: 'DaemonSetPolicy', metadata: { name: 'four' }, spec: { validations: [{ expression: 'true' }] } }),
      'notes.txt': 'not a policy, and not read',
    });
    const set = await loadPolicySet([root]);
    assert.deepEqual(set.policies.map((p) => p.name).sort(), ['four', 'privileged-namespaces', 'three', 'two']);
    assert.equal(set.files.length, 3);
    const privileged = set.policies.find((p) => p.name === 'privileged-namespaces')!;
    assert.equal(privileged.source.file, join(root, 'a.yaml'));
    assert.deepEqual(privileged.validationActions, ['Deny']);
    assert.equal(privileged.failurePolicy, 'Fail');
    assert.deepEqual([...privileged.operations].sort(), ['CREATE', 'UPDATE']);
  });

  it('names file, line and column of an unknown field, at the key', async () => {
    const { root, problems } = await problemsOf({
      'p.yaml': policyYaml('typo', `
      validations:
        - expresion: "true"
      `),
    });
    // The misspelt key also leaves the required "expression" missing: both are reported.
    assert.equal(problems.length, 2);
    assert.ok(problems.some((p) => /missing required field "expression"/.test(p.message)));
    assert.deepEqual(problems.find((p) => p.message.startsWith('unknown field')), {
      file: join(root, 'p.yaml'),
      line: 7,
      column: 7,
      policy: 'typo',
      field: 'spec.validations[0].expresion',
      message: 'unknown field "expresion"',
    });
  });

  it('reports a wrong type and a bad enum value with their field paths', async () => {
    const { problems } = await problemsOf({
      'p.yaml': policyYaml('types', `
      failurePolicy: Sometimes
      match:
        namespaces: kube-system
      validations:
        - expression: "true"
      `),
    });
    const byField = Object.fromEntries(problems.map((p) => [p.field, p]));
    assert.match(byField['spec.failurePolicy']!.message, /must be one of: Fail, Ignore/);
    assert.equal(byField['spec.failurePolicy']!.line, 6);
    assert.match(byField['spec.match.namespaces']!.message, /must be array/);
    assert.equal(byField['spec.match.namespaces']!.line, 8);
  });

  it('refuses a duplicate policy name and points at the first definition', async () => {
    const { root, problems } = await problemsOf({
      'a.yaml': policyYaml('same', 'validations:\n  - expression: "true"\n'),
      'b.yaml': policyYaml('same', 'validations:\n  - expression: "true"\n'),
    });
    assert.equal(problems.length, 1);
    assert.equal(problems[0]!.file, join(root, 'b.yaml'));
    assert.equal(problems[0]!.line, 4);
    assert.match(problems[0]!.message, new RegExp(`duplicate policy name; first defined at ${join(root, 'a.yaml')}:4`));
  });

  it('reports a CEL syntax error at the exact column with a caret', async () => {
    const { problems } = await problemsOf({
      'p.yaml': policyYaml('syntax', `
      validations:
        - expression: "object.spec.minReadySeconds >= )"
      `),
    });
    assert.equal(problems.length, 1);
    const [problem] = problems;
    assert.equal(problem!.field, 'spec.validations[0].expression');
    assert.equal(problem!.line, 7);
    // The quote opens at column 19; ")" is character 31 of the expression.
    assert.equal(problem!.column, 19 + 1 + 31);
    assert.match(problem!.message, /^CEL syntax error: /);
    assert.match(problem!.message, /\n {4}object\.spec\.minReadySeconds >= \)\n {4}\s{31}\^/);
  });

  it('refuses a misspelt DaemonSet field at load (type-checked against the apps/v1 schema)', async () => {
    const { problems } = await problemsOf({
      'p.yaml': policyYaml('misspelt', `
      validations:
        - expression: |
            object.spec.tempalte.spec.containers.size() > 0
      `),
    });
    assert.equal(problems.length, 1);
    assert.match(problems[0]!.message, /no such field "tempalte"/);
    // Line 8 holds the block's content at 8 spaces; "tempalte" starts at character 12 of it.
    assert.equal(problems[0]!.line, 8);
    assert.equal(problems[0]!.column, 8 + 12 + 1);
  });

  it('reports a CEL type error (wrong operand types, non-bool validation)', async () => {
    const { problems } = await problemsOf({
      'p.yaml': policyYaml('types', `
      validations:
        - expression: "object.spec.minReadySeconds + 'x' == 1"
        - expression: "object.metadata.name"
      `),
    });
    assert.equal(problems.length, 2);
    assert.match(problems[0]!.message, /^CEL type error: .*no (such )?overload/i);
    assert.match(problems[1]!.message, /must evaluate to bool, but its type is string/);
  });

  it('reports an unknown variable and an unknown parameter by name', async () => {
    const { problems } = await problemsOf({
      'p.yaml': policyYaml('unknowns', `
      params:
        allowedNamespaces: [kube-system]
      variables:
        - name: first
          expression: "variables.second.size()"
        - name: second
          expression: "object.spec.template.spec.containers"
      validations:
        - expression: "request.namespace in params.alowedNamespaces"
      `),
    });
    assert.equal(problems.length, 2);
    assert.match(problems[0]!.message, /unknown variable "second" \(declared before this point: none\)/);
    assert.match(problems[1]!.message, /unknown parameter "alowedNamespaces": declare it under spec\.params \(declared: allowedNamespaces\)/);
  });

  it('refuses validationActions Deny together with Warn', async () => {
    const { problems } = await problemsOf({
      'p.yaml': policyYaml('both', `
      validationActions: [Deny, Warn]
      validations:
        - expression: "true"
      `),
    });
    assert.equal(problems.length, 1);
    assert.equal(problems[0]!.field, 'spec.validationActions');
    assert.match(problems[0]!.message, /Deny and Warn cannot be combined/);
  });

  it('reports YAML syntax errors with their position', async () => {
    const { root, problems } = await problemsOf({ 'broken.yaml': 'apiVersion: daemonguard.dev/v1alpha1\nkind: [unclosed\n' });
    assert.equal(problems[0]!.file, join(root, 'broken.yaml'));
    assert.ok(problems[0]!.line >= 2);
    assert.match(problems[0]!.message, /^YAML syntax error/);
  });

  it('refuses documents of another kind in a policy folder', async () => {
    const { problems } = await problemsOf({ 'ds.yaml': 'apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: x\n' });
    assert.match(problems[0]!.message, /not a policy \(kind DaemonSet\)/);
  });

  it('refuses a policy file above the size limit, naming the file, its size and the limit, without reading it', async () => {
    // A comment pads the file: what counts is its size, not what it holds.
    const padding = `# ${'x'.repeat(MAX_POLICY_FILE_BYTES)}\n`;
    const { root, problems } = await problemsOf({ 'huge.yaml': GOOD + padding, 'ok.yaml': policyYaml('fine', 'validations:\n  - expression: "true"\n') });
    assert.equal(problems.length, 1);
    const size = Buffer.byteLength(GOOD + padding);
    assert.equal(problems[0]!.file, join(root, 'huge.yaml'));
    assert.equal(problems[0]!.message, `the file is 1.00 MiB (${size.toLocaleString('en-US')} bytes); policy files may be at most 1 MiB (1,048,576 bytes): split it into several files`);
    // The limit is far above every real policy: README gives these figures.
    const sizes = await Promise.all((await listManifestFiles([POLICIES_DIR])).map(async (file) => (await stat(file)).size));
    assert.ok(Math.max(...sizes) < 16 * 1024 && sizes.reduce((a, b) => a + b, 0) < 140 * 1024, `library file sizes: ${sizes.join(', ')}`);
    // Just under the limit loads.
    const fits = await writeTree({ 'big.yaml': GOOD + `# ${'x'.repeat(MAX_POLICY_FILE_BYTES - Buffer.byteLength(GOOD) - 3)}\n` });
    assert.deepEqual((await loadPolicySet([fits])).policies.map((p) => p.name), ['privileged-namespaces']);
  });

  it('reports an unreadable path', async () => {
    await assert.rejects(loadPolicySet(['/nonexistent/daemonguard-policies']), (error: unknown) => {
      assert.ok(error instanceof PolicyLoadError);
      assert.match(error.message, /\/nonexistent\/daemonguard-policies:0:0: cannot read/);
      return true;
    });
  });

  it('lists every problem of every file in one error, and the message has one line per problem', async () => {
    const { problems } = await problemsOf({
      'a.yaml': policyYaml('a', 'validations:\n  - expression: "object.spec.nope"\n'),
      'b.yaml': policyYaml('b', 'failurePolicy: Nope\n'),
    });
    assert.equal(problems.length, 2);
    const error = new PolicyLoadError(problems);
    assert.match(error.message, /^2 problems in the policies:\n.*a\.yaml:7:\d+: policy "a" spec\.validations\[0\]\.expression: /);
  });

  it('refuses a mutation that sets both or neither of defaults and jsonPatch, and a bad pointer', async () => {
    const { problems } = await problemsOf({
      'p.yaml': policyYaml('m', `
      mutations:
        - name: neither
        - name: bad-pointer
          defaults:
            - path: spec/revisionHistoryLimit
              value: 5
      `),
    });
    assert.ok(problems.some((p) => p.field === 'spec.mutations[0]' && /exactly one of "defaults", "jsonPatch" or "applyConfiguration"/.test(p.message)), JSON.stringify(problems));
    assert.ok(problems.some((p) => p.field === 'spec.mutations[1].defaults[0].path' && /must be a JSON pointer/.test(p.message)), JSON.stringify(problems));
  });

  it('type-checks forEach defaults against the element type', async () => {
    const { problems } = await problemsOf({
      'p.yaml': policyYaml('each', `
      mutations:
        - name: probes
          defaults:
            - forEach: /spec/template/spec/containers
              path: /readinessProbe
              valueExpression: "{'tcpSocket': {'port': element.prots[0].containerPort}}"
      `),
    });
    assert.equal(problems.length, 1);
    assert.match(problems[0]!.message, /no such field "prots"/);
  });
});
