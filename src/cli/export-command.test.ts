// `daemonguard export`, run as a subprocess of the built CLI: exit codes, stderr and output shapes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { runCli } from '../../test/support/cli-process.js';

const GLOBS = 'src/native/testdata/globs.yaml';

describe('daemonguard export', () => {
  it('writes the exportable policies, names the others on stderr and in a YAML comment, and exits 1', async () => {
    const run = await runCli(['export', '--format', 'vap', '-p', GLOBS]);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /^not exportable: glob-namespaces: spec\.match: .*"kube-\*"/m);
    assert.match(run.stderr, /^not exportable: reads-coverage: spec\.validations\[0\]\.expression: reads `coverage`/m);
    assert.match(run.stdout, /^# daemonguard export --format vap: 1 of 4 policies exported$/m);
    assert.match(run.stdout, /^# not exportable: glob-namespaces: /m);
    const documents = parseAllDocuments(run.stdout).map((d) => d.toJS() as { kind: string; metadata: { name: string } } | null).filter((d) => d !== null);
    assert.deepEqual(documents.map((d) => `${d.kind}/${d.metadata.name}`), ['ValidatingAdmissionPolicy/daemonguard-exact-namespaces', 'ValidatingAdmissionPolicyBinding/daemonguard-exact-namespaces']);
  });

  it('exits 0 when every policy with something for the format is exported (skipped ones are only noted)', async () => {
    const run = await runCli(['export', '--format', 'map', '-p', 'policies/defaults', '-p', 'policies/security/host-ports.yaml', '-o', 'json']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, 'skipped: host-ports: no mutations (export its validations with --format vap)\n');
    const list = JSON.parse(run.stdout) as { kind: string; items: { kind: string }[] };
    assert.equal(list.kind, 'List');
    assert.deepEqual([...new Set(list.items.map((i) => i.kind))], ['MutatingAdmissionPolicy', 'MutatingAdmissionPolicyBinding']);
    assert.equal(list.items.length, 8);
  });

  for (const [args, message] of [
    [['export'], /required option '-f, --format <format>' not specified/],
    [['export', '--format', 'kyverno'], /--format must be one of: vap, map/],
    [['export', '--format', 'vap', '--validation-actions', 'Deny,Warn'], /Deny and Warn cannot be combined/],
    [['export', '--format', 'vap', '--name-prefix', 'Bad_'], /the prefix must be lower-case/],
    [['export', '--format', 'vap', '--frobnicate'], /unknown option '--frobnicate'/],
    [['export', '--format', 'vap', '--namespace-exclusions', 'kube-*'], /"kube-\*" is not a namespace name/],
  ] as const) {
    it(`refuses ${args.slice(1).join(' ') || 'no --format'} with the usage and exit 2`, async () => {
      const run = await runCli([...args]);
      assert.equal(run.code, 2);
      assert.match(run.stderr, message);
      assert.match(run.stderr, /Usage: daemonguard export/);
    });
  }

  it('reports a broken policy as an input error (exit 2) naming the file', async () => {
    const run = await runCli(['export', '--format', 'vap', '-p', 'src/native/testdata/no-such-file.yaml']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /no-such-file\.yaml/);
  });
});
