// `daemonguard test`, run as a real subprocess of the built CLI, on the fixtures in src/cli/testdata.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { XMLParser } from 'fast-xml-parser';
import { parse as parseYaml } from 'yaml';
import { runCli } from '../../test/support/cli-process.js';
import type { JsonReport } from './report/model.js';

const POLICIES = 'src/cli/testdata/policies';
const MANIFESTS = 'src/cli/testdata/manifests';
const MIXED = `${MANIFESTS}/mixed.yaml`;
const GOOD = `${MANIFESTS}/good.yaml`;
const JSON_MANIFEST = `${MANIFESTS}/nested/daemonset.json`;
const CALICO = 'src/cli/testdata/warnings/calico-node.yaml';
const LEGACY = 'src/cli/testdata/legacy/daemonsets.yaml';
const CONVERT = 'so kubectl apply fails: convert to apps/v1; spec.selector is required there';
// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[/;

function latestOnly(): string {
  return readFileSync(new URL(`../../../${MIXED}`, import.meta.url), 'utf8').split('\n---\n')[2]!;
}

/** Asserts that `sarif` validates against the SARIF 2.1.0 schema. */
function assertValidSarif(sarif: unknown): void {
  const schema = JSON.parse(readFileSync(new URL('../../../node_modules/@microsoft/jest-sarif/lib/schemas/sarif-2.1.0-rtm.5.json', import.meta.url), 'utf8')) as Record<string, unknown>;
  // The schema is draft-04; its only draft-04-only keyword is the top-level `id` (no boolean
  // exclusiveMinimum/Maximum), so it reads as draft-07 once that becomes `$id`.
  delete schema.$schema;
  schema.$id = schema.id;
  delete schema.id;
  // unicodeRegExp off: the schema's language pattern has a stray `]` that only non-unicode regexes accept.
  const ajv = new Ajv({ allErrors: true, strict: false, unicodeRegExp: false });
  addFormats.default(ajv);
  const validate = ajv.compile(schema);
  assert.ok(validate(sarif), JSON.stringify(validate.errors, null, 2));
}

async function jsonRun(args: string[], input?: string): Promise<{ code: number | null; report: JsonReport; stderr: string }> {
  const run = await runCli(['test', '-p', POLICIES, '-o', 'json', ...args], { input });
  return { code: run.code, report: JSON.parse(run.stdout) as JsonReport, stderr: run.stderr };
}

describe('daemonguard test', () => {
  it('reads folders recursively, several documents per file, JSON files and Lists, and prints a table', async () => {
    const run = await runCli(['test', '-p', POLICIES, MANIFESTS]);
    assert.equal(run.code, 1, run.stderr);
    const out = run.stdout;
    assert.match(out, /✓ ALLOWED src\/cli\/testdata\/manifests\/good\.yaml:2 {2}monitoring\/node-exporter/);
    assert.match(out, /✗ DENIED {2}src\/cli\/testdata\/manifests\/mixed\.yaml:6 {2}monitoring\/privileged-agent\n {4}deny {2}no-privileged: a container is privileged/);
    assert.match(out, /WARNED {2}src\/cli\/testdata\/manifests\/mixed\.yaml:21 {2}monitoring\/latest-agent\n {4}warn {2}pinned-images: image registry\.example\.com\/agent:latest is not pinned/);
    assert.match(out, /nested\/daemonset\.json:1 {2}infra\/from-json/);
    assert.match(out, /nested\/list\.yaml:4 {2}default\/listed-one/);
    assert.match(out, /audit audit-host-path: mounts a hostPath/);
    assert.match(out, /1 patch operation\n/);
    assert.match(out, /5 DaemonSets: 4 allowed, 1 denied, 1 with warnings; 2 other documents skipped\n$/);
    assert.doesNotMatch(out, ANSI, 'no colour when stdout is not a terminal');
  });

  it('prints the stable JSON shape with a summary', async () => {
    const { code, report } = await jsonRun([MANIFESTS]);
    assert.equal(code, 1);
    assert.deepEqual(Object.keys(report), ['results', 'errors', 'summary']);
    assert.deepEqual(report.errors, []);
    assert.deepEqual(report.summary, { total: 5, allowed: 4, denied: 1, warned: 1, skipped: 2 });
    for (const result of report.results) {
      assert.deepEqual(Object.keys(result), ['file', 'name', 'namespace', 'allowed', 'violations', 'warnings', 'patch', 'exceptions']);
    }
    const privileged = report.results.find((r) => r.name === 'privileged-agent')!;
    assert.equal(privileged.file, MIXED);
    assert.equal(privileged.allowed, false);
    assert.deepEqual(privileged.violations, [{ policy: 'no-privileged', message: 'a container is privileged', action: 'Deny', reason: 'Invalid' }]);
    const latest = report.results.find((r) => r.name === 'latest-agent')!;
    assert.deepEqual(latest.violations.map((v) => v.action), ['Warn']);
    assert.deepEqual(latest.warnings, ['pinned-images: image registry.example.com/agent:latest is not pinned']);
    const good = report.results.find((r) => r.name === 'node-exporter')!;
    assert.deepEqual(good.violations, [{ policy: 'audit-host-path', message: 'mounts a hostPath', action: 'Audit', reason: 'Invalid' }]);
    // Relative to the object as the apiserver defaults it: the labels exist, so the patch adds one key.
    assert.deepEqual(good.patch, [{ op: 'add', path: '/metadata/labels/daemonguard.dev~1reviewed', value: 'true' }]);
  });

  it('prints the same document as YAML', async () => {
    const json = await jsonRun([MANIFESTS]);
    const yaml = await runCli(['test', '-p', POLICIES, '-o', 'yaml', MANIFESTS]);
    assert.equal(yaml.code, 1);
    assert.deepEqual(parseYaml(yaml.stdout), json.report);
  });

  it('reads stdin for "-" and names it <stdin> with the line of each DaemonSet', async () => {
    const input = readFileSync(new URL(`../../../${MIXED}`, import.meta.url), 'utf8');
    const table = await runCli(['test', '-p', POLICIES, '-'], { input });
    assert.equal(table.code, 1);
    assert.match(table.stdout, /<stdin>:6 {2}monitoring\/privileged-agent/);
    assert.match(table.stdout, /<stdin>:21 {2}monitoring\/latest-agent/);
    const { report } = await jsonRun(['-'], input);
    assert.deepEqual(report.results.map((r) => r.file), ['<stdin>', '<stdin>']);
    assert.equal(report.summary.skipped, 1);
  });

  it('writes JUnit XML with one test case per DaemonSet and policy', async () => {
    const run = await runCli(['test', '-p', POLICIES, '-o', 'junit', MANIFESTS]);
    assert.equal(run.code, 1);
    const xml = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', isArray: (name) => name === 'testsuite' || name === 'testcase' }).parse(run.stdout) as {
      testsuites: { tests: string; failures: string; testsuite: { name: string; tests: string; testcase: { classname: string; name: string; failure?: { type: string; message: string }; skipped?: unknown; 'system-out'?: string }[] }[] };
    };
    const suites = xml.testsuites.testsuite;
    assert.equal(suites.length, 5);
    assert.equal(Number(xml.testsuites.tests), 5 * 6);
    assert.equal(Number(xml.testsuites.failures), 1);
    for (const suite of suites) assert.equal(suite.testcase.length, 6, suite.name);
    const privileged = suites.find((s) => s.name.endsWith('monitoring/privileged-agent'))!;
    const failure = privileged.testcase.find((c) => c.name === 'no-privileged')!.failure!;
    assert.equal(failure.type, 'deny');
    assert.equal(failure.message, 'a container is privileged');
    const immutable = privileged.testcase.find((c) => c.name === 'immutable-strategy')!;
    assert.ok(immutable.skipped !== undefined, 'a policy for UPDATE only is skipped on CREATE');
  });

  it('counts a warning as a JUnit failure with --fail-on warn', async () => {
    const run = await runCli(['test', '-p', POLICIES, '-o', 'junit', '--fail-on', 'warn', '-'], { input: latestOnly() });
    assert.equal(run.code, 1);
    const xml = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(run.stdout) as { testsuites: { failures: string } };
    assert.equal(xml.testsuites.failures, '1');
  });

  it('writes SARIF 2.1.0 that validates against the schema, one rule per policy, results at file and line', async () => {
    const run = await runCli(['test', '-p', POLICIES, '-o', 'sarif', MANIFESTS]);
    assert.equal(run.code, 1);
    const sarif = JSON.parse(run.stdout) as {
      version: string;
      runs: { tool: { driver: { rules: { id: string; shortDescription: { text: string } }[] } }; results: { ruleId: string; ruleIndex: number; level: string; locations: { physicalLocation: { artifactLocation: { uri: string }; region: { startLine: number } } }[] }[] }[];
    };
    assertValidSarif(sarif);
    assert.equal(sarif.version, '2.1.0');
    const [sarifRun] = sarif.runs;
    const rules = sarifRun!.tool.driver.rules;
    assert.deepEqual(rules.map((r) => r.id), ['no-privileged', 'pinned-images', 'audit-host-path', 'reviewed-label', 'team-namespaces', 'immutable-strategy']);
    assert.equal(rules[0]!.shortDescription.text, 'Privileged containers are refused outside kube-system.');
    const denial = sarifRun!.results.find((r) => r.ruleId === 'no-privileged')!;
    assert.equal(denial.level, 'error');
    assert.equal(denial.ruleIndex, 0);
    assert.deepEqual(denial.locations[0]!.physicalLocation, { artifactLocation: { uri: MIXED }, region: { startLine: 6 } });
    assert.deepEqual(sarifRun!.results.map((r) => r.level).sort(), ['error', 'note', 'warning']);
  });

  it('prints each warning once, as the apiserver passes it on (calico-node with the built-in library)', async () => {
    const table = await runCli(['test', CALICO]);
    assert.equal(table.code, 0, table.stderr);
    const report = JSON.parse((await runCli(['test', '-o', 'json', CALICO])).stdout) as JsonReport;
    const { warnings } = report.results[0]!;
    assert.ok(warnings.some((w) => w.startsWith('resources: container "upgrade-ipam" has no cpu request') && w.endsWith('…')), warnings.join('\n'));
    const shown = table.stdout.split('\n').filter((line) => line.startsWith('    warn ')).map((line) => line.replace(/^ {4}warn {2}/, ''));
    assert.deepEqual(shown, warnings);
    assert.equal(table.stdout.split('container "upgrade-ipam"').length, 2, 'the resources warning appears once');
  });

  it('shows the patch and the mutated manifest on request', async () => {
    const run = await runCli(['test', '-p', POLICIES, '--show-patch', '--show-mutated', GOOD]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /\{"op":"add","path":"\/metadata\/labels\/daemonguard\.dev~1reviewed","value":"true"\}/);
    assert.match(run.stdout, /mutated:\n {6}apiVersion: apps\/v1/);
    assert.match(run.stdout, /daemonguard\.dev\/reviewed: "true"/);
    assert.match(run.stdout, /terminationMessagePath: \/dev\/termination-log/, 'the mutated manifest is the defaulted object');
    const { report } = await jsonRun(['--show-mutated', GOOD]);
    assert.equal(((report.results[0]!.mutated!.metadata as Record<string, unknown>).labels as Record<string, string>)['daemonguard.dev/reviewed'], 'true');
  });

  it('fails on warnings only with --fail-on warn', async () => {
    assert.equal((await runCli(['test', '-p', POLICIES, '-'], { input: latestOnly() })).code, 0);
    assert.equal((await runCli(['test', '-p', POLICIES, '--fail-on', 'warn', '-'], { input: latestOnly() })).code, 1);
    assert.equal((await runCli(['test', '-p', POLICIES, '--fail-on', 'warn', GOOD])).code, 0, 'an Audit violation is not a warning');
  });

  it('uses --namespace, --namespace-labels, --user and --groups in the request', async () => {
    const inInfra = await jsonRun(['--namespace-labels', 'team=infra', '--user', 'bob', JSON_MANIFEST]);
    assert.equal(inInfra.code, 1);
    assert.match(inInfra.report.results[0]!.violations[0]!.message, /infra-admins/);
    const admin = await jsonRun(['--namespace-labels', 'team=infra,tier=1', '--groups', 'system:authenticated,infra-admins', JSON_MANIFEST]);
    assert.equal(admin.code, 0);
    const otherNamespace = await jsonRun(['-n', 'kube-system', MIXED]);
    assert.equal(otherNamespace.code, 0, 'privileged is allowed in kube-system');
    assert.deepEqual(otherNamespace.report.results.map((r) => r.namespace), ['kube-system', 'kube-system']);
  });

  it('reviews an UPDATE against --old', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'daemonguard-cli-'));
    const old = join(dir, 'old.yaml');
    await writeFile(old, readFileSync(new URL(`../../../${GOOD}`, import.meta.url), 'utf8').replace('spec:\n  selector', 'spec:\n  updateStrategy: {type: OnDelete}\n  selector'));
    const { code, report } = await jsonRun(['--operation', 'UPDATE', '--old', old, GOOD]);
    assert.equal(code, 1);
    assert.deepEqual(report.results[0]!.violations.find((v) => v.policy === 'immutable-strategy'), { policy: 'immutable-strategy', message: 'updateStrategy.type may not change from OnDelete', action: 'Deny', reason: 'Invalid' });
    assert.equal((await runCli(['test', '-p', POLICIES, '--operation', 'UPDATE', '--old', GOOD, GOOD])).code, 0);
    const missing = await runCli(['test', '-p', POLICIES, '--operation', 'UPDATE', GOOD]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--operation UPDATE needs --old FILE/);
  });

  it('colours the table only when asked by FORCE_COLOR, and never with NO_COLOR', async () => {
    const forced = await runCli(['test', '-p', POLICIES, MIXED], { env: { FORCE_COLOR: '1' } });
    assert.match(forced.stdout, ANSI);
    const suppressed = await runCli(['test', '-p', POLICIES, MIXED], { env: { FORCE_COLOR: '1', NO_COLOR: '1' } });
    assert.doesNotMatch(suppressed.stdout, ANSI);
  });

  describe('DaemonSets of an apiVersion Kubernetes no longer serves', () => {
    it('are errors naming file:line, the version and the fix; the other DaemonSets are still reviewed; exit 2', async () => {
      const table = await runCli(['test', '-p', POLICIES, LEGACY]);
      assert.equal(table.code, 2);
      assert.equal(
        table.stderr,
        `error: ${LEGACY}:2: DaemonSet "old-agent": apiVersion extensions/v1beta1 is not served for DaemonSets (removed in Kubernetes 1.16), ${CONVERT}\n` +
          `error: ${LEGACY}:18: DaemonSet "listed-agent": apiVersion apps/v1beta2 is not served for DaemonSets (removed in Kubernetes 1.16), ${CONVERT}\n`,
      );
      assert.match(table.stdout, /ALLOWED src\/cli\/testdata\/legacy\/daemonsets\.yaml:39 {2}monitoring\/current-agent/);
      assert.match(table.stdout, /1 DaemonSet: 1 allowed, 0 denied, 0 with warnings; 1 other document skipped; 2 errors \(see above\)\n$/);
    });

    it('are error entries in -o json, beside the results', async () => {
      const { code, report, stderr } = await jsonRun([LEGACY]);
      assert.equal(code, 2);
      assert.match(stderr, /^error: .*:2: DaemonSet "old-agent"/);
      assert.deepEqual(report.errors, [
        { file: LEGACY, line: 2, message: `DaemonSet "old-agent": apiVersion extensions/v1beta1 is not served for DaemonSets (removed in Kubernetes 1.16), ${CONVERT}` },
        { file: LEGACY, line: 18, message: `DaemonSet "listed-agent": apiVersion apps/v1beta2 is not served for DaemonSets (removed in Kubernetes 1.16), ${CONVERT}` },
      ]);
      assert.deepEqual(report.results.map((r) => r.name), ['current-agent']);
      assert.equal(report.summary.skipped, 1, "another group's DaemonSet kind is just another document");
    });

    it('names apps/v1beta1 too, and refuses one given as --old', async () => {
      const input = 'apiVersion: apps/v1beta1\nkind: DaemonSet\nmetadata:\n  name: ancient\n';
      const stdin = await runCli(['test', '-p', POLICIES, '-'], { input });
      assert.equal(stdin.code, 2);
      assert.match(stdin.stderr, /^error: <stdin>:1: DaemonSet "ancient": apiVersion apps\/v1beta1 is not served for DaemonSets \(it never had DaemonSets/);
      const old = await runCli(['test', '-p', POLICIES, '--operation', 'UPDATE', '--old', LEGACY, GOOD]);
      assert.equal(old.code, 2);
      assert.match(old.stderr, /^error: .*daemonsets\.yaml:2: DaemonSet "old-agent": apiVersion extensions\/v1beta1/);
    });
  });

  describe('apps/v1 DaemonSets the kube-apiserver would reject', () => {
    const input = [
      'apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: unselected\nspec:\n  template:\n    metadata:\n      labels: {app: agent}\n    spec:\n      containers: []\n',
      'apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: twins\nspec:\n  selector: {matchLabels: {app: twins}}\n  template:\n    metadata:\n      labels: {app: twins}\n    spec:\n' +
        '      initContainers: [{name: agent, image: setup}]\n      containers: [{name: agent, image: agent}]\n',
      readFileSync(new URL(`../../../${GOOD}`, import.meta.url), 'utf8'),
    ].join('---\n');
    const REJECTS = 'the kube-apiserver would reject this';

    it("are errors in the apiserver's words at the field's line, not reviewed; the others are; exit 2", async () => {
      const table = await runCli(['test', '-p', POLICIES, '-'], { input });
      assert.equal(table.code, 2);
      assert.equal(
        table.stderr,
        `error: <stdin>:8: DaemonSet "unselected": ${REJECTS}: spec.template.metadata.labels: Invalid value: {"app":"agent"}: \`selector\` does not match template \`labels\`\n` +
          `error: <stdin>:10: DaemonSet "unselected": ${REJECTS}: spec.template.spec.containers: Required value\n` +
          `error: <stdin>:22: DaemonSet "twins": ${REJECTS}: spec.template.spec.initContainers[0].name: Duplicate value: "agent"\n`,
      );
      assert.match(table.stdout, /^1 DaemonSet: 1 allowed, 0 denied, 0 with warnings; 3 errors \(see above\)$/m);
    });

    it('are error entries in -o json', async () => {
      const { code, report } = await jsonRun(['-'], input);
      assert.equal(code, 2);
      assert.deepEqual(report.errors[1], { file: '<stdin>', line: 10, message: `DaemonSet "unselected": ${REJECTS}: spec.template.spec.containers: Required value` });
      assert.equal(report.results.length, 1);
    });
  });

  describe('errors (exit 2)', () => {
    it('names the file and line of a YAML syntax error', async () => {
      const run = await runCli(['test', '-p', POLICIES, '-'], { input: 'apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: [unclosed\n' });
      assert.equal(run.code, 2);
      assert.match(run.stderr, /^error: <stdin>:\d+:\d+: YAML syntax error/);
    });

    it('refuses a manifest value under an unknown YAML tag or !!binary at its file:line:column, as a policy file', async () => {
      const manifest = 'apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: tagged\n  labels: {app: !foo x}\n  annotations:\n    blob: !!binary aGVsbG8=\n';
      const run = await runCli(['test', '-p', POLICIES, '-'], { input: manifest });
      assert.equal(run.code, 2);
      assert.match(run.stderr, /<stdin>:5:17: unknown YAML tag !foo: only the tags of JSON data/);
      assert.match(run.stderr, /<stdin>:7:11: the tag !!binary is not supported/);
      const dir = await mkdtemp(join(tmpdir(), 'daemonguard-cli-'));
      await writeFile(join(dir, 'tagged.yaml'), 'apiVersion: daemonguard.dev/v1alpha1\nkind: DaemonSetPolicy\nmetadata:\n  name: tagged\nspec:\n  validations:\n    - expression: !!js/function "true"\n');
      const policy = await runCli(['test', '-p', dir, GOOD]);
      assert.equal(policy.code, 2);
      assert.match(policy.stderr, /tagged\.yaml:7:19: unknown YAML tag !!js\/function/);
    });

    it('names an unreadable path', async () => {
      const run = await runCli(['test', '-p', POLICIES, 'does/not/exist.yaml']);
      assert.equal(run.code, 2);
      assert.match(run.stderr, /does\/not\/exist\.yaml: cannot read: ENOENT/);
      if (process.getuid?.() !== 0) {
        const dir = await mkdtemp(join(tmpdir(), 'daemonguard-cli-'));
        const locked = join(dir, 'locked.yaml');
        await writeFile(locked, 'kind: DaemonSet\n');
        await chmod(locked, 0o000);
        const denied = await runCli(['test', '-p', POLICIES, locked]);
        assert.equal(denied.code, 2);
        assert.match(denied.stderr, /cannot read: EACCES/);
      }
    });

    it('lists the problems of a broken policy with file:line', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'daemonguard-cli-'));
      await writeFile(join(dir, 'broken.yaml'), 'apiVersion: daemonguard.dev/v1alpha1\nkind: DaemonSetPolicy\nmetadata:\n  name: broken\nspec:\n  validations:\n    - expression: "object.spec.tempalte.spec != null"\n');
      const run = await runCli(['test', '-p', dir, GOOD]);
      assert.equal(run.code, 2);
      assert.match(run.stderr, /problem in the policies:\n.*broken\.yaml:7:\d+: policy "broken"/);
    });

    it('refuses unknown flags and bad values with the usage', async () => {
      const unknown = await runCli(['test', '--frobnicate', GOOD]);
      assert.equal(unknown.code, 2);
      assert.match(unknown.stderr, /unknown option '--frobnicate'/);
      assert.match(unknown.stderr, /Usage: daemonguard test/);
      const output = await runCli(['test', '-p', POLICIES, '-o', 'html', GOOD]);
      assert.equal(output.code, 2);
      assert.match(output.stderr, /--output must be one of: table, json, yaml, junit, sarif/);
      const labels = await runCli(['test', '-p', POLICIES, '--namespace-labels', 'novalue', GOOD]);
      assert.equal(labels.code, 2);
      assert.match(labels.stderr, /"novalue" is not key=value/);
    });
  });

  describe('usage errors (exit 2, with the usage)', () => {
    it('says what it expects when given no paths, instead of reading an empty stdin', async () => {
      const run = await runCli(['test', '-p', POLICIES]);
      assert.equal(run.code, 2);
      assert.match(run.stderr, /^error: no manifests given: name manifest files or folders, or "-" to read stdin/);
      assert.match(run.stderr, /Usage: daemonguard test/);
      assert.equal(run.stdout, '');
    });

    it('refuses an operation test cannot review, naming those it can', async () => {
      const run = await runCli(['test', '-p', POLICIES, '--operation', 'DELETE', GOOD]);
      assert.equal(run.code, 2);
      assert.match(run.stderr, /--operation must be CREATE or UPDATE, the operations DaemonSets are reviewed on \(a DELETE or CONNECT is never reviewed\)/);
      assert.match(run.stderr, /Usage: daemonguard test/);
    });

    it('refuses a malformed namespace label, key or value', async () => {
      for (const [labels, message] of [
        ['foo', /"foo" is not key=value/],
        ['-bad=x', /"-bad" is not a valid label key/],
        ['team=a b', /"a b" \(of team\) is not a valid label value/],
      ] as const) {
        const run = await runCli(['test', '-p', POLICIES, '--namespace-labels', labels, GOOD]);
        assert.equal(run.code, 2, labels);
        assert.match(run.stderr, message);
        assert.match(run.stderr, /Usage: daemonguard test/);
      }
    });
  });

  describe('with DaemonSetPolicyExceptions beside the policies (examples/exceptions: calico-system/calico-node)', () => {
    const CALICO_NODE = 'test/policies/resources/calico-node.yaml';
    const WITH_EXCEPTION = ['test', '-p', 'policies', '-p', 'examples/exceptions'];
    const LIFTED = ['control-plane-tolerations', 'host-namespaces', 'host-path', 'privileged-namespaces'];

    it('lets the named DaemonSet through in its namespace: the table names the exception, the run passes', async () => {
      const run = await runCli([...WITH_EXCEPTION, '--namespace', 'calico-system', CALICO_NODE]);
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.match(run.stdout, /^✓ ALLOWED test\/policies\/resources\/calico-node\.yaml:3 {2}calico-system\/calico-node\n/);
      assert.match(run.stdout, new RegExp(`\n {4}except ${LIFTED.join(', ')}: exception calico-system/calico-node \\(Calico's node agent programs every node's network`));
      assert.doesNotMatch(run.stdout, /deny|warn /);
      assert.match(run.stdout, /1 DaemonSet: 1 allowed, 0 denied, 0 with warnings\n$/);
      // The notice is information, not a warning to fail on.
      assert.equal((await runCli([...WITH_EXCEPTION, '--namespace', 'calico-system', '--fail-on', 'warn', CALICO_NODE])).code, 0);
    });

    it('lists the exceptions per result in -o json, and the notice among the warnings', async () => {
      const run = await runCli([...WITH_EXCEPTION, '--namespace', 'calico-system', '-o', 'json', CALICO_NODE]);
      const [result] = (JSON.parse(run.stdout) as JsonReport).results;
      assert.deepEqual(result!.exceptions, LIFTED.map((policy) => ({ name: 'calico-node', namespace: 'calico-system', policy })));
      assert.deepEqual([result!.allowed, result!.violations, result!.warnings], [true, [], [`exception calico-system/calico-node applied to ${LIFTED.join(', ')}`]]);
    });

    it('does not apply in another namespace, to the same DaemonSet', async () => {
      const run = await runCli([...WITH_EXCEPTION, '--namespace', 'monitoring', '-o', 'json', CALICO_NODE]);
      assert.equal(run.code, 1);
      const [result] = (JSON.parse(run.stdout) as JsonReport).results;
      assert.deepEqual([result!.allowed, result!.exceptions], [false, []]);
      assert.deepEqual([...new Set(result!.violations.map((v) => v.policy))], LIFTED);
    });

    it('reports lifted policies as skipped JUnit cases and suppressed SARIF results with the reason', async () => {
      const junit = await runCli([...WITH_EXCEPTION, '--namespace', 'calico-system', '-o', 'junit', CALICO_NODE]);
      const cases = (new XMLParser({ ignoreAttributes: false }).parse(junit.stdout) as { testsuites: { testsuite: { testcase: { '@_name': string; skipped?: { '@_message': string }; failure?: unknown }[] } } }).testsuites.testsuite.testcase;
      for (const policy of LIFTED) {
        assert.match(cases.find((c) => c['@_name'] === policy)?.skipped?.['@_message'] ?? '', /^exception calico-system\/calico-node: Calico's node agent/, policy);
      }
      assert.equal(cases.filter((c) => c.failure !== undefined).length, 0);
      const sarif = JSON.parse((await runCli([...WITH_EXCEPTION, '--namespace', 'calico-system', '-o', 'sarif', CALICO_NODE])).stdout) as { runs: { results: { ruleId: string; suppressions?: { kind: string; justification: string }[] }[] }[] };
      assertValidSarif(sarif);
      const results = sarif.runs[0]!.results;
      assert.deepEqual([...new Set(results.map((r) => r.ruleId))], LIFTED);
      assert.ok(results.every((r) => r.suppressions?.[0]?.kind === 'external' && r.suppressions[0].justification.startsWith('exception calico-system/calico-node: ')));
    });

    it('refuses an exception naming a policy that does not exist (exit 2, file:line, the policies there are)', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'daemonguard-cli-'));
      await writeFile(join(dir, 'typo.yaml'), readFileSync(new URL('../../../examples/exceptions/calico-system.yaml', import.meta.url), 'utf8').replace('host-path,', 'hostpath,'));
      const run = await runCli(['test', '-p', 'policies', '-p', dir, CALICO_NODE]);
      assert.equal(run.code, 2);
      assert.match(run.stderr, /typo\.yaml:12:\d+: exception "calico-system\/calico-node" spec\.policies\[2\]: no policy is named "hostpath"; the policies are: capabilities, (\S+, )*host-path, /);
    });
  });

  it('uses the built-in library without --policies, from any folder', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'daemonguard-cli-'));
    const run = await runCli(['test', '-o', 'json', '-'], { cwd: dir, input: readFileSync(new URL(`../../../${GOOD}`, import.meta.url), 'utf8') });
    assert.ok(run.code === 0 || run.code === 1, run.stderr);
    const report = JSON.parse(run.stdout) as JsonReport;
    assert.equal(report.summary.total, 1);
    assert.ok(report.results[0]!.patch.some((op) => op.path === '/spec/template/spec/securityContext/seccompProfile'), 'default-seccomp, a built-in policy, mutated the DaemonSet');
  });
});
