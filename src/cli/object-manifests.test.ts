// `daemonguard manifests --crds` and `--policies`, run as a user runs them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { runCli } from '../../test/support/cli-process.js';
import { writeTree } from '../../test/support/admission-fixtures.js';
import { renderCustomResourceDefinitions } from '../deploy/custom-resource-definitions.js';
import { loadPolicySet } from '../policy/load-policies.js';
import { packageFile } from '../common/package-root.js';

function objects(text: string): Record<string, unknown>[] {
  return parseAllDocuments(text).map((document) => document.toJS() as Record<string, unknown>);
}

describe('daemonguard manifests --crds / --policies', () => {
  it('--crds prints the CRDs generated from schema/', async () => {
    const run = await runCli(['manifests', '--crds']);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(objects(run.stdout), JSON.parse(JSON.stringify(renderCustomResourceDefinitions())));
  });

  it('--policies prints the built-in library as labelled DaemonSetPolicy objects, and --validation-actions sets the action of those that validate', async () => {
    const library = await loadPolicySet([packageFile('policies')]);
    const run = await runCli(['manifests', '--policies', '--validation-actions', 'Warn', '-o', 'json']);
    assert.equal(run.code, 0, run.stderr);
    const items = (JSON.parse(run.stdout) as { items: { metadata: { name: string; labels: Record<string, string> }; spec: { validations?: unknown[]; validationActions?: string[] } }[] }).items;
    assert.deepEqual(items.map((item) => item.metadata.name), library.policies.map((policy) => policy.name));
    for (const item of items) {
      assert.equal(item.metadata.labels['app.kubernetes.io/part-of'], 'daemonguard');
      if (item.spec.validations !== undefined) assert.deepEqual(item.spec.validationActions, ['Warn'], item.metadata.name);
    }
    const original = library.policies.find((policy) => policy.validations.length === 0)!;
    assert.deepEqual(items.find((item) => item.metadata.name === original.name)!.spec, original.document.spec);
  });

  it('--params-from points every policy with params at its optional ConfigMap params-<policy>', async () => {
    const run = await runCli(['manifests', '--policies', '--params-from', '-o', 'json']);
    assert.equal(run.code, 0, run.stderr);
    const items = (JSON.parse(run.stdout) as { items: { metadata: { name: string }; spec: { params?: object; paramsFrom?: object } }[] }).items;
    assert.ok(items.some((item) => item.spec.params !== undefined));
    for (const item of items) {
      assert.deepEqual(item.spec.paramsFrom, item.spec.params === undefined ? undefined : { configMap: `params-${item.metadata.name}`, optional: true }, item.metadata.name);
    }
  });

  it('refuses a folder that does not load (exit 2, with the file and line), and --validation-actions without --policies', async () => {
    const dir = await writeTree({ 'p.yaml': 'apiVersion: daemonguard.dev/v1alpha1\nkind: DaemonSetPolicy\nmetadata:\n  name: p\nspec:\n  validations:\n    - expression: "object.spec.nope"\n' });
    const broken = await runCli(['manifests', '--policies', dir]);
    assert.equal(broken.code, 2);
    assert.match(broken.stderr, /p\.yaml:7:\d+: policy "p" spec\.validations\[0\]\.expression: no such field "nope"/);
    const alone = await runCli(['manifests', '--validation-actions', 'Warn']);
    assert.equal(alone.code, 2);
    assert.match(alone.stderr, /--validation-actions goes with --policies/);
  });
});
