// `daemonguard verify`, run as a real subprocess on fixture suites and on the built-in library's suites.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { XMLParser } from 'fast-xml-parser';
import { listManifestFiles, readSourceFile } from '../common/yaml-documents.js';
import { REPO_ROOT, runCli } from '../../test/support/cli-process.js';
import { isPolicyTestDocument } from './policy-test-suite.js';

const SUITES = 'src/cli/testdata/suites';
const FAILING = 'src/cli/testdata/failing-suite';

/** Files under the built-in library's folders that hold PolicyTest documents. */
async function builtInSuiteFiles(): Promise<string[]> {
  const roots = ['policies', 'test/policies'].map((p) => join(REPO_ROOT, p)).filter((p) => existsSync(p));
  const files: string[] = [];
  for (const file of roots.length > 0 ? await listManifestFiles(roots) : []) {
    const documents = await readSourceFile(file).catch(() => []);
    if (documents.some((d) => isPolicyTestDocument(d.value))) files.push(file);
  }
  return files;
}

describe('daemonguard verify', () => {
  it('passes the fixture suites, listing each resource', async () => {
    const run = await runCli(['verify', SUITES]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /^fixture-policies {2}src\/cli\/testdata\/suites\/fixtures\.test\.yaml:1\n/);
    for (const name of ['node-exporter', 'privileged-in-kube-system', 'host-network-in-infra', 'host-network-in-infra-by-admin', 'strategy-change', 'delete-is-not-reviewed']) {
      assert.match(run.stdout, new RegExp(`  ✓ ${name}\\n`));
    }
    assert.match(run.stdout, /1 suite, 6 resources: 6 passed, 0 failed\n$/);
  });

  it('expresses an exception: the policy is "except" where it applies, "deny" for the same DaemonSet in another namespace', async () => {
    const run = await runCli(['verify', 'src/cli/testdata/exception-suite']);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, / {2}✓ excepted-in-its-namespace\n {2}✓ same-daemonset-elsewhere\n/);
    // Without the exception, the first case's expectation fails.
    const dir = await mkdtemp(join(tmpdir(), 'daemonguard-verify-'));
    const suite = (await readFile(join(REPO_ROOT, 'src/cli/testdata/exception-suite/exceptions.test.yaml'), 'utf8'))
      .replace('[../policies, ../exceptions]', `[${join(REPO_ROOT, 'src/cli/testdata/policies')}]`);
    await writeFile(join(dir, 'exceptions.test.yaml'), suite);
    const without = await runCli(['verify', dir]);
    assert.equal(without.code, 1, without.stdout + without.stderr);
    assert.match(without.stdout, /✗ excepted-in-its-namespace .*\n(.*\n)* {6}policies\.no-privileged:\n {8}- expected: except\n {8}\+ actual: {3}deny/);
  });

  it('shows expected against actual for every mismatch and checks mutations for idempotence', async () => {
    const run = await runCli(['verify', FAILING]);
    assert.equal(run.code, 1);
    const out = run.stdout;
    assert.match(out, /✗ expects-a-denial {2}src\/cli\/testdata\/failing-suite\/mismatch\.test\.yaml:8:7/);
    assert.match(out, /allowed:\n {8}- expected: false\n {8}\+ actual: {3}true/);
    assert.match(out, /policies\.no-privileged:\n {8}- expected: deny\n {8}\+ actual: {3}pass/);
    assert.match(out, /policies\.no-such-policy:\n.*\n.*no policy named "no-such-policy" is loaded/);
    assert.match(out, /messages:\n {8}- expected: a violation message containing "never said"/);
    assert.match(out, /mutated \/metadata\/labels\/app:\n {8}- expected: "other"\n {8}\+ actual: {3}"node-exporter"/);
    assert.match(out, /idempotence:\n {8}- expected: no patch when the mutated object is reviewed again\n {8}\+ actual: {3}patch \[\{"op":"add","path":"\/spec\/template\/spec\/containers\/-"/);
    assert.match(out, /1 suite, 1 resources: 0 passed, 1 failed\n$/);
  });

  it('writes JUnit XML, one test case per resource', async () => {
    const run = await runCli(['verify', '-o', 'junit', SUITES, FAILING]);
    assert.equal(run.code, 1);
    const xml = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', isArray: (name) => name === 'testsuite' || name === 'testcase' }).parse(run.stdout) as {
      testsuites: { tests: string; failures: string; testsuite: { name: string; testcase: { name: string; failure?: { message: string } }[] }[] };
    };
    assert.equal(xml.testsuites.tests, '7');
    assert.equal(xml.testsuites.failures, '1');
    const failing = xml.testsuites.testsuite.find((s) => s.name === 'wrong-expectations')!;
    assert.match(failing.testcase[0]!.failure!.message, /allowed: expected false, got true/);
  });

  it('adds -p policies to every suite', async () => {
    const run = await runCli(['verify', '-p', 'src/cli/testdata/failing-suite/counter.yaml', SUITES]);
    assert.equal(run.code, 1, 'the appended sidecar breaks idempotence in every suite');
    assert.match(run.stdout, /idempotence:/);
  });

  it('tests the built-in library when a suite names no policies and -p is not given', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'daemonguard-verify-'));
    await writeFile(join(dir, 'library.test.yaml'), [
      'apiVersion: daemonguard.dev/v1alpha1',
      'kind: PolicyTest',
      'metadata: {name: built-in}',
      'spec:',
      '  resources:',
      `    - {name: node-exporter, file: ${join(REPO_ROOT, 'src/cli/testdata/manifests/good.yaml')}, expect: {policies: {privileged-namespaces: pass, default-seccomp: mutate}}}`,
      '',
    ].join('\n'));
    const run = await runCli(['verify', 'library.test.yaml'], { cwd: dir });
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /1 suite, 1 resources: 1 passed, 0 failed/);
  });

  describe('errors (exit 2)', () => {
    it('names the file and line of a suite that does not fit the schema', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'daemonguard-verify-'));
      await writeFile(join(dir, 'bad.test.yaml'), [
        'apiVersion: daemonguard.dev/v1alpha1',
        'kind: PolicyTest',
        'metadata: {name: bad}',
        'spec:',
        '  policies: [nowhere]',
        '  resources:',
        '    - name: one',
        '      expect: {policies: {x: maybe}}',
        '    - name: two',
        '      file: a.yaml',
        '      object: {}',
        '      expect: {}',
        '',
      ].join('\n'));
      const run = await runCli(['verify', dir]);
      assert.equal(run.code, 2);
      assert.match(run.stderr, /bad\.test\.yaml:7:7: spec\.resources\[0\]: set "file" or "object"/);
      assert.match(run.stderr, /bad\.test\.yaml:8:30: spec\.resources\[0\]\.expect\.policies\.x: must be one of: pass, deny, warn, audit, skip, error, mutate/);
      assert.match(run.stderr, /bad\.test\.yaml:9:7: spec\.resources\[1\]: set only one of "file" or "object"/);
    });

    it('names a missing resource file and a missing policy folder', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'daemonguard-verify-'));
      const suite = (policies: string, file: string): string =>
        `apiVersion: daemonguard.dev/v1alpha1\nkind: PolicyTest\nmetadata: {name: s}\nspec:\n  policies: [${policies}]\n  resources:\n    - {name: r, file: ${file}, expect: {}}\n`;
      await writeFile(join(dir, 'a.test.yaml'), suite(join(REPO_ROOT, 'src/cli/testdata/policies'), 'missing.yaml'));
      const missingFile = await runCli(['verify', dir]);
      assert.equal(missingFile.code, 2);
      assert.match(missingFile.stderr, /a\.test\.yaml:7:7: resource "r": .*missing\.yaml: cannot read/);
      await writeFile(join(dir, 'a.test.yaml'), suite('no-such-folder', join(REPO_ROOT, 'src/cli/testdata/manifests/good.yaml')));
      const missingPolicies = await runCli(['verify', dir]);
      assert.equal(missingPolicies.code, 2);
      assert.match(missingPolicies.stderr, /no-such-folder: cannot read/);
    });

    it('refuses a resource the kube-apiserver would reject, naming the resource and the field', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'daemonguard-verify-'));
      const object = '{apiVersion: apps/v1, kind: DaemonSet, metadata: {name: twins}, spec: {selector: {matchLabels: {app: a}}, template: {metadata: {labels: {app: a}}, spec: {containers: [{name: c, image: i}, {name: c, image: i}]}}}}';
      await writeFile(
        join(dir, 'a.test.yaml'),
        `apiVersion: daemonguard.dev/v1alpha1\nkind: PolicyTest\nmetadata: {name: s}\nspec:\n  policies: [${join(REPO_ROOT, 'src/cli/testdata/policies')}]\n  resources:\n    - {name: r, object: ${object}, expect: {allowed: true}}\n`,
      );
      const run = await runCli(['verify', dir]);
      assert.equal(run.code, 2);
      assert.match(run.stderr, /a\.test\.yaml:7:7: resource "r": DaemonSet "twins": the kube-apiserver would reject this: spec\.template\.spec\.containers\[1\]\.name: Duplicate value: "c"/);
    });

    it('refuses a path without suites', async () => {
      const run = await runCli(['verify', 'src/cli/testdata/manifests']);
      assert.equal(run.code, 2);
      assert.match(run.stderr, /no PolicyTest documents found in src\/cli\/testdata\/manifests/);
    });
  });

  it("passes the built-in library's suites (when the library has any)", async (t) => {
    const files = await builtInSuiteFiles();
    if (files.length === 0) {
      t.skip('no PolicyTest documents under policies/ or test/policies/ yet');
      return;
    }
    const run = await runCli(['verify', ...files], { timeoutMs: 120_000 });
    assert.equal(run.code, 0, run.stdout + run.stderr);
  });
});
