// Certificates for a throwaway test cluster, made with the openssl command line tool.
//
// One CA signs everything: the kube-apiserver serving certificate (127.0.0.1 and localhost), the
// admin client certificate (O=system:masters, so RBAC lets it do anything) and any serving
// certificate a test needs later (a webhook on 127.0.0.1, for instance). Keys are ECDSA P-256:
// quick to make, and accepted by kube-apiserver, etcd, kubectl and Node's TLS.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface KeyPairFiles {
  certFile: string;
  keyFile: string;
  certPem: string;
  keyPem: string;
}

export interface ClusterPki {
  dir: string;
  ca: KeyPairFiles;
  apiserver: KeyPairFiles;
  admin: KeyPairFiles;
  /** Service-account token signing key (private) and its public half for verification. */
  serviceAccountKeyFile: string;
  serviceAccountPubFile: string;
}

export interface LeafOptions {
  /** Subject common name. */
  commonName: string;
  /** Subject organizations (Kubernetes reads them as groups for client certificates). */
  organizations?: string[];
  /** IP addresses and DNS names for the subjectAltName extension. */
  ips?: string[];
  dnsNames?: string[];
  usage: 'server' | 'client';
  days?: number;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await run('openssl', args, { cwd });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') {
      throw new Error('the e2e cluster needs the openssl command line tool (Debian package "openssl")');
    }
    throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr ?? e.message}`);
  }
}

async function newKey(file: string, cwd: string): Promise<void> {
  await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file], cwd);
}

/** Escapes a value for an openssl `-subj` string. */
function subjectPart(value: string): string {
  return value.replace(/[\\/,+=<>#;"]/g, (c) => `\\${c}`);
}

async function load(dir: string, name: string): Promise<KeyPairFiles> {
  const certFile = path.join(dir, `${name}.crt`);
  const keyFile = path.join(dir, `${name}.key`);
  const [certPem, keyPem] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
  return { certFile, keyFile, certPem, keyPem };
}

/** Creates a self-signed CA as `<name>.crt` / `<name>.key` in dir. */
export async function createCa(dir: string, name = 'ca', commonName = 'daemonguard-e2e-ca'): Promise<KeyPairFiles> {
  await mkdir(dir, { recursive: true });
  await newKey(`${name}.key`, dir);
  await openssl(
    [
      'req', '-x509', '-new', '-key', `${name}.key`, '-out', `${name}.crt`, '-days', '7', '-sha256',
      '-subj', `/CN=${subjectPart(commonName)}`,
      '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
    ],
    dir,
  );
  return load(dir, name);
}

/** Creates a leaf certificate `<name>.crt` / `<name>.key` in dir, signed by ca. */
export async function createLeaf(dir: string, name: string, ca: KeyPairFiles, opts: LeafOptions): Promise<KeyPairFiles> {
  await mkdir(dir, { recursive: true });
  await newKey(`${name}.key`, dir);
  const subject =
    (opts.organizations ?? []).map((o) => `/O=${subjectPart(o)}`).join('') + `/CN=${subjectPart(opts.commonName)}`;
  const sans = [...(opts.ips ?? []).map((ip) => `IP:${ip}`), ...(opts.dnsNames ?? []).map((d) => `DNS:${d}`)];
  const ext = [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    `extendedKeyUsage=${opts.usage === 'server' ? 'serverAuth' : 'clientAuth'}`,
    ...(sans.length > 0 ? [`subjectAltName=${sans.join(',')}`] : []),
  ];
  await writeFile(path.join(dir, `${name}.ext`), ext.join('\n') + '\n');
  await openssl(['req', '-new', '-key', `${name}.key`, '-out', `${name}.csr`, '-subj', subject], dir);
  await openssl(
    [
      'x509', '-req', '-in', `${name}.csr`, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-set_serial',
      `0x${randomBytes(15).toString('hex')}`,
      '-days', String(opts.days ?? 7), '-sha256', '-extfile', `${name}.ext`, '-out', `${name}.crt`,
    ],
    dir,
  );
  return load(dir, name);
}

/** Creates all the certificates and keys a single-node test control plane needs. */
export async function createClusterPki(dir: string): Promise<ClusterPki> {
  const ca = await createCa(dir);
  const [apiserver, admin] = await Promise.all([
    createLeaf(dir, 'apiserver', ca, {
      commonName: 'kube-apiserver',
      ips: ['127.0.0.1', '10.0.0.1'],
      dnsNames: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc'],
      usage: 'server',
    }),
    createLeaf(dir, 'admin', ca, {
      commonName: 'daemonguard-e2e-admin',
      organizations: ['system:masters'],
      usage: 'client',
    }),
  ]);
  const serviceAccountKeyFile = path.join(dir, 'sa.key');
  const serviceAccountPubFile = path.join(dir, 'sa.pub');
  await newKey('sa.key', dir);
  await openssl(['pkey', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir);
  return { dir, ca, apiserver, admin, serviceAccountKeyFile, serviceAccountPubFile };
}
