// The README's adoption walk-through ("Adopt it in a running cluster"), replayed against a real
// kube-apiserver with the built-in library: the figures the README shows are asserted here.
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli, type CliRun } from '../support/cli-process.js';
import { goModuleDir } from '../support/go-modules.js';
import { startCluster, type Cluster } from './cluster/cluster.js';
import { REPO_ROOT } from './deploy-tools.js';

const MANIFESTS = path.join(REPO_ROOT, 'test/e2e/testdata/audit-walkthrough.yaml');
const LIBRARY = path.join(REPO_ROOT, 'policies');
const NODES: Record<string, [string, number]> = { 'node-exporter': ['monitoring', 12], 'fluent-bit': ['logging', 12], 'nvidia-driver': ['gpu-operator', 4] };

/** Step 3's exception, as the README shows it. */
const NODE_EXPORTER_EXCEPTION = `apiVersion: daemonguard.dev/v1alpha1
kind: DaemonSetPolicyException
metadata:
  name: node-exporter
  namespace: monitoring
spec:
  policies: [host-namespaces]
  match:
    names: [node-exporter]
  reason: node-exporter reads the node's network and process statistics from the host's namespaces
`;

/** Copies the library into `dir`, each policy file through `edit`. */
async function copyLibrary(dir: string, edit: (text: string) => string): Promise<void> {
  await cp(LIBRARY, dir, { recursive: true, filter: (source) => !source.endsWith('README.md') });
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.yaml')) continue;
    const file = path.join(entry.parentPath, entry.name);
    await writeFile(file, edit(await readFile(file, 'utf8')));
  }
}

describe('the README audit walk-through against a real kube-apiserver', { timeout: 300_000 }, () => {
  let cluster: Cluster;
  let work: string;
  const audit = (args: string[], input?: string): Promise<CliRun> => runCli(['audit', '--kubeconfig', cluster.kubeconfigPath, ...args], { input, cwd: work, timeoutMs: 120_000 });

  before(async () => {
    cluster = await startCluster();
    work = await mkdtemp(path.join(os.tmpdir(), 'daemonguard-walkthrough-'));
    await cluster.kubectl(['apply', '-f', MANIFESTS]);
    for (const [name, [namespace, nodes]] of Object.entries(NODES)) {
      const status = { status: { desiredNumberScheduled: nodes, currentNumberScheduled: nodes, numberMisscheduled: 0, numberReady: nodes } };
      await cluster.kubectl(['patch', 'daemonset', name, '-n', namespace, '--subresource=status', '--type=merge', '-p', JSON.stringify(status)]);
    }
    const module = await goModuleDir('github.com/openreports/reports-api', 'v0.2.1');
    await cluster.kubectl(['apply', '-f', path.join(module, 'config/crd/openreports.io_reports.yaml')]);
    await cluster.kubectl(['wait', '--for=condition=Established', 'crd/reports.openreports.io', '--timeout=60s']);
    // Step 1, installed in Warn: the library's copies with Deny turned into Warn, as deploy/README.md says.
    await copyLibrary(path.join(work, 'warn'), (text) => text.replaceAll('validationActions: [Deny]', 'validationActions: [Warn]'));
  });

  after(async () => {
    await cluster?.stop();
  });

  it('step 2: the audit finds what Deny would refuse (exit 1), and the Reports land in the cluster', async () => {
    const table = await audit([]);
    assert.equal(table.code, 1, table.stderr);
    assert.match(table.stdout, /\ngpu-operator +nvidia-driver +4 +privileged-namespaces +fail +container "driver" is privileged;/);
    assert.match(table.stdout, /\nmonitoring +node-exporter +12 +host-namespaces +fail +hostNetwork: true is allowed only in namespaces kube-system \(this DaemonSet is in "monitoring"\)\n/);
    assert.match(table.stdout, /\nlogging +fluent-bit +12 +image-references +warn +container "fluent-bit" image cr\.fluentbit\.io\/fluent\/fluent-bit:latest uses :latest: pin a version\n/);
    assert.match(table.stdout, /\n3 DaemonSets on 28 nodes audited against 18 policies: 2 would be denied, 3 with warnings, 0 clean\nfailing: 2 DaemonSets, scheduled on 16 nodes in all\n$/);

    const reports = await audit(['-o', 'openreports']);
    await cluster.kubectl(['apply', '-f', '-'], { input: reports.stdout });
    const listed = await cluster.kubectl(['get', 'reports', '-A']);
    assert.match(listed.stdout, /\ngpu-operator +daemonguard-audit +14 +1 +1 +0 +2 /);
    assert.match(listed.stdout, /\nlogging +daemonguard-audit +13 +0 +3 +0 +2 /);
    assert.match(listed.stdout, /\nmonitoring +daemonguard-audit +14 +2 +1 +0 +2 /);
  });

  it('steps 3 and 4: after a namespace label and an exception, nothing newly fails against the Warn copies (exit 0)', async () => {
    await cluster.kubectl(['label', 'namespace', 'gpu-operator', 'daemonguard.dev/privileged=allowed']);
    await mkdir(path.join(work, 'exceptions'));
    await writeFile(path.join(work, 'exceptions', 'node-exporter.yaml'), NODE_EXPORTER_EXCEPTION);
    const mine = ['-p', LIBRARY, '-p', 'exceptions'];
    const compared = await audit([...mine, '--compare-with', 'warn']);
    assert.equal(compared.code, 0, compared.stderr);
    assert.equal(compared.stdout, [
      'findings changed (1):',
      '  monitoring/node-exporter (12 nodes)',
      '    - warn host-namespaces: hostNetwork: true is allowed only in namespaces kube-system (this DaemonSet is in "monitoring")',
      '    - warn host-namespaces: hostPID: true is allowed only in namespaces kube-system (this DaemonSet is in "monitoring")',
      '',
      '3 DaemonSets compared: 0 newly failing, 0 newly passing, 1 with changed findings, 2 unchanged',
      '',
    ].join('\n'));
    const enforced = await audit(mine);
    assert.equal(enforced.code, 0);
    assert.match(enforced.stdout, /\n3 DaemonSets on 28 nodes audited against 18 policies: 0 would be denied, 3 with warnings, 0 clean\n$/);
  });
});
