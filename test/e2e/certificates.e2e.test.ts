// Certificates end to end: `daemonguard certs` makes a CA and a serving certificate for 127.0.0.1,
// `daemonguard serve` runs outside the cluster, `daemonguard manifests --url` registers it with a real
// kube-apiserver, and DaemonSets go through it while the serving certificate is renewed and the CA is
// rotated in three steps, with no restart of the server: every step is applied the way
// deploy/README.md says, and the kube-apiserver keeps trusting the webhook at each one.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startServe, type ServeProcess } from '../support/serve-process.js';
import { callHttp } from '../support/server-fixtures.js';
import { startCluster, type Cluster } from './cluster/cluster.js';
import { daemonguard, daemonSet, eventually } from './deploy-tools.js';

const NAMESPACE = 'apps';

const POLICIES = `apiVersion: daemonguard.dev/v1alpha1
kind: DaemonSetPolicy
metadata:
  name: no-privileged
spec:
  validationActions: [Deny]
  validations:
    - expression: "object.spec.template.spec.containers.all(c, !c.?securityContext.?privileged.orValue(false))"
      message: privileged containers are not allowed here
      reason: Forbidden
---
apiVersion: daemonguard.dev/v1alpha1
kind: DaemonSetPolicy
metadata:
  name: mark-reviewed
spec:
  mutations:
    - name: reviewed
      defaults:
        - path: /metadata/annotations/daemonguard.dev~1reviewed
          value: "true"
`;

describe('certificates with a real kube-apiserver: certs, manifests --url, renewal and CA rotation without restart', { timeout: 600_000 }, () => {
  let cluster: Cluster;
  let work: string;
  let certs: string;
  let server: ServeProcess;

  /** `daemonguard certs --dir certs ...`; returns the caBundle it prints. */
  async function certsStep(...args: string[]): Promise<string> {
    const result = await daemonguard(['certs', '--dir', certs, ...args]);
    assert.equal(result.code, 0, `certs ${args.join(' ')}: ${result.stderr}`);
    return result.stdout.trim();
  }

  /** Renders the webhook configurations for the local server and applies them. */
  async function register(caBundleArgs: string[] = ['--certs-dir', certs]): Promise<void> {
    const rendered = await daemonguard(['manifests', '--url', `https://127.0.0.1:${server.port}`, '--timeout', '5', ...caBundleArgs]);
    assert.equal(rendered.code, 0, rendered.stderr);
    await cluster.kubectl(['apply', '--server-side', '--force-conflicts', '--field-manager=daemonguard-e2e', '-f', '-'], { input: rendered.stdout });
  }

  /** A server-side dry-run create: the answer of both webhooks, nothing stored. */
  async function dryRunCreate(privileged = false): Promise<{ code: number; annotations: Record<string, string>; stderr: string }> {
    const name = `agent-${Date.now()}`;
    const result = await cluster.kubectl(['create', '--dry-run=server', '-o', 'json', '-f', '-'], {
      input: JSON.stringify(daemonSet(name, NAMESPACE, { privileged })),
      allowFailure: true,
    });
    const annotations = result.code === 0 ? ((JSON.parse(result.stdout) as { metadata: { annotations?: Record<string, string> } }).metadata.annotations ?? {}) : {};
    return { code: result.code, annotations, stderr: result.stderr };
  }

  async function expectServed(what: string): Promise<void> {
    const answer = await dryRunCreate();
    assert.equal(answer.code, 0, `${what}: ${answer.stderr}`);
    assert.equal(answer.annotations['daemonguard.dev/reviewed'], 'true', `${what}: the mutating webhook was called`);
    const denied = await dryRunCreate(true);
    assert.notEqual(denied.code, 0, `${what}: the validating webhook was called`);
    assert.match(denied.stderr, /admission webhook "validate\.daemonguard\.dev" denied the request: .*privileged containers are not allowed here/);
  }

  /** The server's TLS reload counter, from its probe port. */
  async function tlsReloads(): Promise<number> {
    const { text } = await callHttp(`${server.probeUrl}/metrics`);
    return Number(/^daemonguard_tls_reloads_total (\d+)/m.exec(text)?.[1] ?? 'NaN');
  }

  async function servedSerial(): Promise<string> {
    const ca = await readFile(path.join(certs, 'ca-bundle.crt'), 'utf8');
    return new Promise<string>((resolve, reject) => {
      https
        // Any answer will do (a 405 here): the certificate presented is what counts.
        .get(`https://127.0.0.1:${server.port}/validate`, { ca, agent: false }, (response) => {
          const serial = (response.socket as import('node:tls').TLSSocket).getPeerCertificate().serialNumber;
          response.resume();
          response.on('end', () => resolve(serial));
        })
        .on('error', reject);
    });
  }

  async function fileSerial(): Promise<string> {
    const { X509Certificate } = await import('node:crypto');
    return new X509Certificate(await readFile(path.join(certs, 'tls.crt'))).serialNumber;
  }

  before(async () => {
    cluster = await startCluster();
    work = await mkdtemp(path.join(os.tmpdir(), 'daemonguard-certs-e2e-'));
    certs = path.join(work, 'certs');
    await mkdir(path.join(work, 'policies'));
    await writeFile(path.join(work, 'policies', 'policies.yaml'), POLICIES);
    await certsStep('--ip', '127.0.0.1');
    server = await startServe({
      args: ['--address', '127.0.0.1', '--port', '0', '--tls-cert', path.join(certs, 'tls.crt'), '--tls-key', path.join(certs, 'tls.key'), '--policies', 'policies', '--watch-interval', '500ms'],
      cwd: work,
    });
    await cluster.kubectl(['create', 'namespace', NAMESPACE]);
  });

  after(async () => {
    await server?.stop();
    await cluster?.stop();
  });

  it('registers the webhooks with the caBundle of `daemonguard certs` and answers through the kube-apiserver', async () => {
    await register();
    await eventually('the webhooks to answer', async () => (await dryRunCreate()).annotations['daemonguard.dev/reviewed'] === 'true', 30_000);
    await expectServed('first certificate');
  });

  it('refuses a webhook it cannot verify: the caBundle is what the kube-apiserver trusts', async () => {
    const stranger = path.join(work, 'stranger');
    const result = await daemonguard(['certs', '--dir', stranger]);
    assert.equal(result.code, 0, result.stderr);
    await register(['--certs-dir', stranger]);
    let stderr = '';
    await eventually('the kube-apiserver to refuse the unknown certificate', async () => {
      const answer = await dryRunCreate();
      stderr = answer.stderr;
      return answer.code !== 0;
    }, 30_000);
    assert.match(stderr, /failed calling webhook "validate\.daemonguard\.dev".*(x509|certificate)/s);
    await register();
    await eventually('the webhooks to answer again', async () => (await dryRunCreate()).code === 0, 30_000);
  });

  it('renews the serving certificate under the same CA: picked up by the running server, nothing to re-register', async () => {
    const before = await tlsReloads();
    const bundleBefore = await readFile(path.join(certs, 'ca-bundle.crt'), 'utf8');
    await certsStep('--renew');
    assert.equal(await readFile(path.join(certs, 'ca-bundle.crt'), 'utf8'), bundleBefore);
    await eventually('the server to reload its certificate', async () => (await tlsReloads()) === before + 1);
    assert.equal(await servedSerial(), await fileSerial());
    await expectServed('renewed certificate');
  });

  it('rotates the CA in three steps without a moment the kube-apiserver distrusts the webhook', async () => {
    const reloads = await tlsReloads();

    // 1. Trust both CAs. The server keeps its certificate from the old CA.
    const widened = await certsStep('--rotate-ca');
    assert.equal(Buffer.from(widened, 'base64').toString('utf8').match(/BEGIN CERTIFICATE/g)?.length, 2);
    await register();
    await expectServed('step 1: bundle with both CAs, certificate from the old CA');

    // 2. Serve a certificate from the new CA; the running server picks it up.
    await certsStep('--renew');
    await eventually('the server to reload the certificate from the new CA', async () => (await tlsReloads()) === reloads + 1);
    assert.equal(await servedSerial(), await fileSerial());
    await expectServed('step 2: certificate from the new CA');

    // 3. Trust the new CA only. The apiserver builds a new client for the changed caBundle and opens
    // new connections, which get the new certificate: this only works if the server really serves it.
    const finished = await certsStep('--finish-ca-rotation');
    assert.equal(Buffer.from(finished, 'base64').toString('utf8').match(/BEGIN CERTIFICATE/g)?.length, 1);
    await register();
    await eventually('the apiserver to use the new caBundle', async () => {
      const stored = JSON.parse((await cluster.kubectl(['get', 'validatingwebhookconfiguration', 'daemonguard', '-o', 'json'])).stdout) as {
        webhooks: { clientConfig: { caBundle?: string } }[];
      };
      return stored.webhooks.every((w) => w.clientConfig.caBundle === finished);
    });
    await expectServed('step 3: bundle with the new CA only');
    // The apiserver's webhook configuration follows the stored object within moments; ask again after that.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    await expectServed('step 3, settled');
    assert.equal(server.child.exitCode, null, 'the server was never restarted');
    assert.equal((await daemonguard(['certs', '--dir', certs, '--check'])).code, 0);
  });
});
