// What `serve` loads at start-up, read from the compiled modules' static import graph (the one node
// follows when it loads them): neither express nor the yaml package. Both are loaded on first use —
// express for the requests the plain handlers leave to it (wrong methods and paths, HEAD), the
// position-keeping YAML parser for a position in an error message or a kubeconfig file — because a
// server that never needs them would hold their code, about 4 MB of V8 heap together, in a process
// whose resident memory is held to 100 MB (npm run bench:memory).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { importsOf, staticClosure } from './module-imports.js';

/** The compiled product (build/src), beside this test's build/test/package. */
const SOURCE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src');
const ON_DEMAND = ['express', 'yaml'];

describe('serve’s start-up modules', () => {
  const closure = staticClosure(join(SOURCE_ROOT, 'cli', 'serve-command.js'));

  for (const name of ON_DEMAND) {
    it(`load no ${name} module`, () => {
      assert.ok(closure.size > 50, `the import graph was followed (${closure.size} modules)`);
      const users = [...closure].filter(([, packages]) => packages.includes(name)).map(([file]) => relative(SOURCE_ROOT, file));
      assert.deepEqual(users, []);
    });
  }

  it('load express only through the admission and probe routes, on demand', () => {
    for (const [module, routes] of [
      ['server/app.js', './admission-routes.js'],
      ['server/probe-server.js', './probe-routes.js'],
    ] as const) {
      const imports = importsOf(readFileSync(join(SOURCE_ROOT, module), 'utf8'));
      assert.ok(imports.dynamic.includes(routes), `${module} imports ${routes} on demand`);
      assert.ok(!imports.static.includes(routes), `${module} does not import ${routes} at load`);
    }
  });
});
