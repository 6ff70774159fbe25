// Where the built-in policy library and its verify suites are, found from this file's location
// (test/support/ or build/test/support/) so the tests run from any working directory.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function isRepoRoot(dir: string): boolean {
  const manifest = join(dir, 'package.json');
  if (!existsSync(manifest) || !existsSync(join(dir, 'policies'))) return false;
  try {
    return (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === 'daemonguard';
  } catch {
    return false;
  }
}

/** The repository root: the nearest ancestor holding daemonguard's package.json and policies/. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!isRepoRoot(dir)) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no daemonguard repository above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
  return dir;
}

export const POLICIES_DIR = join(repoRoot(), 'policies');
export const SUITES_DIR = join(repoRoot(), 'test', 'policies');
export const EVIDENCE_FILE = join(SUITES_DIR, 'evidence', 'field-ownership.json');

/** The library's groups, one folder each under policies/. */
export const GROUPS = ['security', 'rollout', 'defaults', 'pod-security'] as const;
