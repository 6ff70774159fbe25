// `daemonguard serve --client-ca` in front of a real kube-apiserver that presents a client certificate
// to its webhooks, configured as a cluster operator would: --admission-control-config-file names a
// WebhookAdmissionConfiguration for both webhook plugins, whose kubeconfig holds the certificate for
// the webhook's host:port. The apiserver's calls to /validate and /mutate get through; the probes answer
// on the probe port without any certificate, as the kubelet's would; and a review sent without a client
// certificate, or with one from another CA, never gets past the TLS handshake.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { admissionReview, callHttp, callHttps, daemonSet as reviewedDaemonSet } from '../support/server-fixtures.js';
import { freePort, startServe, stopAllServes, type ServeProcess } from '../support/serve-process.js';
import { POLICIES_DIR, EXAMPLES_DIR } from './admission-support.js';
import { startCluster, type Cluster } from './cluster/cluster.js';
import { createCa, createLeaf, type KeyPairFiles } from './cluster/pki.js';
import { daemonguard, daemonSet, eventually, type K8sObject } from './deploy-tools.js';

const NAMESPACE = 'monitoring'; // in examples/namespaces.yaml, which the server reads

/** A node agent every Deny policy of the library admits. */
function agent(name: string, privileged = false): K8sObject {
  return daemonSet(name, NAMESPACE, {
    privileged,
    image: 'registry.example/agent:1.4.2',
    container: { ports: [{ name: 'healthz', containerPort: 9100 }], resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '64Mi' } } },
  });
}

describe('daemonguard serve --client-ca behind a kube-apiserver that presents a webhook client certificate', { timeout: 600_000 }, () => {
  let cluster: Cluster;
  let server: ServeProcess;
  let work: string;
  let servingCa: string;
  let apiserverClient: KeyPairFiles;
  let stranger: KeyPairFiles;

  before(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'daemonguard-client-ca-e2e-'));
    const certs = path.join(work, 'certs');
    const created = await daemonguard(['certs', '--dir', certs, '--ip', '127.0.0.1']);
    assert.equal(created.code, 0, created.stderr);
    servingCa = await readFile(path.join(certs, 'ca-bundle.crt'), 'utf8');

    // The CA daemonguard trusts for clients, the certificate the apiserver presents, and one from another CA.
    const pki = path.join(work, 'client-pki');
    const clientCa = await createCa(pki, 'webhook-client-ca', 'webhook client CA');
    apiserverClient = await createLeaf(pki, 'apiserver-webhook-client', clientCa, { commonName: 'kube-apiserver-webhook-client', usage: 'client' });
    const otherCa = await createCa(pki, 'other-ca', 'some other CA');
    stranger = await createLeaf(pki, 'stranger', otherCa, { commonName: 'stranger', usage: 'client' });

    // The webhook's port is known before the apiserver starts: the kubeconfig names the webhook by host:port.
    const port = await freePort();
    const webhookKubeconfig = path.join(work, 'webhook-kubeconfig.yaml');
    await writeFile(
      webhookKubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'users:',
        `  - name: "127.0.0.1:${port}"`,
        '    user:',
        `      client-certificate: ${apiserverClient.certFile}`,
        `      client-key: ${apiserverClient.keyFile}`,
        '',
      ].join('\n'),
    );
    const admissionConfig = path.join(work, 'admission-config.yaml');
    const plugin = (name: string): string[] => [
      `  - name: ${name}`,
      '    configuration:',
      '      apiVersion: apiserver.config.k8s.io/v1',
      '      kind: WebhookAdmissionConfiguration',
      `      kubeConfigFile: ${webhookKubeconfig}`,
    ];
    await writeFile(
      admissionConfig,
      ['apiVersion: apiserver.config.k8s.io/v1', 'kind: AdmissionConfiguration', 'plugins:', ...plugin('ValidatingAdmissionWebhook'), ...plugin('MutatingAdmissionWebhook'), ''].join('\n'),
    );
    cluster = await startCluster({ apiserverArgs: [`--admission-control-config-file=${admissionConfig}`] });
    await cluster.kubectl(['create', 'namespace', NAMESPACE]);

    server = await startServe({
      args: [
        '--address', '127.0.0.1', '--port', String(port),
        '--tls-cert', path.join(certs, 'tls.crt'), '--tls-key', path.join(certs, 'tls.key'), '--client-ca', clientCa.certFile,
        '--policies', POLICIES_DIR, '--namespaces', path.join(EXAMPLES_DIR, 'namespaces.yaml'),
      ],
    });
    const rendered = await daemonguard([
      'manifests', '--url', `https://127.0.0.1:${port}`, '--certs-dir', certs, '--failure-policy', 'Fail', '--mutating-failure-policy', 'Fail', '--timeout', '10', '-o', 'json',
    ]);
    assert.equal(rendered.code, 0, rendered.stderr);
    await cluster.kubectl(['apply', '-f', '-'], { input: rendered.stdout });
  });

  after(async () => {
    await stopAllServes();
    await cluster?.stop();
  });

  it('the apiserver’s calls to /validate and /mutate, made with its client certificate, are answered', async () => {
    // The configurations reach the admission chain within moments: wait for the first denial.
    let refused = '';
    await eventually('the validating webhook to deny a privileged agent', async () => {
      const result = await cluster.kubectl(['create', '--dry-run=server', '-f', '-'], { input: JSON.stringify(agent('probe', true)), allowFailure: true });
      refused = result.stderr;
      return /denied the request/.test(refused);
    }, 60_000);
    assert.match(refused, /admission webhook "validate\.daemonguard\.dev" denied the request: [^]*privileged-namespaces: container "agent" is privileged/);

    const created = await cluster.kubectl(['create', '-o', 'json', '-f', '-'], { input: JSON.stringify(agent('node-agent')) });
    const stored = JSON.parse(created.stdout) as { spec: { template: { spec: { securityContext?: { seccompProfile?: { type?: string } } } } } };
    assert.equal(stored.spec.template.spec.securityContext?.seccompProfile?.type, 'RuntimeDefault', 'the mutating webhook’s patch was applied');

    for (const endpoint of ['/mutate', '/validate']) {
      await server.waitForLog((line) => line['msg'] === 'admission decision' && line['name'] === 'node-agent' && line['dryRun'] === false && line['endpoint'] === endpoint);
    }
  });

  it('the probes and metrics answer on the probe port without a client certificate', async () => {
    assert.deepEqual(await Promise.all(['/healthz', '/readyz'].map(async (endpoint) => (await callHttp(`${server.probeUrl}${endpoint}`)).text)), ['ok\n', 'ok\n']);
    const metrics = await callHttp(`${server.probeUrl}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(metrics.text, /^daemonguard_admission_requests_total\{endpoint="\/validate",decision="denied"\} [1-9]\d*$/m);
  });

  it('a review sent without a client certificate, or with one from another CA, is refused during the TLS handshake', async () => {
    const body = JSON.stringify(admissionReview('CREATE', reviewedDaemonSet({ namespace: NAMESPACE }), { uid: 'uid-no-certificate' }));
    await assert.rejects(callHttps(`${server.url}/validate`, { ca: servingCa, body, agent: false }), (error: NodeJS.ErrnoException) => {
      assert.match(`${error.code ?? ''} ${error.message}`, /certificate required|ECONNRESET|socket hang up|alert/i);
      return true;
    });
    await assert.rejects(callHttps(`${server.url}/validate`, { ca: servingCa, body, agent: false, cert: stranger.certPem, key: stranger.keyPem }), /unknown ca|certificate|ECONNRESET|socket hang up|alert/i);
    // The same request with the apiserver's certificate is answered: the refusals above were about the certificate.
    const answered = await callHttps(`${server.url}/validate`, { ca: servingCa, body, agent: false, cert: apiserverClient.certPem, key: apiserverClient.keyPem });
    assert.equal(answered.json<{ response: { uid: string } }>().response.uid, 'uid-no-certificate');
    const decisions = await server.waitForLog((line) => line['uid'] === 'uid-no-certificate');
    assert.equal(decisions['msg'], 'admission decision', 'only the request with a certificate got as far as a decision');
  });
});
