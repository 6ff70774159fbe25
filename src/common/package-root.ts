// Files that ship beside the compiled code (schema/, policies/, package.json) are found from the
// package's root, not from a fixed number of `../`: the same module runs from an installed package
// (node_modules/daemonguard/dist/…) and from the repository's test build (build/src/…).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_NAME = 'daemonguard';

interface PackageManifest {
  name?: unknown;
  version?: unknown;
}

function readManifest(dir: string): PackageManifest | undefined {
  const file = join(dir, 'package.json');
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as PackageManifest;
  } catch {
    return undefined;
  }
}

let root: string | undefined;
let manifest: PackageManifest | undefined;

/** The folder holding daemonguard's package.json: the nearest one above this module. */
export function packageRoot(): string {
  if (root !== undefined) return root;
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = dirname(dir)) {
    const found = readManifest(dir);
    if (found?.name === PACKAGE_NAME) {
      root = dir;
      manifest = found;
      return dir;
    }
    if (dirname(dir) === dir) throw new Error(`daemonguard's package.json was not found above ${start}; the installation is incomplete`);
  }
}

/** A file shipped with the package, e.g. `packageFile('schema', 'daemonsetpolicy.schema.json')`. */
export function packageFile(...segments: string[]): string {
  return join(packageRoot(), ...segments);
}

/** A JSON file shipped with the package, parsed. */
export function readPackageJson(...segments: string[]): unknown {
  return JSON.parse(readFileSync(packageFile(...segments), 'utf8'));
}

/** The package's version, as `daemonguard --version` prints it. */
export function packageVersion(): string {
  packageRoot();
  return typeof manifest?.version === 'string' ? manifest.version : '0.0.0';
}
