// Runs node's test runner on the compiled test files, listed one by one: Node 20 does not expand globs
// and Node 22+ treats a folder argument as a module to run, so neither a pattern nor a folder is passed.
//
//   node scripts/run-tests.mjs [--concurrency N] [--test-…] [FOLDER…]
//
// Default folders: build/src and build/test without build/test/e2e (the end-to-end suite runs on its
// own, against a real kube-apiserver: `npm run test:e2e`) and build/test/browser (in Chromium: `npm run test:browser`).
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DEFAULT_FOLDERS = ['build/src', 'build/test'];
const EXCLUDED_BY_DEFAULT = ['build/test/e2e', 'build/test/browser'];

const args = process.argv.slice(2);
let concurrency = '2';
const folders = [];
const passThrough = [];
for (let index = 0; index < args.length; index++) {
  const arg = args[index];
  if (arg === '--concurrency') concurrency = args[++index] ?? '';
  else if (arg.startsWith('--')) passThrough.push(arg);
  else folders.push(arg);
}
if (!/^[1-9][0-9]*$/.test(concurrency)) {
  console.error('usage: node scripts/run-tests.mjs [--concurrency N] [--test-…] [FOLDER…]');
  process.exit(2);
}

const excluded = folders.length === 0 ? EXCLUDED_BY_DEFAULT.map((folder) => resolve(root, folder)) : [];
function testFiles(dir) {
  if (excluded.includes(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((entry) => {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) return testFiles(path);
      return entry.isFile() && entry.name.endsWith('.test.js') ? [path] : [];
    });
}

const files = [];
for (const folder of folders.length > 0 ? folders : DEFAULT_FOLDERS) {
  const dir = resolve(root, folder);
  if (!existsSync(dir)) {
    console.error(`run-tests: ${folder} does not exist; build the tests first (npm run build:test)`);
    process.exit(2);
  }
  files.push(...testFiles(dir));
}
if (files.length === 0) {
  console.error(`run-tests: no *.test.js files under ${(folders.length > 0 ? folders : DEFAULT_FOLDERS).join(', ')}`);
  process.exit(2);
}

const child = spawn(
  process.execPath,
  ['--test', `--test-concurrency=${concurrency}`, ...passThrough, ...files.map((file) => relative(process.cwd(), file))],
  { stdio: 'inherit' },
);
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
