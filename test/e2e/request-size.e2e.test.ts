// How large an AdmissionReview the kube-apiserver can send a webhook about a DaemonSet, measured rather
// than guessed: for each shape of large DaemonSet, the largest one the apiserver stores (binary search
// on its size; above it the apiserver's 3 MiB request limit or etcd's 1.5 MiB one refuses it), then an
// UPDATE of it, whose review carries object and oldObject. daemonguard's default body limit
// (src/server/read-body.ts) must take each of these with room to spare; the figures are in SECURITY.md.
//
// One shape is left out of the limit on purpose and measured to show why: a string of `<` characters,
// which etcd stores as one byte each but which the apiserver writes to a webhook as `\u003c` (Go's
// HTML-safe JSON), six bytes each.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { JsonObject } from '../../src/common/vocabulary.js';
import { DEFAULT_MAX_BODY_BYTES } from '../../src/server/read-body.js';
import { KubeApi, startTestWebhook, statusMessage, type TestWebhook } from './admission-support.js';
import { startCluster, type Cluster } from './cluster/cluster.js';

const NAMESPACE = 'sizes';
/** The figure SECURITY.md records, as a minimum: the largest review of a storable DaemonSet (bytes, many-containers). */
const MINIMUM_LARGEST_REVIEW = 7_500_000;

interface Shape {
  name: string;
  /** A DaemonSet of about `size` units (bytes of a string, or elements of a list). */
  build(size: number): JsonObject;
  /** Known to store, and known not to. */
  low: number;
  high: number;
  /** The binary search stops when high - low is below this. */
  step: number;
  /** Whether the default body limit must take this shape's UPDATE review. */
  withinLimit: boolean;
}

function daemonSet(name: string, podSpec: JsonObject): JsonObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name, namespace: NAMESPACE },
    spec: { selector: { matchLabels: { app: 'big' } }, template: { metadata: { labels: { app: 'big' } }, spec: podSpec } },
  };
}

let counter = 0;
const uniqueName = (shape: string): string => `${shape}-${++counter}`;

const SHAPES: Shape[] = [
  {
    name: 'one-long-argument',
    build: (size) => daemonSet(uniqueName('arg'), { containers: [{ name: 'agent', image: 'registry.example/agent:1', args: ['x'.repeat(size)] }] }),
    low: 1_000,
    high: 4 * 1024 * 1024,
    step: 1024,
    withinLimit: true,
  },
  {
    name: 'many-tolerations',
    build: (size) => daemonSet(uniqueName('tol'), { containers: [{ name: 'agent', image: 'registry.example/agent:1' }], tolerations: Array.from({ length: size }, () => ({ operator: 'Exists' })) }),
    low: 100,
    high: 300_000,
    step: 200,
    withinLimit: true,
  },
  {
    name: 'many-containers',
    build: (size) => daemonSet(uniqueName('ctr'), { containers: Array.from({ length: size }, (_, i) => ({ name: `c${i}`, image: 'a' })) }),
    low: 10,
    high: 30_000,
    step: 50,
    withinLimit: true,
  },
  {
    name: 'escaped-characters',
    build: (size) => daemonSet(uniqueName('esc'), { containers: [{ name: 'agent', image: 'registry.example/agent:1', args: ['<'.repeat(size)] }] }),
    low: 1_000,
    high: 4 * 1024 * 1024,
    step: 1024,
    withinLimit: false,
  },
];

let cluster: Cluster;
let api: KubeApi;
let recorder: TestWebhook;

before(async () => {
  cluster = await startCluster();
  api = new KubeApi(cluster);
  recorder = await startTestWebhook(cluster);
  await cluster.kubectl(['create', 'namespace', NAMESPACE]);
  const configuration = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name: 'e2e-size-recorder' },
    webhooks: [
      {
        name: 'validate.size-recorder.e2e.daemonguard.dev',
        admissionReviewVersions: ['v1'],
        clientConfig: { url: `${recorder.url}/validate`, caBundle: recorder.caBundle },
        rules: [{ apiGroups: ['apps'], apiVersions: ['v1'], resources: ['daemonsets'], operations: ['CREATE', 'UPDATE'], scope: 'Namespaced' }],
        failurePolicy: 'Fail',
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': NAMESPACE } },
        sideEffects: 'None',
        timeoutSeconds: 30,
      },
    ],
  };
  await cluster.kubectl(['apply', '-f', '-'], { input: JSON.stringify(configuration) });
});

after(async () => {
  api?.close();
  await recorder?.close();
  await cluster?.stop();
});

async function create(object: JsonObject): Promise<{ stored: boolean; why: string }> {
  const answer = await api.createDaemonSet(NAMESPACE, object);
  return { stored: answer.status === 201, why: `${answer.status} ${statusMessage(answer.body).slice(0, 200)}` };
}

interface Measured {
  shape: string;
  size: number;
  createReview: number;
  updateReview: number;
  refusedAbove: string;
}

async function measure(shape: Shape): Promise<Measured> {
  let low = shape.low;
  let high = shape.high;
  assert.equal((await create(shape.build(low))).stored, true, `${shape.name} at ${low} must store`);
  let refusedAbove = (await create(shape.build(high))).why;
  assert.notEqual(refusedAbove.slice(0, 3), '201', `${shape.name} at ${high} must be refused`);
  while (high - low > shape.step) {
    const middle = Math.floor((low + high) / 2);
    const outcome = await create(shape.build(middle));
    if (outcome.stored) low = middle;
    else [high, refusedAbove] = [middle, outcome.why];
  }
  // The largest that stores, once more, then an UPDATE of it (a new label, sent as a small patch): the
  // review carries object and oldObject, both that large.
  const object = shape.build(low);
  const name = (object['metadata'] as JsonObject)['name'] as string;
  const before = recorder.received.length;
  assert.equal((await create(object)).stored, true);
  const patch = { metadata: { labels: { updated: 'yes' } } };
  const updated = await api.request('PATCH', `/apis/apps/v1/namespaces/${NAMESPACE}/daemonsets/${name}`, patch, 'application/merge-patch+json');
  assert.equal(updated.status, 200, statusMessage(updated.body));
  const reviews = recorder.received.slice(before).filter((entry) => entry.request['name'] === name);
  const bytesOf = (operation: string): number => reviews.find((entry) => entry.request['operation'] === operation)?.bytes ?? 0;
  const update = reviews.find((entry) => entry.request['operation'] === 'UPDATE');
  const sizes = update === undefined ? 'none' : `object ${JSON.stringify(update.request['object']).length}, oldObject ${JSON.stringify(update.request['oldObject']).length}`;
  console.log(`${shape.name}: ${reviews.length} reviews; the UPDATE's ${sizes}`);
  return { shape: shape.name, size: low, createReview: bytesOf('CREATE'), updateReview: bytesOf('UPDATE'), refusedAbove };
}

describe('the largest AdmissionReview the kube-apiserver sends about a DaemonSet', { timeout: 900_000 }, () => {
  it('fits the plain storable shapes in the default body limit with half again to spare, and not the HTML-escaped one', async () => {
    const results: (Measured & { withinLimit: boolean })[] = [];
    const only = process.env.DAEMONGUARD_E2E_SIZE_SHAPES?.split(',');
    for (const shape of SHAPES.filter((s) => only === undefined || only.includes(s.name))) {
      results.push({ ...(await measure(shape)), withinLimit: shape.withinLimit });
      console.log(`measured ${shape.name}: ${JSON.stringify(results.at(-1))}`);
    }
    const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(2)} MiB`;
    console.log(`default body limit: ${DEFAULT_MAX_BODY_BYTES} bytes (${mib(DEFAULT_MAX_BODY_BYTES)})`);
    for (const r of results) {
      console.log(`${r.shape}: largest stored ${r.size}; CREATE review ${r.createReview} B (${mib(r.createReview)}), UPDATE review ${r.updateReview} B (${mib(r.updateReview)}); one step above: ${r.refusedAbove}`);
    }
    if (only !== undefined) return;
    const inside = results.filter((r) => r.withinLimit);
    for (const r of inside) {
      assert.ok(r.createReview > 0 && r.updateReview > 0, `${r.shape}: both reviews recorded`);
      const larger = Math.max(r.createReview, r.updateReview);
      assert.ok(larger * 1.5 < DEFAULT_MAX_BODY_BYTES, `${r.shape}: its largest review (${larger} B) must fit the default body limit (${DEFAULT_MAX_BODY_BYTES} B) with half again to spare`);
    }
    const largest = Math.max(...inside.flatMap((r) => [r.createReview, r.updateReview]));
    assert.ok(largest >= MINIMUM_LARGEST_REVIEW, `the largest review measured (${largest} B) is below the ${MINIMUM_LARGEST_REVIEW} B SECURITY.md records`);
    const escaped = results.find((r) => !r.withinLimit);
    assert.ok(escaped !== undefined && escaped.updateReview > DEFAULT_MAX_BODY_BYTES, 'the HTML-escaped shape is larger than the limit, as SECURITY.md says');
  });
});
