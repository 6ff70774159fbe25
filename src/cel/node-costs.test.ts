import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CostBudgetExceededError, measureCost, withCostBudget } from './cost.js';
import { PolicyScope } from './policy-scope.js';
import type { CelActivation, CelProgram } from './program.js';
import { toCelValue } from './values.js';

// The expected costs are cel-go's own: test/cel-cost-oracle evaluates each expression of cases.json
// with Kubernetes' CEL environment (k8s.io/apiserver v0.37.2, cel-go v0.29.2) and wrote costs.json
// (see its README.md to regenerate). Nothing here is worked out from daemonguard's implementation.

const oracle = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'test', 'cel-cost-oracle');

interface Cases {
  inputs: { object: unknown; oldObject: unknown; request: unknown };
  expressions: string[];
}

interface OracleResult {
  expression: string;
  cost: number;
  value?: unknown;
  error?: string;
}

const cases = JSON.parse(readFileSync(join(oracle, 'cases.json'), 'utf8')) as Cases;
const expected = JSON.parse(readFileSync(join(oracle, 'costs.json'), 'utf8')) as OracleResult[];

/** A ValidatingAdmissionPolicy's scope: `object` and `oldObject` dyn, as the apiserver declares them. */
const scope = new PolicyScope(undefined, { hasParams: false });

function activation(inputs: Cases['inputs']): CelActivation {
  return {
    object: toCelValue(inputs.object),
    oldObject: toCelValue(inputs.oldObject),
    request: toCelValue(inputs.request),
    params: null,
    variables: null,
    namespaceObject: null,
    coverage: null,
    json: { object: inputs.object, oldObject: inputs.oldObject, request: inputs.request, namespaceObject: null, converted: new Map() },
  };
}

/** What one evaluation charges, whether it returns or throws. */
function costOf(run: () => unknown): { cost: number; failed: boolean } {
  let failed = false;
  const { cost } = measureCost(1e12, () => {
    try {
      return run();
    } catch (error) {
      if (error instanceof CostBudgetExceededError) throw error;
      failed = true;
      return undefined;
    }
  });
  return { cost, failed };
}

/**
 * Where daemonguard knowingly charges otherwise than cel-go (node-costs.ts), the difference per case:
 *   - list + list costs 1 + the result's length (cel-js copies; cel-go's lazy view costs 1);
 *   - an error in the middle of a selection chain, absorbed by ||, still pays for the selections
 *     after it (and a has() chain for its test);
 *   - a quantifier that kept an error and was decided by its last element pays one loop condition
 *     more (cel-js checks it once more);
 *   - a map / filter / exists_one whose step failed stops (cel-go runs the remaining iterations on
 *     the error and charges them).
 */
const KNOWN_DIFFERENCE: ReadonlyMap<string, number> = new Map([
  ['object.spec.list + [4]', 4],
  ['object.spec.zz.y == 1 || true', 1],
  ['object.spec.zz.y.w == 1 || true', 2],
  ['object.spec.zz[0] == 1 || true', 1],
  ['has(object.zz.y) || true', 1],
  ['object.spec.list.exists(x, x.y == 1 || x == 3)', 3],
  ['object.spec.list.exists_one(x, x / 0 == 1) || true', -6],
]);

describe('node costs: cel-go charges, on both engines', () => {
  it('has a cost from the oracle for every case, and enough cases', () => {
    assert.deepEqual(
      expected.map((r) => r.expression),
      cases.expressions,
      'costs.json is the oracle run on cases.json: regenerate it (test/cel-cost-oracle/README.md)',
    );
    // The README says "over 150 expressions".
    assert.ok(cases.expressions.length >= 150, `${cases.expressions.length} cases`);
  });

  it('charges what cel-go charges for every case, compiled and interpreted', () => {
    const input = activation(cases.inputs);
    const mismatches: string[] = [];
    let compiledCount = 0;
    for (const result of expected) {
      const program: CelProgram = scope.compile(result.expression, 'any');
      if (program.notCompiled === undefined) compiledCount++;
      const want = result.cost + (KNOWN_DIFFERENCE.get(result.expression) ?? 0);
      const compiled = costOf(() => program.evaluate(input));
      const interpreted = costOf(() => program.interpret(input));
      if (compiled.cost !== want || interpreted.cost !== want) {
        mismatches.push(`${result.expression}: cel-go ${result.cost}, compiled ${compiled.cost}, interpreted ${interpreted.cost}`);
      }
      if (compiled.failed !== (result.error !== undefined) || interpreted.failed !== compiled.failed) {
        mismatches.push(`${result.expression}: cel-go ${result.error ?? 'succeeds'}, compiled ${compiled.failed ? 'fails' : 'succeeds'}, interpreted ${interpreted.failed ? 'fails' : 'succeeds'}`);
      }
    }
    assert.deepEqual(mismatches, []);
    // The compiled engine is what serves reviews: most cases must really run compiled.
    assert.ok(compiledCount >= expected.length * 0.9, `${compiledCount} of ${expected.length} compiled`);
  });

  it('stops a comprehension of field reads and comparisons where cel-go does', () => {
    // 2,000 containers, each read by a field select and compared: cel-go's all() costs 3 (range) +
    // 2,000 x (2 condition + 1 step + 3 predicate) + 1 (result) = 12,004 units (the oracle's figure
    // for this expression and input too).
    const containers = Array.from({ length: 2_000 }, (_, i) => ({ name: `c${i}`, image: 'x' }));
    const input = activation({ object: { spec: { containers } }, oldObject: null, request: null });
    const program = scope.compile("object.spec.containers.all(c, c.name != 'x')", 'bool');
    for (const run of [() => program.evaluate(input), () => program.interpret(input)]) {
      assert.equal(measureCost(1e12, run).cost, 12_004);
      assert.equal(withCostBudget(12_004, run), true);
      assert.throws(() => withCostBudget(12_003, run), CostBudgetExceededError);
    }
  });
});
