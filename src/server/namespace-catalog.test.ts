import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import request from 'supertest';
import { review } from '../engine/review.js';
import { loadPolicySet } from '../policy/load-policies.js';
import { createAdmissionApp } from './app.js';
import { createServerMetrics } from './metrics.js';
import { FileNamespaceCatalog, parseNamespaces } from './namespace-catalog.js';
import { StaticPolicyStore } from './policy-store.js';
import { admissionReview, captureLogger, daemonSet, temporaryDirectory, writeFiles } from '../../test/support/server-fixtures.js';

const NAMESPACE_LIST = `apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Namespace
    metadata:
      name: monitoring
      labels:
        kubernetes.io/metadata.name: monitoring
        pod-security.kubernetes.io/enforce: baseline
  - apiVersion: v1
    kind: Namespace
    metadata:
      name: default
      labels:
        kubernetes.io/metadata.name: default
`;

/** Deny hostNetwork only in namespaces enforcing the baseline Pod Security level. */
const BASELINE_HOST_NETWORK = `apiVersion: daemonguard.dev/v1alpha1
kind: DaemonSetPolicy
metadata:
  name: baseline-host-network
spec:
  validationActions: [Deny]
  failurePolicy: Fail
  match:
    namespaceSelector:
      matchLabels:
        pod-security.kubernetes.io/enforce: baseline
  validations:
    - expression: "!object.spec.template.spec.?hostNetwork.orValue(false)"
      messageExpression: "'hostNetwork is not allowed in namespace ' + namespaceObject.metadata.name + ' (Pod Security baseline)'"
`;

describe('parseNamespaces', () => {
  it('reads a List, several documents, or one Namespace', () => {
    assert.deepEqual([...parseNamespaces(NAMESPACE_LIST, 'ns.yaml').keys()], ['monitoring', 'default']);
    const documents = 'kind: Namespace\nmetadata: {name: a}\n---\nkind: Namespace\nmetadata: {name: b, labels: {team: x}}\n';
    const parsed = parseNamespaces(documents, 'ns.yaml');
    assert.deepEqual(parsed.get('b'), { kind: 'Namespace', metadata: { name: 'b', labels: { team: 'x' } } });
    assert.deepEqual([...parseNamespaces('{"kind":"Namespace","metadata":{"name":"json"}}', 'ns.json').keys()], ['json']);
  });

  it('says where the file is wrong', () => {
    assert.throws(() => parseNamespaces('kind: Namespace\nmetadata: [unclosed\n', 'ns.yaml'), /^SourceReadError: ns\.yaml:\d+:\d+: YAML syntax error: /);
    assert.throws(() => parseNamespaces('kind: Pod\nmetadata: {name: a}\n', 'ns.yaml'), /ns\.yaml: expected Namespace objects/);
  });
});

describe('FileNamespaceCatalog', () => {
  it('feeds namespaceSelector and namespaceObject, fails closed for unknown namespaces, and reloads', async () => {
    const dir = await temporaryDirectory('daemonguard-namespaces-');
    await writeFiles(dir, { 'namespaces.yaml': NAMESPACE_LIST, 'policies/policy.yaml': BASELINE_HOST_NETWORK });
    const catalog = new FileNamespaceCatalog({ file: path.join(dir, 'namespaces.yaml'), logger: captureLogger('silent').logger, debounceMs: 50, pollIntervalMs: 100 });
    await catalog.start();
    try {
      const app = createAdmissionApp({
        policies: new StaticPolicyStore(await loadPolicySet([path.join(dir, 'policies')])),
        review,
        metrics: createServerMetrics({ defaultMetrics: false }),
        logger: captureLogger('silent').logger,
        evalDeadlineMs: 2000,
        namespaceObject: (name) => catalog.get(name),
      });
      const validate = async (namespace: string): Promise<{ allowed: boolean; status?: { message: string } }> => {
        const body = admissionReview('CREATE', daemonSet({ namespace, hostNetwork: true }));
        const answer = await request(app).post('/validate').set('Content-Type', 'application/json').send(JSON.stringify(body)).expect(200);
        return (answer.body as { response: { allowed: boolean; status?: { message: string } } }).response;
      };

      const monitoring = await validate('monitoring');
      assert.equal(monitoring.allowed, false);
      assert.equal(monitoring.status?.message, 'baseline-host-network: hostNetwork is not allowed in namespace monitoring (Pod Security baseline)');
      assert.equal((await validate('default')).allowed, true, 'a namespace without the label is not selected');
      const unknown = await validate('unlisted');
      assert.equal(unknown.allowed, false, 'failurePolicy Fail: an unknown namespace fails closed');
      assert.match(unknown.status?.message ?? '', /the labels of namespace "unlisted" are not known/);

      // Relabel default: the change is picked up without a restart.
      await writeFile(path.join(dir, 'namespaces.yaml'), NAMESPACE_LIST.replace('kubernetes.io/metadata.name: default', 'pod-security.kubernetes.io/enforce: baseline'));
      const deadline = Date.now() + 5000;
      while ((await validate('default')).allowed && Date.now() < deadline) await sleep(50);
      assert.equal((await validate('default')).allowed, false);

      // A broken change keeps what was loaded.
      await writeFile(path.join(dir, 'namespaces.yaml'), 'kind: Namespace\nmetadata: [\n');
      await sleep(400);
      assert.equal(catalog.size, 2);
    } finally {
      catalog.close();
    }
  });
});
