import assert from 'node:assert/strict';
import { PerformanceObserver } from 'node:perf_hooks';
import { describe, it, mock } from 'node:test';
import { admissionRequest, daemonSet, policyYaml, writeTree } from '../../test/support/admission-fixtures.js';
import { review } from '../engine/review.js';
import { loadPolicySet } from '../policy/load-policies.js';
import { createServerMetrics, GC_DURATION_METRIC } from './metrics.js';

/** The exposition lines of one metric family (its samples, without # HELP and # TYPE). */
function samples(text: string, name: string): string[] {
  return text.split('\n').filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `));
}

describe('server metrics counted on the hot path', () => {
  it('exposes every count exactly, in the order the series were first counted, and keeps adding across scrapes', async () => {
    const metrics = createServerMetrics({ defaultMetrics: false });
    metrics.recordPolicyOutcome('host-network', 'pass');
    metrics.recordPolicyOutcome('privileged', 'fail');
    metrics.recordPolicyOutcome('host-network', 'fail');
    metrics.recordPolicyOutcome('privileged', 'error');
    metrics.recordPolicyOutcome('privileged', 'error');
    metrics.recordRequest('/validate', 'denied', 0.002);
    metrics.recordRequest('/mutate', 'patched', 0.0004);
    metrics.recordRequest('/validate', 'allowed', 0.003);
    metrics.recordRequest('/validate', 'denied', 0.7);

    let text = await metrics.registry.metrics();
    assert.deepEqual(samples(text, 'daemonguard_policy_evaluations_total'), [
      'daemonguard_policy_evaluations_total{policy="host-network",result="pass"} 1',
      'daemonguard_policy_evaluations_total{policy="privileged",result="fail"} 1',
      'daemonguard_policy_evaluations_total{policy="host-network",result="fail"} 1',
      'daemonguard_policy_evaluations_total{policy="privileged",result="error"} 2',
    ]);
    assert.deepEqual(samples(text, 'daemonguard_policy_evaluation_errors_total'), ['daemonguard_policy_evaluation_errors_total{policy="privileged"} 2']);
    assert.deepEqual(samples(text, 'daemonguard_admission_requests_total'), [
      'daemonguard_admission_requests_total{endpoint="/validate",decision="denied"} 2',
      'daemonguard_admission_requests_total{endpoint="/mutate",decision="patched"} 1',
      'daemonguard_admission_requests_total{endpoint="/validate",decision="allowed"} 1',
    ]);
    assert.ok(samples(text, 'daemonguard_admission_request_duration_seconds_bucket').includes('daemonguard_admission_request_duration_seconds_bucket{le="0.0025",endpoint="/validate"} 1'));
    assert.ok(samples(text, 'daemonguard_admission_request_duration_seconds_count').includes('daemonguard_admission_request_duration_seconds_count{endpoint="/validate"} 3'));

    // A second scrape with nothing new shows the same counts; new counts add to them.
    assert.equal(await metrics.registry.metrics(), text);
    metrics.recordPolicyOutcome('host-network', 'pass');
    metrics.recordPolicyOutcome('host-network', 'skip');
    metrics.recordRequest('/validate', 'denied', 0.001);
    // What the handler counts directly, beside the tallies: an engine fault (policy="").
    metrics.evaluationErrors.labels('').inc();
    text = await metrics.registry.metrics();
    assert.deepEqual(samples(text, 'daemonguard_policy_evaluations_total'), [
      'daemonguard_policy_evaluations_total{policy="host-network",result="pass"} 2',
      'daemonguard_policy_evaluations_total{policy="privileged",result="fail"} 1',
      'daemonguard_policy_evaluations_total{policy="host-network",result="fail"} 1',
      'daemonguard_policy_evaluations_total{policy="privileged",result="error"} 2',
      'daemonguard_policy_evaluations_total{policy="host-network",result="skip"} 1',
    ]);
    assert.deepEqual(samples(text, 'daemonguard_policy_evaluation_errors_total'), [
      'daemonguard_policy_evaluation_errors_total{policy="privileged"} 2',
      'daemonguard_policy_evaluation_errors_total{policy=""} 1',
    ]);
    assert.deepEqual(samples(text, 'daemonguard_admission_requests_total')[0], 'daemonguard_admission_requests_total{endpoint="/validate",decision="denied"} 3');
  });

  it("exposes the review turns' totals as they are when scraped, first reviews apart from later ones", async () => {
    const metrics = createServerMetrics({ defaultMetrics: false });
    let text = await metrics.registry.metrics();
    assert.deepEqual(samples(text, 'daemonguard_review_turns_total'), ['daemonguard_review_turns_total 0'], 'zero before any turn is tracked');
    const totals = { turns: 3, firstReviews: 3, laterReviews: 7, firstSeconds: 0.0006, laterSeconds: 0.0004 };
    metrics.trackReviewTurns(totals);
    text = await metrics.registry.metrics();
    assert.deepEqual(samples(text, 'daemonguard_review_turns_total'), ['daemonguard_review_turns_total 3']);
    assert.deepEqual(samples(text, 'daemonguard_reviews_evaluated_total'), [
      'daemonguard_reviews_evaluated_total{position="first"} 3',
      'daemonguard_reviews_evaluated_total{position="later"} 7',
    ]);
    assert.deepEqual(samples(text, 'daemonguard_review_evaluation_seconds_total'), [
      'daemonguard_review_evaluation_seconds_total{position="first"} 0.0006',
      'daemonguard_review_evaluation_seconds_total{position="later"} 0.0004',
    ]);
    // The totals keep running: the next scrape shows them as they are then, not added again.
    Object.assign(totals, { turns: 4, firstReviews: 4, laterReviews: 9 });
    text = await metrics.registry.metrics();
    assert.deepEqual(samples(text, 'daemonguard_review_turns_total'), ['daemonguard_review_turns_total 4']);
    assert.deepEqual(samples(text, 'daemonguard_reviews_evaluated_total'), [
      'daemonguard_reviews_evaluated_total{position="first"} 4',
      'daemonguard_reviews_evaluated_total{position="later"} 9',
    ]);
  });

  it('counts per policy how often the fast path answered and gave up, across reloads of the policy', async () => {
    const spec = `
validationActions: [Deny]
validations:
  - expression: "object.spec.template.spec.containers.all(c, c.image != '')"
  - expression: "object.spec.template.spec.?hostNetwork.orValue(false) == false"
`;
    const load = async () => loadPolicySet([await writeTree({ 'p.yaml': policyYaml('fast-path-images', spec) })]);
    const fine = admissionRequest(daemonSet());
    // containers as a string: the fast path gives up and the exact evaluator reports the error.
    const odd = admissionRequest(daemonSet({ podSpec: { containers: 'agent' } }));
    const first = await load();
    for (const request of [fine, fine, odd]) review(request, first, { phase: 'validate' });
    // A reload makes new plans; the policy's counts go on from where they were.
    const reloaded = await load();
    for (const request of [fine, odd]) review(request, reloaded, { phase: 'validate' });
    const text = await createServerMetrics({ defaultMetrics: false }).registry.metrics();
    assert.deepEqual(
      samples(text, 'daemonguard_policy_fast_path_total').filter((line) => line.includes('"fast-path-images"')),
      ['daemonguard_policy_fast_path_total{policy="fast-path-images",outcome="answered"} 3', 'daemonguard_policy_fast_path_total{policy="fast-path-images",outcome="gave_up"} 2'],
    );
  });

  it('reads the same counts through the metric objects as through the exposition', async () => {
    const metrics = createServerMetrics({ defaultMetrics: false });
    for (let i = 0; i < 1000; i++) metrics.recordPolicyOutcome('image-tag', i % 4 === 0 ? 'fail' : 'pass');
    const values = (await metrics.policyEvaluations.get()).values.map(({ labels, value }) => [labels['result'], value]);
    assert.deepEqual(values, [
      ['fail', 250],
      ['pass', 750],
    ]);
  });

  it('keeps every latency: the histogram counts and sums them all, held or handed over', async () => {
    const metrics = createServerMetrics({ defaultMetrics: false });
    // More than are held at once (1,024), so some are handed over before the scrape and some at it.
    const count = 2_500;
    let sum = 0;
    for (let i = 0; i < count; i++) {
      const seconds = (i % 5) * 0.001;
      sum += seconds;
      metrics.recordRequest('/mutate', 'patched', seconds);
    }
    const text = await metrics.registry.metrics();
    const buckets = samples(text, 'daemonguard_admission_request_duration_seconds_bucket');
    assert.ok(buckets.includes('daemonguard_admission_request_duration_seconds_bucket{le="0.0005",endpoint="/mutate"} 500'));
    assert.ok(buckets.includes('daemonguard_admission_request_duration_seconds_bucket{le="0.001",endpoint="/mutate"} 1000'));
    assert.ok(buckets.includes('daemonguard_admission_request_duration_seconds_bucket{le="0.0025",endpoint="/mutate"} 1500'));
    assert.ok(buckets.includes('daemonguard_admission_request_duration_seconds_bucket{le="0.005",endpoint="/mutate"} 2500'));
    assert.deepEqual(samples(text, 'daemonguard_admission_request_duration_seconds_count'), ['daemonguard_admission_request_duration_seconds_count{endpoint="/mutate"} 2500']);
    const [sumLine] = samples(text, 'daemonguard_admission_request_duration_seconds_sum');
    assert.ok(Math.abs(Number(sumLine?.split(' ')[1]) - sum) < 1e-9, sumLine);
  });
});

describe("prom-client's default metrics", () => {
  /** The entry types each PerformanceObserver#observe call asked for, while `run` runs. */
  function observedEntryTypes(run: () => void): string[][] {
    const observe = mock.method(PerformanceObserver.prototype, 'observe');
    try {
      run();
      // Put back as it was found: the mock, which counts the calls that reached node.
      assert.equal(PerformanceObserver.prototype.observe, observe as unknown);
      return observe.mock.calls.map((call) => {
        const options = call.arguments[0] as { type?: string; entryTypes?: string[] };
        return options.entryTypes ?? [options.type ?? ''];
      });
    } finally {
      observe.mock.restore();
    }
  }

  it('are exported without the GC duration histogram, and nothing observes garbage collection', async () => {
    let metrics: ReturnType<typeof createServerMetrics> | undefined;
    const observed = observedEntryTypes(() => (metrics = createServerMetrics()));
    assert.ok(!observed.some((types) => types.includes('gc')), `observed: ${JSON.stringify(observed)}`);
    const text = await metrics!.registry.metrics();
    for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes', 'nodejs_heap_space_size_total_bytes', 'nodejs_version_info']) {
      assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
    }
    assert.doesNotMatch(text, new RegExp(GC_DURATION_METRIC));
  });

  it('with gcDurations, include the GC duration histogram, which counts collections', async () => {
    let metrics: ReturnType<typeof createServerMetrics> | undefined;
    const observed = observedEntryTypes(() => (metrics = createServerMetrics({ gcDurations: true })));
    assert.ok(observed.some((types) => types.includes('gc')), `observed: ${JSON.stringify(observed)}`);
    // Garbage for a few young-generation collections; the observer hears of them asynchronously.
    const started = Date.now();
    let text = '';
    do {
      let keep: unknown[] = [];
      for (let i = 0; i < 200_000; i++) keep = i % 1000 === 0 ? [] : [...keep.slice(-10), { i }];
      await new Promise((resolve) => setTimeout(resolve, 20));
      text = await metrics!.registry.metrics();
    } while (!/^nodejs_gc_duration_seconds_count\{kind="minor"\} [1-9]/m.test(text) && Date.now() - started < 10_000);
    assert.match(text, /^# TYPE nodejs_gc_duration_seconds histogram$/m);
    assert.match(text, /^nodejs_gc_duration_seconds_count\{kind="minor"\} [1-9]\d*$/m);
  });

  it('with gcDurations, count every collection, several ending in one turn too', async () => {
    const metrics = createServerMetrics({ gcDurations: true });
    let delivered = 0;
    const witness = new PerformanceObserver((list) => (delivered += list.getEntries().length));
    witness.observe({ entryTypes: ['gc'] });
    const counted = async (): Promise<number> => {
      const text = await metrics.registry.metrics();
      return [...text.matchAll(/^nodejs_gc_duration_seconds_count\{kind="\w+"\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
    };
    const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 100));
    try {
      await settle();
      const [countedBefore, deliveredBefore] = [await counted(), delivered];
      // Garbage for several young-generation collections without leaving the turn: node hands them
      // to the observers together.
      let keep: unknown[] = [];
      for (let i = 0; i < 600_000; i++) keep = i % 1000 === 0 ? [] : [...keep.slice(-10), { i }];
      await settle();
      const collections = delivered - deliveredBefore;
      assert.ok(collections >= 2, `only ${collections} collection(s) to count`);
      assert.equal((await counted()) - countedBefore, collections);
    } finally {
      witness.disconnect();
    }
  });
});
