// The repository's shape, as the README and the design promise it: imports between the product's
// layers point down only, the product never reaches into tests, benchmarks or scripts, and the README's
// layout table names every folder (so a new folder cannot land unexplained).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, it } from 'node:test';
import { REPO_ROOT } from '../support/cli-process.js';

/** For each folder of src/, the folders of src/ its modules may import (besides itself). */
const ALLOWED_IMPORTS: Record<string, readonly string[]> = {
  common: [],
  cel: ['common'],
  coverage: ['common'],
  // native is the policy layer's part for Kubernetes-native documents: the loader (policy/load-policies)
  // hands them to it, and it compiles them into policy's own types. The two are one layer.
  policy: ['native', 'cel', 'common'],
  native: ['policy', 'cel', 'common'],
  engine: ['policy', 'cel', 'coverage', 'common'],
  apiserver: ['engine', 'common'],
  admission: ['apiserver', 'engine', 'policy', 'common'],
  kube: ['engine', 'common'],
  certs: ['common'],
  deploy: ['common'],
  server: ['admission', 'apiserver', 'engine', 'policy', 'cel', 'common', 'certs'],
  playground: ['admission', 'apiserver', 'engine', 'policy', 'coverage', 'common', 'server'],
  cli: ['admission', 'apiserver', 'engine', 'policy', 'cel', 'coverage', 'common', 'certs', 'deploy', 'kube', 'server', 'playground', 'native'],
};

/** Folders of the repository's root that are built or installed, never committed (src/coverage is source). */
const GENERATED = new Set(['node_modules', 'dist', 'build', 'coverage']);

const SRC = join(REPO_ROOT, 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

function folders(dir: string, generated: ReadonlySet<string> = new Set()): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && !entry.name.startsWith('.') && !generated.has(entry.name))
    .map((entry) => entry.name)
    .sort();
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+'(\.{1,2}\/[^']+)'|import\(\s*'(\.{1,2}\/[^']+)'\s*\)/g;

function relativeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(IMPORT)].map((match) => resolve(dirname(file), match[1] ?? match[2]!));
}

describe('repository layout', () => {
  it('imports between the product’s folders point down only, and the product imports no test, benchmark or script', () => {
    const problems: string[] = [];
    let checked = 0;
    for (const file of sourceFiles(SRC)) {
      const isTest = file.endsWith('.test.ts');
      const [layer] = relative(SRC, file).split(sep);
      const allowed = ALLOWED_IMPORTS[layer!];
      if (allowed === undefined) {
        problems.push(`${relative(REPO_ROOT, file)}: src/${layer} has no entry in ALLOWED_IMPORTS (say where it sits among the layers)`);
        continue;
      }
      for (const target of relativeImports(file)) {
        checked++;
        const fromRoot = relative(REPO_ROOT, target);
        if (!fromRoot.startsWith(`src${sep}`)) {
          // A unit test may use the shared test support; the product may not leave src/.
          if (isTest && fromRoot.startsWith(join('test', 'support'))) continue;
          problems.push(`${relative(REPO_ROOT, file)} imports ${fromRoot}, outside src/`);
          continue;
        }
        // A test beside a module may put several layers together (a server over real certificates).
        if (isTest) continue;
        const [targetLayer] = relative(SRC, target).split(sep);
        if (targetLayer !== layer && !allowed.includes(targetLayer!)) {
          problems.push(`${relative(REPO_ROOT, file)} imports ${fromRoot}: src/${layer} may not depend on src/${targetLayer}`);
        }
      }
    }
    assert.ok(checked > 300, `only ${checked} imports found: is the import pattern still right?`);
    assert.deepEqual(problems, []);
  });

  it('the README’s layout table names every folder of the repository, src/ and test/', () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    const section = /\n### Layout\n([\s\S]*?)\n#{2,3} /.exec(readme)?.[1];
    assert.ok(section, 'README.md has no "### Layout" section');
    const named = new Set([...section.matchAll(/^\| `([^`]+)` \|/gm)].map((match) => match[1]));
    const expected = [
      ...folders(REPO_ROOT, GENERATED).filter((name) => name !== 'src' && name !== 'test'),
      ...folders(SRC).map((name) => `src/${name}`),
      ...folders(join(REPO_ROOT, 'test')).map((name) => `test/${name}`),
    ];
    assert.deepEqual(
      expected.filter((folder) => !named.has(folder)),
      [],
      'folders missing from the README layout table',
    );
    assert.deepEqual(
      [...named].filter((folder) => !expected.includes(folder)),
      [],
      'the README layout table names folders that do not exist',
    );
  });
});
