// Helpers for the library tests: evaluate CEL against the base environment.
import type { Environment } from '@marcbachmann/cel-js';
import { newBaseEnvironment } from '../../src/cel/base-environment.js';

let shared: Environment | undefined;

/** Evaluates `expression` in the base environment (no variables). */
export function evaluate(expression: string): unknown {
  shared ??= newBaseEnvironment();
  return shared.evaluate(expression);
}

/** Evaluates with `dyn` variables bound to the given (already CEL-shaped) values. */
export function evaluateWith(expression: string, variables: Record<string, unknown>): unknown {
  const env = newBaseEnvironment();
  for (const name of Object.keys(variables)) env.registerVariable(name, 'dyn');
  return env.evaluate(expression, variables);
}

/** The first line of a CEL error's message (cel-js appends a source excerpt). */
export function errorOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    return ((error as { summary?: string }).summary ?? (error as Error).message).split('\n')[0] ?? '';
  }
  throw new Error('expected an error');
}

/** Whether the expression type-checks in the base environment. */
export function typeChecks(expression: string): boolean {
  shared ??= newBaseEnvironment();
  return shared.check(expression).valid;
}
