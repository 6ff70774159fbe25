import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { createCertificateAuthority, issueCertificate, serviceDnsNames, type CertificateAndKey } from './certificates.js';
import { ensureDevCertificates } from './dev-certificates.js';

/** A real TLS handshake: a server with `serving`, a client trusting `caPem` and asking for `servername`. */
async function handshake(serving: CertificateAndKey, caPem: string, servername: string, host = '127.0.0.1'): Promise<TLSSocket> {
  const server = createServer({ cert: serving.certPem, key: serving.keyPem }, (socket) => socket.end('hello'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  try {
    return await new Promise<TLSSocket>((resolve, reject) => {
      const socket = connect({ host, port, ca: caPem, servername }, () => {
        socket.end();
        resolve(socket);
      });
      socket.on('error', reject);
    });
  } finally {
    server.close();
  }
}

describe('certificates', () => {
  it('issues a serving certificate for a Service that a client trusting the CA accepts', async () => {
    const ca = await createCertificateAuthority({ commonName: 'test CA' });
    const caCertificate = new X509Certificate(ca.certPem);
    assert.equal(caCertificate.ca, true);
    const names = serviceDnsNames('daemonguard', 'daemonguard-system');
    assert.deepEqual(names, [
      'daemonguard',
      'daemonguard.daemonguard-system',
      'daemonguard.daemonguard-system.svc',
      'daemonguard.daemonguard-system.svc.cluster.local',
    ]);
    const serving = await issueCertificate(ca, { commonName: 'daemonguard.daemonguard-system.svc', dnsNames: names });
    const certificate = new X509Certificate(serving.certPem);
    assert.equal(certificate.ca, false);
    assert.ok(certificate.verify(caCertificate.publicKey));
    assert.ok(certificate.checkIssued(caCertificate));
    assert.equal(certificate.keyUsage?.includes('1.3.6.1.5.5.7.3.1'), true);
    assert.equal(certificate.checkHost('daemonguard.daemonguard-system.svc'), 'daemonguard.daemonguard-system.svc');

    const socket = await handshake(serving, ca.certPem, 'daemonguard.daemonguard-system.svc');
    assert.equal(socket.authorized, true);
    await assert.rejects(handshake(serving, ca.certPem, 'other.example'), /does not match|altnames/i);
    const stranger = await createCertificateAuthority();
    await assert.rejects(handshake(serving, stranger.certPem, 'daemonguard.daemonguard-system.svc'), /unable to verify|self.signed|unable to get/i);
  });

  it('puts IP addresses in the SANs, IPv4 and IPv6', async () => {
    const ca = await createCertificateAuthority();
    const serving = await issueCertificate(ca, { commonName: 'local', ipAddresses: ['127.0.0.1', '::1'] });
    const certificate = new X509Certificate(serving.certPem);
    assert.equal(certificate.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(certificate.checkIP('::1'), '::1');
    assert.equal((await handshake(serving, ca.certPem, '127.0.0.1')).authorized, true);
    await assert.rejects(issueCertificate(ca, { commonName: 'x', ipAddresses: ['localhost'] }), /not an IP address/);
    await assert.rejects(issueCertificate(ca, { commonName: 'x' }), /at least one DNS name or IP address/);
  });

  it('works with RSA 2048 keys as well', async () => {
    const ca = await createCertificateAuthority({ keyAlgorithm: 'rsa-2048' });
    const serving = await issueCertificate(ca, { commonName: 'rsa', dnsNames: ['localhost'], keyAlgorithm: 'rsa-2048' });
    const certificate = new X509Certificate(serving.certPem);
    assert.equal(certificate.publicKey.asymmetricKeyType, 'rsa');
    assert.equal(certificate.publicKey.asymmetricKeyDetails?.modulusLength, 2048);
    assert.equal((await handshake(serving, ca.certPem, 'localhost')).authorized, true);
  });

  it('issues client certificates (clientAuth)', async () => {
    const ca = await createCertificateAuthority();
    const client = await issueCertificate(ca, { commonName: 'kube-apiserver', usage: 'client' });
    const certificate = new X509Certificate(client.certPem);
    assert.deepEqual(certificate.keyUsage, ['1.3.6.1.5.5.7.3.2']);
    assert.match(certificate.subject, /CN=kube-apiserver/);
  });
});

describe('ensureDevCertificates', () => {
  it('creates a CA and a localhost certificate once, then reuses them, and replaces a broken one', async () => {
    const dir = path.join(await mkdtemp(path.join(tmpdir(), 'daemonguard-certs-')), 'certs');
    const first = await ensureDevCertificates(dir);
    assert.equal(first.generated, 'all');
    assert.equal((await stat(first.keyFile)).mode & 0o777, 0o600);
    assert.equal((await stat(first.caKeyFile)).mode & 0o777, 0o600);
    const caPem = await readFile(first.caCertFile, 'utf8');
    const serving = { certPem: await readFile(first.certFile, 'utf8'), keyPem: await readFile(first.keyFile, 'utf8') };
    // By name, and by address (an IP servername is not sent, so the IP SAN is what is checked).
    assert.equal((await handshake(serving, caPem, 'localhost')).authorized, true);
    assert.equal((await handshake(serving, caPem, '127.0.0.1')).authorized, true);

    const second = await ensureDevCertificates(dir);
    assert.equal(second.generated, 'none');

    await writeFile(first.certFile, 'not a certificate');
    const third = await ensureDevCertificates(dir);
    assert.equal(third.generated, 'serving');
    const renewed = new X509Certificate(await readFile(third.certFile));
    assert.ok(renewed.checkIssued(new X509Certificate(caPem)));
  });
});
