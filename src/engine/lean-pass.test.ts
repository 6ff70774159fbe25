import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { admissionRequest, daemonSet, policyYaml, writeTree } from '../../test/support/admission-fixtures.js';
import { countEvaluations, countSharedEvaluations } from '../../test/support/count-evaluations.js';
import { POLICIES_DIR } from '../../test/support/library-paths.js';
import { loadPolicySet } from '../policy/load-policies.js';
import type { PolicySet } from '../policy/types.js';
import { leanCoversMatchConditions, leanSourceOf, leanStatistics, type LeanPass } from './lean-pass.js';
import { plansOf, type PolicyPlan } from './policy-plan.js';
import { review } from './review.js';
import type { Decision, JsonObject } from './types.js';

/** A set of one policy, `name`, whose spec is `spec` (YAML), from a file as the engine loads policies. */
async function loadPolicy(name: string, spec: string): Promise<PolicySet> {
  return loadPolicySet([await writeTree({ 'p.yaml': policyYaml(name, spec) })]);
}

/** The decision with every lean function set aside: what the exact code alone decides. */
function exactDecision(set: PolicySet, decide: () => Decision): Decision {
  const plans = plansOf(set.validatingPolicies, set);
  const kept = plans.map((plan) => plan.lean);
  for (const plan of plans) (plan as { lean: LeanPass | undefined }).lean = undefined;
  try {
    return decide();
  } finally {
    plans.forEach((plan, i) => ((plan as { lean: LeanPass | undefined }).lean = kept[i]));
  }
}

/** The parts of a decision that do not vary between two reviews of the same request. */
function comparable(decision: Decision): unknown {
  return { allowed: decision.allowed, violations: decision.violations, warnings: decision.warnings, outcomes: decision.outcomes };
}

/** For a DaemonSet with each of `metadatas` in turn: the lean tier decides as the exact code alone does. */
function agreesOnMetadata(set: PolicySet, metadatas: readonly JsonObject[]): void {
  for (const metadata of metadatas) {
    const request = admissionRequest({ ...daemonSet(), metadata: { namespace: 'default', ...metadata } });
    const decide = () => review(request, set, { phase: 'validate' });
    assert.deepEqual(comparable(decide()), comparable(exactDecision(set, decide)), JSON.stringify(metadata));
  }
}

const PRIVILEGED = `
validationActions: [Deny]
variables:
  - name: containers
    expression: "object.spec.template.spec.?initContainers.orValue([]) + object.spec.template.spec.containers"
  - name: privileged
    expression: "variables.containers.filter(c, c.?securityContext.?privileged.orValue(false)).map(c, c.name)"
validations:
  - expression: "size(variables.privileged) == 0"
    messageExpression: "'privileged: ' + variables.privileged.join(', ')"
  - expression: "object.spec.template.spec.?hostNetwork.orValue(false) == false"
    message: "hostNetwork is not allowed"
`;

/** A request-only expression two policies below declare as a variable: it has a slot in the review's memo. */
const SHARED = 'object.spec.template.spec.?initContainers.orValue([]) + object.spec.template.spec.containers';

/** The policy after the first in the shared-variable tests: it reads SHARED under a name of its own. */
const SECOND_READING_SHARED = policyYaml(
  'second',
  `
validationActions: [Deny]
variables:
  - name: all
    expression: "${SHARED}"
validations:
  - expression: "variables.all.all(c, has(c.image))"
`,
);

describe('the lean tier', () => {
  it('answers a passing policy in its lean function, without evaluating the expressions’ exact code', async () => {
    const set = await loadPolicy('privileged', PRIVILEGED);
    const plan = plansOf(set.validatingPolicies, set)[0]!;
    assert.ok(plan.lean, 'the policy has a lean function');
    const validations = countEvaluations(set, ['size(variables.privileged) == 0', 'object.spec.template.spec.?hostNetwork.orValue(false) == false']);
    const answered = leanStatistics.answered;
    const decision = review(admissionRequest(daemonSet()), set, { phase: 'validate' });
    assert.deepEqual(decision.outcomes, [{ policy: 'privileged', result: 'pass' }]);
    assert.equal(leanStatistics.answered, answered + 1);
    assert.equal(validations.count, 0, 'the exact code of the validations did not run');
  });

  it('answers failed validations with the messages the exact code gives (messageExpression, static message)', async () => {
    const set = await loadPolicy('privileged', PRIVILEGED);
    const object = daemonSet({
      podSpec: {
        hostNetwork: true,
        containers: [
          { name: 'a', image: 'a:1', securityContext: { privileged: true } },
          { name: 'b', image: 'b:1' },
          { name: 'c', image: 'c:1', securityContext: { privileged: true } },
        ],
      },
    });
    const decide = () => review(admissionRequest(object), set, { phase: 'validate' });
    const answered = leanStatistics.answered;
    const lean = decide();
    assert.equal(leanStatistics.answered, answered + 1);
    assert.deepEqual(
      lean.violations.map((v) => v.message),
      ['privileged: a, c', 'hostNetwork is not allowed'],
    );
    assert.deepEqual(comparable(lean), comparable(exactDecision(set, decide)));
  });

  it('answers the matchConditions too: a false one skips the policy as the exact code says, nothing else evaluated; one it gives up on leaves all to the exact code', async () => {
    const conditions = `
matchConditions:
  - name: not-skipped
    expression: "object.metadata.?annotations[?'example.com/skip'].orValue('') != 'true'"
  - name: rolling
    expression: "object.spec.?updateStrategy.?type.orValue('RollingUpdate') == 'RollingUpdate'"
`;
    const set = await loadPolicy('privileged', PRIVILEGED + conditions);
    const plan = plansOf(set.validatingPolicies, set)[0]!;
    assert.ok(plan.lean !== undefined && leanCoversMatchConditions(plan.lean), 'the lean function holds the matchConditions');
    const evaluations = countEvaluations(set, [
      "object.metadata.?annotations[?'example.com/skip'].orValue('') != 'true'",
      "object.spec.?updateStrategy.?type.orValue('RollingUpdate') == 'RollingUpdate'",
      SHARED,
      'size(variables.privileged) == 0',
    ]);
    const onDelete = daemonSet({ podSpec: { containers: [{ name: 'a', image: 'a:1', securityContext: { privileged: true } }] } });
    (onDelete['spec'] as Record<string, unknown>)['updateStrategy'] = { type: 'OnDelete' };
    const cases = [
      { object: daemonSet(), outcome: { policy: 'privileged', result: 'pass' } },
      { object: onDelete, outcome: { policy: 'privileged', result: 'skip', message: 'matchCondition "rolling" is false' } },
    ];
    for (const { object, outcome } of cases) {
      const decide = () => review(admissionRequest(object), set, { phase: 'validate' });
      const answered = leanStatistics.answered;
      const lean = decide();
      assert.equal(leanStatistics.answered, answered + 1);
      assert.deepEqual(lean.outcomes, [outcome]);
      assert.equal(evaluations.count, 0, 'no exact code ran: not the matchConditions, not the variables');
      assert.deepEqual(comparable(lean), comparable(exactDecision(set, decide)));
      evaluations.count = 0;
    }
    // A matchCondition the tier cannot answer (a double): it gives up there, before charging anything
    // else, and the exact code runs the conditions and the validations from the start.
    const doubles = await loadPolicySet([
      await writeTree({ 'p.yaml': policyYaml('privileged', PRIVILEGED + conditions + `  - name: short\n    expression: "double(size(object.metadata.name)) < 64.0"\n`) }),
    ]);
    for (const { object, outcome } of cases) {
      const decide = () => review(admissionRequest(object), doubles, { phase: 'validate' });
      const gaveUp = leanStatistics.gaveUp;
      const lean = decide();
      assert.equal(leanStatistics.gaveUp, gaveUp + (outcome.result === 'skip' ? 0 : 1), 'gives up at the double, unless an earlier condition already skipped');
      assert.deepEqual(lean.outcomes, [outcome]);
      assert.deepEqual(comparable(lean), comparable(exactDecision(doubles, decide)));
    }
  });

  it('gives up on what it does not implement, and the exact code decides as it always did', async () => {
    const set = await loadPolicy(
      'ratios',
      `
validationActions: [Deny]
validations:
  - expression: "object.spec.template.spec.containers.all(c, double(size(c.name)) / 2.0 < 40.0)"
  - expression: "object.spec.template.spec.containers.map(c, c.name) == ['agent']"
    message: "only the agent container"
`,
    );
    for (const containers of [[{ name: 'agent', image: 'a:1' }], [{ name: 'other', image: 'o:1' }]]) {
      const decide = () => review(admissionRequest(daemonSet({ podSpec: { containers } })), set, { phase: 'validate' });
      const gaveUp = leanStatistics.gaveUp;
      const lean = decide();
      assert.equal(leanStatistics.gaveUp, gaveUp + 1, 'a double and a list comparison are not lean');
      assert.deepEqual(comparable(lean), comparable(exactDecision(set, decide)));
    }
  });

  it('evaluates a variable shared with a later policy once per review, also when an attempt gave up after evaluating it', async (t) => {
    const set = await loadPolicySet([
      await writeTree({
        // The first policy reads the shared variable, then meets a double: it gives up, and its exact
        // code finds the variable in the review's memo.
        '1.yaml': policyYaml(
          'first',
          `
validationActions: [Deny]
variables:
  - name: containers
    expression: "${SHARED}"
validations:
  - expression: "size(variables.containers) > 0 && 0.5 < 1.0"
`,
        ),
        '2.yaml': SECOND_READING_SHARED,
      }),
    ]);
    const evaluations = countSharedEvaluations(t, set, SHARED);
    const gaveUp = leanStatistics.gaveUp;
    const decision = review(admissionRequest(daemonSet()), set, { phase: 'validate' });
    assert.deepEqual(decision.outcomes, [
      { policy: 'first', result: 'pass' },
      { policy: 'second', result: 'pass' },
    ]);
    assert.equal(leanStatistics.gaveUp, gaveUp + 1);
    assert.equal(evaluations.count, 1);
    assert.equal(evaluations.byLean, 1, 'the first policy’s lean function evaluated it into the memo; its exact code and the second policy found it there');
  });

  it('leaves out of the memo a shared variable a given-up attempt evaluated and the exact code never read, so the next policy evaluates it', async (t) => {
    const set = await loadPolicySet([
      await writeTree({
        // The lean function evaluates \`count\` first thing (the second validation reads it
        // unconditionally), and with it the shared variable; then it gives up at the first validation,
        // where the exact code stops on an error (no hostNetwork member) and reads neither.
        '1.yaml': policyYaml(
          'first',
          `
validationActions: [Deny]
failurePolicy: Ignore
variables:
  - name: containers
    expression: "${SHARED}"
  - name: count
    expression: "size(variables.containers)"
validations:
  - expression: "object.spec.template.spec.hostNetwork == false"
  - expression: "variables.count > 0"
`,
        ),
        '2.yaml': SECOND_READING_SHARED,
      }),
    ]);
    const decide = () => review(admissionRequest(daemonSet()), set, { phase: 'validate' });
    const exact = exactDecision(set, decide);
    const evaluations = countSharedEvaluations(t, set, SHARED);
    const lean = decide();
    assert.deepEqual(comparable(lean), comparable(exact));
    assert.equal(lean.outcomes[0]!.result, 'error');
    assert.equal(evaluations.count, 2, 'the attempt evaluated it, and the second policy again, as without the lean tier');
  });

  it('reads a member once on every path to its uses, and again after a branch that read it', async () => {
    const set = await loadPolicy(
      'reads',
      `
validationActions: [Deny]
validations:
  - expression: "object.metadata.name != '' && object.metadata.namespace != 'kube-system'"
  - expression: "(object.metadata.name == 'a' ? object.metadata.labels.tier : 'none') != '' && object.metadata.labels.tier != 'z'"
`,
    );
    const source = leanSourceOf(plansOf(set.validatingPolicies, set)[0]!.lean!)!;
    const count = (pattern: RegExp): number => [...source.matchAll(pattern)].length;
    // One read of the object and of its metadata per validation (each a fragment of its own).
    assert.equal(count(/ = J\.object;$/gm), 2, 'object read once per validation');
    assert.equal(count(/ = \S+\.metadata;$/gm), 2, 'metadata read once per validation');
    // The labels read inside the ternary's branch may not have happened: read again after it.
    assert.equal(count(/ = \S+\.labels;$/gm), 2, 'labels read in the branch and again after it');
    agreesOnMetadata(set, [{ name: 'a', labels: { tier: 'z' } }, { name: 'b' }, { name: 'a' }, { name: 'b', labels: { tier: 'web' } }, { name: '' }]);
  });

  it('tests a value to be a map again after a branch that tested it: a string is no map, whatever members its prototype has', async () => {
    // labels is tested to be a map only inside the ternary's branch; `length` is a member of every
    // string, so a test carried over past the branch would find "abc".length where CEL's has() fails.
    const set = await loadPolicy(
      'tested',
      `
validationActions: [Deny]
validations:
  - expression: "size(object.metadata.labels) > 0 && (object.metadata.name == 'a' ? has(object.metadata.labels.length) : true) && has(object.metadata.labels.length)"
  - expression: "object.metadata.name != ''"
`,
    );
    agreesOnMetadata(set, [{ name: 'b', labels: 'abc' }, { name: 'a', labels: 'abc' }, { name: 'b', labels: { length: '3' } }]);
  });

  it('writes a long variable as a function of its own, so that no lean function is one huge body (TurboFan’s scratch memory grows with it)', async () => {
    const library = await loadPolicySet([POLICIES_DIR]);
    const plan = plansOf(library.validatingPolicies, library).find((p) => p.policy.name === 'pod-security-baseline')!;
    const source = leanSourceOf(plan.lean!)!;
    // Each such function: from `var vN = (J, A, P) => {` to the line `};` that closes it.
    const functions = [...source.matchAll(/^var v\d+ = \(J, A, P\) => \{$[\s\S]*?^\};$/gm)];
    assert.ok(functions.length >= 4, `${functions.length} of its variables are functions of their own`);
    const inFunctions = functions.reduce((sum, match) => sum + match[0].length, 0);
    assert.ok(inFunctions > source.length / 2, `${inFunctions} of ${source.length} characters are in functions of their own`);
    // Made once beside the lean function, not as closures on each call.
    const entry = source.indexOf('return function leanPass(');
    assert.ok(functions.every((match) => match.index < entry), 'the variables’ functions are declared before the lean function');
  });

  it('stops a quantifier with a comparison and the stop’s charge inline, not a call per element', async () => {
    const library = await loadPolicySet([POLICIES_DIR]);
    const sources = plansOf(library.validatingPolicies, library).flatMap((plan) => (plan.lean ? [leanSourceOf(plan.lean)!] : []));
    const inline = sources.reduce((sum, source) => sum + [...source.matchAll(/^ *if \(\S+ === (true|false)\) \{ if \(\(M\.spent \+= \d\) > M\.threshold\) over\(\); break; \}$/gm)].length, 0);
    const calls = sources.reduce((sum, source) => sum + [...source.matchAll(/^ *if \(!\S+\(\S+\)\) break;$/gm)].length, 0);
    assert.ok(inline >= 20, `${inline} quantifiers stop inline`);
    assert.equal(calls, 0, 'no loop condition is called');
  });

  it('clears its variables on every call where they live beside it: a second review sees its own values', async () => {
    // A variable long enough to be a function of its own, and one it reads, both of the object.
    const prefixes = Array.from({ length: 40 }, (_, i) => `c.?image.orValue('').startsWith('registry-${i}.example/')`).join(' || ');
    const set = await loadPolicy(
      'long',
      `
validationActions: [Deny]
variables:
  - name: suffix
    expression: "'@' + object.metadata.name"
  - name: listed
    expression: "object.spec.template.spec.containers.filter(c, ${prefixes}).map(c, c.name + variables.suffix)"
validations:
  - expression: "size(variables.listed) == 0"
    messageExpression: "variables.listed.join(', ')"
`,
    );
    const source = leanSourceOf(plansOf(set.validatingPolicies, set)[0]!.lean!)!;
    assert.match(source, /^var v\d+ = \(J, A, P\) => \{$/m, 'the long variable is a function of its own');
    const object = (name: string) => daemonSet({ name, podSpec: { containers: [{ name: 'agent', image: 'registry-7.example/agent:1' }] } });
    const answered = leanStatistics.answered;
    const messages = ['first', 'second', 'third'].map((name) => review(admissionRequest(object(name)), set, { phase: 'validate' }).violations[0]!.message);
    assert.equal(leanStatistics.answered, answered + 3);
    assert.deepEqual(messages, ['agent@first', 'agent@second', 'agent@third']);
  });

  it('builds map literals as the exact code does: members in order, a repeated key, keys that are not names or look like its tokens', async () => {
    const set = await loadPolicy(
      'maps',
      `
validationActions: [Deny]
variables:
  - name: m
    expression: "{'b': object.metadata.name, 'a$t1': 2, '10': 3, '2': 4, 'b': 'again', 'ü x': 6, '$c0': 7, 'z': 8}"
validations:
  - expression: "size(variables.m) == 0"
    messageExpression: "variables.m.map(k, k + '=' + string(variables.m[k])).join(', ')"
`,
    );
    const plan: PolicyPlan = plansOf(set.validatingPolicies, set)[0]!;
    assert.ok(plan.lean, 'the policy has a lean function');
    const source = leanSourceOf(plan.lean)!;
    // Written as computed keys of their JSON literals, after every renaming (`a$t1` is not a temporary).
    assert.ok(source.includes(`[${JSON.stringify('ü x')}]`) && source.includes(`[${JSON.stringify('a$t1')}]`), 'keys that are not names are literals');
    const decide = () => review(admissionRequest(daemonSet()), set, { phase: 'validate' });
    const answered = leanStatistics.answered;
    const lean = decide();
    assert.equal(leanStatistics.answered, answered + 1, 'the lean function answered');
    const exact = exactDecision(set, decide);
    assert.deepEqual(comparable(lean), comparable(exact));
    assert.match(lean.violations[0]!.message, /^2=4, 10=3, b=again, a\$t1=2, ü x=6, \$c0=7, z=8$/);
  });

  it('keeps empty lists apart from the lists it builds: a filter that keeps nothing, one that keeps some, concatenated either way', async () => {
    const set = await loadPolicy(
      'lists',
      `
validationActions: [Deny]
variables:
  - name: none
    expression: "object.spec.template.spec.containers.filter(c, c.name == 'absent')"
  - name: some
    expression: "object.spec.template.spec.containers.filter(c, c.name != 'absent').map(c, c.name)"
  - name: joined
    expression: "variables.none.map(c, c.name) + variables.some + [] + variables.some.filter(n, n == 'b') + variables.none.map(c, 'x')"
validations:
  - expression: "size(variables.joined) == 0 && size([].map(x, x)) == 0"
    messageExpression: "variables.joined.join(',') + ' / ' + string(size(variables.none)) + ' / ' + variables.some.join(',')"
`,
    );
    const object = daemonSet({ podSpec: { containers: ['a', 'b', 'c'].map((name) => ({ name, image: `${name}:1` })) } });
    const decide = () => review(admissionRequest(object), set, { phase: 'validate' });
    const answered = leanStatistics.answered;
    const lean = decide();
    const again = decide();
    assert.equal(leanStatistics.answered, answered + 2, 'the lean function answered both');
    assert.deepEqual(comparable(lean), comparable(exactDecision(set, decide)));
    assert.deepEqual(comparable(again), comparable(lean), 'the second review found the empty list empty');
    assert.equal(lean.violations[0]!.message, 'a,b,c,b / 0 / a,b,c');
  });

  it('reads params as the exact code does, members the prototype also has included (params are ordinary objects to it)', async () => {
    const policy = (name: string, params: string) =>
      policyYaml(
        name,
        `
validationActions: [Deny]
params: ${params}
validations:
  - expression: "params.limit == 3 && size(dyn(params).nested) == 2"
    messageExpression: "'limit ' + string(params.limit)"
  - expression: "!('toString' in dyn(params)) || dyn(params).?toString.orValue('none') == 'own'"
    messageExpression: "'toString ' + dyn(params).?toString.orValue('none')"
  - expression: "!('constructor' in dyn(params).nested) && dyn(params).?valueOf.orValue('absent') == 'absent'"
`,
      );
    const set = await loadPolicySet([
      await writeTree({
        'a.yaml': policy('plain', '{limit: 3, nested: {a: 1, b: 2}}'),
        'b.yaml': policy('reserved', '{limit: 3, nested: {constructor: 1, b: 2}, toString: own, hasOwnProperty: 1}'),
        'c.yaml': policy('proto', '{limit: 4, nested: {"__proto__": 1, b: 2}, toString: other}'),
      }),
    ]);
    const plans = plansOf(set.validatingPolicies, set);
    assert.equal(Object.getPrototypeOf(plans[0]!.leanParams), Object.prototype, 'a map of params is an ordinary object to the lean tier');
    assert.equal(Object.getPrototypeOf((plans[2]!.leanParams as { nested: object }).nested), null, 'one with a __proto__ key holds it as a member');
    const decide = () => review(admissionRequest(daemonSet()), set, { phase: 'validate' });
    const answered = leanStatistics.answered;
    const lean = decide();
    assert.ok(leanStatistics.answered > answered, 'the lean functions answered');
    assert.deepEqual(comparable(lean), comparable(exactDecision(set, decide)));
    assert.deepEqual(
      lean.outcomes.map((o) => o.result),
      ['pass', 'fail', 'fail'],
    );
  });

  it('writes the policy’s strings into its source only as JSON literals: a string that would end one stays a value', async () => {
    const set = await loadPolicy(
      'text',
      `
validationActions: [Deny]
validations:
  - expression: "object.metadata.?annotations[?'x\\"; throw 1; //'].orValue('\`\${process.exit(1)}\`') != 'never'"
  - expression: "object.metadata.name != '*/ throw 2; /*'"
`,
    );
    const plan: PolicyPlan = plansOf(set.validatingPolicies, set)[0]!;
    const source = leanSourceOf(plan.lean!)!;
    const texts = ['x"; throw 1; //', '`${process.exit(1)}`', '*/ throw 2; /*'];
    for (const text of texts) assert.ok(source.includes(JSON.stringify(text)), `${text} is written as its literal`);
    // Without those literals, nothing of the policy's text is left.
    const rest = texts.reduce((text, policyText) => text.split(JSON.stringify(policyText)).join('""'), source);
    for (const text of ['throw 1', 'process.exit', 'throw 2']) assert.ok(!rest.includes(text), `"${text}" is in the source outside a literal`);
    assert.deepEqual(review(admissionRequest(daemonSet()), set, { phase: 'validate' }).outcomes, [{ policy: 'text', result: 'pass' }]);
  });
});
