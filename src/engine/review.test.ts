import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadPolicySet } from '../policy/load-policies.js';
import type { PolicySet } from '../policy/types.js';
import { admissionRequest, daemonSet, policyYaml, writeTree } from '../../test/support/admission-fixtures.js';
import { measureCost } from '../cel/cost.js';
import { POLICY_COST_BUDGET } from './policy-budget.js';
import { review } from './review.js';
import type { JsonObject } from './types.js';

async function policies(...documents: string[]): Promise<PolicySet> {
  const root = await writeTree(Object.fromEntries(documents.map((d, i) => [`p${i}.yaml`, d])));
  return loadPolicySet([root]);
}

const privileged = (): JsonObject =>
  daemonSet({ podSpec: { containers: [{ name: 'agent', image: 'calico/node:v3.28.0', securityContext: { privileged: true } }] } });

const PRIVILEGED_POLICY = policyYaml(
  'privileged-namespaces',
  `
  params:
    allowedNamespaces: [kube-system]
  variables:
    - name: privileged
      expression: "object.spec.template.spec.containers.filter(c, c.?securityContext.?privileged.orValue(false)).map(c, c.name)"
  validations:
    - expression: "request.namespace in params.allowedNamespaces || size(variables.privileged) == 0"
      messageExpression: "'container \\"' + variables.privileged[0] + '\\" is privileged; privileged containers are allowed only in: ' + params.allowedNamespaces.join(', ')"
      reason: Forbidden
`,
);

describe('review: validation decisions', () => {
  it('allows a compliant DaemonSet and records a pass', async () => {
    const set = await policies(PRIVILEGED_POLICY);
    const decision = review(admissionRequest(daemonSet()), set, { phase: 'validate' });
    assert.equal(decision.allowed, true);
    assert.deepEqual(decision.violations, []);
    assert.deepEqual(decision.outcomes, [{ policy: 'privileged-namespaces', result: 'pass' }]);
  });

  it('denies a violating DaemonSet with the messageExpression, the reason and the policy name', async () => {
    const set = await policies(PRIVILEGED_POLICY);
    const decision = review(admissionRequest(privileged()), set, { phase: 'validate' });
    assert.equal(decision.allowed, false);
    assert.deepEqual(decision.violations, [
      {
        policy: 'privileged-namespaces',
        validation: 0,
        message: 'container "agent" is privileged; privileged containers are allowed only in: kube-system',
        reason: 'Forbidden',
        actions: ['Deny'],
      },
    ]);
    assert.equal(decision.outcomes[0]!.result, 'fail');
  });

  it('lists every failed validation, not only the first', async () => {
    const set = await policies(
      policyYaml('two', `
      validations:
        - expression: "object.spec.template.spec.?hostNetwork.orValue(false) == false"
          message: hostNetwork is not allowed
        - expression: "object.spec.template.spec.?hostPID.orValue(false) == false"
          message: hostPID is not allowed
      `),
    );
    const decision = review(admissionRequest(daemonSet({ podSpec: { hostNetwork: true, hostPID: true } })), set, { phase: 'validate' });
    assert.deepEqual(decision.violations.map((v) => v.message), ['hostNetwork is not allowed', 'hostPID is not allowed']);
  });

  it('falls back to message, then to the expression, when messageExpression fails or is absent', async () => {
    const set = await policies(
      policyYaml('fallbacks', `
      validations:
        - expression: "false"
          messageExpression: "'x' + string(object.spec.template.spec.containers[5].name)"
          message: static message
        - expression: "1 > 2"
      `),
    );
    const decision = review(admissionRequest(daemonSet()), set, { phase: 'validate' });
    assert.deepEqual(decision.violations.map((v) => v.message), ['static message', 'failed expression: 1 > 2']);
    assert.equal(decision.violations[0]!.reason, 'Invalid');
  });

  it('Warn produces warnings and allows; Audit produces audit annotations and allows', async () => {
    const set = await policies(
      policyYaml('warned', `
      validationActions: [Warn]
      validations:
        - expression: "false"
          message: resources should be set
      `),
      policyYaml('audited', `
      validationActions: [Audit]
      validations:
        - expression: "false"
          message: image is untagged
      `),
    );
    const decision = review(admissionRequest(daemonSet()), set, { phase: 'validate' });
    assert.equal(decision.allowed, true);
    assert.deepEqual(decision.warnings, ['warned: resources should be set']);
    assert.deepEqual(decision.auditAnnotations, { audited: 'image is untagged' });
    for (const key of Object.keys(decision.auditAnnotations)) assert.ok(!key.includes('/'));
  });

  it('Deny with Audit denies and also records the annotation', async () => {
    const set = await policies(policyYaml('both', 'validationActions: [Deny, Audit]\nvalidations:\n  - expression: "false"\n    message: no\n'));
    const decision = review(admissionRequest(daemonSet()), set, { phase: 'validate' });
    assert.equal(decision.allowed, false);
    assert.deepEqual(decision.auditAnnotations, { both: 'no' });
  });
});

describe('review: matching', () => {
  const set = () =>
    policies(
      policyYaml('scoped', `
      match:
        operations: [CREATE]
        namespaces: ["team-*", monitoring]
        excludeNamespaces: [team-exempt]
        objectSelector:
          matchExpressions:
            - {key: tier, operator: NotIn, values: [system]}
      validations:
        - expression: "false"
          message: denied
      `),
    );

  it('applies to a matching request', async () => {
    const decision = review(admissionRequest(daemonSet({ namespace: 'team-a' })), await set(), { phase: 'validate' });
    assert.equal(decision.allowed, false);
  });

  it('skips other operations, excluded namespaces, and objects the selector rules out, saying why', async () => {
    const s = await set();
    const update = review(admissionRequest(daemonSet({ namespace: 'team-a' }), { operation: 'UPDATE', oldObject: daemonSet() }), s, { phase: 'validate' });
    assert.deepEqual(update.outcomes, [{ policy: 'scoped', result: 'skip', message: 'operation UPDATE not matched' }]);
    const excluded = review(admissionRequest(daemonSet({ namespace: 'team-exempt' })), s, { phase: 'validate' });
    assert.equal(excluded.outcomes[0]!.message, 'namespace "team-exempt" not matched');
    const other = review(admissionRequest(daemonSet({ namespace: 'default' })), s, { phase: 'validate' });
    assert.equal(other.allowed, true);
    const system = review(admissionRequest(daemonSet({ namespace: 'team-a', labels: { tier: 'system' } })), s, { phase: 'validate' });
    assert.equal(system.outcomes[0]!.message, 'objectSelector not matched');
    assert.equal(system.allowed, true);
  });

  it('matches namespaceSelector against the namespace labels, and treats unknown labels as an evaluation error', async () => {
    const s = await policies(
      policyYaml('ns', `
      failurePolicy: Ignore
      match:
        namespaceSelector:
          matchLabels: {env: prod}
      validations:
        - expression: "false"
          message: denied in prod
      `),
    );
    const prod = { metadata: { name: 'monitoring', labels: { env: 'prod' } } };
    assert.equal(review(admissionRequest(daemonSet()), s, { phase: 'validate', namespaceObject: prod }).allowed, false);
    const dev = { metadata: { name: 'monitoring', labels: { env: 'dev' } } };
    assert.equal(review(admissionRequest(daemonSet()), s, { phase: 'validate', namespaceObject: dev }).allowed, true);
    const unknown = review(admissionRequest(daemonSet()), s, { phase: 'validate' });
    assert.equal(unknown.allowed, true);
    assert.match(unknown.warnings[0]!, /^ns: ignored because it could not be evaluated: spec\.match\.namespaceSelector: the labels of namespace "monitoring" are not known/);
  });

  it('skips when a matchCondition is false and evaluates when all are true', async () => {
    const s = await policies(
      policyYaml('conditional', `
      matchConditions:
        - name: not-exempt
          expression: "object.metadata.?labels[?'daemonguard.dev/exempt'].orValue('') != 'true'"
      validations:
        - expression: "false"
      `),
    );
    const exempt = review(admissionRequest(daemonSet({ labels: { 'daemonguard.dev/exempt': 'true' } })), s, { phase: 'validate' });
    assert.deepEqual(exempt.outcomes, [{ policy: 'conditional', result: 'skip', message: 'matchCondition "not-exempt" is false' }]);
    assert.equal(review(admissionRequest(daemonSet()), s, { phase: 'validate' }).allowed, false);
  });

  it('lets DELETE through without evaluation unless a policy asks for DELETE, with object null', async () => {
    const plain = await policies(policyYaml('plain', 'validations:\n  - expression: "false"\n'));
    const del = admissionRequest(null, { operation: 'DELETE', oldObject: daemonSet() });
    assert.equal(review(del, plain, { phase: 'validate' }).allowed, true);
    const deleting = await policies(
      policyYaml('no-delete-in-kube-system', `
      match:
        operations: [DELETE]
      validations:
        - expression: "object == null && oldObject.metadata.namespace != 'kube-system'"
          message: DaemonSets in kube-system cannot be deleted
      `),
    );
    const kubeSystem = admissionRequest(null, { operation: 'DELETE', oldObject: daemonSet({ namespace: 'kube-system' }) });
    assert.equal(review(kubeSystem, deleting, { phase: 'validate' }).allowed, false);
    assert.equal(review(del, deleting, { phase: 'validate' }).allowed, true);
  });

  it('allows what is not an apps/v1 DaemonSet untouched and says so', async () => {
    const s = await policies(policyYaml('plain', 'validations:\n  - expression: "false"\n'));
    const deployment = admissionRequest(daemonSet(), { kind: 'Deployment' });
    const decision = review(deployment, s, { phase: 'validate' });
    assert.equal(decision.allowed, true);
    assert.equal(decision.notEvaluated, 'not an apps/v1 DaemonSet (apps/v1 Deployment)');
    assert.deepEqual(decision.patch, []);
    const status = review(admissionRequest(daemonSet(), { subResource: 'status' }), s, { phase: 'mutate' });
    assert.equal(status.notEvaluated, 'subresource "status" is not reviewed');
  });
});

describe('review: evaluation errors and failurePolicy', () => {
  const failing = (failurePolicy: string, actions = '[Deny]') =>
    policies(
      policyYaml('fragile', `
      failurePolicy: ${failurePolicy}
      validationActions: ${actions}
      validations:
        - expression: "object.spec.template.spec.containers[3].name == 'x'"
      `),
    );

  it('Fail turns an error into a denial that says the policy could not be evaluated and why', async () => {
    const decision = review(admissionRequest(daemonSet()), await failing('Fail'), { phase: 'validate' });
    assert.equal(decision.allowed, false);
    assert.equal(decision.violations[0]!.validation, -1);
    assert.match(decision.violations[0]!.message, /^policy could not be evaluated: spec\.validations\[0\]\.expression: .*index/i);
    assert.equal(decision.outcomes[0]!.result, 'error');
  });

  it('Ignore allows with a warning', async () => {
    const decision = review(admissionRequest(daemonSet()), await failing('Ignore'), { phase: 'validate' });
    assert.equal(decision.allowed, true);
    assert.equal(decision.violations.length, 0);
    assert.match(decision.warnings[0]!, /^fragile: ignored because it could not be evaluated: /);
    assert.equal(decision.outcomes[0]!.result, 'error');
  });

  it('Fail with Warn action warns instead of denying', async () => {
    const decision = review(admissionRequest(daemonSet()), await failing('Fail', '[Warn]'), { phase: 'validate' });
    assert.equal(decision.allowed, true);
    assert.match(decision.warnings[0]!, /^fragile: policy could not be evaluated/);
  });

  it('a matchCondition error follows failurePolicy', async () => {
    const s = await policies(
      policyYaml('bad-condition', `
      failurePolicy: Fail
      matchConditions:
        - name: broken
          expression: "object.spec.template.spec.containers[9].name == 'x'"
      validations:
        - expression: "true"
      `),
    );
    const decision = review(admissionRequest(daemonSet()), s, { phase: 'validate' });
    assert.equal(decision.allowed, false);
    assert.match(decision.violations[0]!.message, /spec\.matchConditions\[0\]\.expression/);
  });

  it('a variable error names the variable, and is evaluated at most once', async () => {
    const s = await policies(
      policyYaml('bad-variable', `
      variables:
        - name: third
          expression: "object.spec.template.spec.containers[2]"
      validations:
        - expression: "variables.third.name != ''"
        - expression: "variables.third.image != ''"
      `),
    );
    const decision = review(admissionRequest(daemonSet()), s, { phase: 'validate' });
    assert.equal(decision.violations.length, 1);
    assert.match(decision.violations[0]!.message, /spec\.variables\[0\]\.expression/);
  });

  it('policies of one review see only their own variables, even under the same name', async () => {
    const s = await policies(
      policyYaml('first', `
      variables:
        - name: picked
          expression: "object.spec.template.spec.containers[5]"
      validations:
        - expression: "variables.picked.name != ''"
      `),
      policyYaml('second', `
      variables:
        - name: picked
          expression: "object.spec.template.spec.containers[0]"
      validations:
        - expression: "variables.picked.name == 'forbidden'"
          message: the first container is not named forbidden
      `),
      policyYaml('third', `
      params:
        limit: 3
      variables:
        - name: picked
          expression: "params.limit"
      validations:
        - expression: "variables.picked == 3"
      `),
    );
    const decision = review(admissionRequest(daemonSet()), s, { phase: 'validate' });
    assert.deepEqual(
      decision.outcomes.map((outcome) => [outcome.policy, outcome.result]),
      [['first', 'error'], ['second', 'fail'], ['third', 'pass']],
    );
    assert.match(decision.violations[0]!.message, /spec\.variables\[0\]\.expression/);
    assert.equal(decision.violations[1]!.message, 'the first container is not named forbidden');
  });

  it('variables evaluate the same whatever the number of variables of the policies before (slots reused and grown)', async () => {
    // Each variable reads the one before it, so a value left over from another policy would show.
    const chain = (name: string, count: number, first: string): string =>
      policyYaml(name, `
      variables:
${Array.from({ length: count }, (_, i) => `        - name: v${i}\n          expression: "${i === 0 ? first : `variables.v${i - 1} + 1`}"`).join('\n')}
      validations:
        - expression: "variables.v${count - 1} == ${count - 1}"
      `);
    const s = await policies(
      chain('two', 2, 'size(object.spec.template.spec.containers) - 1'),
      chain('forty', 40, 'size(object.spec.template.spec.containers) - 1'),
      chain('broken', 3, 'object.spec.template.spec.containers[7].name.size()'),
      chain('three', 3, 'size(object.spec.template.spec.containers) - 1'),
    );
    const decision = review(admissionRequest(daemonSet()), s, { phase: 'validate' });
    assert.deepEqual(
      decision.outcomes.map((outcome) => [outcome.policy, outcome.result]),
      [['two', 'pass'], ['forty', 'pass'], ['broken', 'error'], ['three', 'pass']],
    );
  });

  it("a reader cannot change another review's outcomes", async () => {
    const s = await policies(policyYaml('always', 'validations:\n  - expression: "true"\n'));
    const first = review(admissionRequest(daemonSet()), s, { phase: 'validate' });
    assert.throws(() => {
      (first.outcomes[0] as { message?: string }).message = 'changed';
    }, TypeError);
    const second = review(admissionRequest(daemonSet()), s, { phase: 'validate' });
    assert.deepEqual(second.outcomes, [{ policy: 'always', result: 'pass' }]);
  });

  it('past the deadline, pending policies are settled by their failurePolicy', async () => {
    const s = await policies(
      policyYaml('strict', 'validations:\n  - expression: "true"\n'),
      policyYaml('lenient', 'failurePolicy: Ignore\nvalidations:\n  - expression: "true"\n'),
    );
    const decision = review(admissionRequest(daemonSet()), s, { phase: 'validate', deadline: performance.now() - 1 });
    assert.equal(decision.allowed, false);
    assert.match(decision.violations[0]!.message, /deadline passed/);
    assert.match(decision.warnings[0]!, /^lenient: ignored because .*deadline passed/);
  });
});

describe('review: Kubernetes int semantics', () => {
  it('JSON integers are CEL ints: arithmetic and type() work as in Kubernetes', async () => {
    const s = await policies(
      policyYaml('ints', `
      validations:
        - expression: "object.spec.revisionHistoryLimit + 1 == 11"
          message: arithmetic
        - expression: "type(object.spec.minReadySeconds) == int"
          message: type
        - expression: "object.spec.template.spec.containers[0].ports[0].containerPort == 9100"
          message: nested
      `),
    );
    const decision = review(admissionRequest(daemonSet({ spec: { revisionHistoryLimit: 10, minReadySeconds: 5 } })), s, { phase: 'validate' });
    assert.deepEqual(decision.violations, []);
  });

  it('int-or-string fields stay dynamic: both forms can be inspected', async () => {
    const s = await policies(
      policyYaml('int-or-string', `
      validations:
        - expression: |
            !has(object.spec.updateStrategy.rollingUpdate.maxUnavailable) ||
            (type(object.spec.updateStrategy.rollingUpdate.maxUnavailable) == int
              ? object.spec.updateStrategy.rollingUpdate.maxUnavailable < 5
              : object.spec.updateStrategy.rollingUpdate.maxUnavailable != '100%')
          message: too many unavailable
      `),
    );
    const withValue = (value: number | string) =>
      review(admissionRequest(daemonSet({ spec: { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: value } } } })), s, { phase: 'validate' });
    assert.equal(withValue(1).allowed, true);
    assert.equal(withValue(10).allowed, false);
    assert.equal(withValue('10%').allowed, true);
    assert.equal(withValue('100%').allowed, false);
  });
});

describe('review: cost guard', () => {
  const containers = (count: number): JsonObject[] =>
    Array.from({ length: count }, (_, i) => ({ name: `c${i}`, image: `registry.example/agent:v${i}` }));

  it('an expression that would run away on 10,000 containers stops at its budget and follows failurePolicy', async () => {
    const set = await policies(
      policyYaml('quadratic-fail', `
      validations:
        - expression: "object.spec.template.spec.containers.all(a, object.spec.template.spec.containers.all(b, a.name != b.name || a.image == b.image))"
      `),
      policyYaml('quadratic-ignore', `
      failurePolicy: Ignore
      validations:
        - expression: "object.spec.template.spec.containers.exists(a, object.spec.template.spec.containers.exists(b, a.name == b.name && a.image != b.image))"
      `),
    );
    const decision = review(admissionRequest(daemonSet({ podSpec: { containers: containers(10_000) } })), set, { phase: 'validate' });
    assert.equal(decision.allowed, false);
    assert.match(decision.violations[0]!.message, /^policy could not be evaluated: .*cost budget exceeded/i);
    assert.match(decision.warnings[0]!, /^quadratic-ignore: ignored because .*cost budget exceeded/i);
    assert.deepEqual(decision.outcomes.map((o) => o.result), ['error', 'error']);
  });

  it('comparing large lists inside a nested comprehension runs out of budget, as Kubernetes prices ==', async () => {
    // 100 x 100 pairs of containers, each comparing two 1,000-argument lists: 10,000 iterations and
    // 10,000 comparisons of 100 units each (a tenth of the shorter list), over the 1,000,000 budget.
    // The same iterations comparing the lists' sizes (1 unit each) pass.
    const set = await policies(
      policyYaml('same-args', `
      validations:
        - expression: "object.spec.template.spec.containers.all(a, object.spec.template.spec.containers.all(b, a.args == b.args))"
      `),
      policyYaml('same-arg-counts', `
      validations:
        - expression: "object.spec.template.spec.containers.all(a, object.spec.template.spec.containers.all(b, size(a.args) == size(b.args)))"
      `),
    );
    const args = Array.from({ length: 1_000 }, (_, i) => `--flag-${i}`);
    const many = containers(100).map((c) => ({ ...c, args }));
    const decision = review(admissionRequest(daemonSet({ podSpec: { containers: many } })), set, { phase: 'validate' });
    assert.deepEqual(decision.outcomes.map((o) => o.result), ['error', 'pass']);
    assert.equal(decision.allowed, false);
    assert.match(decision.violations[0]!.message, /^policy could not be evaluated: .*cost budget exceeded/i);
  });

  // Each validation searches a `hay` annotation for a 10,000-character `needle`: ceil(hay / 10) * 1,000
  // units for contains(), as Kubernetes prices it, plus a few for reading the two annotations, each
  // under the 1,000,000 one expression may spend. Eleven of them with a 9,090-character hay cost
  // 11 * (909,000 + a few): just under the 10,000,000 one evaluation of a policy may spend; with
  // 9,100 characters 11 * (910,000 + a few): just over.
  const ELEVEN_SEARCHES = Array.from({ length: 11 }, () => `  - expression: "!object.metadata.annotations['hay'].contains(object.metadata.annotations['needle'])"`).join('\n');
  const withHay = (hayLength: number): JsonObject => {
    const object = daemonSet();
    (object.metadata as JsonObject).annotations = { hay: 'x'.repeat(hayLength), needle: 'y'.repeat(10_000) };
    return object;
  };

  it('a policy whose expressions together spend just under its budget passes; just over it, it fails and says where and what to do', async () => {
    const set = await policies(policyYaml('searches', `validations:\n${ELEVEN_SEARCHES}\n`));
    const under = measureCost(Number.MAX_SAFE_INTEGER, () => review(admissionRequest(withHay(9_090)), set, { phase: 'validate' }));
    assert.deepEqual(under.value.outcomes.map((o) => o.result), ['pass']);
    assert.ok(under.cost <= POLICY_COST_BUDGET && under.cost > POLICY_COST_BUDGET - 1_000, `spent ${under.cost}`);

    const over = review(admissionRequest(withHay(9_100)), set, { phase: 'validate' });
    assert.deepEqual(over.outcomes.map((o) => o.result), ['error']);
    assert.equal(over.allowed, false);
    const message = over.violations[0]!.message;
    // Where: the policy and the expression that went over (the eleventh); what: cheaper or split.
    assert.equal(over.violations[0]!.policy, 'searches');
    assert.match(message, /^policy could not be evaluated: spec\.validations\[10\]\.expression: the policy's expressions spent 10,010,\d{3} CEL cost units together, over the 10,000,000 /);
    assert.match(message, /no further expression of the policy was evaluated\. Make its expressions cheaper .* or split the policy in two$/);
  });

  it('policies each under their own budget are all evaluated, however much they spend together', async () => {
    // Three policies of 9,999,000-odd units each: together six times the 5,000,000 the whole review
    // used to be allowed. The apiserver gives each policy its budget; so does the review.
    const set = await policies(...['first', 'second', 'third'].map((name) => policyYaml(name, `failurePolicy: Ignore\nvalidations:\n${ELEVEN_SEARCHES}\n`)));
    const { value, cost } = measureCost(Number.MAX_SAFE_INTEGER, () => review(admissionRequest(withHay(9_090)), set, { phase: 'validate' }));
    assert.deepEqual(value.outcomes.map((o) => [o.policy, o.result]), [['first', 'pass'], ['second', 'pass'], ['third', 'pass']]);
    assert.deepEqual(value.warnings, []);
    assert.ok(cost > 3 * (POLICY_COST_BUDGET - 1_000), `spent ${cost}`);
  });

  it('matchConditions spend a budget of their own, apart from the validations\'', async () => {
    // Two conditions of 909,000-odd units (1,818,000 of the 2,500,000 they may spend together), then
    // eleven validations of as many: together more than 10,000,000, but each budget holds.
    const conditions = Array.from({ length: 2 }, (_, i) => `  - name: search-${i}\n    expression: "!object.metadata.annotations['hay'].contains(object.metadata.annotations['needle'])"`).join('\n');
    const set = await policies(
      policyYaml('guarded', `matchConditions:\n${conditions}\nvalidations:\n${ELEVEN_SEARCHES}\n`),
      policyYaml('over-guarded', `matchConditions:\n${conditions}\n${conditions.replace(/search-/g, 'again-')}\nvalidations:\n  - expression: "true"\n`),
    );
    const decision = review(admissionRequest(withHay(9_090)), set, { phase: 'validate' });
    assert.deepEqual(decision.outcomes.map((o) => [o.policy, o.result]), [['guarded', 'pass'], ['over-guarded', 'error']]);
    assert.match(decision.violations[0]!.message, /spec\.matchConditions\[2\]\.expression: the policy's matchConditions spent 2,727,\d{3} CEL cost units together, over the 2,500,000 /);
  });

  it('a messageExpression that spends the last of the budget fails the policy rather than falling back to the static message', async () => {
    // Ten searches pass (9,100,000-odd units); the eleventh validation fails, and its messageExpression
    // searches again: 10,010,000-odd in all.
    const validations = Array.from({ length: 10 }, () => `  - expression: "!object.metadata.annotations['hay'].contains(object.metadata.annotations['needle'])"`).join('\n');
    const set = await policies(
      policyYaml('wordy', `validations:\n${validations}\n  - expression: "false"\n    message: static\n    messageExpression: "object.metadata.annotations['hay'].contains(object.metadata.annotations['needle']) ? 'found' : 'not found'"\n`),
    );
    const decision = review(admissionRequest(withHay(9_100)), set, { phase: 'validate' });
    assert.deepEqual(decision.outcomes.map((o) => o.result), ['error']);
    assert.match(decision.violations[0]!.message, /spec\.validations\[10\]\.messageExpression: the policy's expressions spent/);
  });
});
