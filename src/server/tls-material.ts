// Serving certificate and key (and the optional client CA), read from files and reloaded when they change.
//
// cert-manager and kubelet rotate mounted Secrets in place: the files are symlinks into a `..data`
// folder that is swapped atomically. src/server/watched-files.ts notices that (it watches the folders
// and compares the contents on a timer as a fallback); a new pair is checked before it is served.

import { createHash, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import type { Logger } from 'pino';
import type { ServerMetrics } from './metrics.js';
import { DEFAULT_TLS_PROFILE, type TlsProfile } from './tls-profile.js';
import { WatchedFiles, type WatchTiming } from './watched-files.js';

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** When set, clients must present a certificate signed by this CA. */
  clientCaFile?: string;
}

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  clientCa?: Buffer;
  /** notAfter of the serving (first) certificate. */
  notAfter: Date;
  /** Subject and SANs of the serving certificate, for logs. */
  subject: string;
  subjectAltName: string;
  serialNumber: string;
  /** Digest of all the bytes, to tell a real change from a touch. */
  digest: string;
}

/**
 * Every secure context, the first and each one after a reload, carries the version floor and the
 * cipher list: server.setSecureContext() replaces the whole context, so leaving them out of a reload
 * would quietly reopen what the flags closed.
 */
export function secureContextOptions(material: TlsMaterial, profile: TlsProfile = DEFAULT_TLS_PROFILE): SecureContextOptions {
  const options: SecureContextOptions = { cert: material.cert, key: material.key, minVersion: profile.minVersion, ciphers: profile.ciphers };
  if (material.clientCa !== undefined) options.ca = material.clientCa;
  return options;
}

/**
 * Reads and checks the files: the certificate must parse and the key must match it (Node refuses a
 * mismatched pair when building the secure context), so a half-rotated pair is reported, not served.
 */
export async function loadTlsMaterial(files: TlsFiles): Promise<TlsMaterial> {
  const [cert, key, clientCa] = await Promise.all([
    readFile(files.certFile),
    readFile(files.keyFile),
    files.clientCaFile === undefined ? Promise.resolve(undefined) : readFile(files.clientCaFile),
  ]);
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch (error) {
    throw new Error(`${files.certFile}: not a PEM certificate (${(error as Error).message})`);
  }
  if (clientCa !== undefined) {
    try {
      new X509Certificate(clientCa);
    } catch (error) {
      throw new Error(`${files.clientCaFile}: not a PEM certificate (${(error as Error).message})`);
    }
  }
  const digest = createHash('sha256')
    .update(cert)
    .update('\u0000')
    .update(key)
    .update('\u0000')
    .update(clientCa ?? '')
    .digest('hex');
  const material: TlsMaterial = {
    cert,
    key,
    notAfter: new Date(certificate.validTo),
    subject: certificate.subject,
    subjectAltName: certificate.subjectAltName ?? '',
    serialNumber: certificate.serialNumber,
    digest,
  };
  if (clientCa !== undefined) material.clientCa = clientCa;
  try {
    createSecureContext(secureContextOptions(material));
  } catch (error) {
    throw new Error(`${files.keyFile} does not fit ${files.certFile}: ${(error as Error).message}`);
  }
  return material;
}

export interface TlsReloaderOptions extends WatchTiming {
  files: TlsFiles;
  logger: Logger;
  metrics?: ServerMetrics;
  /** Called with each new pair after it was checked; typically `server.setSecureContext`. */
  onChange: (material: TlsMaterial) => void;
}

/** Watches the TLS files and hands every valid new pair to `onChange`, keeping the current one on failure. */
export class TlsReloader {
  private material: TlsMaterial;
  private readonly watched: WatchedFiles;

  constructor(
    private readonly options: TlsReloaderOptions,
    initial: TlsMaterial,
  ) {
    this.material = initial;
    options.metrics?.tlsCertificateExpiry.set(Math.floor(initial.notAfter.getTime() / 1000));
    const { files } = options;
    this.watched = new WatchedFiles({
      paths: [files.certFile, files.keyFile, ...(files.clientCaFile === undefined ? [] : [files.clientCaFile])],
      what: 'TLS',
      onChange: async () => void (await this.reload()),
      logger: options.logger,
      debounceMs: options.debounceMs,
      pollIntervalMs: options.pollIntervalMs,
      watch: options.watch,
    });
  }

  current(): TlsMaterial {
    return this.material;
  }

  /**
   * Starts watching. The files are read once more first: the initial pair was read before the server
   * listened, and a rotation in between would otherwise wait for the next change.
   */
  start(): Promise<void> {
    return this.watched.start(async () => void (await this.reload('start')));
  }

  close(): void {
    this.watched.close();
  }

  /**
   * Reads the files and switches to them if they changed and are valid (the watcher calls it on a
   * change, `serve` on SIGHUP). Says which of the three happened.
   */
  async reload(trigger = 'file change'): Promise<'reloaded' | 'unchanged' | 'refused'> {
    const { files, logger, metrics, onChange } = this.options;
    let next: TlsMaterial;
    try {
      next = await loadTlsMaterial(files);
    } catch (error) {
      // Mid-rotation the key may not match the certificate yet: writing the other file is a change too, and is read again.
      metrics?.tlsReloadFailures.inc();
      logger.warn({ err: error, trigger }, 'new TLS certificate/key refused; the current pair keeps serving');
      return 'refused';
    }
    if (next.digest === this.material.digest) return 'unchanged';
    onChange(next);
    this.material = next;
    metrics?.tlsReloads.inc();
    metrics?.tlsCertificateExpiry.set(Math.floor(next.notAfter.getTime() / 1000));
    logger.info(
      { subject: next.subject, subjectAltName: next.subjectAltName, serialNumber: next.serialNumber, notAfter: next.notAfter.toISOString(), trigger },
      'TLS certificate reloaded',
    );
    return 'reloaded';
  }
}
