// The upstream Pod Security Standards fixtures: test/testdata/<level>/v1.37/{pass,fail}/*.yaml of the
// k8s.io/pod-security-admission Go module (the release that matches the e2e cluster's Kubernetes),
// read from the e2e build's module cache (go-modules.ts). Each file is a Pod; the tests review it as a DaemonSet
// whose pod template carries the Pod's labels, annotations and spec.
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { isJsonObject, type JsonObject } from '../../src/common/vocabulary.js';
import { goModuleDir } from './go-modules.js';

export const PSS_MODULE = 'k8s.io/pod-security-admission';
export const PSS_MODULE_VERSION = 'v0.37.2';
/** The folder under test/testdata/<level>/ the fixtures are read from: the rules of Kubernetes 1.37. */
export const PSS_VERSION = 'v1.37';

export type PssLevel = 'baseline' | 'restricted';
export const PSS_LEVELS: readonly PssLevel[] = ['baseline', 'restricted'];

/** How many fixture files PSS_VERSION holds in PSS_MODULE_VERSION (49 baseline, 99 restricted). */
export const PSS_FIXTURE_COUNT = 148;

/** Set to 1 to skip the unit test that needs the fixtures (and so Go) on purpose; CI never sets it. */
export const SKIP_PSS_FIXTURES_ENV = 'DAEMONGUARD_SKIP_PSS_FIXTURES';

export interface PssFixture {
  level: PssLevel;
  /** pass/: the level admits it; fail/: the level refuses it. */
  expect: 'pass' | 'fail';
  file: string;
  /** `<level>/<version>/<expect>/<file>`, for messages. */
  id: string;
  /** The Pod as a DaemonSet (apps/v1, no namespace), named after the Pod. */
  daemonSet: JsonObject;
}

/** test/testdata of the module, downloaded into the e2e build's module cache if needed. */
export async function pssTestdataDir(): Promise<string> {
  try {
    return path.join(await goModuleDir(PSS_MODULE, PSS_MODULE_VERSION), 'test', 'testdata');
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`cannot read the Pod Security fixtures: ${reason}`);
  }
}

/** The fixture Pod's labels, annotations and spec as a DaemonSet's pod template. */
function asDaemonSet(pod: JsonObject, file: string): JsonObject {
  const metadata = isJsonObject(pod.metadata) ? pod.metadata : {};
  const name = String(metadata.name ?? file.replace(/\.yaml$/, '')).replace(/_/g, '-');
  const labels = { ...(isJsonObject(metadata.labels) ? metadata.labels : {}), 'daemonguard.dev/fixture': name };
  const template: JsonObject = { metadata: { labels }, spec: pod.spec ?? {} };
  if (isJsonObject(metadata.annotations)) (template.metadata as JsonObject).annotations = metadata.annotations;
  return { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name }, spec: { selector: { matchLabels: { 'daemonguard.dev/fixture': name } }, template } };
}

/** The fixtures of the given levels (default: both), pass/ before fail/, files in name order. */
export async function readPssFixtures(levels: readonly PssLevel[] = PSS_LEVELS): Promise<PssFixture[]> {
  const testdata = await pssTestdataDir();
  const fixtures: PssFixture[] = [];
  for (const level of levels) {
    for (const expect of ['pass', 'fail'] as const) {
      const dir = path.join(testdata, level, PSS_VERSION, expect);
      for (const file of (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort()) {
        const pod = parse(await readFile(path.join(dir, file), 'utf8')) as JsonObject;
        fixtures.push({ level, expect, file, id: `${level}/${PSS_VERSION}/${expect}/${file}`, daemonSet: asDaemonSet(pod, file) });
      }
    }
  }
  return fixtures;
}
