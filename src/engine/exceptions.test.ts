// DaemonSetPolicyExceptions in the engine: which DaemonSets they match (names, selector, both, only in
// their namespace), what they take away (violations of every action, evaluation errors) and what they
// leave (mutations), expiry against the review's clock, and which one applies when several match.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadPolicySet } from '../policy/load-policies.js';
import type { PolicySet } from '../policy/types.js';
import { admissionRequest, daemonSet, exceptionYaml, policyYaml, writeTree } from '../../test/support/admission-fixtures.js';
import { review } from './review.js';
import type { Decision, JsonObject, ReviewContext } from './types.js';

async function policies(...documents: string[]): Promise<PolicySet> {
  const root = await writeTree(Object.fromEntries(documents.map((d, i) => [`p${i}.yaml`, d])));
  return loadPolicySet([root]);
}

/** Denies DaemonSets without a tolerations-free pod spec: every DaemonSet below has tolerations. */
const TOLERATIONS = policyYaml('control-plane-tolerations', `
  validations:
    - expression: "!object.spec.template.spec.?tolerations.hasValue()"
      message: tolerations are not allowed
`);
const WARN_ONLY = policyYaml('warned', `
  validationActions: [Warn, Audit]
  validations:
    - expression: "!object.spec.template.spec.?tolerations.hasValue()"
      message: tolerations are discouraged
`);

function tolerating(name: string, namespace: string, labels?: Record<string, string>): JsonObject {
  return daemonSet({ name, namespace, labels: labels ?? { app: name }, podSpec: { tolerations: [{ operator: 'Exists' }] } });
}

const NOW = Date.parse('2026-12-04T12:00:00Z');
const validate = (set: PolicySet, object: JsonObject, context: Partial<ReviewContext> = {}, operation: 'CREATE' | 'UPDATE' = 'CREATE', oldObject?: JsonObject): Decision =>
  review(admissionRequest(object, { operation, ...(oldObject ? { oldObject } : {}) }), set, { phase: 'validate', now: NOW, ...context });

const CALICO = exceptionYaml('kube-system', 'calico-on-control-plane', `
  policies: [control-plane-tolerations]
  match:
    names: [calico-node]
  reason: Calico must run on every node, control plane included.
`);

describe('exceptions: policy sets sharing their policies', () => {
  it('each set applies its own exceptions, whichever set was reviewed first', async () => {
    const withException = await policies(TOLERATIONS, CALICO);
    // The same policy list with no exceptions, as a reload that drops an exception file makes it.
    const without: PolicySet = { ...withException, exceptions: [], exceptionsByPolicy: new Map() };
    const object = tolerating('calico-node', 'kube-system');
    for (let round = 0; round < 2; round++) {
      assert.equal(validate(withException, object).allowed, true);
      const denied = validate(without, object);
      assert.equal(denied.allowed, false);
      assert.deepEqual(denied.exceptions, []);
      assert.deepEqual(denied.outcomes, [{ policy: 'control-plane-tolerations', result: 'fail', message: 'tolerations are not allowed' }]);
    }
  });
});

describe('exceptions: what they take away', () => {
  it('lets the named DaemonSet through: no denial, the notice as a warning, an audit annotation, the outcome names the exception', async () => {
    const set = await policies(TOLERATIONS, CALICO);
    const decision = validate(set, tolerating('calico-node', 'kube-system'));
    assert.equal(decision.allowed, true);
    assert.deepEqual(decision.violations, []);
    assert.deepEqual(decision.warnings, ['exception kube-system/calico-on-control-plane applied to control-plane-tolerations']);
    assert.deepEqual(decision.auditAnnotations, {
      'exception.control-plane-tolerations': 'kube-system/calico-on-control-plane excepted: tolerations are not allowed (reason: Calico must run on every node, control plane included.)',
    });
    assert.deepEqual(decision.exceptions, [{
      name: 'calico-on-control-plane', namespace: 'kube-system', policy: 'control-plane-tolerations',
      reason: 'Calico must run on every node, control plane included.',
      excepted: [{ policy: 'control-plane-tolerations', validation: 0, message: 'tolerations are not allowed', reason: 'Invalid', actions: ['Deny'] }],
    }]);
    assert.deepEqual(decision.outcomes, [{ policy: 'control-plane-tolerations', result: 'fail', message: 'tolerations are not allowed', exception: 'kube-system/calico-on-control-plane' }]);
  });

  it('says nothing when the policy passes anyway: an exception is reported only when it excepted something', async () => {
    const set = await policies(TOLERATIONS, CALICO);
    const decision = validate(set, daemonSet({ name: 'calico-node', namespace: 'kube-system' }));
    assert.deepEqual([decision.allowed, decision.warnings, decision.exceptions, decision.auditAnnotations], [true, [], [], {}]);
  });

  it('takes Warn and Audit violations too: neither the policy warning nor its audit annotation remains', async () => {
    const set = await policies(WARN_ONLY, CALICO.replace('[control-plane-tolerations]', '[warned]'));
    const decision = validate(set, tolerating('calico-node', 'kube-system'));
    assert.deepEqual(decision.warnings, ['exception kube-system/calico-on-control-plane applied to warned']);
    assert.deepEqual(Object.keys(decision.auditAnnotations), ['exception.warned']);
  });

  it('takes evaluation errors under failurePolicy Fail and Ignore', async () => {
    for (const failurePolicy of ['Fail', 'Ignore']) {
      const broken = policyYaml('control-plane-tolerations', `
        failurePolicy: ${failurePolicy}
        validations:
          - expression: "object.spec.template.spec.containers[5].name == 'x'"
      `);
      const set = await policies(broken, CALICO);
      const excepted = validate(set, tolerating('calico-node', 'kube-system'));
      assert.equal(excepted.allowed, true);
      assert.deepEqual(excepted.warnings, ['exception kube-system/calico-on-control-plane applied to control-plane-tolerations'], failurePolicy);
      assert.match(excepted.exceptions[0]!.excepted[0]!.message, /^policy could not be evaluated: /);
      assert.equal(excepted.outcomes[0]!.result, 'error');
      // The same DaemonSet elsewhere: the error is settled by failurePolicy as usual.
      const other = validate(set, tolerating('calico-node', 'default'));
      assert.equal(other.allowed, failurePolicy === 'Ignore');
      assert.equal(other.exceptions.length, 0);
    }
  });

  it('names every policy one exception lifted in a single warning, after the policies\' own warnings', async () => {
    const other = policyYaml('other', `
      validationActions: [Warn]
      validations:
        - expression: "false"
          message: always
    `);
    const both = CALICO.replace('[control-plane-tolerations]', '[warned, control-plane-tolerations]');
    const set = await policies(TOLERATIONS, other, WARN_ONLY, both);
    const decision = validate(set, tolerating('calico-node', 'kube-system'));
    assert.deepEqual(decision.warnings, ['other: always', 'exception kube-system/calico-on-control-plane applied to control-plane-tolerations, warned']);
    assert.deepEqual(decision.exceptions.map((use) => use.policy), ['control-plane-tolerations', 'warned']);
  });

  it('leaves mutations alone: an excepted DaemonSet still gets the defaults', async () => {
    const defaults = policyYaml('control-plane-tolerations', `
      mutations:
        - name: history
          defaults:
            - path: /spec/revisionHistoryLimit
              value: 5
      validations:
        - expression: "!object.spec.template.spec.?tolerations.hasValue()"
    `);
    const set = await policies(defaults, CALICO);
    const mutated = review(admissionRequest(tolerating('calico-node', 'kube-system')), set, { phase: 'mutate', now: NOW });
    assert.deepEqual(mutated.patch, [{ op: 'add', path: '/spec/revisionHistoryLimit', value: 5 }]);
    assert.deepEqual(mutated.exceptions, []);
    assert.equal(validate(set, tolerating('calico-node', 'kube-system')).allowed, true);
  });
});

describe('exceptions: what they match', () => {
  const BY_LABEL = exceptionYaml('kube-system', 'by-label', `
    policies: [control-plane-tolerations]
    match:
      objectSelector: {matchLabels: {k8s-app: calico-node}}
    reason: CNI.
  `);
  const BOTH = exceptionYaml('kube-system', 'both', `
    policies: [control-plane-tolerations]
    match:
      names: ["calico-*"]
      objectSelector: {matchExpressions: [{key: tier, operator: In, values: [network]}]}
    reason: CNI.
  `);

  it('matches names by glob', async () => {
    const set = await policies(TOLERATIONS, exceptionYaml('kube-system', 'globbed', `
      policies: [control-plane-tolerations]
      match: {names: ["calico-*", "cilium"]}
      reason: CNI.
    `));
    assert.deepEqual(['calico-node', 'calico-typha', 'cilium', 'cilium-operator', 'kube-proxy'].map((name) => validate(set, tolerating(name, 'kube-system')).allowed), [true, true, true, false, false]);
  });

  it('matches labels by objectSelector, on UPDATE those of the new object', async () => {
    const set = await policies(TOLERATIONS, BY_LABEL);
    assert.equal(validate(set, tolerating('anything', 'kube-system', { 'k8s-app': 'calico-node' })).allowed, true);
    assert.equal(validate(set, tolerating('anything', 'kube-system', { 'k8s-app': 'other' })).allowed, false);
    const labelled = tolerating('anything', 'kube-system', { 'k8s-app': 'calico-node' });
    const unlabelled = tolerating('anything', 'kube-system', { app: 'x' });
    assert.equal(validate(set, unlabelled, {}, 'UPDATE', labelled).allowed, false, 'the old object\'s labels do not count');
    assert.equal(validate(set, labelled, {}, 'UPDATE', unlabelled).allowed, true);
  });

  it('needs both when both are given', async () => {
    const set = await policies(TOLERATIONS, BOTH);
    assert.equal(validate(set, tolerating('calico-node', 'kube-system', { tier: 'network' })).allowed, true);
    assert.equal(validate(set, tolerating('calico-node', 'kube-system', { tier: 'logging' })).allowed, false);
    assert.equal(validate(set, tolerating('fluent-bit', 'kube-system', { tier: 'network' })).allowed, false);
  });

  it('applies only in its own namespace, whatever the name or labels (an attacker copying both gains nothing)', async () => {
    const set = await policies(TOLERATIONS, CALICO, BY_LABEL);
    // Named and labelled exactly like the excepted DaemonSet, in a namespace the attacker controls.
    const lookalike = tolerating('calico-node', 'tenant-a', { 'k8s-app': 'calico-node' });
    const decision = validate(set, lookalike);
    assert.equal(decision.allowed, false);
    assert.deepEqual([decision.exceptions, decision.warnings], [[], []]);
    // The object may claim kube-system in its metadata: the request's namespace decides.
    const claiming = tolerating('calico-node', 'kube-system');
    const request = admissionRequest(claiming, { namespace: 'tenant-a' });
    assert.equal(review(request, set, { phase: 'validate', now: NOW }).allowed, false);
  });

  it('applies only to the policies it names', async () => {
    const set = await policies(TOLERATIONS, WARN_ONLY, CALICO);
    const decision = validate(set, tolerating('calico-node', 'kube-system'));
    assert.equal(decision.allowed, true);
    assert.deepEqual(decision.violations.map((v) => v.policy), ['warned']);
  });
});

describe('exceptions: expiry and precedence', () => {
  const expiring = (name: string, expires: string): string => exceptionYaml('kube-system', name, `
    policies: [control-plane-tolerations]
    match: {names: [calico-node]}
    reason: Until the CNI moves off the control plane.
    expires: "${expires}"
  `);

  it('applies until expires, not from it, against the clock of the review context', async () => {
    const set = await policies(TOLERATIONS, expiring('temporary', '2026-12-04T12:00:00Z'));
    const before = validate(set, tolerating('calico-node', 'kube-system'), { now: NOW - 1 });
    assert.deepEqual([before.allowed, before.warnings], [true, ['exception kube-system/temporary applied to control-plane-tolerations']]);
    for (const now of [NOW, NOW + 86_400_000]) {
      const after = validate(set, tolerating('calico-node', 'kube-system'), { now });
      assert.equal(after.allowed, false);
      assert.deepEqual(after.warnings, ['exception kube-system/temporary expired at 2026-12-04T12:00:00Z; it no longer applies to control-plane-tolerations']);
      assert.deepEqual(after.expiredExceptions, [{ name: 'temporary', namespace: 'kube-system', policy: 'control-plane-tolerations', expires: '2026-12-04T12:00:00Z' }]);
      assert.deepEqual(after.exceptions, []);
    }
  });

  it('understands time-zone offsets', async () => {
    const set = await policies(TOLERATIONS, expiring('offset', '2026-12-04T13:00:00+02:00')); // 11:00Z
    assert.equal(validate(set, tolerating('calico-node', 'kube-system')).allowed, false);
  });

  it('lets one exception in force win over an expired one, whichever comes first, and says nothing of the expired one', async () => {
    for (const order of [[0, 1], [1, 0]]) {
      const documents = [expiring('old', '2026-01-01T00:00:00Z'), expiring('renewed', '2027-06-30T00:00:00Z')];
      const set = await policies(TOLERATIONS, ...order.map((i) => documents[i]!));
      const decision = validate(set, tolerating('calico-node', 'kube-system'));
      assert.equal(decision.allowed, true);
      assert.deepEqual(decision.warnings, ['exception kube-system/renewed applied to control-plane-tolerations']);
      assert.deepEqual(decision.expiredExceptions, []);
    }
  });

  it('reports one exception per policy when several in force match: the first loaded', async () => {
    const set = await policies(TOLERATIONS, CALICO, expiring('second', '2027-06-30T00:00:00Z'));
    assert.deepEqual(validate(set, tolerating('calico-node', 'kube-system')).exceptions.map((use) => use.name), ['calico-on-control-plane']);
  });
});
