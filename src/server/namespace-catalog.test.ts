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

describe('FileNamespaceCatalog: a file read while it is being rewritten', () => {
  /** A catalog over a real file, not watching, whose settle step runs whatever the test put in `between`. */
  async function catalogOverFile(): Promise<{ file: string; catalog: FileNamespaceCatalog; logs: Record<string, unknown>[]; between: (step: () => Promise<void>) => void; settles: () => number }> {
    const dir = await temporaryDirectory('daemonguard-namespaces-');
    await writeFiles(dir, { 'namespaces.yaml': NAMESPACE_LIST });
    const file = path.join(dir, 'namespaces.yaml');
    const { logger, records } = captureLogger('info');
    const steps: (() => Promise<void>)[] = [];
    let settles = 0;
    const catalog = new FileNamespaceCatalog({
      file,
      logger,
      watch: false,
      pollIntervalMs: 0,
      settle: async () => {
        settles++;
        await steps.shift()?.();
      },
    });
    await catalog.start();
    return { file, catalog, logs: records, between: (step) => steps.push(step), settles: () => settles };
  }

  const RELABELLED = NAMESPACE_LIST.replace('kubernetes.io/metadata.name: default', 'team: platform');

  it('a reload that reads the truncated file waits for the write and takes the new namespaces; the catalog is never empty meanwhile', async () => {
    const { file, catalog, between } = await catalogOverFile();
    try {
      await writeFile(file, ''); // the writer has truncated the file ...
      let sizeDuringTheWrite = -1;
      between(async () => {
        sizeDuringTheWrite = catalog.size;
        await writeFile(file, RELABELLED); // ... and writes it while the catalog waits to read again
      });
      assert.equal(await catalog.reload('file change'), 'reloaded');
      assert.equal(sizeDuringTheWrite, 2, 'the namespaces loaded before stay in use while the file is empty');
      assert.deepEqual(catalog.get('default'), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default', labels: { team: 'platform' } } });
      assert.equal(catalog.size, 2);
    } finally {
      catalog.close();
    }
  });

  it('a half-written file (a valid prefix) is not taken: the second read differs, and the whole file is', async () => {
    const { file, catalog, between } = await catalogOverFile();
    try {
      const half = RELABELLED.slice(0, RELABELLED.indexOf('  - apiVersion: v1\n    kind: Namespace\n    metadata:\n      name: default'));
      assert.deepEqual([...parseNamespaces(half, 'half.yaml').keys()], ['monitoring'], 'the prefix alone parses, with one namespace lost');
      await writeFile(file, half);
      between(() => writeFile(file, RELABELLED));
      assert.equal(await catalog.reload('file change'), 'reloaded');
      assert.equal(catalog.size, 2);
      assert.deepEqual(catalog.get('default')?.['metadata'], { name: 'default', labels: { team: 'platform' } });
    } finally {
      catalog.close();
    }
  });

  it('a file that stays empty is refused with a log naming the file and what to write instead; an explicit empty List is taken', async () => {
    const { file, catalog, logs } = await catalogOverFile();
    try {
      await writeFile(file, '# rewritten by hand\n');
      assert.equal(await catalog.reload('SIGHUP'), 'refused');
      assert.equal(catalog.size, 2);
      const refusal = logs.find((line) => line['msg'] === 'namespace file change refused; the previous namespaces stay in use');
      assert.ok(refusal, 'the refusal is logged');
      assert.equal(refusal['trigger'], 'SIGHUP');
      assert.match((refusal['err'] as { message: string }).message, /namespaces\.yaml is empty .*write a List with items: \[\]/);

      await writeFile(file, 'apiVersion: v1\nkind: List\nitems: []\n');
      assert.equal(await catalog.reload('file change'), 'reloaded');
      assert.equal(catalog.size, 0);
    } finally {
      catalog.close();
    }
  });

  it('a file that keeps changing is refused after a bounded number of reads, and a broken one keeps the last good catalog', async () => {
    const { file, catalog, between, settles } = await catalogOverFile();
    try {
      for (let i = 0; i < 10; i++) between(() => writeFile(file, `${RELABELLED}# write ${i}\n`));
      const before = settles();
      assert.equal(await catalog.reload('file change'), 'refused');
      assert.equal(settles() - before, 4, 'five reads, four settles between them');
      assert.equal(catalog.size, 2);
      assert.deepEqual(catalog.get('default')?.['metadata'], { name: 'default', labels: { 'kubernetes.io/metadata.name': 'default' } }, 'the namespaces before the changes');

      await writeFile(file, 'kind: Namespace\nmetadata: [\n');
      assert.equal(await catalog.reload('file change'), 'refused');
      assert.equal(catalog.size, 2);
    } finally {
      catalog.close();
    }
  });
});
