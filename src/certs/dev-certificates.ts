// Development certificates for running the server on a workstation: a CA and a localhost serving
// certificate in one folder (`certs/` by default), created once and reused while they stay valid.

import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createSecureContext } from 'node:tls';
import { createCertificateAuthority, issueCertificate, type CertificateAndKey } from './certificates.js';

export const DEV_DNS_NAMES: readonly string[] = ['localhost'];
export const DEV_IP_ADDRESSES: readonly string[] = ['127.0.0.1', '::1'];

export interface CertificateFiles {
  caCertFile: string;
  caKeyFile: string;
  certFile: string;
  keyFile: string;
}

export interface DevCertificates extends CertificateFiles {
  /** What was (re)created this time: nothing, only the serving pair, or the CA and the serving pair. */
  generated: 'none' | 'serving' | 'all';
}

/** Serving certificates closer to expiry than this are replaced. */
const RENEW_BEFORE_MS = 30 * 86_400_000;

export function certificateFiles(dir: string): CertificateFiles {
  return {
    caCertFile: path.join(dir, 'ca.crt'),
    caKeyFile: path.join(dir, 'ca.key'),
    certFile: path.join(dir, 'tls.crt'),
    keyFile: path.join(dir, 'tls.key'),
  };
}

/** Writes through a temporary file and a rename, so a reader never sees half a file. */
export async function writeFileAtomic(file: string, content: string, mode: number): Promise<void> {
  const temporary = `${file}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(temporary, content, { mode });
  await rename(temporary, file);
}

export async function writeCertificatePair(certFile: string, keyFile: string, pair: CertificateAndKey): Promise<void> {
  await mkdir(path.dirname(certFile), { recursive: true });
  await mkdir(path.dirname(keyFile), { recursive: true });
  // Key first: a watcher that sees the new certificate then finds its key already in place.
  await writeFileAtomic(keyFile, pair.keyPem, 0o600);
  await writeFileAtomic(certFile, pair.certPem, 0o644);
}

async function readPair(certFile: string, keyFile: string): Promise<CertificateAndKey | undefined> {
  try {
    const [certPem, keyPem] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
    return { certPem, keyPem };
  } catch {
    return undefined;
  }
}

function usableCa(ca: CertificateAndKey | undefined, now: number): boolean {
  if (ca === undefined) return false;
  try {
    const certificate = new X509Certificate(ca.certPem);
    return certificate.ca && Date.parse(certificate.validTo) - now > RENEW_BEFORE_MS && certificate.checkPrivateKey(createPrivateKey(ca.keyPem));
  } catch {
    return false;
  }
}

function usableServing(pair: CertificateAndKey | undefined, ca: CertificateAndKey, now: number): boolean {
  if (pair === undefined) return false;
  try {
    const certificate = new X509Certificate(pair.certPem);
    const issuer = new X509Certificate(ca.certPem);
    createSecureContext({ cert: pair.certPem, key: pair.keyPem });
    return (
      certificate.verify(issuer.publicKey) &&
      Date.parse(certificate.validTo) - now > RENEW_BEFORE_MS &&
      DEV_DNS_NAMES.every((name) => certificate.checkHost(name) !== undefined) &&
      DEV_IP_ADDRESSES.every((address) => certificate.checkIP(address) !== undefined)
    );
  } catch {
    return false;
  }
}

/**
 * Makes sure `dir` holds a development CA (`ca.crt`, `ca.key`) and a serving certificate for localhost,
 * 127.0.0.1 and ::1 signed by it (`tls.crt`, `tls.key`). Valid files are kept; missing, broken or
 * nearly expired ones are replaced.
 */
export async function ensureDevCertificates(dir: string): Promise<DevCertificates> {
  const files = certificateFiles(dir);
  const now = Date.now();
  let generated: DevCertificates['generated'] = 'none';
  let ca = await readPair(files.caCertFile, files.caKeyFile);
  if (!usableCa(ca, now)) {
    ca = await createCertificateAuthority({ commonName: 'daemonguard development CA', validityDays: 3650 });
    await writeCertificatePair(files.caCertFile, files.caKeyFile, ca);
    generated = 'all';
  }
  const serving = generated === 'all' ? undefined : await readPair(files.certFile, files.keyFile);
  if (!usableServing(serving, ca as CertificateAndKey, now)) {
    const pair = await issueCertificate(ca as CertificateAndKey, {
      commonName: 'localhost',
      dnsNames: DEV_DNS_NAMES,
      ipAddresses: DEV_IP_ADDRESSES,
      validityDays: 365,
    });
    await writeCertificatePair(files.certFile, files.keyFile, pair);
    if (generated === 'none') generated = 'serving';
  }
  return { ...files, generated };
}
