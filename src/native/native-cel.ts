// Compiles the CEL of one native policy in the apiserver's environment (object, oldObject and params
// dyn; request and namespaceObject typed; variables in order) and reports problems at the exact
// column. `authorizer` cannot be answered offline: an expression that reads it is a load problem.
import { CelCompileError } from '../cel/program.js';
import { PolicyScope, type ExpectedResult } from '../cel/policy-scope.js';
import { formatFieldPath, type FieldPath, type SourceDocument } from '../common/yaml-documents.js';
import type { PolicyProblem } from '../policy/compile-policy.js';
import { compiledVariable, type CompiledExpression, type CompiledNamedExpression, type CompiledVariable, type NamedExpressionSpec } from '../policy/types.js';
import type { NamedExpression } from './documents.js';

const AUTHORIZER = /(?<![\w.'"])authorizer\b/;

function indent(text: string): string {
  return text.split('\n').map((line) => `    ${line}`).join('\n');
}

/** One native policy's expressions, compiled in order, with problems collected as they come. */
export class NativeCel {
  readonly problems: PolicyProblem[] = [];
  readonly compiled: CompiledExpression[] = [];
  readonly #scope: PolicyScope;
  readonly #declaredVariables: string[] = [];
  readonly #hasParams: boolean;

  constructor(
    private readonly source: SourceDocument,
    private readonly policyName: string,
    hasParams: boolean,
  ) {
    this.#scope = new PolicyScope(undefined, { hasParams });
    this.#hasParams = hasParams;
  }

  problemAt(path: FieldPath, message: string, offset?: number): void {
    const pos = offset === undefined ? this.source.positionOf(path) : this.source.positionInString(path, offset);
    this.problems.push({ file: this.source.file, line: pos.line, column: pos.column, policy: this.policyName, field: formatFieldPath(path), message });
  }

  /**
   * `exactTypes`: the types the apiserver accepts for this field, exactly (its compiler refuses `dyn`
   * where it wants `bool`: "must evaluate to bool but got dyn"); undefined accepts any type (variables).
   */
  compile(path: FieldPath, expression: string, expected: ExpectedResult, exactTypes?: readonly string[]): CompiledExpression | undefined {
    try {
      const compiled = { field: formatFieldPath(path), program: this.#scope.compile(expression, expected) };
      const type = compiled.program.resultType;
      if (exactTypes !== undefined && !exactTypes.includes(type)) {
        const wanted = exactTypes.length === 1 ? exactTypes[0]! : `one of [${exactTypes.map((t) => (t === 'null' ? 'null_type' : t)).join(' ')}]`;
        const hint = type === 'dyn' ? (exactTypes.includes('bool') ? `; compare the value (x == true) or convert it (bool(x))` : `; convert it with string(...)${exactTypes.includes('null') ? ", and write '' rather than null in a conditional (an empty value is dropped as null is)" : ''}`) : '';
        this.problemAt(path, `must evaluate to ${wanted} but got ${type} (the apiserver refuses it)${hint}`);
        return undefined;
      }
      this.compiled.push(compiled);
      return compiled;
    } catch (error) {
      if (!(error instanceof CelCompileError)) throw error;
      const match = AUTHORIZER.exec(expression);
      if (match !== null) {
        this.problemAt(path, 'reads `authorizer`, which daemonguard cannot evaluate offline (it would ask the cluster\'s authorizers); evaluate this policy in the cluster only', match.index);
        return undefined;
      }
      this.problemAt(path, `${this.#explain(error)}\n${indent(error.caretSnippet())}`, error.offset);
      return undefined;
    }
  }

  #explain(error: CelCompileError): string {
    if (/\bparams\b/.test(error.expression) && !this.#hasParams && /params/.test(error.detail)) {
      return 'reads `params`, but the policy has no spec.paramKind (the apiserver refuses such an expression)';
    }
    const unknownVariable = /No such key: ([\w-]+)/.exec(error.detail)?.[1];
    if (unknownVariable !== undefined && new RegExp(`variables\\s*\\.\\s*${unknownVariable}\\b`).test(error.expression)) {
      return `unknown variable "${unknownVariable}" (declared before this point: ${this.#declaredVariables.join(', ') || 'none'})`;
    }
    if (error.detail.startsWith('Ternary branches must have the same type')) {
      // A known difference: cel-go (the apiserver) accepts `c ? 'x' : null`, daemonguard's checker does not.
      return `CEL type error: ${error.detail}; daemonguard's checker is stricter than the apiserver's here: wrap a branch in dyn(), e.g. c ? 'x' : dyn(null)`;
    }
    const prefix = { syntax: 'CEL syntax error', type: 'CEL type error', 'result-type': 'CEL type error', limit: 'CEL expression too large' }[error.kind];
    return `${prefix}: ${error.detail}`;
  }

  /** spec.matchConditions: all must be true for the policy to apply. */
  matchConditions(conditions: readonly NamedExpression[] | undefined): CompiledNamedExpression[] {
    const out: CompiledNamedExpression[] = [];
    const seen = new Set<string>();
    (conditions ?? []).forEach((condition, i) => {
      if (seen.has(condition.name)) this.problemAt(['spec', 'matchConditions', i, 'name'], `duplicate name "${condition.name}"`);
      seen.add(condition.name);
      const compiled = this.compile(['spec', 'matchConditions', i, 'expression'], condition.expression, 'bool', ['bool']);
      if (compiled) out.push({ ...compiled, name: condition.name });
    });
    return out;
  }

  /** spec.variables, each visible to the ones after it as `variables.<name>`. */
  variables(variables: readonly NamedExpressionSpec[] | undefined): CompiledVariable[] {
    const out: CompiledVariable[] = [];
    (variables ?? []).forEach((variable, i) => {
      if (this.#declaredVariables.includes(variable.name)) this.problemAt(['spec', 'variables', i, 'name'], `duplicate name "${variable.name}"`);
      const compiled = this.compile(['spec', 'variables', i, 'expression'], variable.expression, 'any');
      this.#scope.declareVariable(variable.name, compiled?.program.resultType ?? 'dyn');
      this.#declaredVariables.push(variable.name);
      if (compiled) out.push(compiledVariable(compiled, variable.name));
    });
    return out;
  }
}
