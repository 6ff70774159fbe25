// The lean tier (src/engine/lean-pass.ts) against the exact code, its reference: for every policy of
// the built-in library, the README's examples and a set of edge policies written for the tier, on
// the verify suites' DaemonSets and fast-check variations of them (fields dropped, values of the
// wrong type anywhere, odd securityContexts and annotations, UPDATEs, coverage null or computed), the
// policies run in order on one review's shared values as review() runs them, once on the exact code
// alone and once lean first. Wherever the lean function passes, the exact code passes too, at the
// same cost, leaving the same shared variables in the review's memo; wherever it gives up, the exact
// code that runs after it reaches the same results at the same cost as the exact code alone (nothing
// of the attempt shows). Giving up is always allowed; the tests count how often the tier passes, so
// that one that quietly stopped passing is noticed.
//
// DAEMONGUARD_FUZZ_RUNS sets the number of generated DaemonSets (default 150).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parse as parseYaml } from 'yaml';
import { measureCost, withCostBudget } from '../../src/cel/cost.js';
import type { JsonObject } from '../../src/common/vocabulary.js';
import { PolicyActivation, sharedValues } from '../../src/engine/activation.js';
import { evaluateCheckBoolean } from '../../src/engine/evaluate.js';
import { answerLean, leanCoversMatchConditions, leanStatistics, type LeanAnswer } from '../../src/engine/lean-pass.js';
import { MATCH_CONDITIONS_COST_BUDGET, POLICY_COST_BUDGET } from '../../src/engine/policy-budget.js';
import { plansOf, type PolicyPlan } from '../../src/engine/policy-plan.js';
import { messageOf, review, validationMessage } from '../../src/engine/review.js';
import { loadPolicySet } from '../../src/policy/load-policies.js';
import type { PolicySet } from '../../src/policy/types.js';
import { seedDaemonSets } from '../robustness/hostile-fixtures.js';
import { admissionRequest, writeTree } from '../support/admission-fixtures.js';
import { applyEdits, edgeAnnotations, edgeMember, edit } from '../support/daemonset-edits.js';
import { POLICIES_DIR, repoRoot } from '../support/library-paths.js';

const RUNS = Math.max(1, Number(process.env['DAEMONGUARD_FUZZ_RUNS'] ?? 150));

/**
 * Validations that take the tier's paths: chains and has() over missing, null and mistyped members,
 * reserved keys, `==` on short, long and empty strings and on null, int arithmetic at the edges of
 * safe integers, division and remainder, the library's functions on dyn operands, map literals,
 * comprehensions over lists and maps, params, a variable read in several places and a shared one.
 */
const EDGE_VALIDATIONS = [
  'object.spec.template.spec.containers.all(c, c.?securityContext.?privileged.orValue(false) == false)',
  "object.spec.template.spec.containers.all(c, !has(c.securityContext) || !has(c.securityContext.capabilities) || c.securityContext.capabilities.?add.orValue([]).all(a, a in ['NET_BIND_SERVICE', 'CHOWN']))",
  "object.spec.template.spec.containers.exists(c, c.name != '')",
  "object.metadata.?annotations.orValue({}).all(k, !k.startsWith('forbidden.example/'))",
  "object.metadata.?annotations.?__proto__.orValue('absent') != 'x'",
  "object.metadata.?annotations[?'we\"ird\\\\key${x}\\n'].orValue('absent') != 'forbidden'",
  "!('constructor' in object.metadata.?annotations.orValue({})) || object.metadata.name != ''",
  "object.metadata.?annotations.?toString.orValue('none') == 'none' || has(object.metadata.annotations.hostNetwork)",
  'size(object.spec.template.spec.containers.filter(c, c.?securityContext.?runAsUser.orValue(1) == 0)) == 0',
  'object.spec.template.spec.containers.map(c, c.?securityContext.?runAsUser.orValue(1000) + 1).all(u, u > 0)',
  'object.spec.template.spec.containers.all(c, c.?securityContext.?runAsUser.orValue(1000) / 2 >= 0 && c.?securityContext.?runAsUser.orValue(7) % 7 != 9)',
  'object.spec.template.spec.containers.all(c, -c.?securityContext.?runAsUser.orValue(0) * 3 <= 0)',
  'object.spec.template.spec.containers.all(c, c.name.size() < 64 && size(c.name) == c.name.size())',
  "object.spec.template.spec.containers.all(c, c.image.split(':').size() <= 3 && !c.image.contains(' ') && c.image.lowerAscii() != '')",
  "object.spec.template.spec.containers.map(c, {'n': c.name, 'i': c.?image.orValue(''), '__proto__': c}).all(m, m.n != 'forbidden' && m.i.indexOf('@') >= -1)",
  "[object.metadata.name].all(n, n.matches('^[a-z0-9.-]+$'))",
  '(object.spec.template.spec.?initContainers.orValue([]) + object.spec.template.spec.containers).all(c, has(c.name))',
  'object.spec.template.spec.containers.all(c, c.?ports.orValue([]).all(p, p.?hostPort.orValue(0) == 0 || p.hostPort >= 1024))',
  "object.spec.template.spec.?hostNetwork.orValue(false) == false || object.metadata.namespace == 'kube-system'",
  'oldObject == null || oldObject.metadata.name == object.metadata.name',
  "coverage == null || coverage.scheduledNodes.all(n, n.name != '')",
  "object.spec.template.spec.containers.exists(c, c.name == 'a-container-name-longer-than-ten') || true",
  "request.operation in ['CREATE', 'UPDATE']",
  'params.allowed.exists(a, a == object.metadata.namespace) || object.metadata.namespace != params.blocked',
  'object.spec.template.spec.containers.size() <= params.limit',
  "object.spec.template.spec.containers.all(c, c.?resources.?limits.orValue({}).all(k, k in ['cpu', 'memory', 'ephemeral-storage']))",
  'object.metadata.?labels.orValue({}).all(k, object.metadata.labels[k].size() < 64)',
  "object.spec.template.spec.containers[0].name != ''",
  "variables.names.all(n, n != '') && size(variables.names) >= 1",
  'variables.names.size() == variables.containers.size() - size(object.spec.template.spec.?initContainers.orValue([]))',
  "variables.containers.all(c, c.name + '/' + c.?image.orValue('') != 'a/b')",
  "object.spec.template.spec.containers.map(c, c.name).join(',') != '' && object.spec.template.spec.containers[0].name.substring(0, 1) != '!'",
  "!object.metadata.?annotations[?'replicas'].orValue('0').matches('^[0-9]+%?$') || object.metadata.annotations.replicas.matches('^0+%?$') || true",
  "int(object.metadata.?annotations[?'replicas'].orValue('0')) < 1000",
];

/**
 * Two edge policies: the second shares `containers` with the first (a memo slot), reads one of its own,
 * and has matchConditions (one false on DaemonSets annotated `skip.example/...`, which the generated
 * annotations sometimes are, one that a mistyped annotation makes fail).
 */
async function edgePolicies(): Promise<PolicySet> {
  const json = (value: unknown) => JSON.stringify(value);
  const policy = (name: string, variables: Record<string, string>, validations: readonly string[], matchConditions: Record<string, string> = {}) =>
    [
      'apiVersion: daemonguard.dev/v1alpha1',
      'kind: DaemonSetPolicy',
      `metadata: {name: ${name}}`,
      'spec:',
      '  validationActions: [Deny]',
      '  failurePolicy: Fail',
      `  params: ${json({ allowed: ['default', 'kube-system'], blocked: 'blocked', limit: 10 })}`,
      ...(Object.keys(matchConditions).length === 0 ? [] : ['  matchConditions:']),
      ...Object.entries(matchConditions).map(([condition, expression]) => `    - {name: ${condition}, expression: ${json(expression)}}`),
      '  variables:',
      ...Object.entries(variables).map(([variable, expression]) => `    - {name: ${variable}, expression: ${json(expression)}}`),
      '  validations:',
      ...validations.map((expression) => `    - {expression: ${json(expression)}}`),
      '',
    ].join('\n');
  const containers = 'object.spec.template.spec.?initContainers.orValue([]) + object.spec.template.spec.containers';
  const dir = await writeTree({
    'a.yaml': policy('lean-edge-a', { containers, names: 'object.spec.template.spec.containers.map(c, c.name)' }, EDGE_VALIDATIONS),
    'b.yaml': policy(
      'lean-edge-b',
      { containers, privileged: 'variables.containers.filter(c, c.?securityContext.?privileged.orValue(false))' },
      ['size(variables.privileged) == 0', 'variables.containers.all(c, has(c.name))'],
      {
        'not-skipped': "!object.metadata.?annotations.orValue({}).exists(k, k.startsWith('skip.example/'))",
        'tier-known': "object.metadata.?annotations[?'tier'].orValue('app').lowerAscii() in ['app', 'infra', 'TIER']",
      },
    ),
  });
  return loadPolicySet([dir]);
}

/** The README's DaemonSetPolicy examples, from its yaml code blocks. */
async function readmePolicies(): Promise<PolicySet> {
  const readme = await readFile(path.join(repoRoot(), 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!).filter((b) => /^kind: DaemonSetPolicy$/m.test(b));
  assert.ok(blocks.length > 0, 'the README shows no DaemonSetPolicy');
  return loadPolicySet([await writeTree({ 'readme.yaml': blocks.join('\n---\n') })]);
}

const sets: readonly PolicySet[] = [await loadPolicySet([POLICIES_DIR]), await readmePolicies(), await edgePolicies()];
const clusterNodes = (parseYaml(await readFile(path.join(repoRoot(), 'test', 'policies', 'nodes', 'cluster.yaml'), 'utf8')) as { items: JsonObject[] }).items;
const seeds = seedDaemonSets();

/** One policy's validations: each `true`, `fail: <message>` or `error: <what>` (or the one `skip: <matchCondition>`), what it spent, and what the lean tier did. */
interface Run {
  results: (true | string)[];
  cost: number;
  lean: 'answered' | 'gave up' | 'not asked';
}

const describeError = (error: unknown) => `error: ${(error as Error).name}: ${(error as Error).message}`;

/** The validations on the exact code, as review.ts runs them (each failure's message right after it). */
function exactValidations(plan: PolicyPlan, activation: PolicyActivation): (true | string)[] {
  const evaluate = () =>
    plan.validations.map((check, i): true | string => {
      try {
        if (evaluateCheckBoolean(check, activation)) return true;
        return `fail: ${validationMessage(plan.policy, i, activation)}`;
      } catch (error) {
        return describeError(error);
      }
    });
  return plan.meterValidations ? withCostBudget(POLICY_COST_BUDGET, evaluate) : evaluate();
}

/** What a policy skipped by its matchCondition `index` records in place of its validations' results. */
const skipResult = (plan: PolicyPlan, index: number): string => `skip: ${plan.policy.matchConditions[index]!.name}`;

/** The matchConditions on the exact code, as review.ts runs them: the skip or the error, or undefined when all hold. */
function exactMatchConditions(plan: PolicyPlan, activation: PolicyActivation): string[] | undefined {
  const evaluate = (): string[] | undefined => {
    for (let i = 0; i < plan.matchConditions.length; i++) {
      try {
        if (!evaluateCheckBoolean(plan.matchConditions[i]!, activation)) return [skipResult(plan, i)];
      } catch (error) {
        return [describeError(error)];
      }
    }
    return undefined;
  };
  return plan.meterMatchConditions ? withCostBudget(MATCH_CONDITIONS_COST_BUDGET, evaluate) : evaluate();
}

/** The validations' results from the lean tier's answer (or the skip it answered). */
function leanResults(plan: PolicyPlan, answer: LeanAnswer): (true | string)[] {
  if (typeof answer === 'number') return [skipResult(plan, answer)];
  const results: (true | string)[] = plan.validations.map(() => true);
  if (answer !== true) {
    for (let i = 0; i < answer.length; i += 2) {
      const index = answer[i] as number;
      results[index] = `fail: ${messageOf(plan.policy.validations[index]!, answer[i + 1])}`;
    }
  }
  return results;
}

/** The policies of `set` in order on one review's values; `lean`: each asks the lean tier first. */
function runPolicies(set: PolicySet, object: JsonObject, oldObject: JsonObject | null, nodes: readonly JsonObject[] | null, lean: boolean): { runs: Run[]; memo: unknown } {
  const request = admissionRequest(object, oldObject ? { operation: 'UPDATE', oldObject } : {});
  const namespace = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: request.namespace ?? 'default', labels: { team: 'a' } } };
  const plans = plansOf(set.validatingPolicies, set);
  const shared = sharedValues(request, object, namespace, nodes);
  const activation = new PolicyActivation(shared, plans[0]!.policy);
  const runs = plans.map((plan): Run => {
    activation.begin(plan.policy, plan.params, plan);
    let outcome: Run['lean'] = 'not asked';
    // The outer budget stands for the review's: what the lean attempt spent is taken back from it.
    const { value: results, cost } = measureCost(Number.MAX_SAFE_INTEGER, () => {
      const ask = (): (true | string)[] | undefined => {
        const answer = answerLean(plan, activation);
        outcome = answer === false ? 'gave up' : 'answered';
        return answer === false ? undefined : leanResults(plan, answer);
      };
      // A lean function that holds the matchConditions is asked before them, one that does not after.
      const leanFirst = lean && plan.lean !== undefined && leanCoversMatchConditions(plan.lean);
      const early = leanFirst ? ask() : undefined;
      if (early !== undefined) return early;
      const skipped = exactMatchConditions(plan, activation);
      if (skipped !== undefined) return skipped;
      const late = lean && plan.lean !== undefined && !leanFirst ? ask() : undefined;
      return late ?? exactValidations(plan, activation);
    });
    return { results, cost, lean: outcome };
  });
  activation.endPolicies();
  return { runs, memo: shared.variableMemo };
}

const tally = { answered: 0, gaveUp: 0, exactAnswers: 0, reviews: 0, notLean: new Map<string, number>() };

function compareOn(set: PolicySet, object: JsonObject, oldObject: JsonObject | null, nodes: readonly JsonObject[] | null): void {
  const exact = runPolicies(set, object, oldObject, nodes, false);
  const lean = runPolicies(set, object, oldObject, nodes, true);
  const plans = plansOf(set.validatingPolicies, set);
  plans.forEach((plan, i) => {
    const e = exact.runs[i]!;
    const l = lean.runs[i]!;
    const where = `${plan.policy.name} on ${JSON.stringify(object).slice(0, 300)}`;
    assert.deepStrictEqual(l.results, e.results, `${where}: results`);
    assert.equal(l.cost, e.cost, `${where}: cost (lean ${l.lean})`);
    if (l.lean === 'answered') tally.answered++;
    if (l.lean === 'gave up') tally.gaveUp++;
    const leanPass = plan.lean;
    if (leanPass !== undefined && e.results.every((result) => result === true || result.startsWith('fail: ') || (leanCoversMatchConditions(leanPass) && result.startsWith('skip: ')))) {
      tally.exactAnswers++;
      if (l.lean !== 'answered') tally.notLean.set(plan.policy.name, (tally.notLean.get(plan.policy.name) ?? 0) + 1);
    }
  });
  assert.deepStrictEqual(lean.memo, exact.memo, 'the shared variables in the review’s memo');
  assert.equal(leanStatistics.unexpected, undefined, `the lean tier threw what it should not: ${String(leanStatistics.unexpected)}`);
  tally.reviews++;
}

function compareEverywhere(object: JsonObject, oldObject: JsonObject | null, nodes: readonly JsonObject[] | null): void {
  try {
    for (const set of sets) compareOn(set, object, oldObject, nodes);
  } catch (error) {
    // fast-check reports the counterexample; the node:test reporter does not show the cause.
    if (process.env['DEBUG_DIFF']) console.log((error as Error).message);
    throw error;
  }
}

describe('the lean tier against the exact code', { timeout: 600_000 }, () => {
  it('has a lean function for every validating policy of the library, the README and the edge set but those of one validation reading no variable', () => {
    let lean = 0;
    for (const set of sets) {
      const plans = plansOf(set.validatingPolicies, set);
      const single = (plan: PolicyPlan) => plan.policy.validations.length === 1 && !/\bvariables\./.test(plan.policy.validations[0]!.expression.program.source);
      assert.deepEqual(
        plans.filter((plan) => plan.lean === undefined && !single(plan)).map((plan) => plan.policy.name),
        [],
      );
      lean += plans.filter((plan) => plan.lean !== undefined).length;
    }
    console.log(`${lean} validating policies have a lean function`);
    // The README's count of the first edge policy's validations ("34 validations on the tier's edges").
    assert.ok(EDGE_VALIDATIONS.length >= 34, `${EDGE_VALIDATIONS.length} edge validations`);
  });

  it('agrees on the verify suites’ DaemonSets, as CREATE and as UPDATE, with and without nodes, and as the library’s defaults left them', () => {
    const before = { ...tally };
    let mutated = 0;
    for (const seed of seeds) {
      compareEverywhere(seed, null, null);
      compareEverywhere(seed, seeds[0]!, null);
      compareEverywhere(seed, null, clusterNodes);
      // What the validate phase sees after the mutate phase (test, verify and the CLI's pipeline): objects
      // the patches built, sharing the untouched parts with the request's.
      const defaulted = review(admissionRequest(seed, {}), sets[0]!, { phase: 'mutate' }).mutatedObject;
      if (defaulted !== null && defaulted !== seed) {
        compareEverywhere(defaulted, null, null);
        mutated++;
      }
    }
    assert.ok(mutated >= 10, `only ${mutated} DaemonSets were changed by the defaults`);
    const answered = tally.answered - before.answered;
    const exactAnswers = tally.exactAnswers - before.exactAnswers;
    console.log(`the lean tier answered ${answered} of the ${exactAnswers} evaluations of policies with a lean function that pass, fail or are skipped by a matchCondition without an error on the verify suites’ DaemonSets`);
    console.log(`answers left to the exact code, by policy: ${JSON.stringify(Object.fromEntries(tally.notLean))}`);
    // Nearly every answer is a lean one on real DaemonSets; a drop means a construct stopped being lean.
    assert.ok(answered >= 0.9 * exactAnswers, `only ${answered} of ${exactAnswers} answers were lean`);
  });

  it('agrees on DaemonSets with fields dropped, of the wrong type, or added', () => {
    fc.assert(
      fc.property(fc.nat({ max: seeds.length - 1 }), fc.array(edit, { minLength: 1, maxLength: 6 }), fc.boolean(), fc.boolean(), (seed, edits, update, withNodes) => {
        compareEverywhere(applyEdits(seeds[seed]!, edits), update ? seeds[(seed + 1) % seeds.length]! : null, withNodes ? clusterNodes : null);
      }),
      { numRuns: RUNS },
    );
  });

  it('agrees on odd securityContexts and annotations (missing, null, mistyped, reserved keys)', () => {
    fc.assert(
      fc.property(fc.nat({ max: seeds.length - 1 }), fc.array(edgeMember, { minLength: 1, maxLength: 3 }), edgeAnnotations, (seed, members, annotations) => {
        const object = structuredClone(seeds[seed]!) as { metadata: JsonObject; spec: { template: { spec: { containers: JsonObject[] } } } } & JsonObject;
        const containers = object.spec.template.spec.containers;
        members.forEach((member, i) => {
          containers[i % containers.length]!['securityContext'] = member;
        });
        object.metadata['annotations'] = annotations;
        compareEverywhere(object, null, null);
      }),
      { numRuns: Math.max(200, RUNS) },
    );
    console.log(`${tally.reviews} reviews compared: ${tally.answered} lean answers, ${tally.gaveUp} times given up`);
    assert.ok(tally.gaveUp > 0 && tally.answered > 0, 'both the lean answers and the give-ups must be exercised');
  });

  it('gives up, and review() decides as before, when someone added a field name it reads to Object.prototype', () => {
    const library = sets[0]!;
    const seed = seeds[0]!;
    const decide = () => review(admissionRequest(seed, {}), library, { phase: 'validate' });
    const before = decide();
    const gaveUp = leanStatistics.gaveUp;
    Object.defineProperty(Object.prototype, 'privileged', { value: true, configurable: true, writable: true });
    try {
      const polluted = decide();
      assert.deepStrictEqual(polluted.outcomes, before.outcomes);
      assert.ok(leanStatistics.gaveUp > gaveUp, 'the lean functions reading `privileged` gave up');
    } finally {
      delete (Object.prototype as Record<string, unknown>)['privileged'];
    }
  });
});
