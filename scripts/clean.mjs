// Empties a build output folder before compiling, so that a deleted source (a test above all) cannot
// keep running from an old compiled copy. Usage: node scripts/clean.mjs FOLDER...
import { rmSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
for (const folder of process.argv.slice(2)) {
  const target = resolve(root, folder);
  // Only folders inside the repository, and never the repository itself.
  if (!target.startsWith(`${root}/`)) {
    console.error(`clean.mjs: refusing to remove ${target}: not inside ${root}`);
    process.exit(2);
  }
  rmSync(target, { recursive: true, force: true });
}
