// The evaluation deadline reaches into a running expression: a policy that is cheap in cost units but
// slow on a huge object (a cost unit can stand for microseconds of work) must stop at the deadline and
// be settled by its failurePolicy, rather than run for seconds past it.
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import { EvaluationDeadlineExceededError, chargeCost, measureCost, withEvaluationDeadline } from '../cel/cost.js';
import { loadPolicySet } from '../policy/load-policies.js';
import { admissionRequest, daemonSet, policyYaml, writeTree } from '../../test/support/admission-fixtures.js';
import { review } from './review.js';

// Five map literals per container: about 180 units each (a map literal costs 30, as in Kubernetes), so
// 4,000 containers stay under the budget of 1,000,000 units, but take many ms of work.
const SLOW_VARIABLE = `
    - name: shaped
      expression: >-
        object.spec.template.spec.containers
          .map(c, {'n': c.name, 'i': c.image, 'a': c.name + c.image})
          .map(c, {'n': c.n, 'i': c.i, 'a': c.a + c.n})
          .map(c, {'n': c.n, 'i': c.i, 'a': c.a + c.i})
          .map(c, {'n': c.n, 'i': c.i, 'a': c.a + c.n})
          .map(c, {'n': c.n, 'i': c.i, 'a': c.a + c.i})
`;

function slowPolicy(name: string, failurePolicy: 'Fail' | 'Ignore'): string {
  return policyYaml(
    name,
    `
  failurePolicy: ${failurePolicy}
  variables:${SLOW_VARIABLE}
  validations:
    - expression: "variables.shaped.all(c, c.a != '')"
      message: "never fails"
`,
  );
}

const manyContainers = (count: number) =>
  daemonSet({ podSpec: { containers: Array.from({ length: count }, (_, i) => ({ name: `c${i}`, image: `registry.example/agent:${i}` })) } });

describe('review: the evaluation deadline inside an expression', () => {
  it('stops a slow expression at the deadline and settles it by failurePolicy', async () => {
    const root = await writeTree({ 'fail.yaml': slowPolicy('slow-fail', 'Fail'), 'ignore.yaml': slowPolicy('slow-ignore', 'Ignore') });
    const set = await loadPolicySet([root]);
    const request = admissionRequest(manyContainers(4_000));

    // Without a deadline the policy runs to the end (and passes): it is slow, not expensive.
    const unbounded = performance.now();
    const full = review(request, set, { phase: 'validate' });
    const fullMs = performance.now() - unbounded;
    assert.deepEqual(
      full.outcomes.map((o) => o.result),
      ['pass', 'pass'],
    );

    const started = performance.now();
    const budgetMs = Math.max(5, fullMs / 20);
    const decision = review(request, set, { phase: 'validate', deadline: started + budgetMs });
    const elapsed = performance.now() - started;
    assert.ok(elapsed < budgetMs + Math.max(50, fullMs / 4), `review took ${elapsed.toFixed(0)} ms for a ${budgetMs.toFixed(0)} ms deadline (unbounded: ${fullMs.toFixed(0)} ms)`);
    const failing = decision.outcomes.find((o) => o.policy === 'slow-fail');
    assert.equal(failing?.result, 'error');
    assert.match(failing?.message ?? '', /deadline/);
    assert.equal(decision.allowed, false, 'failurePolicy Fail denies');
    assert.equal(decision.outcomes.find((o) => o.policy === 'slow-ignore')?.result, 'error');
    assert.ok(decision.warnings.some((w) => w.startsWith('slow-ignore: ignored because')));
  });

  it('is sticky: an expression that swallowed the first throw still fails, and an expression started late fails at once', () => {
    const deadline = performance.now() - 1;
    assert.throws(
      () =>
        withEvaluationDeadline(deadline, () =>
          measureCost(1_000_000, () => {
            try {
              for (let i = 0; i < 10_000; i++) chargeCost(1);
            } catch {
              // CEL's `||` and `exists` absorb errors like this.
            }
            return true;
          }),
        ),
      EvaluationDeadlineExceededError,
    );
    // Outside the deadline's scope nothing is armed any more.
    assert.equal(
      measureCost(1_000, () => {
        chargeCost(10);
        return 'ok';
      }).value,
      'ok',
    );
  });
});
