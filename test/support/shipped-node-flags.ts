// The flags node runs `daemonguard serve` with where it ships: the container image's ENTRYPOINT
// (Dockerfile) and the deployment's NODE_OPTIONS (deploy/base/deployment.yaml; the Helm chart sets the
// same from its values). Read from those files, so that the benchmarks and the tests that start serve
// "as deployed" cannot drift from what is deployed.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { repoRoot } from './library-paths.js';
import { startServe, type ServeProcess } from './serve-process.js';
import { temporaryDirectory, writeTestCertificates, type TestCertificates } from './server-fixtures.js';

/** The node flags between the node binary and the CLI in the Dockerfile's exec-form ENTRYPOINT. */
export function imageNodeFlags(): string[] {
  const dockerfile = path.join(repoRoot(), 'Dockerfile');
  const line = readFileSync(dockerfile, 'utf8')
    .split('\n')
    .find((text) => text.startsWith('ENTRYPOINT '));
  if (line === undefined) throw new Error(`no ENTRYPOINT in ${dockerfile}`);
  const words = JSON.parse(line.slice('ENTRYPOINT '.length)) as unknown;
  if (!Array.isArray(words) || !words.every((word) => typeof word === 'string')) {
    throw new Error(`${dockerfile}: the ENTRYPOINT is not in exec form (a JSON array of strings): ${line}`);
  }
  const cli = words.findIndex((word) => word.endsWith('/cli/main.js'));
  if (cli < 1) throw new Error(`${dockerfile}: the ENTRYPOINT does not run node on dist/cli/main.js: ${line}`);
  return words.slice(1, cli);
}

/** The value of NODE_OPTIONS in the daemonguard container of deploy/base/deployment.yaml, split into flags. */
export function deploymentNodeOptions(): string[] {
  const manifest = path.join(repoRoot(), 'deploy', 'base', 'deployment.yaml');
  for (const document of parseAllDocuments(readFileSync(manifest, 'utf8'))) {
    const object = document.toJSON() as { kind?: string; spec?: { template?: { spec?: { containers?: { name?: string; env?: { name?: string; value?: string }[] }[] } } } };
    if (object?.kind !== 'Deployment') continue;
    const container = object.spec?.template?.spec?.containers?.find((candidate) => candidate.name === 'daemonguard');
    const value = container?.env?.find((variable) => variable.name === 'NODE_OPTIONS')?.value;
    if (value !== undefined) return value.split(/\s+/).filter((flag) => flag !== '');
  }
  throw new Error(`no NODE_OPTIONS for the daemonguard container in ${manifest}`);
}

/**
 * The environment the image's last stage sets (its `ENV KEY=VALUE` lines): NODE_ENV, and the C
 * library's malloc settings, which no node flag can set.
 */
export function imageEnvironment(): Record<string, string> {
  const dockerfile = path.join(repoRoot(), 'Dockerfile');
  const lines = readFileSync(dockerfile, 'utf8').split('\n');
  const lastStage = lines.findLastIndex((text) => text.startsWith('FROM '));
  const environment: Record<string, string> = {};
  for (const line of lines.slice(lastStage + 1)) {
    const match = /^ENV ([A-Z_][A-Z0-9_]*)=(\S+)$/.exec(line);
    if (match) environment[match[1]!] = match[2]!;
    else if (line.startsWith('ENV ')) throw new Error(`${dockerfile}: write ENV as one KEY=VALUE per line, without quotes: ${line}`);
  }
  return environment;
}

/** Both: how node runs serve in the deployed pod (the image's flags, then NODE_OPTIONS'). */
export function shippedNodeFlags(): string[] {
  return [...imageNodeFlags(), ...deploymentNodeOptions()];
}

/**
 * `daemonguard serve` as the pod runs it (shippedNodeFlags, imageEnvironment), with the built-in
 * library, the example namespaces and fresh test certificates, on a free loopback port.
 */
export async function startShippedServe(directoryPrefix: string): Promise<{ served: ServeProcess; certificates: TestCertificates }> {
  const certificates = await writeTestCertificates(await temporaryDirectory(directoryPrefix));
  const served = await startServe({
    nodeFlags: shippedNodeFlags(),
    env: imageEnvironment(),
    args: ['--address', '127.0.0.1', '--port', '0', '--tls-cert', certificates.certFile, '--tls-key', certificates.keyFile, '--namespaces', path.join(repoRoot(), 'examples', 'namespaces.yaml')],
  });
  return { served, certificates };
}
