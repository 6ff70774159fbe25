// The comparison and rewrite both deploy copy scripts (deploy:crds, deploy:policies) run on their folders.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { staleGeneratedFiles, syncGeneratedFiles } from '../../scripts/generated-files.js';

describe('generated copy folders', () => {
  it('finds changed, missing and unexpected files; a sync rewrites and removes exactly those, and then nothing is stale', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'daemonguard-generated-'));
    await mkdir(path.join(root, 'a'), { recursive: true });
    await writeFile(path.join(root, 'a/same.yaml'), 'same\n');
    await writeFile(path.join(root, 'a/changed.yaml'), 'old\n');
    await writeFile(path.join(root, 'a/left-over.yaml'), 'removed upstream\n');
    await writeFile(path.join(root, 'outside.yaml'), 'not in a generated folder\n');
    const expected = new Map([
      ['a/same.yaml', 'same\n'],
      ['a/changed.yaml', 'new\n'],
      ['b/nested/missing.yaml', 'created\n'],
    ]);
    const dirs = ['a', 'b/nested'];

    assert.deepEqual(await staleGeneratedFiles(root, expected, dirs), ['a/changed.yaml', 'a/left-over.yaml', 'b/nested/missing.yaml']);
    assert.deepEqual(await syncGeneratedFiles(root, expected, dirs), ['a/changed.yaml', 'a/left-over.yaml', 'b/nested/missing.yaml']);
    assert.deepEqual((await readdir(path.join(root, 'a'))).sort(), ['changed.yaml', 'same.yaml']);
    assert.equal(await readFile(path.join(root, 'a/changed.yaml'), 'utf8'), 'new\n');
    assert.equal(await readFile(path.join(root, 'b/nested/missing.yaml'), 'utf8'), 'created\n');
    assert.equal(await readFile(path.join(root, 'outside.yaml'), 'utf8'), 'not in a generated folder\n', 'files outside the folders are left alone');
    assert.deepEqual(await staleGeneratedFiles(root, expected, dirs), []);
    assert.deepEqual(await syncGeneratedFiles(root, expected, dirs), []);
  });
});
