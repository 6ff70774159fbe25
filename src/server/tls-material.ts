// Serving certificate and key (and the optional client CA), read from files and reloaded when they change.
//
// cert-manager and kubelet rotate mounted Secrets in place: the files are symlinks into a `..data`
// folder that is swapped atomically. Watching the files themselves misses that, so the folders are
// watched, events are debounced, and the contents are also compared on a timer as a fallback.

import { createHash, X509Certificate } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import type { Logger } from 'pino';
import type { ServerMetrics } from './metrics.js';

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

/** TLS settings every secure context gets: TLS 1.2 is the floor (the apiserver speaks 1.2 and 1.3). */
export const MIN_TLS_VERSION = 'TLSv1.2';

export function secureContextOptions(material: TlsMaterial): SecureContextOptions {
  const options: SecureContextOptions = { cert: material.cert, key: material.key, minVersion: MIN_TLS_VERSION };
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

export interface TlsReloaderOptions {
  files: TlsFiles;
  logger: Logger;
  metrics?: ServerMetrics;
  /** Called with each new pair after it was checked; typically `server.setSecureContext`. */
  onChange: (material: TlsMaterial) => void;
  debounceMs?: number;
  /** Fallback polling of the files' contents; 0 turns it off (default 10 s). */
  pollIntervalMs?: number;
  /** Watch the folders for changes (default true); polling alone still picks changes up. */
  watch?: boolean;
}

/** Watches the TLS files and hands every valid new pair to `onChange`, keeping the current one on failure. */
export class TlsReloader {
  private material: TlsMaterial;
  private readonly watchers: FSWatcher[] = [];
  private debounceTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;
  private closed = false;
  /** The last refusal's message, so a pair stuck mid-rotation is logged and counted once, not at every poll. */
  private lastFailure: string | undefined;

  constructor(
    private readonly options: TlsReloaderOptions,
    initial: TlsMaterial,
  ) {
    this.material = initial;
    options.metrics?.tlsCertificateExpiry.set(Math.floor(initial.notAfter.getTime() / 1000));
  }

  current(): TlsMaterial {
    return this.material;
  }

  start(): void {
    const { files, logger } = this.options;
    const folders = new Set([files.certFile, files.keyFile, ...(files.clientCaFile === undefined ? [] : [files.clientCaFile])].map((file) => path.dirname(path.resolve(file))));
    for (const folder of this.options.watch === false ? [] : folders) {
      try {
        const watcher = watch(folder, { persistent: false }, () => this.schedule());
        watcher.on('error', (error) => logger.warn({ err: error, folder }, 'certificate watch failed; polling continues'));
        this.watchers.push(watcher);
      } catch (error) {
        logger.warn({ err: error, folder }, 'cannot watch certificate folder; polling continues');
      }
    }
    const pollIntervalMs = this.options.pollIntervalMs ?? 10_000;
    if (pollIntervalMs > 0) {
      this.pollTimer = setInterval(() => void this.check(), pollIntervalMs);
      this.pollTimer.unref();
    }
  }

  /** Reads the files now and switches to them if they changed and are valid. */
  check(): Promise<void> {
    if (this.checking !== undefined) return this.checking;
    this.checking = this.runCheck().finally(() => {
      this.checking = undefined;
    });
    return this.checking;
  }

  close(): void {
    this.closed = true;
    for (const watcher of this.watchers) watcher.close();
    this.watchers.length = 0;
    clearTimeout(this.debounceTimer);
    clearInterval(this.pollTimer);
  }

  private schedule(): void {
    if (this.closed) return;
    clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => void this.check(), this.options.debounceMs ?? 250);
    this.debounceTimer.unref();
  }

  private async runCheck(): Promise<void> {
    if (this.closed) return;
    const { files, logger, metrics, onChange } = this.options;
    let next: TlsMaterial;
    try {
      next = await loadTlsMaterial(files);
    } catch (error) {
      // Mid-rotation the key may not match the certificate yet: the next event or poll will retry.
      if (this.lastFailure !== (error as Error).message) {
        this.lastFailure = (error as Error).message;
        metrics?.tlsReloadFailures.inc();
        logger.warn({ err: error }, 'new TLS certificate/key refused; the current pair keeps serving');
      }
      return;
    }
    this.lastFailure = undefined;
    if (next.digest === this.material.digest || this.closed) return;
    onChange(next);
    this.material = next;
    metrics?.tlsReloads.inc();
    metrics?.tlsCertificateExpiry.set(Math.floor(next.notAfter.getTime() / 1000));
    logger.info(
      { subject: next.subject, subjectAltName: next.subjectAltName, serialNumber: next.serialNumber, notAfter: next.notAfter.toISOString() },
      'TLS certificate reloaded',
    );
  }

}
