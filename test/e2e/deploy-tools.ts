// What the deploy and certificate e2e tests share: running kustomize, helm and the daemonguard CLI,
// reading multi-document YAML, DaemonSets to send through admission, and running as deploy/base's
// service account.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { defaultBinDir, type Cluster } from './cluster/cluster.js';

/** The repository root (this file is compiled to build/test/e2e/). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const CLI = path.join(REPO_ROOT, 'build', 'src', 'cli', 'main.js');

export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
} & Record<string, unknown>;

export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(file: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, [...args], { cwd: options.cwd ?? REPO_ROOT, env: options.env ?? process.env, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      if (error !== null && typeof error.code !== 'number') reject(error);
      else resolve({ code, stdout, stderr });
    });
    child.stdin?.end(options.input ?? '');
  });
}

/** Runs a tool and rejects with its stderr when it fails. */
export async function runOk(file: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<string> {
  const result = await run(file, args, options);
  if (result.code !== 0) throw new Error(`${path.basename(file)} ${args.join(' ')} failed (${result.code}):\n${result.stderr || result.stdout}`);
  return result.stdout;
}

/** kustomize and helm from build.sh --with-deploy-tools; a clear error when they are missing. */
export function deployTool(name: 'kustomize' | 'helm'): string {
  const file = path.join(defaultBinDir(), name);
  if (!existsSync(file)) {
    throw new Error(`${name} not found in ${defaultBinDir()}: run \`bash test/e2e/cluster/build.sh --with-deploy-tools\` (npm run test:e2e does)`);
  }
  return file;
}

export async function kustomizeBuild(dir: string): Promise<string> {
  return runOk(deployTool('kustomize'), ['build', dir]);
}

/** helm with its caches and configuration in a temporary folder, never in the user's home. */
export async function helmTemplate(args: readonly string[]): Promise<string> {
  const home = await mkdtemp(path.join(os.tmpdir(), 'daemonguard-helm-'));
  const env = { ...process.env, HELM_CACHE_HOME: path.join(home, 'cache'), HELM_CONFIG_HOME: path.join(home, 'config'), HELM_DATA_HOME: path.join(home, 'data') };
  // Our helm is built from source without a default Kubernetes version: say which one to target.
  return runOk(deployTool('helm'), ['template', ...args, '--kube-version', '1.37.2'], { env });
}

export function daemonguard(args: readonly string[], options: { cwd?: string } = {}): Promise<ToolResult> {
  return run(process.execPath, [CLI, ...args], options);
}

export function parseObjects(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((document) => {
      if (document.errors.length > 0) throw new Error(document.errors.map((e) => e.message).join('\n'));
      return document.toJS() as K8sObject | null;
    })
    .filter((object): object is K8sObject => object !== null);
}

export function find(objects: readonly K8sObject[], kind: string, name?: string): K8sObject {
  const found = objects.find((object) => object.kind === kind && (name === undefined || object.metadata.name === name));
  if (found === undefined) throw new Error(`no ${kind}${name === undefined ? '' : ` ${name}`} among ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  return found;
}

/** Follows keys and indexes through plain JSON. */
export function at(value: unknown, ...keys: (string | number)[]): unknown {
  let current = value;
  for (const key of keys) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string | number, unknown>)[key];
  }
  return current;
}

export interface DaemonSetOptions {
  privileged?: boolean;
  finalizers?: string[];
  /** The container's image (default registry.example/agent:1.0.0). */
  image?: string;
  /** More fields of the one container (ports, resources). */
  container?: Record<string, unknown>;
}

/** An apps/v1 DaemonSet of one container named agent, selected by app: name. */
export function daemonSet(name: string, namespace: string, options: DaemonSetOptions = {}): K8sObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name, namespace, labels: { app: name }, ...(options.finalizers === undefined ? {} : { finalizers: options.finalizers }) },
    spec: {
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            {
              name: 'agent',
              image: options.image ?? 'registry.example/agent:1.0.0',
              ...options.container,
              ...(options.privileged === true ? { securityContext: { privileged: true } } : {}),
            },
          ],
        },
      },
    },
  };
}

/** Polls until `check` holds; fails with the last value's description. */
export async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The service account deploy/base runs daemonguard as. */
export const SERVICE_ACCOUNT = { namespace: 'daemonguard-system', name: 'daemonguard' } as const;

/**
 * Applies the objects of `kinds` exactly as deploy/base renders them (its namespace, service account
 * and RBAC), then writes a kubeconfig (mode 0600) at `file` that authenticates as that service account
 * with a token from the TokenRequest API, as the pod's projected token would: what daemonguard may do
 * with it is what deploy/base grants, nothing more.
 */
export async function kubeconfigAsDeployedServiceAccount(cluster: Cluster, file: string, kinds: readonly string[]): Promise<void> {
  const base = parseObjects(await kustomizeBuild(path.join(REPO_ROOT, 'deploy/base')));
  const rbac = base.filter((object) => kinds.includes(object.kind));
  await cluster.kubectl(['apply', '--server-side', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: rbac }) });
  const token = (await cluster.kubectl(['create', 'token', SERVICE_ACCOUNT.name, '-n', SERVICE_ACCOUNT.namespace])).stdout.trim();
  const kubeconfig = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'e2e', cluster: { server: cluster.server, 'certificate-authority-data': Buffer.from(cluster.caCertPem).toString('base64') } }],
    users: [{ name: SERVICE_ACCOUNT.name, user: { token } }],
    contexts: [{ name: SERVICE_ACCOUNT.name, context: { cluster: 'e2e', user: SERVICE_ACCOUNT.name } }],
    'current-context': SERVICE_ACCOUNT.name,
  };
  await writeFile(file, JSON.stringify(kubeconfig), { mode: 0o600 });
}
