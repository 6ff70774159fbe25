// An expression compiled by src/cel/compiler.ts against the base environment with `object` declared
// dyn, next to the same expression on cel-js's interpreter: for the code generator's own tests.
import assert from 'node:assert/strict';
import { newBaseEnvironment } from '../../src/cel/base-environment.js';
import { compileExpression, OPERAND_NAMES, type OperationFactory } from '../../src/cel/compiler.js';
import type { CelActivation, JsonInputs } from '../../src/cel/program.js';
import { toCelValue } from '../../src/cel/values.js';

/** The slow path on the same environment's interpreter. */
const operations: OperationFactory = (source, operandTypes) => {
  const scope = newBaseEnvironment();
  OPERAND_NAMES.forEach((name, i) => scope.registerVariable(name, operandTypes[i] ?? 'dyn'));
  const parsed = scope.parse(source);
  return (...operands) => parsed(Object.fromEntries(operands.map((value, i) => [OPERAND_NAMES[i]!, value])));
};

export interface CompiledCel {
  /** The generated function's source. */
  readonly source: string;
  /** The compiled function on `object` as JSON (the review's case), its conversions kept in `converted`. */
  onJson(object: unknown, converted?: Map<object, unknown>): unknown;
  /** The interpreter on `object` as given (already a CEL value). */
  interpreted(object: unknown): unknown;
  /** The interpreter on `object` converted from JSON, as the engine converts a review. */
  interpretedJson(object: unknown): unknown;
}

export function compiledCel(expression: string): CompiledCel {
  const env = newBaseEnvironment();
  env.registerVariable('object', 'dyn');
  const program = env.parse(expression);
  assert.ok(program.check().valid, expression);
  const code = compileExpression(program.ast, program.ast, operations);
  return {
    source: code.source,
    onJson: (object, converted = new Map()) => {
      const json: JsonInputs = { object, oldObject: null, request: null, namespaceObject: null, converted };
      return code.evaluate({ json } as unknown as CelActivation);
    },
    interpreted: (object) => program({ object }),
    interpretedJson: (object) => program({ object: toCelValue(object) }),
  };
}
