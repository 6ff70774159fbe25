// What `serve` loads for its cluster features (namespaces, nodes, policies and exceptions from the
// cluster, the Lease, status and Report writers, the background audit) never loads
// @kubernetes/client-node: importing it costs about 60 MB resident (its KubeConfig module alone loads
// every generated API model), more than the rest of serve together. Only kube-config.ts may load it,
// on demand, for exec/auth-provider users and proxy-url clusters. Read from the compiled modules'
// static import graph, the one node follows when it loads them.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { importsOf, staticClosure } from './module-imports.js';

/** The compiled product (build/src), beside this test's build/test/package. */
const SOURCE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src');
/** The modules serve imports for its cluster features (see serve-command.ts's `await import(...)`s). */
const CLUSTER_ENTRIES = [
  'kube/namespace-informer.js',
  'kube/node-informer.js',
  'kube/native-params-watch.js',
  'kube/cluster-catalog.js',
  'kube/lease-election.js',
  'cli/cluster-policies.js',
  'cli/background-audit.js',
  'cli/audit-command.js',
];

describe('serve’s cluster modules', () => {
  for (const entry of CLUSTER_ENTRIES) {
    it(`${entry} loads no @kubernetes/client-node module`, () => {
      const closure = staticClosure(join(SOURCE_ROOT, entry));
      assert.ok(closure.size > 1, 'the import graph was followed');
      const users = [...closure].filter(([, packages]) => packages.includes('@kubernetes/client-node')).map(([file]) => relative(SOURCE_ROOT, file));
      assert.deepEqual(users, []);
    });
  }

  it('kube-config.ts loads it only on demand, for the users and clusters it hands over', () => {
    const imports = importsOf(readFileSync(join(SOURCE_ROOT, 'kube', 'kube-config.js'), 'utf8'));
    assert.deepEqual(imports.dynamic, ['@kubernetes/client-node']);
    assert.ok(!imports.static.includes('@kubernetes/client-node'));
  });
});
