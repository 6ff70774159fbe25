// The DaemonSets the repository holds as examples: the objects of examples/*.json, the verify suites'
// resources (test/policies) and the upstream Pod Security fixtures. The e2e suite sends them to a real
// kube-apiserver; the robustness tests check that no limit of the server refuses any of them.
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { manifestNamespace } from '../../src/apiserver/admission-request.js';
import { findSuites } from '../../src/cli/policy-test-suite.js';
import { isJsonObject, type JsonObject, type JsonValue } from '../../src/common/vocabulary.js';
import { repoRoot, SUITES_DIR } from './library-paths.js';
import { readPssFixtures, type PssLevel } from './pss-fixtures.js';

const REPO_ROOT = repoRoot();
export const EXAMPLES_DIR = path.join(REPO_ROOT, 'examples');

export type CorpusOrigin = 'examples' | 'suites' | 'psa-fixtures';

export interface CorpusDaemonSet {
  /** Where it comes from: file, and the suite resource or AdmissionReview field. */
  id: string;
  origin: CorpusOrigin;
  object: JsonObject;
  /** The namespace it is reviewed in: the suite's override, else its own, else default. */
  namespace: string;
  /** For PSA fixtures: the level whose folder holds it, and whether it must pass. */
  fixture?: { level: PssLevel; expect: 'pass' | 'fail'; file: string };
}

function isDaemonSetObject(value: unknown): value is JsonObject {
  return isJsonObject(value as JsonValue) && (value as JsonObject).kind === 'DaemonSet' && (value as JsonObject).apiVersion === 'apps/v1';
}

function relative(file: string): string {
  return path.relative(REPO_ROOT, file).split(path.sep).join('/');
}

/**
 * Every DaemonSet in examples/ (the objects and old objects of the AdmissionReviews) and in the verify
 * suites (resource files and inline objects, old objects included), each once per namespace it is
 * reviewed in. Namespace labels the suites declare are returned too (pod-security labels left out:
 * the differential tests give those namespaces their own).
 */
export async function repositoryDaemonSets(): Promise<{ daemonSets: CorpusDaemonSet[]; namespaceLabels: Map<string, Record<string, string>> }> {
  const daemonSets: CorpusDaemonSet[] = [];
  const seen = new Set<string>();
  const add = (entry: CorpusDaemonSet): void => {
    const key = `${entry.namespace}\u0000${JSON.stringify(entry.object)}`;
    if (seen.has(key)) return;
    seen.add(key);
    daemonSets.push(entry);
  };

  for (const file of (await readdir(EXAMPLES_DIR)).filter((f) => f.endsWith('.json')).sort()) {
    const review = JSON.parse(await readFile(path.join(EXAMPLES_DIR, file), 'utf8')) as { request?: { namespace?: string; object?: unknown; oldObject?: unknown } };
    for (const field of ['object', 'oldObject'] as const) {
      const object = review.request?.[field];
      if (!isDaemonSetObject(object)) continue;
      add({ id: `examples/${file} request.${field}`, origin: 'examples', object, namespace: review.request?.namespace ?? manifestNamespace(object) ?? 'default' });
    }
  }

  const namespaceLabels = new Map<string, Record<string, string>>();
  for (const suite of await findSuites([SUITES_DIR])) {
    for (const [name, labels] of Object.entries(suite.namespaces)) {
      const kept = Object.fromEntries(Object.entries(labels).filter(([key]) => !key.startsWith('pod-security.kubernetes.io/')));
      namespaceLabels.set(name, { ...namespaceLabels.get(name), ...kept });
    }
    for (const resource of suite.resources) {
      for (const [field, object] of [['object', resource.object], ['oldObject', resource.oldObject]] as const) {
        if (!isDaemonSetObject(object)) continue;
        const where = resource.where.replace(`${REPO_ROOT}`, '').replace(/^\//, '');
        add({ id: `${where} "${resource.name}"${field === 'oldObject' ? ' (old object)' : ''}`, origin: 'suites', object, namespace: resource.namespace ?? manifestNamespace(object) ?? 'default' });
      }
    }
  }
  // Resource files no suite names are examples too.
  const resourcesDir = path.join(SUITES_DIR, 'resources');
  for (const file of (await readdir(resourcesDir)).filter((f) => /\.(ya?ml|json)$/.test(f)).sort()) {
    const object: unknown = parse(await readFile(path.join(resourcesDir, file), 'utf8'));
    if (isDaemonSetObject(object)) add({ id: relative(path.join(resourcesDir, file)), origin: 'suites', object, namespace: manifestNamespace(object) ?? 'default' });
  }
  return { daemonSets, namespaceLabels };
}

/** The upstream Pod Security fixtures (test/support/pss-fixtures.ts); rejects, saying what to install, when they cannot be read. */
export async function psaFixtureDaemonSets(): Promise<CorpusDaemonSet[]> {
  return (await readPssFixtures()).map(({ level, expect, file, id, daemonSet }) => ({
    id: `psa fixture ${id}`,
    origin: 'psa-fixtures',
    object: daemonSet,
    namespace: 'default',
    fixture: { level, expect, file },
  }));
}
