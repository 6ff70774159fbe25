// The certificate folder of `daemonguard certs`: SANs, expiry, refusing to overwrite, --check, and
// renewals and a CA rotation picked up by a running server, checked with real TLS handshakes that
// verify the Service's DNS name against the CA bundle, as the kube-apiserver does.

import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, createServer } from 'node:tls';
import { loadPolicySet } from '../policy/load-policies.js';
import type { PolicySet } from '../policy/types.js';
import type { AdmissionServer } from '../server/admission-server.js';
import { admissionReview, callHttps, daemonSet, temporaryDirectory, TEST_POLICIES, writeFiles } from '../../test/support/server-fixtures.js';
import { startTestAdmissionServer } from '../../test/support/test-admission-server.js';
import {
  certificateFolder,
  checkCertificates,
  createCertificates,
  finishCaRotation,
  renewServingCertificate,
  rotateCertificateAuthority,
  servingNamesForService,
  type FolderState,
} from './certificate-folder.js';
import { splitPemCertificates } from './inspect-certificate.js';

const SERVICE_NAME = 'daemonguard.daemonguard-system.svc';
const NAMES = servingNamesForService('daemonguard', 'daemonguard-system', { ipAddresses: ['127.0.0.1'] });

/**
 * A TLS handshake as the kube-apiserver makes it: trust only `caBundlePem`, ask for `servername`
 * (the Service's DNS name) and check the certificate against it. Resolves with the peer's serial number.
 */
async function handshake(dir: string, caBundlePem: string, servername = SERVICE_NAME): Promise<string> {
  const files = certificateFolder(dir);
  const [cert, key] = await Promise.all([readFile(files.certFile, 'utf8'), readFile(files.keyFile, 'utf8')]);
  const server = createServer({ cert, key }, (socket) => socket.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  try {
    return await new Promise<string>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, ca: caBundlePem, servername }, () => {
        const serial = socket.getPeerCertificate().serialNumber;
        socket.end();
        resolve(serial);
      });
      socket.on('error', reject);
    });
  } finally {
    server.close();
  }
}

async function newFolder(): Promise<string> {
  return path.join(await temporaryDirectory('daemonguard-certs-'), 'certs');
}

function serialOf(pem: string): string {
  return new X509Certificate(pem).serialNumber;
}

describe('daemonguard certs: creating a folder', () => {
  it('issues a CA and a serving certificate for the Service names that a client trusting the bundle accepts', async () => {
    const dir = await newFolder();
    const created = await createCertificates(dir, { names: NAMES });
    assert.deepEqual(created.serving.dnsNames, [
      'daemonguard',
      'daemonguard.daemonguard-system',
      'daemonguard.daemonguard-system.svc',
      'daemonguard.daemonguard-system.svc.cluster.local',
    ]);
    assert.deepEqual(created.serving.ipAddresses, ['127.0.0.1']);
    assert.equal(created.serving.commonName, SERVICE_NAME);
    assert.equal(created.serving.keyType, 'ECDSA P-256');
    assert.equal(created.serving.isCA, false);
    assert.equal(created.ca.isCA, true);
    // Validity: about a year for the serving certificate, ten years for the CA.
    const days = (date: Date): number => Math.round((date.getTime() - Date.now()) / 86_400_000);
    assert.equal(days(created.serving.notAfter), 365);
    assert.equal(days(created.ca.notAfter), 3650);
    assert.ok(created.serving.notBefore.getTime() <= Date.now());

    const files = certificateFolder(dir);
    assert.equal((await stat(files.keyFile)).mode & 0o777, 0o600);
    assert.equal((await stat(files.caKeyFile)).mode & 0o777, 0o600);
    assert.equal(created.caBundlePem, await readFile(files.caCertFile, 'utf8'));
    assert.equal(Buffer.from(created.caBundleBase64, 'base64').toString('utf8'), created.caBundlePem);

    assert.equal(await handshake(dir, created.caBundlePem), created.serving.serialNumber);
    assert.equal(await handshake(dir, created.caBundlePem, 'daemonguard.daemonguard-system.svc.cluster.local'), created.serving.serialNumber);
    await assert.rejects(handshake(dir, created.caBundlePem, 'daemonguard.other-namespace.svc'), /does not match|altnames/i);
  });

  it('refuses to overwrite an existing folder unless forced, and --force starts over with a new CA', async () => {
    const dir = await newFolder();
    const first = await createCertificates(dir, { names: NAMES });
    await assert.rejects(createCertificates(dir, { names: NAMES }), /already exist.*--renew.*--rotate-ca.*--force/s);
    assert.equal(await readFile(certificateFolder(dir).caCertFile, 'utf8'), first.caBundlePem, 'nothing was touched');
    const second = await createCertificates(dir, { names: NAMES, force: true });
    assert.notEqual(second.ca.fingerprint256, first.ca.fingerprint256);

    const lonely = await newFolder();
    await writeFiles(lonely, { 'tls.key': 'anything' });
    await assert.rejects(createCertificates(lonely, { names: NAMES }), /tls\.key already exists/);
  });

  it('issues RSA 2048 keys on request, with extra DNS names and IPv6 addresses', async () => {
    const dir = await newFolder();
    const names = servingNamesForService('webhook', 'tools', { clusterDomain: 'example.internal', dnsNames: ['webhook.example.com'], ipAddresses: ['::1'] });
    const created = await createCertificates(dir, { names, keyAlgorithm: 'rsa-2048', validityDays: 30 });
    assert.equal(created.serving.keyType, 'RSA 2048');
    assert.equal(created.ca.keyType, 'RSA 2048');
    assert.deepEqual(created.serving.dnsNames, ['webhook', 'webhook.tools', 'webhook.tools.svc', 'webhook.tools.svc.example.internal', 'webhook.example.com']);
    assert.deepEqual(created.serving.ipAddresses, ['::1']);
    assert.equal(await handshake(dir, created.caBundlePem, 'webhook.example.com'), created.serving.serialNumber);
  });
});

describe('daemonguard certs: renewal and CA rotation', () => {
  it('renews the serving certificate under the same CA, keeping names and key type, the bundle unchanged', async () => {
    const dir = await newFolder();
    const created = await createCertificates(dir, { names: NAMES, keyAlgorithm: 'rsa-2048' });
    const renewed = await renewServingCertificate(dir, { validityDays: 90 });
    assert.notEqual(renewed.serving.serialNumber, created.serving.serialNumber);
    assert.deepEqual(renewed.serving.dnsNames, created.serving.dnsNames);
    assert.deepEqual(renewed.serving.ipAddresses, created.serving.ipAddresses);
    assert.equal(renewed.serving.commonName, SERVICE_NAME);
    assert.equal(renewed.serving.keyType, 'RSA 2048');
    assert.equal(renewed.caBundlePem, created.caBundlePem);
    assert.equal(renewed.serving.issuer, created.ca.subject);
    // The old bundle (already in the cluster) trusts the new certificate: nothing else to roll out.
    assert.equal(await handshake(dir, created.caBundlePem), renewed.serving.serialNumber);
  });

  it('rotates the CA in three steps, each trusted by the bundle the cluster has at that moment', async () => {
    const dir = await newFolder();
    const files = certificateFolder(dir);
    const start = await createCertificates(dir, { names: NAMES });
    const oldBundle = start.caBundlePem;

    // Step 1: trust the new CA as well. The serving certificate is untouched.
    const widened = await rotateCertificateAuthority(dir);
    assert.notEqual(widened.ca.fingerprint256, start.ca.fingerprint256);
    assert.equal(widened.previousCa?.fingerprint256, start.ca.fingerprint256);
    assert.equal(widened.serving.serialNumber, start.serving.serialNumber);
    const bundle = splitPemCertificates(widened.caBundlePem).map(serialOf);
    assert.deepEqual(bundle, [widened.ca.serialNumber, start.ca.serialNumber]);
    assert.equal(await handshake(dir, oldBundle), start.serving.serialNumber, 'servers still present a certificate the old bundle trusts');
    assert.equal(await handshake(dir, widened.caBundlePem), start.serving.serialNumber);
    await assert.rejects(rotateCertificateAuthority(dir), /already in progress/);
    await assert.rejects(finishCaRotation(dir), /still signed by the previous CA.*--renew/);
    assert.equal((await checkCertificates(dir)).rotation, 'bundle-widened');

    // Step 2: serve from the new CA. The widened bundle trusts it; the old one would not (hence step 1).
    const renewed = await renewServingCertificate(dir);
    assert.equal(renewed.serving.issuer, widened.ca.subject);
    assert.equal(renewed.caBundlePem, widened.caBundlePem);
    assert.equal(await handshake(dir, widened.caBundlePem), renewed.serving.serialNumber);
    await assert.rejects(handshake(dir, oldBundle), /unable to verify|unable to get|self.signed/i);
    assert.equal((await checkCertificates(dir)).rotation, 'serving-renewed');

    // Step 3: drop the old CA.
    const finished = await finishCaRotation(dir);
    assert.equal(finished.previousCa, undefined);
    assert.deepEqual(splitPemCertificates(finished.caBundlePem).map(serialOf), [widened.ca.serialNumber]);
    await assert.rejects(stat(files.previousCaFile), /ENOENT/);
    assert.equal(await handshake(dir, finished.caBundlePem), renewed.serving.serialNumber);
    const report = await checkCertificates(dir);
    assert.equal(report.rotation, 'none');
    assert.equal(report.failed, false, JSON.stringify(report.findings));
    await assert.rejects(finishCaRotation(dir), /no CA rotation is in progress/);
  });

  it('refuses to renew without the CA key', async () => {
    const dir = await newFolder();
    await createCertificates(dir, { names: NAMES });
    await rm(certificateFolder(dir).caKeyFile);
    await assert.rejects(renewServingCertificate(dir), /ca\.key does not exist/);
    const other = await newFolder();
    await createCertificates(other, { names: NAMES });
    await writeFile(certificateFolder(dir).caKeyFile, await readFile(certificateFolder(other).caKeyFile, 'utf8'));
    await assert.rejects(renewServingCertificate(dir), /not the key of/);
  });
});

describe('daemonguard certs --check', () => {
  it('passes a fresh folder and reports expiry, SANs and key types', async () => {
    const dir = await newFolder();
    await createCertificates(dir, { names: NAMES });
    const report = await checkCertificates(dir, { expectedNames: NAMES });
    assert.equal(report.failed, false, JSON.stringify(report.findings));
    const serving = report.certificates.find((c) => c.role === 'serving');
    assert.equal(serving?.expiresInDays, 364);
    assert.equal(serving?.summary.keyType, 'ECDSA P-256');
    assert.ok(serving?.summary.dnsNames.includes(SERVICE_NAME));
    assert.deepEqual(report.certificates.map((c) => c.role), ['serving', 'CA', 'bundle']);
  });

  it('fails when a certificate expires within the threshold or has expired', async () => {
    const dir = await newFolder();
    await createCertificates(dir, { names: NAMES, validityDays: 10 });
    const soon = await checkCertificates(dir);
    assert.equal(soon.failed, true);
    assert.match(soon.findings.map((f) => f.message).join('\n'), /tls\.crt \(serving\) expires in 9 days .*within 30: renew it with `daemonguard certs --renew`/);
    assert.equal((await checkCertificates(dir, { warnWithinDays: 5 })).failed, false);

    const later = new Date(Date.now() + 11 * 86_400_000);
    const expired = await checkCertificates(dir, { warnWithinDays: 0, now: later });
    assert.match(expired.findings.map((f) => f.message).join('\n'), /tls\.crt \(serving\) expired on/);
    assert.equal(expired.failed, true);

    const decade = new Date(Date.now() + 3645 * 86_400_000);
    assert.match((await checkCertificates(dir, { now: decade })).findings.map((f) => f.message).join('\n'), /ca\.crt \(CA\) expires in \d+ days.*--rotate-ca/);
  });

  it('fails on a key that does not fit, a certificate the bundle does not trust, missing names and missing files', async () => {
    const dir = await newFolder();
    const files = certificateFolder(dir);
    await createCertificates(dir, { names: NAMES });
    const stranger = await newFolder();
    await createCertificates(stranger, { names: servingNamesForService('other', 'elsewhere') });
    await writeFile(files.keyFile, await readFile(certificateFolder(stranger).keyFile, 'utf8'));
    await writeFile(files.caBundleFile, await readFile(certificateFolder(stranger).caBundleFile, 'utf8'));
    const report = await checkCertificates(dir, { expectedNames: servingNamesForService('webhook', 'tools') });
    const messages = report.findings.filter((f) => f.severity === 'error').map((f) => f.message).join('\n');
    assert.match(messages, /tls\.key is not the key of/);
    assert.match(messages, /not signed by any CA in .*ca-bundle\.crt/);
    assert.match(messages, /ca-bundle\.crt does not contain .*ca\.crt/);
    assert.match(messages, /does not cover webhook\.tools\.svc/);

    const empty = await newFolder();
    const missing = await checkCertificates(empty);
    assert.equal(missing.failed, true);
    assert.match(missing.findings.map((f) => f.message).join('\n'), /tls\.crt is missing[\s\S]*ca\.crt is missing/);
  });
});

describe('rotation picked up by a running server, without restart', () => {
  let policySet: PolicySet;
  const servers: AdmissionServer[] = [];

  before(async () => {
    const dir = await temporaryDirectory();
    await writeFiles(dir, { 'policies.yaml': TEST_POLICIES });
    policySet = await loadPolicySet([dir]);
  });
  after(async () => {
    await Promise.all(servers.map((server) => server.close(100)));
  });

  async function waitForSerial(server: AdmissionServer, bundle: string, serial: string): Promise<void> {
    const deadline = Date.now() + 8_000;
    let seen: string | undefined;
    while (Date.now() < deadline) {
      seen = (await callHttps(`${server.url}/validate`, { body: '{}', ca: bundle, agent: false, servername: SERVICE_NAME })).peerSerialNumber;
      if (seen === serial) return;
      await sleep(100);
    }
    assert.fail(`the server still presents ${seen ?? 'nothing'}, not ${serial}`);
  }

  it('serves the renewed certificate, then the one from a rotated CA, verified against the Service name', async () => {
    const dir = await newFolder();
    const files = certificateFolder(dir);
    const created = await createCertificates(dir, { names: NAMES });
    const server = await startTestAdmissionServer(policySet, { certFile: files.certFile, keyFile: files.keyFile }, { tlsDebounceMs: 50, tlsPollIntervalMs: 200 });
    servers.push(server);
    const call = async (state: FolderState): Promise<number> =>
      (await callHttps(`${server.url}/validate`, {
        ca: state.caBundlePem,
        agent: false,
        servername: SERVICE_NAME,
        body: JSON.stringify(admissionReview('CREATE', daemonSet())),
      })).status;
    assert.equal(await call(created), 200);

    const renewed = await renewServingCertificate(dir);
    await waitForSerial(server, created.caBundlePem, renewed.serving.serialNumber);
    assert.equal(await call(created), 200);

    const widened = await rotateCertificateAuthority(dir);
    const fromNewCa = await renewServingCertificate(dir);
    await waitForSerial(server, widened.caBundlePem, fromNewCa.serving.serialNumber);
    const finished = await finishCaRotation(dir);
    assert.equal(await call(finished), 200);
    assert.match(await server.metrics.registry.metrics(), /daemonguard_tls_reloads_total 2/);
  });
});
