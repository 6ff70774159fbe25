// The certificate folder `daemonguard certs` manages for clusters without cert-manager:
//
//   ca.crt, ca.key      the CA that signs serving certificates (ca.key never goes into the cluster)
//   tls.crt, tls.key    the serving certificate for <service>.<namespace>.svc and its key
//   ca-bundle.crt       what the webhook configurations' caBundle must trust: ca.crt, plus
//                       previous-ca.crt while a CA rotation is in progress
//   previous-ca.crt     the CA being replaced, kept only during a CA rotation
//
// A serving certificate is renewed under the same CA without touching the caBundle: running servers
// pick the new files up (src/server/tls-material.ts). A new CA needs an overlap, because the
// kube-apiserver must trust a CA before any server presents a certificate signed by it:
//
//   1. rotateCertificateAuthority: new CA; bundle = new + old; the serving certificate is unchanged.
//      Roll out the bundle (webhook configurations).
//   2. renewServingCertificate: a serving certificate from the new CA. Roll out the Secret.
//   3. finishCaRotation: bundle = new CA only. Roll out the bundle again.
//
// Every step leaves a folder in which the serving certificate is trusted by the bundle, so no step
// can lock the webhook out, whatever order the cluster sees the changes in within a step.

import { access, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { createCertificateAuthority, issueCertificate, serviceDnsNames, type CertificateAndKey, type KeyAlgorithm } from './certificates.js';
import { writeCertificatePair, writeFileAtomic } from './dev-certificates.js';
import { describeCertificate, isIssuedBy, keyMatchesCertificate, splitPemCertificates, type CertificateSummary } from './inspect-certificate.js';

export const DEFAULT_CA_VALIDITY_DAYS = 3650;
export const DEFAULT_SERVING_VALIDITY_DAYS = 365;
export const DEFAULT_WARN_WITHIN_DAYS = 30;
const DAY_MS = 86_400_000;

export interface CertificateFolder {
  dir: string;
  caCertFile: string;
  caKeyFile: string;
  certFile: string;
  keyFile: string;
  caBundleFile: string;
  previousCaFile: string;
}

export function certificateFolder(dir: string): CertificateFolder {
  return {
    dir,
    caCertFile: path.join(dir, 'ca.crt'),
    caKeyFile: path.join(dir, 'ca.key'),
    certFile: path.join(dir, 'tls.crt'),
    keyFile: path.join(dir, 'tls.key'),
    caBundleFile: path.join(dir, 'ca-bundle.crt'),
    previousCaFile: path.join(dir, 'previous-ca.crt'),
  };
}

/** A problem the user can fix (a file exists, a step is out of order); the message says how. */
export class CertificateFolderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CertificateFolderError';
  }
}

export interface ServingNames {
  commonName: string;
  dnsNames: string[];
  ipAddresses: string[];
}

export interface ServiceNamesOptions {
  clusterDomain?: string;
  /** More DNS names (an Ingress host, a node name), after the Service's own. */
  dnsNames?: readonly string[];
  ipAddresses?: readonly string[];
}

/**
 * The names a webhook Service is called by: `svc`, `svc.ns`, `svc.ns.svc` (what the kube-apiserver
 * checks), `svc.ns.svc.<cluster domain>`, then any extra names and IP addresses. The common name is
 * `svc.ns.svc`; clients check only the SANs.
 */
export function servingNamesForService(service: string, namespace: string, options: ServiceNamesOptions = {}): ServingNames {
  const dnsNames = [...serviceDnsNames(service, namespace, options.clusterDomain)];
  for (const name of options.dnsNames ?? []) if (!dnsNames.includes(name)) dnsNames.push(name);
  return { commonName: `${service}.${namespace}.svc`, dnsNames, ipAddresses: [...new Set(options.ipAddresses ?? [])] };
}

export interface FolderState {
  files: CertificateFolder;
  ca: CertificateSummary;
  serving: CertificateSummary;
  previousCa: CertificateSummary | undefined;
  /** The PEM text of ca-bundle.crt, and the same base64-encoded: the webhook configurations' caBundle. */
  caBundlePem: string;
  caBundleBase64: string;
  /** Files this call wrote or removed. */
  changed: string[];
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

async function readText(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CertificateFolderError(code === 'ENOENT' ? `${file} does not exist (${what})` : `cannot read ${file}: ${(error as Error).message}`);
  }
}

function summarize(pem: string, file: string): CertificateSummary {
  try {
    return describeCertificate(pem);
  } catch (error) {
    throw new CertificateFolderError(`${file} is not a PEM certificate: ${(error as Error).message}`);
  }
}

async function readCa(files: CertificateFolder): Promise<CertificateAndKey> {
  const ca = {
    certPem: await readText(files.caCertFile, 'the CA certificate; create the folder with `daemonguard certs` first'),
    keyPem: await readText(files.caKeyFile, 'the CA key; without it no certificate can be signed by this CA'),
  };
  let matches: boolean;
  try {
    matches = keyMatchesCertificate(ca.certPem, ca.keyPem);
  } catch (error) {
    throw new CertificateFolderError(`${files.caCertFile} / ${files.caKeyFile}: ${(error as Error).message}`);
  }
  if (!matches) throw new CertificateFolderError(`${files.caKeyFile} is not the key of ${files.caCertFile}`);
  return ca;
}

function bundleOf(caPem: string, previousCaPem: string | undefined): string {
  return previousCaPem === undefined ? caPem : `${caPem.trimEnd()}\n${previousCaPem.trimEnd()}\n`;
}

async function state(files: CertificateFolder, changed: string[]): Promise<FolderState> {
  const caPem = await readText(files.caCertFile, 'the CA certificate');
  const servingPem = await readText(files.certFile, 'the serving certificate');
  const previousPem = (await exists(files.previousCaFile)) ? await readText(files.previousCaFile, 'the previous CA') : undefined;
  const caBundlePem = await readText(files.caBundleFile, 'the CA bundle');
  return {
    files,
    ca: summarize(caPem, files.caCertFile),
    serving: summarize(servingPem, files.certFile),
    previousCa: previousPem === undefined ? undefined : summarize(previousPem, files.previousCaFile),
    caBundlePem,
    caBundleBase64: Buffer.from(caBundlePem).toString('base64'),
    changed,
  };
}

export interface CreateOptions {
  names: ServingNames;
  keyAlgorithm?: KeyAlgorithm;
  caValidityDays?: number;
  validityDays?: number;
  caCommonName?: string;
  /** Replace existing files (a new CA: the caBundle changes). */
  force?: boolean;
}

/** A new CA and a serving certificate signed by it. Refuses to overwrite anything unless `force`. */
export async function createCertificates(dir: string, options: CreateOptions): Promise<FolderState> {
  const files = certificateFolder(dir);
  const all = [files.caCertFile, files.caKeyFile, files.certFile, files.keyFile, files.caBundleFile, files.previousCaFile];
  const present = (await Promise.all(all.map(async (file) => ((await exists(file)) ? file : undefined)))).filter((file) => file !== undefined);
  if (present.length > 0 && options.force !== true) {
    throw new CertificateFolderError(
      `${present.join(', ')} already exist${present.length === 1 ? 's' : ''}. Use --renew for a new serving certificate from the same CA, ` +
        '--rotate-ca to replace the CA without a lock-out, or --force to start over with a new CA (the caBundle changes at once).',
    );
  }
  const ca = await createCertificateAuthority({
    commonName: options.caCommonName ?? 'daemonguard webhook CA',
    validityDays: options.caValidityDays ?? DEFAULT_CA_VALIDITY_DAYS,
    keyAlgorithm: options.keyAlgorithm ?? 'ecdsa-p256',
  });
  const serving = await issueCertificate(ca, {
    ...options.names,
    validityDays: options.validityDays ?? DEFAULT_SERVING_VALIDITY_DAYS,
    keyAlgorithm: options.keyAlgorithm ?? 'ecdsa-p256',
  });
  if (present.includes(files.previousCaFile)) await rm(files.previousCaFile);
  await writeCertificatePair(files.caCertFile, files.caKeyFile, ca);
  await writeFileAtomic(files.caBundleFile, ca.certPem, 0o644);
  await writeCertificatePair(files.certFile, files.keyFile, serving);
  return state(files, all.filter((file) => file !== files.previousCaFile || present.includes(file)));
}

export interface RenewOptions {
  /** The names for the new certificate; default: those of the certificate it replaces. */
  names?: ServingNames;
  /** Default: the kind of key the certificate it replaces has (ECDSA P-256 when that is unknown). */
  keyAlgorithm?: KeyAlgorithm;
  validityDays?: number;
}

/**
 * A new serving certificate and key, signed by the current CA. The caBundle does not change (it
 * always holds the current CA), so this is safe to roll out at any time; it is also step 2 of a CA rotation.
 */
export async function renewServingCertificate(dir: string, options: RenewOptions = {}): Promise<FolderState> {
  const files = certificateFolder(dir);
  const ca = await readCa(files);
  let previous: CertificateSummary | undefined;
  if (await exists(files.certFile)) previous = summarize(await readText(files.certFile, 'the serving certificate'), files.certFile);
  const names = options.names ?? (previous === undefined ? undefined : {
    commonName: previous.commonName ?? previous.dnsNames[0] ?? previous.ipAddresses[0] ?? 'daemonguard',
    dnsNames: previous.dnsNames,
    ipAddresses: previous.ipAddresses,
  });
  if (names === undefined) throw new CertificateFolderError(`${files.certFile} does not exist: give the service and namespace to issue a new one`);
  const serving = await issueCertificate(ca, {
    ...names,
    validityDays: options.validityDays ?? DEFAULT_SERVING_VALIDITY_DAYS,
    keyAlgorithm: options.keyAlgorithm ?? previous?.keyAlgorithm ?? 'ecdsa-p256',
  });
  const changed = [files.keyFile, files.certFile];
  if (!(await exists(files.caBundleFile))) {
    const previousCa = (await exists(files.previousCaFile)) ? await readText(files.previousCaFile, 'the previous CA') : undefined;
    await writeFileAtomic(files.caBundleFile, bundleOf(ca.certPem, previousCa), 0o644);
    changed.push(files.caBundleFile);
  }
  await writeCertificatePair(files.certFile, files.keyFile, serving);
  return state(files, changed);
}

export interface RotateCaOptions {
  /** Default: the kind of key the current CA has. */
  keyAlgorithm?: KeyAlgorithm;
  caValidityDays?: number;
  caCommonName?: string;
}

/**
 * Step 1 of a CA rotation: a new CA becomes ca.crt/ca.key, the old certificate is kept as
 * previous-ca.crt, and ca-bundle.crt trusts both. The serving certificate is left alone: it is
 * signed by the old CA, which the bundle still trusts.
 */
export async function rotateCertificateAuthority(dir: string, options: RotateCaOptions = {}): Promise<FolderState> {
  const files = certificateFolder(dir);
  if (await exists(files.previousCaFile)) {
    throw new CertificateFolderError(
      `a CA rotation is already in progress (${files.previousCaFile} exists): finish it first with --renew, then --finish-ca-rotation`,
    );
  }
  const oldCa = await readCa(files);
  const oldSummary = summarize(oldCa.certPem, files.caCertFile);
  const newCa = await createCertificateAuthority({
    commonName: options.caCommonName ?? oldSummary.commonName ?? 'daemonguard webhook CA',
    validityDays: options.caValidityDays ?? DEFAULT_CA_VALIDITY_DAYS,
    keyAlgorithm: options.keyAlgorithm ?? oldSummary.keyAlgorithm ?? 'ecdsa-p256',
  });
  // Old CA saved and the bundle widened before ca.crt changes: an interrupted run never leaves a
  // folder whose bundle misses the CA that signed tls.crt.
  await writeFileAtomic(files.previousCaFile, oldCa.certPem, 0o644);
  await writeFileAtomic(files.caBundleFile, bundleOf(newCa.certPem, oldCa.certPem), 0o644);
  await writeCertificatePair(files.caCertFile, files.caKeyFile, newCa);
  return state(files, [files.previousCaFile, files.caBundleFile, files.caKeyFile, files.caCertFile]);
}

/**
 * Step 3 of a CA rotation: the bundle trusts the new CA only and previous-ca.crt goes. Refused while
 * the serving certificate is still signed by the old CA: that would lock the webhook out.
 */
export async function finishCaRotation(dir: string): Promise<FolderState> {
  const files = certificateFolder(dir);
  if (!(await exists(files.previousCaFile))) throw new CertificateFolderError(`no CA rotation is in progress (${files.previousCaFile} does not exist)`);
  const caPem = await readText(files.caCertFile, 'the CA certificate');
  const servingPem = await readText(files.certFile, 'the serving certificate');
  if (!isIssuedBy(servingPem, caPem)) {
    throw new CertificateFolderError(
      `${files.certFile} is still signed by the previous CA: run --renew, roll the new serving certificate out, and finish the rotation after that`,
    );
  }
  await writeFileAtomic(files.caBundleFile, caPem, 0o644);
  await rm(files.previousCaFile);
  return state(files, [files.caBundleFile, files.previousCaFile]);
}

// ---- --check ----------------------------------------------------------------------------------

export type CertificateRole = 'serving' | 'CA' | 'previous CA' | 'bundle';

export interface CheckedCertificate {
  role: CertificateRole;
  file: string;
  summary: CertificateSummary;
  /** Whole days until notAfter (negative once expired). */
  expiresInDays: number;
}

export interface CheckFinding {
  /** `error` makes the check fail (exit 1); `note` is information. */
  severity: 'error' | 'note';
  message: string;
}

export interface CheckReport {
  dir: string;
  certificates: CheckedCertificate[];
  findings: CheckFinding[];
  /** none, or which step of a CA rotation the folder is at. */
  rotation: 'none' | 'bundle-widened' | 'serving-renewed';
  failed: boolean;
}

export interface CheckOptions {
  warnWithinDays?: number;
  /** Names the serving certificate must cover (when the caller knows the Service). */
  expectedNames?: ServingNames;
  now?: Date;
}

function daysUntil(date: Date, now: Date): number {
  return Math.floor((date.getTime() - now.getTime()) / DAY_MS);
}

/** Reports expiry, SANs, key types and the trust between the files; never writes. */
export async function checkCertificates(dir: string, options: CheckOptions = {}): Promise<CheckReport> {
  const files = certificateFolder(dir);
  const now = options.now ?? new Date();
  const warnWithinDays = options.warnWithinDays ?? DEFAULT_WARN_WITHIN_DAYS;
  const certificates: CheckedCertificate[] = [];
  const findings: CheckFinding[] = [];
  const error = (message: string): void => void findings.push({ severity: 'error', message });
  const note = (message: string): void => void findings.push({ severity: 'note', message });

  const load = async (file: string, role: CertificateRole, required: boolean): Promise<CheckedCertificate[]> => {
    if (!(await exists(file))) {
      if (required) error(`${file} is missing`);
      return [];
    }
    const text = await readFile(file, 'utf8');
    const pems = splitPemCertificates(text);
    if (pems.length === 0) {
      error(`${file} holds no PEM certificate`);
      return [];
    }
    const loaded: CheckedCertificate[] = [];
    for (const pem of role === 'bundle' ? pems : pems.slice(0, 1)) {
      try {
        const summary = describeCertificate(pem);
        loaded.push({ role, file, summary, expiresInDays: daysUntil(summary.notAfter, now) });
      } catch (cause) {
        error(`${file}: not a valid certificate (${(cause as Error).message})`);
      }
    }
    certificates.push(...loaded);
    return loaded;
  };

  const [serving] = await load(files.certFile, 'serving', true);
  const [ca] = await load(files.caCertFile, 'CA', true);
  const [previousCa] = await load(files.previousCaFile, 'previous CA', false);
  const bundle = await load(files.caBundleFile, 'bundle', true);

  for (const checked of certificates) {
    if (checked.role === 'bundle') continue;
    const { summary, expiresInDays } = checked;
    if (checked.role === 'previous CA') {
      // Being replaced: its expiry matters only through the serving certificate it signed, checked below.
      note(`${checked.file} (previous CA) expires in ${expiresInDays} days (${summary.notAfter.toISOString()})`);
      continue;
    }
    const remedy = checked.role === 'serving' ? 'renew it with `daemonguard certs --renew`' : 'replace it with `daemonguard certs --rotate-ca`';
    if (summary.notAfter.getTime() <= now.getTime()) error(`${checked.file} (${checked.role}) expired on ${summary.notAfter.toISOString()}: ${remedy}`);
    else if (summary.notBefore.getTime() > now.getTime()) error(`${checked.file} (${checked.role}) is not valid before ${summary.notBefore.toISOString()}`);
    else if (expiresInDays < warnWithinDays) error(`${checked.file} (${checked.role}) expires in ${expiresInDays} days (${summary.notAfter.toISOString()}), within ${warnWithinDays}: ${remedy}`);
  }

  if (serving !== undefined) {
    if (serving.summary.isCA) error(`${files.certFile} is a CA certificate, not a serving certificate`);
    if (await exists(files.keyFile)) {
      try {
        if (!keyMatchesCertificate(serving.summary.pem, await readFile(files.keyFile, 'utf8'))) error(`${files.keyFile} is not the key of ${files.certFile}`);
      } catch (cause) {
        error(`${files.keyFile}: ${(cause as Error).message}`);
      }
    } else {
      error(`${files.keyFile} is missing`);
    }
    if (bundle.length > 0 && !bundle.some((trusted) => isIssuedBy(serving.summary.pem, trusted.summary.pem))) {
      error(`${files.certFile} is not signed by any CA in ${files.caBundleFile}: the kube-apiserver would refuse the webhook`);
    }
    for (const name of options.expectedNames?.dnsNames ?? []) {
      if (!serving.summary.dnsNames.includes(name)) error(`${files.certFile} does not cover ${name}`);
    }
    for (const address of options.expectedNames?.ipAddresses ?? []) {
      if (!serving.summary.ipAddresses.includes(address)) error(`${files.certFile} does not cover ${address}`);
    }
  }
  if (ca !== undefined) {
    if (!ca.summary.isCA) error(`${files.caCertFile} is not a CA certificate`);
    if (!(await exists(files.caKeyFile))) note(`${files.caKeyFile} is missing: the serving certificate cannot be renewed from this folder`);
    if (bundle.length > 0 && !bundle.some((trusted) => trusted.summary.fingerprint256 === ca.summary.fingerprint256)) {
      error(`${files.caBundleFile} does not contain ${files.caCertFile}: certificates renewed from it would not be trusted`);
    }
  }

  let rotation: CheckReport['rotation'] = 'none';
  if (previousCa !== undefined && serving !== undefined && ca !== undefined) {
    if (isIssuedBy(serving.summary.pem, ca.summary.pem)) {
      rotation = 'serving-renewed';
      note('CA rotation, step 2 of 3 done: once the new serving certificate is live everywhere, run `daemonguard certs --finish-ca-rotation`');
    } else {
      rotation = 'bundle-widened';
      note('CA rotation, step 1 of 3 done: once the caBundle with both CAs is applied, run `daemonguard certs --renew`');
    }
  } else if (bundle.length > 1) {
    note(`${files.caBundleFile} trusts ${bundle.length} CAs`);
  }
  return { dir, certificates, findings, rotation, failed: findings.some((finding) => finding.severity === 'error') };
}
