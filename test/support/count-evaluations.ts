// Counting how often a policy set's expressions are evaluated during reviews, by the exact code and
// by the lean tier: what the tests of the engine's memo and of its lean functions assert on.
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import type { CelProgram } from '../../src/cel/program.js';
import { PolicyActivation } from '../../src/engine/activation.js';
import type { PolicySet } from '../../src/policy/types.js';

/** Counts the exact code's evaluations of the programs of `set` (matchConditions, variables, validations) whose source is one of `sources`. */
export function countEvaluations(set: PolicySet, sources: readonly string[]): { count: number } {
  const counter = { count: 0 };
  const programs = new Set<CelProgram>();
  for (const policy of set.policies) {
    for (const expression of [...policy.matchConditions, ...policy.variables, ...policy.validations.map((v) => v.expression)]) {
      if (sources.includes(expression.program.source)) programs.add(expression.program);
    }
  }
  assert.ok(programs.size > 0, `no program of the set is one of ${sources.join(', ')}`);
  for (const program of programs) {
    const evaluate = program.evaluate.bind(program);
    Object.defineProperty(program, 'evaluate', {
      configurable: true,
      value: (activation: Parameters<typeof evaluate>[0]) => {
        counter.count++;
        return evaluate(activation);
      },
    });
  }
  return counter;
}

/**
 * Counts the evaluations of a shared variable whose source is `source` (the set's only shared
 * expression): by its exact code, and by lean functions, which put what they evaluate into the
 * review's memo themselves (PolicyActivation.rememberSharedValue; restored when the test ends).
 */
export function countSharedEvaluations(t: TestContext, set: PolicySet, source: string): { readonly count: number; readonly byLean: number } {
  const exact = countEvaluations(set, [source]);
  const lean = { count: 0 };
  const remember = PolicyActivation.prototype.rememberSharedValue;
  t.mock.method(PolicyActivation.prototype, 'rememberSharedValue', function (this: PolicyActivation, ...args: Parameters<typeof remember>) {
    lean.count++;
    remember.apply(this, args);
  });
  return {
    get count() {
      return exact.count + lean.count;
    },
    get byLean() {
      return lean.count;
    },
  };
}
