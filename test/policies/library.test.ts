// The built-in library as a whole: it loads as one folder and as any single group, every policy is
// documented and carries the default action chosen for a real cluster, and the README lists them.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadPolicySet } from '../../src/policy/load-policies.js';
import { GROUPS, POLICIES_DIR } from '../support/library-paths.js';

/** Policy name -> [group, default validationActions ('' for mutation-only policies)]. */
const LIBRARY: Record<string, [string, string]> = {
  'privileged-namespaces': ['security', 'Deny'],
  'control-plane-tolerations': ['security', 'Deny'],
  'control-plane-coverage': ['security', 'Warn'],
  'host-namespaces': ['security', 'Deny'],
  'host-path': ['security', 'Deny'],
  'host-ports': ['security', 'Deny'],
  capabilities: ['security', 'Deny'],
  'image-references': ['rollout', 'Warn'],
  resources: ['rollout', 'Warn'],
  footprint: ['rollout', 'Warn'],
  'rollout-safety': ['rollout', 'Deny'],
  'rollout-safety-on-delete': ['rollout', 'Warn'],
  'pod-security-baseline': ['pod-security', 'Deny'],
  'pod-security-restricted': ['pod-security', 'Deny'],
  'default-rolling-update': ['defaults', ''],
  'default-probes': ['defaults', 'Warn'],
  'default-seccomp': ['defaults', ''],
  'default-revision-history': ['defaults', ''],
};

describe('the built-in policy library', () => {
  it('loads policies/ as one folder, with exactly the documented policies', async () => {
    const set = await loadPolicySet([POLICIES_DIR]);
    assert.deepEqual(set.policies.map((p) => p.name).sort(), Object.keys(LIBRARY).sort());
  });

  for (const group of GROUPS) {
    it(`loads policies/${group} on its own`, async () => {
      const set = await loadPolicySet([join(POLICIES_DIR, group)]);
      const expected = Object.entries(LIBRARY).filter(([, [g]]) => g === group).map(([name]) => name);
      assert.deepEqual(set.policies.map((p) => p.name).sort(), expected.sort());
    });
  }

  it('gives every policy a description and the default action chosen for it', async () => {
    const set = await loadPolicySet([POLICIES_DIR]);
    for (const policy of set.policies) {
      assert.ok((policy.description ?? '').length > 20, `${policy.name}: daemonguard.dev/description is missing or too short`);
      const [, action] = LIBRARY[policy.name]!;
      if (action === '') {
        assert.equal(policy.validations.length, 0, `${policy.name} was expected to only mutate`);
      } else {
        assert.deepEqual(policy.validationActions, [action], `${policy.name}: validationActions`);
      }
      // A defaulting bug must not block node agents; a security check that cannot run must not pass.
      if (policy.mutations.length > 0) assert.equal(policy.failurePolicy, 'Ignore', `${policy.name}: failurePolicy`);
      else if (action === 'Deny') assert.equal(policy.failurePolicy, 'Fail', `${policy.name}: failurePolicy`);
    }
  });

  it('documents every policy in policies/README.md', async () => {
    const readme = await readFile(join(POLICIES_DIR, 'README.md'), 'utf8');
    for (const name of Object.keys(LIBRARY)) {
      assert.match(readme, new RegExp(`^\\| \`${name}\` \\|`, 'm'), `policies/README.md has no table row for ${name}`);
    }
  });
});
