import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CostBudgetExceededError, DEFAULT_COST_BUDGET, measureCost, withCostBudget } from '../cost.js';
import { LIST_LITERAL_COST } from './allocations.js';
import { costSize, equalityCost } from './equality-cost.js';
import { PolicyScope } from '../policy-scope.js';
import type { CelActivation } from '../program.js';
import { toCelValue } from '../values.js';

// The reference: cel-go's runtime cost tracker prices `==` and `!=` at
//   ceil(min(size(lhs), size(rhs)) * 0.1)     (float64 arithmetic)
// where size is the code point count of a string, the byte count of bytes, the element count of a
// list, the entry count of a map, and 1 for every value without a size. The expected numbers below
// are worked out by hand from that formula, not read back from the implementation.

/** The values under test are the policy's params (typed by inference, as a policy's would be). */
function activation(params: unknown): CelActivation {
  return { object: null, oldObject: null, request: null, params: toCelValue(params), variables: null, namespaceObject: null, coverage: null };
}

/** The cost of one evaluation on each engine; both must charge the same. */
function costOnBothEngines(expression: string, params: Record<string, unknown>): number {
  const program = new PolicyScope(params).compile(expression, 'any');
  assert.equal(program.notCompiled, undefined, `${expression} is compiled`);
  const input = activation(params);
  const compiled = measureCost(1e12, () => program.evaluate(input)).cost;
  const interpreted = measureCost(1e12, () => program.interpret(input)).cost;
  assert.equal(compiled, interpreted, `${expression}: the compiled code and the interpreter charge the same`);
  return compiled;
}

const list = (n: number): bigint[] => Array.from({ length: n }, (_, i) => BigInt(i));
const map = (n: number): Record<string, number> => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]));

describe('equality cost', () => {
  it('prices strings by the shorter one, in code points, a tenth per code point rounded up', () => {
    assert.equal(equalityCost('', 'anything'), 0);
    assert.equal(equalityCost('a', 'b'), 1);
    assert.equal(equalityCost('x'.repeat(10), 'x'.repeat(10)), 1);
    assert.equal(equalityCost('x'.repeat(11), 'x'.repeat(500)), 2);
    assert.equal(equalityCost('x'.repeat(1_000), 'x'.repeat(2_000)), 100);
    // 20 emoji are 40 UTF-16 units but 20 code points: 2, not 4.
    const emoji = '\u{1F600}'.repeat(20);
    assert.equal(emoji.length, 40);
    assert.equal(costSize(emoji), 20);
    assert.equal(equalityCost(emoji, emoji), 2);
    assert.equal(equalityCost('x'.repeat(30), 'x'.repeat(31)), 3);
    assert.equal(equalityCost(new Uint8Array(95), new Uint8Array(200)), 10);
  });

  it('prices lists by the shorter one', () => {
    assert.equal(equalityCost([], list(1_000)), 0);
    assert.equal(equalityCost(list(5), list(1_000)), 1);
    assert.equal(equalityCost(list(1_000), list(1_000)), 100);
    assert.equal(equalityCost(list(1_001), list(1_001)), 101);
  });

  it('prices maps, and typed objects (maps at run time), by their number of entries', () => {
    assert.equal(equalityCost(toCelValue(map(25)), toCelValue(map(40))), 3);
    assert.equal(equalityCost(new Map(Object.entries(map(70))), toCelValue(map(70))), 7);
    assert.equal(equalityCost({}, toCelValue(map(3))), 0);
  });

  it('prices scalars, and a sized value against a scalar, at 1', () => {
    assert.equal(equalityCost(1n, 2n), 1);
    assert.equal(equalityCost(true, false), 1);
    assert.equal(equalityCost(null, null), 1);
    assert.equal(equalityCost(list(1_000), 7n), 1);
    assert.equal(equalityCost('x'.repeat(1_000), null), 1);
    assert.equal(equalityCost(new Date(0), new Date(0)), 1);
  });

  it('charges the same on both engines, once per == and !=', () => {
    const big = { a: list(1_000).map(Number), b: list(1_000).map(Number), s: 'y'.repeat(250), m: map(45) };
    // Each `params.x` read costs 2 more (the identifier and the selection, node-costs.ts).
    assert.equal(costOnBothEngines('params.a == params.b', big), 100 + 2 * 2);
    assert.equal(costOnBothEngines('params.a != params.b', big), 100 + 2 * 2);
    assert.equal(costOnBothEngines('params.s == params.s', big), 25 + 2 * 2);
    assert.equal(costOnBothEngines('params.m == params.m', big), 5 + 2 * 2);
    assert.equal(costOnBothEngines('1 == 2', big), 1);
    // Two constant list literals (free, as cel-go folds them), and ceil(2 * 0.1) for comparing them.
    assert.equal(costOnBothEngines('[1, 2] == [1, 2]', big), 1);
    // Two non-constant ones: 10 each, and their elements.
    assert.equal(costOnBothEngines('[1 + 0, 2] == [1, 2 + 0]', big), 2 * (LIST_LITERAL_COST + 1) + 1);
    // Three iterations, each the loop condition (2), the step (1), x (1) and comparing two scalars
    // (1); and the result (1).
    assert.equal(costOnBothEngines('[1, 2, 3].all(x, x != 0)', big), 3 * (2 + 1 + 1 + 1) + 1);
  });

  it('stops comparisons of large lists inside a nested comprehension at the per-expression budget', () => {
    // 100 x 100 iterations cost 10,000 units; each iteration's comparison of two 1,000-element
    // lists costs 100 more, 1,010,000 in all: over the 1,000,000 budget. With equality charged
    // a flat amount, the same expression ran to completion.
    const object = { xs: list(100).map(Number), a: list(1_000).map(Number), b: list(1_000).map(Number) };
    const input = activation(object);
    const scope = new PolicyScope(object);
    const deep = scope.compile('params.xs.all(x, params.xs.all(y, params.a == params.b))', 'any');
    assert.equal(deep.notCompiled, undefined);
    for (const run of [deep.evaluate, deep.interpret]) {
      assert.throws(() => withCostBudget(DEFAULT_COST_BUDGET, () => run(input)), (error: unknown) => {
        assert.ok(error instanceof CostBudgetExceededError, String(error));
        assert.match(error.message, /CEL cost budget exceeded/);
        assert.equal(error.budget, DEFAULT_COST_BUDGET);
        return true;
      });
    }
    // The same iterations comparing sizes (scalars, 1 each) fit: it is the deep comparison that costs.
    const shallow = scope.compile('params.xs.all(x, params.xs.all(y, size(params.a) == size(params.b)))', 'any');
    for (const run of [shallow.evaluate, shallow.interpret]) {
      assert.equal(withCostBudget(DEFAULT_COST_BUDGET, () => run(input)), true);
    }
  });
});
