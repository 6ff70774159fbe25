// The evaluation deadline reaches into a running expression: a policy that is cheap in cost units but
// slow on a huge object (a cost unit can stand for microseconds of work) must stop at the deadline and
// be settled by its failurePolicy, rather than run for seconds past it.
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import { EvaluationDeadlineExceededError, POLICIES_PER_CLOCK_READ, chargeCost, measureCost, withEvaluationDeadline } from '../cel/cost.js';
import { loadPolicySet } from '../policy/load-policies.js';
import { admissionRequest, daemonSet, policyYaml, writeTree } from '../../test/support/admission-fixtures.js';
import { review } from './review.js';

// Five map literals per container: about 270 units each with the reads, the appends and the final
// all() (a map literal costs 30, as in Kubernetes), so 3,000 containers stay under the budget of
// 1,000,000 units, but take many ms of work.
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

/**
 * Runs `run` (synchronous) with the clock the engine reads for its deadline, performance.now(), replaced:
 * read number n (from 0) returns `timeAt(n)`. Returns what `run` returned and how many times the clock
 * was read. Time is then whatever the test says, whatever the machine's load: no other code runs while
 * a synchronous review does, and the real clock is back when this returns.
 */
function withScriptedClock<T>(timeAt: (read: number) => number, run: () => T): { value: T; reads: number } {
  let reads = 0;
  Object.defineProperty(performance, 'now', { configurable: true, writable: true, value: () => timeAt(reads++) });
  try {
    return { value: run(), reads };
  } finally {
    // The own property goes; Performance.prototype.now (the real clock) shows through again.
    delete (performance as { now?: unknown }).now;
  }
}

describe('review: the evaluation deadline inside an expression', () => {
  it('stops a slow expression at the deadline and settles it by failurePolicy', async () => {
    const root = await writeTree({ 'fail.yaml': slowPolicy('slow-fail', 'Fail'), 'ignore.yaml': slowPolicy('slow-ignore', 'Ignore') });
    const set = await loadPolicySet([root]);
    const request = admissionRequest(manyContainers(3_000));
    const DEADLINE = 1_000;

    // With a deadline that never comes, the policies run to the end (and pass): they are slow, not
    // expensive. The clock reads measure the work, in steps of the same number of cost units
    // (CLOCK_CHECK_UNITS), whatever else the machine is doing.
    const full = withScriptedClock(() => 0, () => review(request, set, { phase: 'validate', deadline: DEADLINE }));
    assert.deepEqual(
      full.value.outcomes.map((o) => o.result),
      ['pass', 'pass'],
    );
    assert.ok(full.reads >= 100, `the slow policies read the clock ${full.reads} times: too little work to stop in the middle of`);

    // The deadline passes a tenth of the way into that work: inside the first policy's expression.
    const passesAt = Math.floor(full.reads / 10);
    const bounded = withScriptedClock((read) => (read < passesAt ? 0 : DEADLINE + 1), () => review(request, set, { phase: 'validate', deadline: DEADLINE }));
    const decision = bounded.value;
    // Stopped at the deadline: the running expression stops at the check that saw it pass, and each
    // policy after it reads the clock once before it would start, and is not started. Without the
    // deadline, the rest of the work would have read it nine tenths of full.reads more times.
    const readsFromDeadline = bounded.reads - passesAt;
    assert.ok(
      readsFromDeadline <= set.policies.length,
      `the review read the clock ${readsFromDeadline} times from the deadline on, for ${set.policies.length} policies (${bounded.reads} in all; ${full.reads} without a deadline): it went on working past it`,
    );
    const failing = decision.outcomes.find((o) => o.policy === 'slow-fail');
    assert.equal(failing?.result, 'error');
    assert.match(failing?.message ?? '', /deadline/);
    assert.equal(decision.allowed, false, 'failurePolicy Fail denies');
    const ignored = decision.outcomes.find((o) => o.policy === 'slow-ignore');
    assert.equal(ignored?.result, 'error');
    assert.match(ignored?.message ?? '', /deadline/);
    assert.ok(decision.warnings.some((w) => w.startsWith('slow-ignore: ignored because')), decision.warnings.join('\n'));
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

  it('reads the clock between policies before every POLICIES_PER_CLOCK_READ-th one, and starts none after a read that saw the deadline pass', async () => {
    // Cheap policies: a unit or two each, so the meter's own reads (every CLOCK_CHECK_UNITS) never come.
    const count = 2 * POLICIES_PER_CLOCK_READ + 8;
    const files: Record<string, string> = {};
    for (let i = 0; i < count; i++) {
      const name = `cheap-${String(i).padStart(3, '0')}`;
      files[`${name}.yaml`] = policyYaml(name, `
  failurePolicy: Fail
  validations:
    - expression: "object.metadata.name != ''"
`);
    }
    const set = await loadPolicySet([await writeTree(files)]);
    const request = admissionRequest(daemonSet());
    const DEADLINE = 1_000;

    const full = withScriptedClock(() => 0, () => review(request, set, { phase: 'validate', deadline: DEADLINE }));
    assert.ok(full.value.outcomes.every((o) => o.result === 'pass'));
    assert.equal(full.reads, Math.ceil(count / POLICIES_PER_CLOCK_READ), 'one read before the first policy and one before every POLICIES_PER_CLOCK_READ-th after it');

    // The deadline passes between the first read and the second: the policies up to the second read run,
    // none from it on, and the clock is not read again.
    const late = withScriptedClock((read) => (read === 0 ? 0 : DEADLINE + 1), () => review(request, set, { phase: 'validate', deadline: DEADLINE }));
    const results = late.value.outcomes.map((o) => o.result);
    assert.deepEqual(results, [...Array<string>(POLICIES_PER_CLOCK_READ).fill('pass'), ...Array<string>(count - POLICIES_PER_CLOCK_READ).fill('error')]);
    assert.equal(late.reads, 2);
    assert.ok(late.value.outcomes.slice(POLICIES_PER_CLOCK_READ).every((o) => o.message === 'evaluation deadline passed'));
    assert.equal(late.value.allowed, false, 'failurePolicy Fail denies');
  });
});
