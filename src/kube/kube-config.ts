// Where the cluster is and who daemonguard is to it: the pod's service account, or a kubeconfig file,
// found the way kubectl finds it. @kubernetes/client-node's KubeConfig did this before, but importing
// it loads every generated API model of the library (about 57 MB resident, 26 MB of heap, more than
// the rest of `serve` together), so the common cases are read here: a server with its CA (file or
// data, or skipped), client certificates and keys (file or data), bearer tokens (inline, token-file,
// the service account's rotating token), basic auth and impersonation. Users that authenticate through
// a program or a plugin (`exec`, `auth-provider`) and clusters behind a proxy (`proxy-url`) are handed to
// client-node, loaded only for them, so they keep working exactly as before.
//
// Files named in the kubeconfig are read again on every request (a rotated certificate is picked up
// without a restart), and a token file at most once a minute, as client-go does.
import { existsSync, readFileSync } from 'node:fs';
import type https from 'node:https';
import { isIPv6 } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { isJsonObject, type JsonObject } from '../common/vocabulary.js';
import { yamlPackageOnDemand } from '../common/yaml-package.js';

/** Where a pod's service account token, CA and namespace are mounted. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
const TOKEN_REREAD_MS = 60_000;

export interface ClusterEntry {
  name: string;
  /** The API server's URL, without a trailing slash. */
  server: string;
  caFile?: string;
  /** Base64 PEM, as kubeconfigs carry it. */
  caData?: string;
  skipTLSVerify?: boolean;
  tlsServerName?: string;
  proxyUrl?: string;
}

export interface UserEntry {
  name: string;
  certFile?: string;
  certData?: string;
  keyFile?: string;
  keyData?: string;
  token?: string;
  tokenFile?: string;
  username?: string;
  password?: string;
  /** `as`: the user to impersonate. */
  impersonate?: string;
  /** `exec` or `auth-provider`, as written: these users go through client-node. */
  exec?: unknown;
  authProvider?: unknown;
}

export interface ContextEntry {
  name: string;
  cluster: string;
  user?: string;
  namespace?: string;
}

export interface KubeConfigOptions {
  clusters: ClusterEntry[];
  users: UserEntry[];
  contexts: ContextEntry[];
  currentContext?: string;
}

/** A kubeconfig that cannot be used; the message names the file and the entry. */
export class KubeConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KubeConfigError';
  }
}

/** The request options client-node's KubeConfig fills in (the part this module delegates to it). */
interface DelegateKubeConfig {
  applyToHTTPSOptions(options: https.RequestOptions): Promise<void>;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function absolute(directory: string, file: string | undefined): string | undefined {
  return file === undefined || path.isAbsolute(file) ? file : path.join(directory, file);
}

function named(list: unknown, section: string, where: string): JsonObject[] {
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) throw new KubeConfigError(`${where}: ${section} is not a list`);
  return list.map((entry, index) => {
    if (!isJsonObject(entry) || text(entry.name) === undefined) throw new KubeConfigError(`${where}: ${section}[${index}] has no name`);
    return entry;
  });
}

/** The entries of one kubeconfig document; relative file names are taken from `directory`, as kubectl does. */
function parseDocument(document: unknown, where: string, directory: string): KubeConfigOptions {
  if (document === null || document === undefined) return { clusters: [], users: [], contexts: [] };
  if (!isJsonObject(document)) throw new KubeConfigError(`${where}: not a kubeconfig (a YAML mapping with clusters, users and contexts)`);
  const clusters = named(document.clusters, 'clusters', where).map((entry, index): ClusterEntry => {
    const cluster = isJsonObject(entry.cluster) ? entry.cluster : undefined;
    const server = text(cluster?.server);
    if (cluster === undefined || server === undefined) throw new KubeConfigError(`${where}: clusters[${index}] (${String(entry.name)}) has no cluster.server`);
    return {
      name: String(entry.name),
      server: server.replace(/\/+$/, ''),
      ...optional('caFile', absolute(directory, text(cluster['certificate-authority']))),
      ...optional('caData', text(cluster['certificate-authority-data'])),
      ...(cluster['insecure-skip-tls-verify'] === true ? { skipTLSVerify: true } : {}),
      ...optional('tlsServerName', text(cluster['tls-server-name'])),
      ...optional('proxyUrl', text(cluster['proxy-url'])),
    };
  });
  const users = named(document.users, 'users', where).map((entry): UserEntry => {
    const user = isJsonObject(entry.user) ? entry.user : {};
    return {
      name: String(entry.name),
      ...optional('certFile', absolute(directory, text(user['client-certificate']))),
      ...optional('certData', text(user['client-certificate-data'])),
      ...optional('keyFile', absolute(directory, text(user['client-key']))),
      ...optional('keyData', text(user['client-key-data'])),
      ...optional('token', text(user.token)),
      ...optional('tokenFile', absolute(directory, text(user.tokenFile) ?? text(user['token-file']))),
      ...optional('username', text(user.username)),
      ...optional('password', text(user.password)),
      ...optional('impersonate', text(user.as)),
      ...(user.exec === undefined || user.exec === null ? {} : { exec: user.exec }),
      ...(user['auth-provider'] === undefined || user['auth-provider'] === null ? {} : { authProvider: user['auth-provider'] }),
    };
  });
  const contexts = named(document.contexts, 'contexts', where).map((entry, index): ContextEntry => {
    const context = isJsonObject(entry.context) ? entry.context : undefined;
    const cluster = text(context?.cluster);
    if (context === undefined || cluster === undefined) throw new KubeConfigError(`${where}: contexts[${index}] (${String(entry.name)}) names no cluster`);
    return { name: String(entry.name), cluster, ...optional('user', text(context.user)), ...optional('namespace', text(context.namespace)) };
  });
  return { clusters, users, contexts, ...optional('currentContext', text(document['current-context'])) };
}

function optional<K extends string>(key: K, value: string | undefined): { [key in K]?: string } {
  return (value === undefined ? {} : { [key]: value }) as { [key in K]?: string };
}

/** Reads a file or decodes base64 data, whichever the entry has (the file first, as kubectl does). */
function fileOrData(file: string | undefined, data: string | undefined): Buffer | undefined {
  if (file !== undefined) return readFileSync(file);
  return data === undefined ? undefined : Buffer.from(data, 'base64');
}

export class KubeConfig {
  private current: string | undefined;
  private token: { value: string; readAt: number } | undefined;
  private delegate: Promise<DelegateKubeConfig> | undefined;

  constructor(private readonly options: KubeConfigOptions) {
    this.current = options.currentContext;
  }

  /**
   * As kubectl and client-node look: $KUBECONFIG (files separated by ':', merged: the first file
   * to name a cluster, user, context or current-context wins), else ~/.kube/config, else the pod's
   * service account. Throws a KubeConfigError naming the file it could not read.
   */
  static fromDefault(env: NodeJS.ProcessEnv = process.env): KubeConfig {
    const files = (env.KUBECONFIG ?? '').split(path.delimiter).filter((file) => file !== '');
    if (files.length > 0) return KubeConfig.fromFiles(files);
    const home = os.homedir();
    const personal = path.join(home, '.kube', 'config');
    if (home !== '' && existsSync(personal)) return KubeConfig.fromFiles([personal]);
    if (existsSync(path.join(SERVICE_ACCOUNT_DIR, 'token'))) return KubeConfig.inCluster(env);
    return new KubeConfig({ clusters: [], users: [], contexts: [] });
  }

  /** One or more kubeconfig files, merged as kubectl merges $KUBECONFIG. */
  static fromFiles(files: readonly string[]): KubeConfig {
    const merged: KubeConfigOptions = { clusters: [], users: [], contexts: [] };
    for (const file of files) {
      let source: string;
      try {
        source = readFileSync(file, 'utf8');
      } catch (error) {
        // kubectl skips a file of $KUBECONFIG that does not exist; a single named one must exist.
        if ((error as NodeJS.ErrnoException).code === 'ENOENT' && files.length > 1) continue;
        throw new KubeConfigError(`cannot read the kubeconfig ${file}: ${(error as Error).message}`);
      }
      let document: unknown;
      try {
        document = yamlPackageOnDemand().parse(source);
      } catch (error) {
        throw new KubeConfigError(`${file}: not valid YAML: ${(error as Error).message}`);
      }
      const parsed = parseDocument(document, file, path.dirname(path.resolve(file)));
      const add = <T extends { name: string }>(into: T[], entries: T[]): void => {
        for (const entry of entries) if (!into.some((known) => known.name === entry.name)) into.push(entry);
      };
      add(merged.clusters, parsed.clusters);
      add(merged.users, parsed.users);
      add(merged.contexts, parsed.contexts);
      merged.currentContext ??= parsed.currentContext;
    }
    return new KubeConfig(merged);
  }

  /** The pod's service account: the API server from KUBERNETES_SERVICE_HOST/PORT, its CA, its rotating token. */
  static inCluster(env: NodeJS.ProcessEnv = process.env, directory = SERVICE_ACCOUNT_DIR): KubeConfig {
    const host = env.KUBERNETES_SERVICE_HOST;
    const port = env.KUBERNETES_SERVICE_PORT;
    if (host === undefined || host === '' || port === undefined || port === '') {
      throw new KubeConfigError('running with a service account token but KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set; give a kubeconfig ($KUBECONFIG)');
    }
    const scheme = ['80', '8080', '8001'].includes(port) ? 'http' : 'https';
    const namespaceFile = path.join(directory, 'namespace');
    return new KubeConfig({
      clusters: [{ name: 'in-cluster', server: `${scheme}://${isIPv6(host) ? `[${host}]` : host}:${port}`, caFile: path.join(directory, 'ca.crt') }],
      users: [{ name: 'in-cluster', tokenFile: path.join(directory, 'token') }],
      contexts: [{ name: 'in-cluster', cluster: 'in-cluster', user: 'in-cluster', ...(existsSync(namespaceFile) ? { namespace: readFileSync(namespaceFile, 'utf8').trim() } : {}) }],
      currentContext: 'in-cluster',
    });
  }

  contextNames(): string[] {
    return this.options.contexts.map((context) => context.name);
  }

  currentContextName(): string | undefined {
    return this.current;
  }

  /** Switches to another context of the same files (--context). */
  useContext(name: string): void {
    if (!this.options.contexts.some((context) => context.name === name)) {
      throw new KubeConfigError(`the kubeconfig has no context ${name} (it has: ${this.contextNames().join(', ') || 'none'})`);
    }
    this.current = name;
    this.token = undefined;
    this.delegate = undefined;
  }

  private context(): ContextEntry | undefined {
    return this.current === undefined ? undefined : this.options.contexts.find((context) => context.name === this.current);
  }

  /** The current context's cluster, or undefined when there is no usable current context. */
  currentCluster(): ClusterEntry | undefined {
    const context = this.context();
    return context === undefined ? undefined : this.options.clusters.find((cluster) => cluster.name === context.cluster);
  }

  currentUser(): UserEntry | undefined {
    const name = this.context()?.user;
    return name === undefined ? undefined : this.options.users.find((user) => user.name === name);
  }

  /** Sets the TLS material, the proxy and the credentials of the current context on one request's options. */
  async applyToHTTPSOptions(options: https.RequestOptions): Promise<void> {
    const cluster = this.currentCluster();
    const user = this.currentUser();
    if (cluster?.proxyUrl !== undefined || user?.exec !== undefined || user?.authProvider !== undefined) {
      this.delegate ??= this.clientNodeDelegate(cluster, user);
      await (await this.delegate).applyToHTTPSOptions(options);
      return;
    }
    const headers = (options.headers ?? {}) as Record<string, string | number | string[]>;
    options.headers = headers;
    if (cluster !== undefined) {
      const ca = fileOrData(cluster.caFile, cluster.caData);
      if (ca !== undefined) options.ca = ca;
      if (cluster.skipTLSVerify === true) options.rejectUnauthorized = false;
      if (cluster.tlsServerName !== undefined) options.servername = cluster.tlsServerName;
    }
    if (user === undefined) return;
    const cert = fileOrData(user.certFile, user.certData);
    if (cert !== undefined) options.cert = cert;
    const key = fileOrData(user.keyFile, user.keyData);
    if (key !== undefined) options.key = key;
    const token = user.token ?? this.fileToken(user.tokenFile);
    if (token !== undefined) headers.Authorization = `Bearer ${token}`;
    else if (user.username !== undefined) options.auth = `${user.username}:${user.password ?? ''}`;
    if (user.impersonate !== undefined) headers['Impersonate-User'] = user.impersonate;
  }

  private fileToken(file: string | undefined): string | undefined {
    if (file === undefined) return undefined;
    const now = Date.now();
    if (this.token === undefined || now - this.token.readAt >= TOKEN_REREAD_MS) this.token = { value: readFileSync(file, 'utf8').trim(), readAt: now };
    return this.token.value;
  }

  /** client-node's KubeConfig for this one cluster and user (exec, auth-provider, proxy-url). */
  private async clientNodeDelegate(cluster: ClusterEntry | undefined, user: UserEntry | undefined): Promise<DelegateKubeConfig> {
    const { KubeConfig: ClientNodeKubeConfig } = await import('@kubernetes/client-node');
    const config = new ClientNodeKubeConfig();
    config.loadFromClusterAndUser(
      { name: cluster?.name ?? 'cluster', server: cluster?.server ?? '', caFile: cluster?.caFile, caData: cluster?.caData, skipTLSVerify: cluster?.skipTLSVerify === true, tlsServerName: cluster?.tlsServerName, proxyUrl: cluster?.proxyUrl },
      {
        name: user?.name ?? 'user',
        certFile: user?.certFile,
        certData: user?.certData,
        keyFile: user?.keyFile,
        keyData: user?.keyData,
        token: user?.token ?? (user?.tokenFile === undefined ? undefined : readFileSync(user.tokenFile, 'utf8').trim()),
        username: user?.username,
        password: user?.password,
        impersonateUser: user?.impersonate,
        exec: user?.exec as never,
        authProvider: user?.authProvider as never,
      },
    );
    return config;
  }
}
