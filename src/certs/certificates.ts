// Certificate generation: a CA, and serving or client certificates signed by it. Used by `npm start`
// (development certificates for localhost) and meant for a `daemonguard certs` command that issues
// certificates for `<service>.<namespace>.svc`. Built on @peculiar/x509 over Node's WebCrypto: no openssl.

import 'reflect-metadata'; // @peculiar/x509 resolves its services through tsyringe, which needs it.
import * as x509 from '@peculiar/x509';
import { createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

export type KeyAlgorithm = 'ecdsa-p256' | 'rsa-2048';

/** A PEM certificate and its PEM (PKCS#8) private key. */
export interface CertificateAndKey {
  certPem: string;
  keyPem: string;
}

export interface CertificateAuthorityOptions {
  commonName?: string;
  validityDays?: number;
  keyAlgorithm?: KeyAlgorithm;
}

export interface IssueOptions {
  commonName: string;
  /** DNS subject alternative names. */
  dnsNames?: readonly string[];
  /** IP subject alternative names (IPv4 or IPv6). */
  ipAddresses?: readonly string[];
  /** serverAuth (default) or clientAuth. */
  usage?: 'server' | 'client';
  validityDays?: number;
  keyAlgorithm?: KeyAlgorithm;
}

const DAY_MS = 86_400_000;
/** Backdate notBefore a little so a client whose clock runs slightly behind still accepts a fresh certificate. */
const CLOCK_SKEW_MS = 5 * 60_000;

type SigningAlgorithm = webcrypto.EcKeyGenParams & { hash: string } | webcrypto.RsaHashedKeyGenParams;

function algorithmFor(keyAlgorithm: KeyAlgorithm): SigningAlgorithm {
  return keyAlgorithm === 'rsa-2048'
    ? { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }
    : { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
}

async function generateKeys(keyAlgorithm: KeyAlgorithm): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(algorithmFor(keyAlgorithm), true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN PRIVATE KEY-----\n${lines.join('\n')}\n-----END PRIVATE KEY-----\n`;
}

/** Reads a PEM private key (PKCS#8, or the PKCS#1 / SEC1 forms openssl writes) into a WebCrypto signing key. */
async function importSigningKey(keyPem: string): Promise<{ key: CryptoKey; algorithm: SigningAlgorithm }> {
  const keyObject = createPrivateKey(keyPem);
  const der = keyObject.export({ format: 'der', type: 'pkcs8' });
  let algorithm: SigningAlgorithm;
  if (keyObject.asymmetricKeyType === 'ec') {
    const curve = keyObject.asymmetricKeyDetails?.namedCurve;
    if (curve !== 'prime256v1' && curve !== 'P-256') throw new Error(`CA key uses curve ${curve ?? 'unknown'}; only P-256 is supported`);
    algorithm = algorithmFor('ecdsa-p256');
  } else if (keyObject.asymmetricKeyType === 'rsa') {
    algorithm = { ...algorithmFor('rsa-2048'), modulusLength: keyObject.asymmetricKeyDetails?.modulusLength ?? 2048 } as SigningAlgorithm;
  } else {
    throw new Error(`CA key type ${keyObject.asymmetricKeyType ?? 'unknown'} is not supported; use ECDSA P-256 or RSA`);
  }
  const key = await webcrypto.subtle.importKey('pkcs8', der, algorithm, false, ['sign']);
  return { key, algorithm };
}

/** A positive 128-bit serial number, as hex. */
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] as number) & 0x7f;
  return bytes.toString('hex');
}

/** The commonName as an X.500 name, with the characters RFC 4514 reserves escaped. */
function distinguishedName(commonName: string, organization = 'daemonguard'): string {
  const escape = (value: string): string => value.replace(/[\\,+"<>;=]/g, (character) => `\\${character}`);
  return `CN=${escape(commonName)}, O=${escape(organization)}`;
}

export async function createCertificateAuthority(options: CertificateAuthorityOptions = {}): Promise<CertificateAndKey> {
  const keyAlgorithm = options.keyAlgorithm ?? 'ecdsa-p256';
  const keys = await generateKeys(keyAlgorithm);
  const now = Date.now();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: distinguishedName(options.commonName ?? 'daemonguard CA'),
    notBefore: new Date(now - CLOCK_SKEW_MS),
    notAfter: new Date(now + (options.validityDays ?? 3650) * DAY_MS),
    keys,
    signingAlgorithm: algorithmFor(keyAlgorithm),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: certificate.toString('pem') + '\n', keyPem: await privateKeyPem(keys.privateKey) };
}

/** Signs a new key pair's certificate with the CA. Names go into subjectAltName (what TLS clients check). */
export async function issueCertificate(ca: CertificateAndKey, options: IssueOptions): Promise<CertificateAndKey> {
  const caCertificate = new x509.X509Certificate(ca.certPem);
  const { key: caKey, algorithm: caAlgorithm } = await importSigningKey(ca.keyPem);
  const keyAlgorithm = options.keyAlgorithm ?? 'ecdsa-p256';
  const keys = await generateKeys(keyAlgorithm);
  const names: x509.JsonGeneralName[] = [
    ...(options.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(options.ipAddresses ?? []).map((value) => {
      if (isIP(value) === 0) throw new Error(`${value} is not an IP address`);
      return { type: 'ip' as const, value };
    }),
  ];
  if (names.length === 0 && options.usage !== 'client') throw new Error('a serving certificate needs at least one DNS name or IP address');
  const usage = options.usage ?? 'server';
  const now = Date.now();
  const notAfter = Math.min(now + (options.validityDays ?? 365) * DAY_MS, caCertificate.notAfter.getTime());
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(
      keyAlgorithm === 'rsa-2048' ? x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment : x509.KeyUsageFlags.digitalSignature,
      true,
    ),
    new x509.ExtendedKeyUsageExtension([usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(caCertificate.publicKey),
  ];
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names));
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: distinguishedName(options.commonName),
    issuer: caCertificate.subject,
    notBefore: new Date(now - CLOCK_SKEW_MS),
    notAfter: new Date(notAfter),
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: caAlgorithm,
    extensions,
  });
  return { certPem: certificate.toString('pem') + '\n', keyPem: await privateKeyPem(keys.privateKey) };
}

/** The names a Service is reached by inside a cluster: `svc`, `svc.ns`, `svc.ns.svc`, `svc.ns.svc.cluster.local`. */
export function serviceDnsNames(service: string, namespace: string, clusterDomain = 'cluster.local'): string[] {
  return [service, `${service}.${namespace}`, `${service}.${namespace}.svc`, `${service}.${namespace}.svc.${clusterDomain}`];
}
