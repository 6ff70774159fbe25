// Reading certificates back: what `daemonguard certs --check` reports and what a renewal copies from
// the certificate it replaces (names, key type). SANs are read with @peculiar/x509, not by parsing
// Node's `subjectAltName` string, which quotes and escapes names in ways that differ across versions.

import 'reflect-metadata'; // @peculiar/x509 resolves its services through tsyringe, which needs it.
import * as x509 from '@peculiar/x509';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import type { KeyAlgorithm } from './certificates.js';

export interface CertificateSummary {
  subject: string;
  issuer: string;
  /** The subject's common name, when it has one. */
  commonName: string | undefined;
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
  isCA: boolean;
  dnsNames: string[];
  ipAddresses: string[];
  /** "ECDSA P-256", "RSA 2048", "Ed25519", ... */
  keyType: string;
  /** The KeyAlgorithm daemonguard can issue with the same kind of key, when it is one of them. */
  keyAlgorithm: KeyAlgorithm | undefined;
  /** SHA-256 fingerprint, colon-separated hex (as openssl prints it). */
  fingerprint256: string;
  pem: string;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Every PEM certificate in the text, in order, each ending with a newline. Other PEM blocks are skipped. */
export function splitPemCertificates(text: string): string[] {
  return [...text.matchAll(PEM_CERTIFICATE)].map((match) => `${match[0]}\n`);
}

const CURVE_NAMES: Readonly<Record<string, string>> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };

function keyTypeOf(certificate: X509Certificate): { keyType: string; keyAlgorithm: KeyAlgorithm | undefined } {
  const key = certificate.publicKey;
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const curve = CURVE_NAMES[details.namedCurve ?? ''] ?? details.namedCurve ?? 'unknown curve';
      return { keyType: `ECDSA ${curve}`, keyAlgorithm: curve === 'P-256' ? 'ecdsa-p256' : undefined };
    }
    case 'rsa':
      return { keyType: `RSA ${details.modulusLength ?? '?'}`, keyAlgorithm: details.modulusLength === 2048 ? 'rsa-2048' : undefined };
    case 'ed25519':
      return { keyType: 'Ed25519', keyAlgorithm: undefined };
    default:
      return { keyType: key.asymmetricKeyType ?? 'unknown', keyAlgorithm: undefined };
  }
}

function subjectAltNames(pem: string): { dnsNames: string[]; ipAddresses: string[] } {
  const extension = new x509.X509Certificate(pem).getExtension(x509.SubjectAlternativeNameExtension);
  const names = extension?.names.toJSON() ?? [];
  return {
    dnsNames: names.filter((name) => name.type === 'dns').map((name) => name.value),
    ipAddresses: names.filter((name) => name.type === 'ip').map((name) => name.value),
  };
}

/** Parses one PEM certificate; throws with a short reason when it is not one. */
export function describeCertificate(pem: string): CertificateSummary {
  const certificate = new X509Certificate(pem);
  const commonName = /(?:^|\n)CN=([^\n]*)/.exec(certificate.subject)?.[1];
  return {
    subject: certificate.subject.replace(/\n/g, ', '),
    issuer: certificate.issuer.replace(/\n/g, ', '),
    commonName,
    serialNumber: certificate.serialNumber,
    notBefore: new Date(certificate.validFrom),
    notAfter: new Date(certificate.validTo),
    isCA: certificate.ca,
    ...subjectAltNames(pem),
    ...keyTypeOf(certificate),
    fingerprint256: certificate.fingerprint256,
    pem: certificate.toString(),
  };
}

/** True when `issuer` signed `certificate` (names match and the signature verifies). */
export function isIssuedBy(certificatePem: string, issuerPem: string): boolean {
  const certificate = new X509Certificate(certificatePem);
  const issuer = new X509Certificate(issuerPem);
  return certificate.checkIssued(issuer) && certificate.verify(issuer.publicKey);
}

/** True when the PEM private key belongs to the certificate. */
export function keyMatchesCertificate(certificatePem: string, keyPem: string): boolean {
  return new X509Certificate(certificatePem).checkPrivateKey(createPrivateKey(keyPem));
}
