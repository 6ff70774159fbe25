// `daemonguard export`, run as a subprocess of the built CLI: exit codes, stderr and output shapes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { CLI_BIN, REPO_ROOT, runCli } from '../../test/support/cli-process.js';

/** `bash -o pipefail -c "daemonguard ARGS | cat > FILE"`: the exit status a CI pipeline sees, and what reached the file. */
async function pipeline(args: readonly string[]): Promise<{ code: number | null; stderr: string; written: string }> {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'daemonguard-export-pipe-'));
  try {
    const file = path.join(directory, 'out.yaml');
    const quote = (word: string): string => `'${word.replaceAll("'", "'\\''")}'`;
    const script = `${[process.execPath, CLI_BIN, ...args].map(quote).join(' ')} | cat > ${quote(file)}`;
    const child = spawn('bash', ['-o', 'pipefail', '-c', script], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', resolve);
    });
    return { code, stderr, written: await readFile(file, 'utf8') };
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

/** The "not exportable: <policy>: <field>: <reason>" lines of a run's stderr. */
function notExportableLines(stderr: string): string[] {
  return stderr.split('\n').filter((line) => line.startsWith('not exportable: '));
}

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

  it('ends a --format vap run with a hint naming the policies and the flag that accepts them', async () => {
    const run = await runCli(['export', '--format', 'vap', '-p', GLOBS]);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /^hint: exit 1 because 3 policies are not exportable \(glob-namespaces, reads-coverage, string-reverse\); .*--skip-unexportable=glob-namespaces,reads-coverage,string-reverse$/m);
  });

  it('with --skip-unexportable exports the default library in a set -o pipefail pipeline, still naming every policy left out with field and reason', async () => {
    // Without the flag the same pipeline fails: the library has policies that read `coverage`.
    const strict = await pipeline(['export', '--format', 'vap']);
    assert.equal(strict.code, 1, strict.stderr);
    const leftOut = notExportableLines(strict.stderr);
    assert.ok(leftOut.length >= 1, 'the default library has a policy that is not exportable');
    for (const line of leftOut) assert.match(line, /^not exportable: [a-z0-9-]+: spec\.[\w.[\]]+: \S/, 'each names its policy and field');

    const partial = await pipeline(['export', '--format', 'vap', '--skip-unexportable']);
    assert.equal(partial.code, 0, partial.stderr);
    assert.deepEqual(notExportableLines(partial.stderr), leftOut, 'the same policies, fields and reasons on stderr');
    assert.doesNotMatch(partial.stderr, /^hint:/m);
    assert.equal(partial.written, strict.written, 'the same documents are written either way');
    for (const line of leftOut) assert.ok(partial.written.includes(`# ${line}\n`), `the YAML comment carries ${line}`);
    const kinds = parseAllDocuments(partial.written).map((d) => (d.toJS() as { kind: string } | null)?.kind).filter((k) => k !== undefined);
    assert.ok(kinds.includes('ValidatingAdmissionPolicy') && kinds.includes('ValidatingAdmissionPolicyBinding'), 'the exportable policies are written');
  });

  it('--skip-unexportable=NAMES accepts just those policies: another one not exportable still exits 1', async () => {
    const some = await runCli(['export', '--format', 'vap', '-p', GLOBS, '--skip-unexportable=glob-namespaces', '--skip-unexportable', 'reads-coverage']);
    assert.equal(some.code, 1, some.stderr);
    assert.equal(notExportableLines(some.stderr).length, 3, 'all three are still named');
    assert.match(some.stderr, /^hint: exit 1 because a policy is not exportable \(string-reverse\); .*add string-reverse to --skip-unexportable$/m);

    const all = await runCli(['export', '--format', 'vap', '-p', GLOBS, '--skip-unexportable=glob-namespaces,reads-coverage,string-reverse', '-o', 'json']);
    assert.equal(all.code, 0, all.stderr);
    assert.equal(notExportableLines(all.stderr).length, 3);
    assert.equal((JSON.parse(all.stdout) as { items: unknown[] }).items.length, 2, 'the exportable policy and its binding');
  });

  it('--skip-unexportable naming an exported policy only notes it; naming no loaded policy is an input error (exit 2) with no output', async () => {
    const stale = await runCli(['export', '--format', 'vap', '-p', GLOBS, '--skip-unexportable=glob-namespaces,reads-coverage,string-reverse,exact-namespaces']);
    assert.equal(stale.code, 0, stale.stderr);
    assert.match(stale.stderr, /^note: --skip-unexportable names exact-namespaces, which was exported \(drop it from the list\)$/m);

    const typo = await runCli(['export', '--format', 'vap', '-p', GLOBS, '--skip-unexportable=glob-namespace']);
    assert.equal(typo.code, 2, typo.stderr);
    assert.match(typo.stderr, /--skip-unexportable names "glob-namespace", which is no policy of those loaded \(the policies not exportable here are: glob-namespaces, reads-coverage, string-reverse\)/);
    assert.equal(typo.stdout, '');
  });

  for (const [args, message] of [
    [['export', '--format', 'vap', '--skip-unexportable='], /name at least one policy, or give the flag alone/],
    [['export', '--format', 'vap', '--skip-unexportable', '--skip-unexportable=footprint'], /either the flag alone \(every policy\) or a list of policy names, not both/],
    [['export', '--format', 'vap', '--skip-unexportable=footprint', '--skip-unexportable'], /either the flag alone \(every policy\) or a list of policy names, not both/],
    [['export', '--format', 'vap', '--skip-unexportable=footprint,*'], /either the flag alone \(every policy\) or a list of policy names, not both/],
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
