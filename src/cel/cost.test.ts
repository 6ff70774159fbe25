import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newBaseEnvironment } from './base-environment.js';
import {
  answerWithinBudget,
  CLOCK_CHECK_UNITS,
  CostBudgetExceededError,
  DEFAULT_COST_BUDGET,
  EvaluationDeadlineExceededError,
  chargeCost,
  evaluateWithCostBudget,
  isCostBudgetArmed,
  measureCost,
  regionMeter,
  withCostBudget,
  withEvaluationDeadline,
} from './cost.js';
import { LIST_LITERAL_COST, MAP_LITERAL_COST } from './library/allocations.js';
import { installNodeCosts } from './node-costs.js';
import { PolicyScope } from './policy-scope.js';
import { toCelValue } from './values.js';

function program(expression: string, variables: string[]): (activation: Record<string, unknown>) => unknown {
  const env = newBaseEnvironment();
  for (const name of variables) env.registerVariable(name, 'dyn');
  const parsed = env.parse(expression);
  const checked = parsed.check();
  assert.ok(checked.valid, checked.error?.message);
  // Prepared as the engine prepares the interpreter's programs: the node costs charged.
  installNodeCosts(parsed.ast);
  return (activation) => parsed(activation);
}

/** A DaemonSet about as large as real ones get (a dozen containers with env, ports, mounts). */
function daemonSet(): unknown {
  const containers = Array.from({ length: 12 }, (_, c) => ({
    name: `agent-${c}`,
    image: `registry.example.com/agent/${c}:v1.${c}.0`,
    securityContext: { privileged: c === 0, readOnlyRootFilesystem: true },
    env: Array.from({ length: 40 }, (_, e) => ({ name: `VAR_${e}`, value: `value-${e}` })),
    ports: Array.from({ length: 4 }, (_, p) => ({ containerPort: 8000 + p, protocol: 'TCP' })),
    volumeMounts: Array.from({ length: 10 }, (_, v) => ({ name: `vol-${v}`, mountPath: `/mnt/${v}` })),
    resources: { limits: { cpu: '500m', memory: '256Mi' }, requests: { cpu: '100m', memory: '128Mi' } },
  }));
  return toCelValue({
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'node-agent', namespace: 'kube-system', labels: { app: 'node-agent' } },
    spec: {
      template: {
        metadata: { labels: { app: 'node-agent' } },
        spec: {
          hostNetwork: true,
          containers,
          volumes: Array.from({ length: 20 }, (_, v) => ({ name: `vol-${v}`, hostPath: { path: `/var/lib/${v}` } })),
          tolerations: Array.from({ length: 10 }, (_, t) => ({ key: `taint-${t}`, operator: 'Exists' })),
        },
      },
    },
  });
}

/** The budget and the spend of the CostBudgetExceededError that `run` throws. */
function spentOf(run: () => unknown): [number, number] {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof CostBudgetExceededError);
    return [error.budget, error.spent];
  }
  assert.fail('expected the budget to run out');
}

describe('cost meter', () => {
  it('is a no-op when no budget is armed', () => {
    assert.equal(isCostBudgetArmed(), false);
    chargeCost(1e12);
    const run = program('xs.all(x, x >= 0)', ['xs']);
    assert.equal(run({ xs: Array.from({ length: 10_000 }, (_, i) => BigInt(i)) }), true);
  });

  it('stops a comprehension over 100,000 elements at the budget', () => {
    const run = program('xs.all(x, x >= 0)', ['xs']);
    const xs = Array.from({ length: 100_000 }, (_, i) => BigInt(i));
    assert.throws(
      () => withCostBudget(50_000, () => run({ xs })),
      (error: unknown) =>
        error instanceof CostBudgetExceededError &&
        error.budget === 50_000 &&
        /budget of 50000 units/.test(error.message) &&
        /stopped/.test(error.message),
    );
    assert.equal(isCostBudgetArmed(), false);
  });

  it('stops a nested 1,000 x 1,000 comprehension under the default budget', () => {
    const run = program('xs.all(x, xs.all(y, x + y >= 0))', ['xs']);
    const xs = Array.from({ length: 1_000 }, (_, i) => BigInt(i));
    const started = performance.now();
    assert.throws(() => withCostBudget(DEFAULT_COST_BUDGET, () => run({ xs })), CostBudgetExceededError);
    assert.ok(performance.now() - started < 5_000);
  });

  it('meters every comprehension macro', () => {
    const xs = Array.from({ length: 1_000 }, (_, i) => BigInt(i));
    for (const macro of ['xs.exists(x, x < 0)', 'xs.exists_one(x, x == 5)', 'xs.map(x, x * 2)', 'xs.map(x, x > 1, x)', 'xs.filter(x, x > 1)']) {
      const run = program(macro, ['xs']);
      assert.throws(() => withCostBudget(500, () => run({ xs })), CostBudgetExceededError, macro);
      const { cost } = measureCost(1e6, () => run({ xs }));
      assert.ok(cost >= 1_000, `${macro} cost ${cost}`);
    }
  });

  it('stays exceeded when a charge after the swallowed throw takes units back', () => {
    // A node pays its unit up front and its call may take part of it back (an empty string's `==`
    // costs 0): after an overrun that an error-absorbing operator swallowed, that must not bring the
    // evaluation back under its budget.
    assert.throws(
      () =>
        withCostBudget(10, () => {
          try {
            chargeCost(11);
          } catch {
            // swallowed, as `||` would
          }
          try {
            chargeCost(-1);
          } catch {
            // every later charge throws too
          }
          return true;
        }),
      CostBudgetExceededError,
    );
  });

  it('still fails when || or && swallowed the first throw', () => {
    const run = program('xs.all(x, xs.all(y, y >= 0)) || true', ['xs']);
    const xs = Array.from({ length: 1_000 }, (_, i) => BigInt(i));
    assert.throws(() => withCostBudget(10_000, () => run({ xs })), CostBudgetExceededError);
  });

  it('charges string and list library functions by the size they touch', () => {
    const run = program("s.split(',').size() > 0 && l.sum() > 0", ['s', 'l']);
    const s = Array.from({ length: 10_000 }, (_, i) => `item${i}`).join(',');
    const l = Array.from({ length: 10_000 }, (_, i) => BigInt(i));
    const { cost } = measureCost(1e9, () => run({ s, l }));
    assert.ok(cost > 15_000, `cost ${cost}`);
    assert.throws(() => withCostBudget(1_000, () => run({ s, l })), CostBudgetExceededError);
  });

  it('charges concatenation by the size of its result, before it copies', () => {
    const l = Array.from({ length: 1_000 }, (_, i) => BigInt(i));
    // Two identifiers (1 each), and the copy: 1 + the result's length.
    assert.equal(measureCost(1e9, () => program('l + l', ['l'])({ l })).cost, 2 + 1 + 2_000);
    const s = 'x'.repeat(1_000);
    // Two dyn strings: cel-go dispatches at run time and charges the call 1 (plus the identifiers).
    assert.equal(measureCost(1e9, () => program('s + s', ['s'])({ s })).cost, 2 + 1);
    // Typed strings (params inferred as strings): as Kubernetes charges AddString, ceil((1,000 +
    // 1,000) * 0.1), plus two reads of params.s (identifier and selection, 1 each).
    const typed = new PolicyScope({ s }).compile('params.s + params.s', 'string');
    const input = { object: null, oldObject: null, request: null, params: toCelValue({ s }), variables: null, namespaceObject: null, coverage: null };
    assert.equal(measureCost(1e9, () => typed.evaluate(input)).cost, 2 * 2 + 200);
    assert.equal(measureCost(1e9, () => typed.interpret(input)).cost, 2 * 2 + 200);
    // Doubling 25 times would build 2^25 elements; the budget stops it near 2^20.
    const doubling = program('cel.bind(a, l + l, cel.bind(b, a + a, cel.bind(c, b + b, c + c))).size()', ['l']);
    const big = Array.from({ length: 200_000 }, () => 0n);
    assert.throws(() => withCostBudget(DEFAULT_COST_BUDGET, () => doubling({ l: big })), CostBudgetExceededError);
  });

  it('charges list and map literals what Kubernetes charges for creating them', () => {
    const scope = new PolicyScope({});
    const cost = (expression: string): number =>
      measureCost(1e9, () => scope.compile(expression, 'any').evaluate({ object: null, oldObject: null, request: null, params: null, variables: null, namespaceObject: null, coverage: null })).cost;
    // Literals of constants are constants (Kubernetes' cel-go folds them): free.
    assert.equal(cost('[1, 2]'), 0);
    assert.equal(cost("{'a': 1}"), 0);
    assert.equal(cost('[[1], [2]].size()'), 1);
    // Others: their base cost, plus their elements (`1 + 1` is one call).
    assert.equal(cost('[1 + 1]'), LIST_LITERAL_COST + 1);
    assert.equal(cost("{'a': 1 + 1}"), MAP_LITERAL_COST + 1);
    // map() appends `[x]` to its result per element, as cel-go's expansion does: the result (1) +
    // 3 x (accumulator 1 + append's list 10 + concatenation 1 + [x]: 10 + x 1).
    assert.equal(cost('[1, 2, 3].map(x, [x])'), 1 + 3 * (1 + LIST_LITERAL_COST + 1 + LIST_LITERAL_COST + 1));
  });

  it('keeps a DaemonSet-sized policy far under the default budget', () => {
    const expressions = [
      'object.spec.template.spec.containers.all(c, !c.?securityContext.?privileged.orValue(false) || object.metadata.namespace == "kube-system")',
      'object.spec.template.spec.containers.all(c, c.env.all(e, !e.name.startsWith("AWS_")))',
      'object.spec.template.spec.containers.all(c, c.image.matches("^registry\\\\.example\\\\.com/"))',
      'object.spec.template.spec.containers.map(c, c.ports.map(p, p.containerPort)).all(ps, ps.isSorted())',
      'object.spec.template.spec.containers.all(c, quantity(c.resources.limits.memory).compareTo(quantity("1Gi")) <= 0)',
      'object.spec.template.spec.volumes.all(v, object.spec.template.spec.containers.exists(c, c.volumeMounts.exists(m, m.name == v.name)))',
    ];
    const object = daemonSet();
    for (const expression of expressions) {
      const run = program(expression, ['object']);
      const { cost } = measureCost(DEFAULT_COST_BUDGET, () => run({ object }));
      assert.ok(cost < DEFAULT_COST_BUDGET / 20, `${expression}: cost ${cost}`);
    }
  });

  it('nests budgets: the inner spend counts against the outer', () => {
    const outer = measureCost(100, () => {
      const inner = measureCost(100, () => chargeCost(40));
      assert.equal(inner.cost, 40);
      chargeCost(10);
      return 'done';
    });
    assert.deepEqual(outer, { value: 'done', cost: 50 });
    assert.throws(() => measureCost(50, () => measureCost(100, () => chargeCost(60))), CostBudgetExceededError);
    // A budget armed after the outer one had spent counts from there: 25 of 50, not 125.
    const deep = measureCost(1_000, () => {
      chargeCost(100);
      return measureCost(50, () => measureCost(100, () => chargeCost(25)).cost);
    });
    assert.deepEqual(deep, { value: { value: 25, cost: 25 }, cost: 125 });
    assert.equal(isCostBudgetArmed(), false);
  });

  it('takes back from the budget around it what an attempt that did not answer spent, and keeps what one that answered spent', () => {
    const attempt = (units: number, answer: string | false) => {
      chargeCost(units);
      return answer;
    };
    const gaveUp = measureCost(1_000, () => {
      chargeCost(5);
      const answer = answerWithinBudget(100, attempt, 40, false);
      chargeCost(1);
      return answer;
    });
    assert.deepEqual(gaveUp, { value: false, cost: 6 });
    // Thrown (here its own budget running out): rethrown, and taken back as well.
    const overran = measureCost(1_000, () => {
      assert.throws(() => answerWithinBudget(100, attempt, 101, 'never'), CostBudgetExceededError);
      return 'after';
    });
    assert.deepEqual(overran, { value: 'after', cost: 0 });
    const answered = measureCost(1_000, () => answerWithinBudget(100, attempt, 40, 'yes'));
    assert.deepEqual(answered, { value: 'yes', cost: 40 });
    // Without a budget around it: the attempt's own budget, nothing to take back.
    assert.equal(answerWithinBudget(100, attempt, 40, 'alone'), 'alone');
    assert.equal(isCostBudgetArmed(), false);
  });

  it('reports which budget ran out and what it had spent, at every depth', () => {
    // The inner budget runs out while charging: its own numbers.
    assert.deepEqual(spentOf(() => measureCost(1_000, () => measureCost(30, () => { chargeCost(20); chargeCost(20); }))), [30, 40]);
    // The outer one runs out when the inner evaluation returns: the outer's numbers, inner spend included.
    assert.deepEqual(spentOf(() => measureCost(50, () => { chargeCost(30); measureCost(100, () => chargeCost(25)); })), [50, 55]);
    // Three deep, and the outer meter keeps counting after an inner one failed and was caught.
    const outer = measureCost(1_000, () => {
      chargeCost(1);
      assert.throws(() => measureCost(100, () => measureCost(10, () => chargeCost(11))), CostBudgetExceededError);
      const middle = measureCost(100, () => {
        measureCost(10, () => chargeCost(7));
        chargeCost(2);
      });
      assert.equal(middle.cost, 9);
      chargeCost(3);
    });
    assert.equal(outer.cost, 1 + 11 + 9 + 3);
    assert.equal(isCostBudgetArmed(), false);
    chargeCost(1e12);
  });

  it('stops an outer budget that ran out in the same charge as an inner one whose error was caught', () => {
    // The inner budget's error is the one thrown; swallowing it (as `||` does) must not let the outer
    // evaluation finish over its budget without a further charge to notice.
    const run = (): unknown =>
      measureCost(50, () => {
        try {
          measureCost(30, () => chargeCost(60));
        } catch (error) {
          assert.ok(error instanceof CostBudgetExceededError && error.budget === 30);
        }
        return 'done';
      });
    assert.throws(run, (error: unknown) => error instanceof CostBudgetExceededError && error.budget === 50 && error.spent === 60);
    assert.equal(isCostBudgetArmed(), false);
  });

  it('keeps an outer budget that ran out exceeded across an inner evaluation, even back under its limit', () => {
    // The outer budget's throws are swallowed and a call takes units back, under the limit again; an
    // inner evaluation comes and goes; the outer's next charge still throws, with the outer's numbers.
    const thrown: [number, number][] = [];
    const swallow = (charge: () => unknown): void => {
      try {
        charge();
      } catch (error) {
        assert.ok(error instanceof CostBudgetExceededError);
        thrown.push([error.budget, error.spent]);
      }
    };
    const run = (): unknown =>
      measureCost(50, () => {
        swallow(() => chargeCost(60));
        swallow(() => chargeCost(-20));
        assert.equal(measureCost(100, () => chargeCost(5)).cost, 5);
        swallow(() => chargeCost(1));
        return 'done';
      });
    assert.deepEqual(spentOf(run), [50, 46]);
    assert.deepEqual(thrown, [
      [50, 60],
      [50, 40],
      [50, 46],
    ]);
    assert.equal(isCostBudgetArmed(), false);
  });

  it('reads the clock every CLOCK_CHECK_UNITS units across nested evaluations, and the outer one sees a deadline an inner one found passed', () => {
    const passed = performance.now() - 1;
    const half = Math.floor(CLOCK_CHECK_UNITS / 2) + 1;
    let innerError: unknown;
    const run = (): unknown =>
      withEvaluationDeadline(passed, () =>
        measureCost(DEFAULT_COST_BUDGET, () => {
          // Neither charge alone reaches the clock's next read; the two together do, inside the inner budget.
          chargeCost(half);
          try {
            measureCost(DEFAULT_COST_BUDGET, () => chargeCost(half));
          } catch (error) {
            innerError = error;
          }
          return 'finished after the deadline';
        }),
      );
    assert.throws(run, EvaluationDeadlineExceededError);
    assert.ok(innerError instanceof EvaluationDeadlineExceededError);
    // Without a deadline the same evaluation finishes.
    assert.equal(measureCost(DEFAULT_COST_BUDGET, () => (chargeCost(half), measureCost(DEFAULT_COST_BUDGET, () => chargeCost(half)).cost)).value, half);
    assert.equal(isCostBudgetArmed(), false);
  });

  it('starts a budget from nothing after compiled code charged while none was armed', () => {
    // Compiled code adds to the meter without asking whether a budget is armed (regionMeter).
    regionMeter.spent += 10 * DEFAULT_COST_BUDGET;
    assert.deepEqual(measureCost(100, () => (chargeCost(60), 'fits')), { value: 'fits', cost: 60 });
    assert.deepEqual(spentOf(() => measureCost(100, () => chargeCost(101))), [100, 101]);
    assert.equal(isCostBudgetArmed(), false);
  });

  it('refuses invalid budgets and asynchronous evaluations', () => {
    assert.throws(() => withCostBudget(-1, () => 1), RangeError);
    assert.throws(() => withCostBudget(10, () => Promise.resolve(1)), TypeError);
    assert.throws(() => evaluateWithCostBudget(-1, { evaluate: () => 1 }, undefined), RangeError);
    assert.throws(() => evaluateWithCostBudget(10, { evaluate: () => Promise.resolve(1) }, undefined), TypeError);
  });

  it('evaluates a program under a budget as withCostBudget evaluates a function: value, cost, errors, nesting', () => {
    const charging = { evaluate: (units: number) => (chargeCost(units), units * 2) };
    assert.equal(evaluateWithCostBudget(100, charging, 40), 80);
    const outer = measureCost(100, () => [evaluateWithCostBudget(50, charging, 30), evaluateWithCostBudget(50, charging, 20)]);
    assert.deepEqual(outer, { value: [60, 40], cost: 50 });
    // Its own budget, then the outer one once the inner evaluation returns; the same numbers either way.
    assert.deepEqual(spentOf(() => evaluateWithCostBudget(30, charging, 31)), spentOf(() => withCostBudget(30, () => charging.evaluate(31))));
    assert.deepEqual(spentOf(() => measureCost(50, () => { chargeCost(30); evaluateWithCostBudget(100, charging, 25); })), [50, 55]);
    // An error of the program passes through, and the meter is disarmed after it.
    assert.throws(() => evaluateWithCostBudget(10, { evaluate: () => { throw new RangeError('inside'); } }, undefined), /inside/);
    assert.equal(isCostBudgetArmed(), false);
  });
});
