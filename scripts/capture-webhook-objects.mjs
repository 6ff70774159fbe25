#!/usr/bin/env node
// Sends DaemonSets to a real kube-apiserver (server-side dry run, so nothing is stored) and records the
// object its mutating webhook receives: the ground truth for src/apiserver/daemonset-defaults.ts.
//   npm run build && node scripts/capture-webhook-objects.mjs [input.yaml] [golden.json]
// Needs the e2e binaries (bash test/e2e/cluster/build.sh).
import { Buffer } from 'node:buffer';
import { createServer } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { readFile, writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { startCluster } from '../build/test/e2e/cluster/cluster.js';
import { createLeaf } from '../build/test/e2e/cluster/pki.js';

const input = process.argv[2] ?? 'src/apiserver/testdata/apiserver-defaults.input.yaml';
const output = process.argv[3] ?? 'src/apiserver/testdata/apiserver-defaults.golden.json';
const manifests = parseAllDocuments(await readFile(input, 'utf8')).map((doc) => doc.toJS()).filter(Boolean);

const cluster = await startCluster({ log: (m) => process.stderr.write(`${m}\n`) });
const received = [];
let server;
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
  const configuration = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: 'capture' },
    webhooks: [{
      name: 'capture.daemonguard.dev',
      clientConfig: { url: `https://127.0.0.1:${port}/mutate`, caBundle: Buffer.from(cluster.pki.ca.certPem).toString('base64') },
      rules: [{ apiGroups: ['apps'], apiVersions: ['v1'], resources: ['daemonsets'], operations: ['CREATE'] }],
      sideEffects: 'None',
      admissionReviewVersions: ['v1'],
      failurePolicy: 'Fail',
    }],
  };
  await cluster.kubectl(['apply', '-f', '-'], { input: JSON.stringify(configuration) });
  await sleep(2000); // the webhook configuration is picked up asynchronously
  const cases = [];
  for (const manifest of manifests) {
    const namespace = manifest.metadata?.namespace ?? 'default';
    const before = received.length;
    const result = await cluster.kubectl(['create', '--dry-run=server', '-n', namespace, '-o', 'json', '-f', '-'], { input: JSON.stringify(manifest), allowFailure: true });
    const request = received[before];
    if (!request) throw new Error(`webhook not called for ${manifest.metadata?.name}: ${result.stderr}`);
    const object = request.object;
    delete object.metadata.managedFields;
    cases.push({ name: manifest.metadata.name, namespace, input: manifest, webhookObject: object });
  }
  const version = JSON.parse((await cluster.kubectl(['version', '-o', 'json'])).stdout).serverVersion?.gitVersion ?? '(unknown)';
  const comment = `Captured by scripts/capture-webhook-objects.mjs from kube-apiserver ${version}`;
  await writeFile(output, `${JSON.stringify({ $comment: comment, cases }, null, 1)}\n`);
  process.stderr.write(`wrote ${cases.length} cases to ${output}\n`);
} finally {
  server?.close();
  await cluster.stop();
}
