import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { writeTree } from '../../test/support/admission-fixtures.js';
import { loadPolicySet } from './load-policies.js';

// build/src/policy -> repository root
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

describe('README policy examples', () => {
  it('every DaemonSetPolicy shown in README.md loads', async () => {
    const readme = await readFile(join(root, 'README.md'), 'utf8');
    const blocks = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!).filter((b) => b.includes('kind: DaemonSetPolicy\n'));
    assert.ok(blocks.length > 0, 'README.md shows no policy');
    const dir = await writeTree(Object.fromEntries(blocks.map((b, i) => [`readme-${i}.yaml`, b])));
    const set = await loadPolicySet([dir]);
    assert.equal(set.policies.length, blocks.length);
  });

  it('every DaemonSetPolicyException shown in README.md loads beside the built-in library', async () => {
    const readme = await readFile(join(root, 'README.md'), 'utf8');
    const blocks = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!).filter((b) => b.includes('kind: DaemonSetPolicyException\n'));
    assert.ok(blocks.length > 0, 'README.md shows no exception');
    const dir = await writeTree(Object.fromEntries(blocks.map((b, i) => [`readme-${i}.yaml`, b])));
    const set = await loadPolicySet([join(root, 'policies'), dir]);
    assert.equal(set.exceptions.length, blocks.length);
  });
});
