// The playground's pasted policies may be native ValidatingAdmissionPolicies with their bindings and
// params, answered in the apiserver's words like `daemonguard test`.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { buildPolicySet } from '../policy/load-policies.js';
import { DEFAULT_JSON_LIMITS } from '../server/json-limit-defaults.js';
import { reviewPlayground } from './playground-review.js';

const NATIVE = new URL('../../../src/cli/testdata/native/', import.meta.url);

describe('playground with pasted native policies', () => {
  it('evaluates each binding with the params pasted alongside, and refuses a construct it cannot evaluate at its line', async () => {
    const policies = `${await readFile(new URL('policy.yaml', NATIVE), 'utf8')}\n---\n${(await readFile(new URL('params.yaml', NATIVE), 'utf8')).split('\n---\n').slice(0, 2).join('\n---\n')}`;
    const daemonSet = (await readFile(new URL('daemonsets.yaml', NATIVE), 'utf8')).split('\n---\n')[1]!;
    const context = { policySet: buildPolicySet([], []), evalDeadlineMs: 2000, jsonLimits: DEFAULT_JSON_LIMITS };
    const result = await reviewPlayground({ daemonSet, operation: 'CREATE', policies: { kind: 'pasted', text: policies } }, context);
    assert.equal(result.verdict, 'denied', JSON.stringify(result.problems));
    assert.deepEqual(result.violations.map((v) => v.message), [
      "ValidatingAdmissionPolicy 'max-containers' with binding 'max-containers-deny' denied request: at most 2 containers (strict)",
      "Validation failed for ValidatingAdmissionPolicy 'max-containers' with binding 'max-containers-warn': at most 1 containers (lenient)",
    ]);
    const broken = await reviewPlayground(
      { daemonSet, operation: 'CREATE', policies: { kind: 'pasted', text: policies.replace("int(params.data.max)", "authorizer.group('').resource('pods').check('get').allowed() ? 1 : 2") } },
      context,
    );
    assert.equal(broken.verdict, 'invalid');
    assert.match(broken.problems[0]!.message, /authorizer/);
    assert.equal(broken.problems[0]!.line, 10);
  });
});
