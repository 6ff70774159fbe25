// What a compiled expression keeps in memory: its generated function, not the checked AST it was
// generated from. The checked AST holds the checker's environment (its registry of types and
// overloads, about 100 KB for each policy), which a webhook with the library held for every expression.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { ASTNode } from '@marcbachmann/cel-js';
import { newBaseEnvironment } from './base-environment.js';
import { compileExpression, OPERAND_NAMES, type OperationFactory } from './compiler.js';
import { PolicyScope } from './policy-scope.js';
import { toCelValue } from './values.js';
import type { CelActivation } from './program.js';

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

const EXPRESSION = "object.containers.filter(c, c.name.startsWith('a')).size() + 1";

function checked(): ASTNode {
  const env = newBaseEnvironment().clone();
  env.registerVariable('object', 'dyn');
  const program = env.parse(EXPRESSION);
  assert.ok(program.check().valid);
  return program.ast;
}

const operations: OperationFactory = (source, operandTypes) => {
  const env = newBaseEnvironment().clone();
  OPERAND_NAMES.forEach((name, i) => env.registerVariable(name, operandTypes[i] ?? 'dyn'));
  const parsed = env.parse(source);
  return (...operands) => parsed(Object.fromEntries(operands.map((value, i) => [OPERAND_NAMES[i]!, value])));
};

function compileWatched(checkAgain: (() => ASTNode) | undefined): { checkedAst: WeakRef<ASTNode>; evaluate: (activation: CelActivation) => unknown } {
  const ast = checked();
  const code = compileExpression(ast, checked(), operations, checkAgain);
  return { checkedAst: new WeakRef(ast), evaluate: code.evaluate };
}

/** Compiles EXPRESSION and reports whether its checked AST survives a full garbage collection. */
async function compileAndCollect(checkAgain: (() => ASTNode) | undefined): Promise<{ kept: boolean; evaluate: (activation: CelActivation) => unknown }> {
  const { checkedAst, evaluate } = compileWatched(checkAgain);
  // A WeakRef keeps its target alive until the current job ends.
  await new Promise((resolve) => setImmediate(resolve));
  collectGarbage();
  return { kept: checkedAst.deref() !== undefined, evaluate };
}

const onCelValues = { object: toCelValue({ containers: [{ name: 'app' }, { name: 'sidecar' }] }) } as unknown as CelActivation;

describe('a compiled expression', () => {
  it('does not keep its checked AST when it can check the expression again, and still evaluates on CEL values', async () => {
    const { kept, evaluate } = await compileAndCollect(checked);
    assert.equal(kept, false);
    assert.equal(evaluate(onCelValues), 2n);
  });

  it('keeps the checked AST for its function on CEL values when it cannot check again (the test sees what it is meant to)', async () => {
    const { kept, evaluate } = await compileAndCollect(undefined);
    assert.equal(kept, true);
    assert.equal(evaluate(onCelValues), 2n);
  });

  it('checks again with the declarations of its compilation, not with the ones a policy declared after it', () => {
    const scope = new PolicyScope({ replicas: 3 });
    scope.declareVariable('extra', 'int');
    const program = scope.compile('params.replicas + variables.extra', 'any');
    // A later variable of the same name and another type (a second policy document would not do
    // this, but the scope allows it): the program was checked with `extra` an int.
    scope.declareVariable('extra', 'string');
    const withoutJson = { params: toCelValue({ replicas: 3 }), variables: toCelValue({ extra: 4 }) } as unknown as CelActivation;
    assert.equal(program.notCompiled, undefined);
    assert.equal(program.evaluate(withoutJson), 7n);
    assert.equal(program.interpret(withoutJson), 7n);
  });
});
