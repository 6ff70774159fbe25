#!/usr/bin/env node
// Records what a real kube-apiserver sends a mutating webhook when different clients write a
// DaemonSet (kubectl create, client-side apply, server-side apply, patch, replace): the evidence
// behind how policies/defaults tells a value the user wrote from one the apiserver defaulted.
// The output is replayed by test/policies/field-ownership.test.ts.
//   npm run build && bash test/e2e/cluster/build.sh && \
//     node scripts/capture-field-ownership.mjs test/policies/evidence/field-ownership.json
import { Buffer } from 'node:buffer';
import { createServer } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster } from '../build/test/e2e/cluster/cluster.js';
import { createLeaf } from '../build/test/e2e/cluster/pki.js';

const ds = (name, rollingUpdate) => ({
  apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name, namespace: 'default' },
  spec: {
    selector: { matchLabels: { app: name } },
    ...(rollingUpdate ? { updateStrategy: { type: 'RollingUpdate', rollingUpdate } } : {}),
    template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'agent', image: 'registry.k8s.io/pause:3.10' }] } },
  },
});
const cluster = await startCluster({ log: (m) => process.stderr.write(`${m}\n`) });
const received = [];
let server;
const out = [];
try {
  const dir = await mkdtemp(join(tmpdir(), 'capture-'));
  const leaf = await createLeaf(dir, 'webhook', cluster.pki.ca, { commonName: '127.0.0.1', ips: ['127.0.0.1'], usage: 'server' });
  server = createServer({ cert: leaf.certPem, key: leaf.keyPem }, (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const review = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      received.push(review.request);
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ apiVersion: review.apiVersion, kind: 'AdmissionReview', response: { uid: review.request.uid, allowed: true } }));
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await cluster.kubectl(['apply', '-f', '-'], { input: JSON.stringify({
    apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: { name: 'capture' },
    webhooks: [{ name: 'capture.daemonguard.dev', clientConfig: { url: `https://127.0.0.1:${port}/mutate`, caBundle: Buffer.from(cluster.pki.ca.certPem).toString('base64') },
      rules: [{ apiGroups: ['apps'], apiVersions: ['v1'], resources: ['daemonsets'], operations: ['CREATE', 'UPDATE'] }],
      sideEffects: 'None', admissionReviewVersions: ['v1'], failurePolicy: 'Fail' }] }) });
  await sleep(2000);
  const step = async (label, args, input) => {
    const before = received.length;
    const r = await cluster.kubectl(args, { input: input === undefined ? undefined : JSON.stringify(input), allowFailure: true });
    const reqs = received.slice(before);
    if (r.code !== 0) throw new Error(`${label}: ${r.stderr}`);
    out.push({ label, command: `kubectl ${args.join(' ')}`, input: input ?? null, requests: reqs.map((q) => ({
      operation: q.operation, namespace: q.namespace, name: q.name, userInfo: { username: q.userInfo?.username },
      object: q.object, oldObject: q.oldObject ?? null })) });
  };
  await step('kubectl create, maxUnavailable absent', ['create', '-f', '-'], ds('create-absent'));
  await step('kubectl create, maxUnavailable: 1 written', ['create', '-f', '-'], ds('create-explicit', { maxUnavailable: 1 }));
  await step('kubectl apply (client-side), absent', ['apply', '-f', '-'], ds('csa-absent'));
  await step('kubectl apply (client-side), 3 written', ['apply', '-f', '-'], ds('csa-explicit', { maxUnavailable: 3 }));
  await step('kubectl apply --server-side, absent', ['apply', '--server-side', '-f', '-'], ds('ssa-absent'));
  await step('kubectl apply --server-side, 1 written', ['apply', '--server-side', '-f', '-'], ds('ssa-explicit', { maxUnavailable: 1 }));
  await step('kubectl apply --server-side again, absent (UPDATE)', ['apply', '--server-side', '-f', '-'], ds('ssa-absent'));
  await step('kubectl patch maxUnavailable 2 on SSA object', ['patch', 'daemonset', 'ssa-absent', '--type=merge', '-p', '{"spec":{"updateStrategy":{"rollingUpdate":{"maxUnavailable":2}}}}']);
  await step('kubectl patch template annotation on create-absent (made by kubectl create)', ['patch', 'daemonset', 'create-absent', '--type=merge', '-p', '{"spec":{"template":{"metadata":{"annotations":{"x":"y"}}}}}']);
  await step('kubectl apply (client-side) again, csa-explicit without maxUnavailable (UPDATE)', ['apply', '-f', '-'], ds('csa-explicit'));
  await step('kubectl replace create-absent (PUT, absent)', ['replace', '-f', '-'], ds('create-absent'));
  await step('kubectl apply --server-side, revisionHistoryLimit 3 written', ['apply', '--server-side', '-f', '-'], { ...ds('ssa-history'), spec: { ...ds('ssa-history').spec, revisionHistoryLimit: 3 } });
  await step('kubectl apply (client-side), revisionHistoryLimit 3 written', ['apply', '-f', '-'], { ...ds('csa-history'), spec: { ...ds('csa-history').spec, revisionHistoryLimit: 3 } });
  await step('kubectl create --dry-run=server, absent', ['create', '--dry-run=server', '-f', '-'], ds('dry-absent'));
  const version = JSON.parse((await cluster.kubectl(['version', '-o', 'json'])).stdout).serverVersion?.gitVersion ?? '(unknown)';
  const doc = { $comment: `Captured by scripts/capture-field-ownership.mjs from kube-apiserver ${version} and kubectl of the same version: the AdmissionReview requests a mutating webhook received.`, steps: out };
  await writeFile(process.argv[2] ?? 'test/policies/evidence/field-ownership.json', `${JSON.stringify(doc, null, 1)}\n`);
} finally {
  server?.close();
  await cluster.stop();
}
