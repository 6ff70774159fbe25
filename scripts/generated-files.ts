// Folders of the repository that hold generated copies (the CRDs, the policy library for kustomize and
// Helm): which files are stale, and rewriting them. The scripts that generate each kind say what the
// files should hold; this module compares and writes, for both alike.

import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

async function listFiles(root: string, dir: string): Promise<string[]> {
  return (await readdir(path.join(root, dir)).catch(() => [])).map((name) => `${dir}/${name}`);
}

/**
 * The files (relative to `root`) that differ from `expected`, are missing, or sit in one of the
 * generated `dirs` without being expected; sorted.
 */
export async function staleGeneratedFiles(root: string, expected: ReadonlyMap<string, string>, dirs: readonly string[]): Promise<string[]> {
  const stale: string[] = [];
  for (const [file, content] of expected) {
    if ((await readFile(path.join(root, file), 'utf8').catch(() => undefined)) !== content) stale.push(file);
  }
  for (const dir of dirs) {
    for (const file of await listFiles(root, dir)) if (!expected.has(file)) stale.push(file);
  }
  return stale.sort();
}

/** Writes the stale files and removes the unexpected ones; returns the files written or removed. */
export async function syncGeneratedFiles(root: string, expected: ReadonlyMap<string, string>, dirs: readonly string[]): Promise<string[]> {
  const changed = await staleGeneratedFiles(root, expected, dirs);
  for (const file of changed) {
    const content = expected.get(file);
    if (content === undefined) {
      await rm(path.join(root, file));
    } else {
      await mkdir(path.dirname(path.join(root, file)), { recursive: true });
      await writeFile(path.join(root, file), content);
    }
  }
  return changed;
}
