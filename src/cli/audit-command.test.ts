// `daemonguard audit --input`, run as a real subprocess of the built CLI on a `kubectl get ds,ns -A
// -o yaml` dump: the table, the exit codes, JSON, the Reports, and the impact preview of --compare-with.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { runCli } from '../../test/support/cli-process.js';
import type { AuditComparison } from './audit-compare.js';

const DUMP = 'src/cli/testdata/audit/dump.yaml';
const CURRENT = 'src/cli/testdata/audit/current-policies.yaml';
const PROPOSED = 'src/cli/testdata/audit/proposed-policies.yaml';

/** The dump without the Namespace "batch" DaemonSet, so every namespace it names is in it. */
function dumpWithoutBatch(): string {
  const text = readFileSync(new URL(`../../../${DUMP}`, import.meta.url), 'utf8');
  const start = text.indexOf('- apiVersion: apps/v1\n  kind: DaemonSet\n  metadata:\n    creationTimestamp: "2026-12-02T08:45:10Z"');
  const end = text.indexOf('- apiVersion: v1\n  kind: Namespace');
  return text.slice(0, start) + text.slice(end);
}

describe('daemonguard audit --input', () => {
  it('prints each finding with its namespace, DaemonSet, nodes, policy, result and message, and exits 1 on a Deny failure', async () => {
    const run = await runCli(['audit', '--input', DUMP, '-p', CURRENT]);
    assert.equal(run.code, 1, run.stderr);
    const lines = run.stdout.split('\n');
    assert.match(lines[0]!, /^NAMESPACE +DAEMONSET +NODES +POLICY +RESULT +MESSAGE$/);
    assert.match(run.stdout, /\nmonitoring +node-exporter +5 +prod-limits +fail +every container in a production namespace needs resource limits\n/);
    assert.match(run.stdout, /\nlogging +fluent-bit +5 +team-label +warn +no team label\n/);
    assert.match(run.stdout, /\nbatch +scratch-cleaner +2 +prod-limits +error +spec\.match\.namespaceSelector: the labels of namespace "batch" are not known\n/);
    assert.doesNotMatch(run.stdout, /kube-proxy/, 'a DaemonSet without findings has no row');
    assert.match(run.stdout, /\n4 DaemonSets on 15 nodes audited against 3 policies: 2 would be denied, 1 with warnings, 1 clean\nfailing: 2 DaemonSets, scheduled on 7 nodes in all\n$/);
    assert.match(run.stderr, /warning: the input has no Namespace object for "batch"/);
  });

  it('exits 0 when only warnings are found, and 1 for them with --fail-on warn', async () => {
    // No production namespace, and every namespace in the input: only fluent-bit's Warn remains.
    const input = dumpWithoutBatch().replace('      env: prod\n', '');
    const relaxed = await runCli(['audit', '--input', '-', '-p', CURRENT, '-o', 'json'], { input });
    assert.equal(relaxed.code, 0, relaxed.stdout + relaxed.stderr);
    assert.equal(relaxed.stderr, '', 'every namespace is in the input');
    const strict = await runCli(['audit', '--input', '-', '-p', CURRENT, '--fail-on', 'warn', '-o', 'json'], { input });
    assert.equal(strict.code, 1);
  });

  it('prints JSON with the nodes of each DaemonSet and the namespaces the input lacks', async () => {
    const run = await runCli(['audit', '--input', DUMP, '-p', CURRENT, '-o', 'json']);
    assert.equal(run.code, 1);
    const report = JSON.parse(run.stdout) as { results: { name: string; nodes: number; allowed: boolean }[]; summary: { total: number; denied: number }; missingNamespaces: string[] };
    assert.deepEqual(report.results.map((r) => [r.name, r.nodes, r.allowed]), [['kube-proxy', 3, true], ['node-exporter', 5, false], ['fluent-bit', 5, true], ['scratch-cleaner', 2, false]]);
    assert.deepEqual(report.summary, { total: 4, allowed: 2, denied: 2, warned: 1, skipped: 0 });
    assert.deepEqual(report.missingNamespaces, ['batch']);
  });

  it('reads the same objects as several YAML documents instead of a List', async () => {
    const list = parse(readFileSync(new URL(`../../../${DUMP}`, import.meta.url), 'utf8')) as { items: object[] };
    const documents = list.items.map((item) => stringify(item)).join('---\n');
    const fromList = await runCli(['audit', '--input', DUMP, '-p', CURRENT, '-o', 'json']);
    const fromDocuments = await runCli(['audit', '--input', '-', '-p', CURRENT, '-o', 'json'], { input: documents });
    assert.equal(fromDocuments.code, 1);
    const withoutFile = (stdout: string): unknown => (JSON.parse(stdout) as { results: { file?: string }[] }).results.map(({ file: _file, ...rest }) => rest);
    assert.deepEqual(withoutFile(fromDocuments.stdout), withoutFile(fromList.stdout));
  });

  it('prints one OpenReports Report per namespace as YAML documents kubectl apply takes', async () => {
    const run = await runCli(['audit', '--input', DUMP, '-p', CURRENT, '-o', 'openreports']);
    assert.equal(run.code, 1);
    const documents = parseAllDocuments(run.stdout).map((document) => document.toJS() as { kind: string; metadata: { name: string; namespace: string } });
    assert.deepEqual(documents.map((d) => [d.kind, d.metadata.name, d.metadata.namespace]), [
      ['Report', 'daemonguard-audit', 'batch'],
      ['Report', 'daemonguard-audit', 'kube-system'],
      ['Report', 'daemonguard-audit', 'logging'],
      ['Report', 'daemonguard-audit', 'monitoring'],
    ]);
    assert.doesNotMatch(run.stdout, /[&*]a\d/, 'no YAML anchors or aliases');
  });

  it('says on stderr how far a large audit has come, unless --quiet', async () => {
    const agent = (index: number): object => ({
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: `agent-${index}`, namespace: 'dev' },
      spec: { selector: { matchLabels: { app: 'agent' } }, template: { metadata: { labels: { app: 'agent' } }, spec: { containers: [{ name: 'agent', image: 'registry.example/agent:1.0.0' }] } } },
    });
    const namespace = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'dev' } };
    const input = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [namespace, ...Array.from({ length: 1000 }, (_, index) => agent(index))] });
    const loud = await runCli(['audit', '--input', '-', '-p', CURRENT, '-o', 'json'], { input });
    assert.equal(loud.stderr, 'daemonguard audit: reviewed 1000 DaemonSets\n');
    const quiet = await runCli(['audit', '--input', '-', '-p', CURRENT, '-o', 'json', '--quiet'], { input });
    assert.equal(quiet.stderr, '');
    assert.deepEqual(JSON.parse(quiet.stdout), JSON.parse(loud.stdout));
  });

  it('is a usage error (exit 2) for a bad flag, a missing file, or --input beside --context', async () => {
    const format = await runCli(['audit', '--input', DUMP, '-o', 'html']);
    assert.equal(format.code, 2);
    assert.match(format.stderr, /--output must be one of: table, json, yaml, junit, sarif, openreports, policyreport/);
    const page = await runCli(['audit', '--page-size', '0']);
    assert.equal(page.code, 2);
    assert.match(page.stderr, /--page-size must be a whole number from 1 to 10000/);
    const missing = await runCli(['audit', '--input', 'no/such/dump.yaml']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /no\/such\/dump\.yaml/);
    const both = await runCli(['audit', '--input', DUMP, '--context', 'prod']);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /--input audits a dump; --context and --kubeconfig are for auditing a cluster/);
    const compareSarif = await runCli(['audit', '--input', DUMP, '--compare-with', CURRENT, '-o', 'sarif']);
    assert.equal(compareSarif.code, 2);
  });
});

describe('daemonguard audit --compare-with', () => {
  it('lists the DaemonSets that newly fail, newly pass, and whose findings change, and exits 1 for a newly failing one', async () => {
    const run = await runCli(['audit', '--input', DUMP, '-p', PROPOSED, '--compare-with', CURRENT]);
    assert.equal(run.code, 1, run.stderr);
    assert.equal(run.stdout, [
      'newly failing (1):',
      '  kube-system/kube-proxy (3 nodes)',
      '    + fail no-privileged: container kube-proxy is privileged',
      '',
      'newly passing (2):',
      '  monitoring/node-exporter (5 nodes)',
      '    - fail prod-limits: every container in a production namespace needs resource limits',
      '  batch/scratch-cleaner (2 nodes)',
      '    - error (Deny) prod-limits: spec.match.namespaceSelector: the labels of namespace "batch" are not known',
      '',
      'findings changed (1):',
      '  logging/fluent-bit (5 nodes)',
      '    - warn team-label: no team label',
      "    + warn team-label: no team label: add metadata.labels.team, the owning team's name",
      '',
      '4 DaemonSets compared: 1 newly failing, 2 newly passing, 1 with changed findings, 0 unchanged',
      '',
    ].join('\n'));
  });

  it('shows a finding whose policy goes from Warn to Deny as one change of result', async () => {
    const warnOnly = join(await mkdtemp(join(tmpdir(), 'daemonguard-audit-')), 'warn.yaml');
    await writeFile(warnOnly, readFileSync(new URL(`../../../${CURRENT}`, import.meta.url), 'utf8').replaceAll('[Deny]', '[Warn]'));
    const run = await runCli(['audit', '--input', DUMP, '-p', CURRENT, '--compare-with', warnOnly]);
    assert.equal(run.code, 1);
    assert.match(run.stdout, /^newly failing \(2\):\n {2}monitoring\/node-exporter \(5 nodes\)\n {4}~ warn → fail prod-limits: every container in a production namespace needs resource limits\n {2}batch\/scratch-cleaner \(2 nodes\)\n {4}~ error \(Warn\) → error \(Deny\) prod-limits: spec\.match\.namespaceSelector/);
    assert.match(run.stdout, /\n4 DaemonSets compared: 2 newly failing, 0 newly passing, 0 with changed findings, 2 unchanged\n$/);
  });

  it('prints the comparison as JSON, and exits 0 when nothing newly fails', async () => {
    const back = await runCli(['audit', '--input', DUMP, '-p', CURRENT, '--compare-with', PROPOSED, '-o', 'json']);
    assert.equal(back.code, 1);
    const comparison = JSON.parse(back.stdout) as AuditComparison;
    assert.deepEqual(comparison.newlyFailing.map((d) => d.name), ['node-exporter', 'scratch-cleaner']);
    assert.deepEqual(comparison.newlyPassing.map((d) => d.name), ['kube-proxy']);
    assert.deepEqual(comparison.findingsChanged.map((d) => d.name), ['fluent-bit']);
    const same = await runCli(['audit', '--input', DUMP, '-p', CURRENT, '--compare-with', CURRENT, '-o', 'json']);
    assert.equal(same.code, 0, 'the same policies change nothing, though two DaemonSets fail under both');
    assert.equal((JSON.parse(same.stdout) as AuditComparison).unchanged, 4);
  });
});
