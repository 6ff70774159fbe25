// Builders for the objects tests need again and again: DaemonSets, admission requests, policy files.
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { AdmissionRequest, JsonObject, Operation } from '../../src/engine/types.js';

let uidCounter = 0;

/** A minimal, valid apps/v1 DaemonSet (node-exporter-like) with overrides merged into its pod spec. */
export function daemonSet(options: { name?: string; namespace?: string; labels?: Record<string, string>; podSpec?: JsonObject; spec?: JsonObject } = {}): JsonObject {
  const name = options.name ?? 'node-exporter';
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name, namespace: options.namespace ?? 'monitoring', labels: options.labels ?? { app: name } },
    spec: {
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [{ name: 'agent', image: 'quay.io/prometheus/node-exporter:v1.8.2', ports: [{ name: 'metrics', containerPort: 9100 }] }],
          ...(options.podSpec ?? {}),
        },
      },
      ...(options.spec ?? {}),
    },
  };
}

export function admissionRequest(object: JsonObject | null, options: { operation?: Operation; oldObject?: JsonObject | null; namespace?: string; kind?: string; subResource?: string } = {}): AdmissionRequest {
  const metadata = (object?.metadata ?? options.oldObject?.metadata ?? {}) as JsonObject;
  const request: AdmissionRequest = {
    uid: `uid-${++uidCounter}`,
    kind: { group: 'apps', version: 'v1', kind: options.kind ?? 'DaemonSet' },
    resource: { group: 'apps', version: 'v1', resource: 'daemonsets' },
    name: String(metadata.name ?? ''),
    namespace: options.namespace ?? String(metadata.namespace ?? 'default'),
    operation: options.operation ?? 'CREATE',
    userInfo: { username: 'alice', groups: ['system:authenticated'] },
    object,
    oldObject: options.oldObject ?? null,
    dryRun: false,
  };
  if (options.subResource) request.subResource = options.subResource;
  return request;
}

/** Writes files (relative path -> content) into a fresh temporary folder and returns its path. */
export async function writeTree(files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'daemonguard-test-'));
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), content);
  }
  return root;
}

/** A DaemonSetPolicy document as YAML text, from its spec written as YAML (indented by the caller's convention). */
export function policyYaml(name: string, specYaml: string): string {
  const lines = specYaml.replace(/^\n/, '').replace(/\s+$/, '').split('\n');
  const margin = Math.min(...lines.filter((l) => l.trim() !== '').map((l) => /^ */.exec(l)![0].length));
  const body = lines.map((line) => (line.trim() === '' ? '' : `  ${line.slice(margin)}`)).join('\n');
  return `apiVersion: daemonguard.dev/v1alpha1\nkind: DaemonSetPolicy\nmetadata:\n  name: ${name}\nspec:\n${body}\n`;
}

/** A DaemonSetPolicyException document as YAML text, from its spec written as YAML. */
export function exceptionYaml(namespace: string, name: string, specYaml: string): string {
  return policyYaml(name, specYaml)
    .replace('kind: DaemonSetPolicy\n', 'kind: DaemonSetPolicyException\n')
    .replace(`  name: ${name}\n`, `  name: ${name}\n  namespace: ${namespace}\n`);
}
