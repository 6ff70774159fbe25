// Turns one schema-valid DaemonSetPolicy document into a CompiledPolicy: CEL parsed and type-checked
// once, selectors and globs compiled, defaults resolved. Every problem names its field and position.
import { DEFAULT_COST_BUDGET, withCostBudget } from '../cel/cost.js';
import { CelCompileError } from '../cel/program.js';
import { PolicyScope, type ExpectedResult } from '../cel/policy-scope.js';
import { toCelValue, withFastMaps } from '../cel/values.js';
import { parsePointer } from '../common/json-pointer.js';
import { OPERATIONS, type Operation } from '../common/vocabulary.js';
import { formatFieldPath, type FieldPath, type SourceDocument } from '../common/yaml-documents.js';
import { expressionDependencies } from './expression-dependencies.js';
import { compileLabelSelector, compileNamespaceMatch, labelSelectorProblems } from './selectors.js';
import type {
  CompiledDefault,
  CompiledExpression,
  CompiledMutation,
  CompiledNamedExpression,
  CompiledPolicy,
  CompiledValidation,
  CompiledVariable,
  DaemonSetPolicyDocument,
  DefaultSpec,
  NamespaceRead,
} from './types.js';
import { compiledVariable } from './types.js';

export interface PolicyProblem {
  file: string;
  line: number;
  column: number;
  policy?: string;
  /** The DaemonSetPolicyException the problem is in, as namespace/name. */
  exception?: string;
  /** Field path inside the policy document, e.g. spec.validations[0].expression. */
  field?: string;
  message: string;
}

export function formatProblem(problem: PolicyProblem): string {
  const where = `${problem.file}:${problem.line}:${problem.column}`;
  const policy = problem.exception ? ` exception "${problem.exception}"` : problem.policy ? ` policy "${problem.policy}"` : '';
  const field = problem.field ? ` ${problem.field}:` : '';
  return `${where}:${policy}${field} ${problem.message}`;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `/spec/template/spec/containers` -> `object.spec.template.spec.containers`, for type inference. */
function pointerToCel(segments: string[]): string | undefined {
  if (!segments.every((s) => IDENTIFIER.test(s))) return undefined;
  return ['object', ...segments].join('.');
}

function listElementType(type: string): string | undefined {
  const match = /^list<(.+)>$/.exec(type);
  if (match) return match[1];
  return type === 'list' || type === 'dyn' ? 'dyn' : undefined;
}

/** Rewrites cel-js's terse checker messages into ones that say what to do. */
function explainCelError(error: CelCompileError, declared: { params: string[]; variables: string[] }): string {
  const missing = /No such key: ([\w-]+)/.exec(error.detail)?.[1];
  if (missing) {
    const source = error.expression;
    if (new RegExp(`variables\\s*\\.\\s*${missing}\\b`).test(source)) {
      const known = declared.variables.length ? declared.variables.join(', ') : 'none';
      return `unknown variable "${missing}" (declared before this point: ${known})`;
    }
    if (new RegExp(`params\\s*\\.\\s*${missing}\\b`).test(source)) {
      const known = declared.params.length ? declared.params.join(', ') : 'none';
      return `unknown parameter "${missing}": declare it under spec.params (declared: ${known})`;
    }
    return `no such field "${missing}": check the spelling against the apps/v1 DaemonSet schema (kubectl explain daemonset.spec)`;
  }
  const prefix = { syntax: 'CEL syntax error', type: 'CEL type error', 'result-type': 'CEL type error', limit: 'CEL expression too large' }[error.kind];
  return `${prefix}: ${error.detail}`;
}

export function compilePolicy(
  source: SourceDocument,
  document: DaemonSetPolicyDocument,
): { policy?: CompiledPolicy; problems: PolicyProblem[] } {
  const name = document.metadata.name;
  const spec = document.spec;
  const problems: PolicyProblem[] = [];
  const problemAt = (path: FieldPath, message: string, offset?: number): void => {
    const pos = offset === undefined ? source.positionOf(path) : source.positionInString(path, offset);
    problems.push({ file: source.file, line: pos.line, column: pos.column, policy: name, field: formatFieldPath(path), message });
  };

  const actions = spec.validationActions ?? ['Deny'];
  if (actions.includes('Deny') && actions.includes('Warn')) {
    problemAt(['spec', 'validationActions'], 'Deny and Warn cannot be combined (a denied request has no use for a warning); use [Deny] or [Deny, Audit], or [Warn, Audit]');
  }
  if (spec.paramsFrom !== undefined) {
    problemAt(['spec', 'paramsFrom'], 'paramsFrom is read only from DaemonSetPolicy objects in a cluster (serve --policies-from-cluster); in a file, write the values under spec.params');
  }
  for (const key of ['namespaceSelector', 'objectSelector'] as const) {
    for (const [field, message] of labelSelectorProblems(spec.match?.[key])) {
      problemAt(['spec', 'match', key, ...field.split(/[.[\]]+/).filter(Boolean).map((p) => (/^\d+$/.test(p) ? Number(p) : p))], message);
    }
  }

  const scope = new PolicyScope(spec.params as Record<string, unknown> | undefined);
  const declared = { params: Object.keys(spec.params ?? {}), variables: [] as string[] };
  /** Every expression compiled, to find those that read namespaceObject. */
  const compiledExpressions: CompiledExpression[] = [];
  const compile = (path: FieldPath, expression: string, expected: ExpectedResult, elementType?: string, variable = false): CompiledExpression | undefined => {
    try {
      const compiled = { field: formatFieldPath(path), program: scope.compile(expression, expected, elementType, variable) };
      compiledExpressions.push(compiled);
      return compiled;
    } catch (error) {
      if (!(error instanceof CelCompileError)) throw error;
      const message = `${explainCelError(error, declared)}\n${indent(error.caretSnippet())}`;
      problemAt(path, message, error.offset);
      return undefined;
    }
  };
  const uniqueNames = (items: { name: string }[] | undefined, field: string): void => {
    const seen = new Set<string>();
    (items ?? []).forEach((item, i) => {
      if (seen.has(item.name)) problemAt(['spec', field, i, 'name'], `duplicate name "${item.name}"`);
      seen.add(item.name);
    });
  };
  uniqueNames(spec.matchConditions, 'matchConditions');
  uniqueNames(spec.variables, 'variables');
  uniqueNames(spec.mutations, 'mutations');

  const matchConditions: CompiledNamedExpression[] = [];
  (spec.matchConditions ?? []).forEach((condition, i) => {
    const compiled = compile(['spec', 'matchConditions', i, 'expression'], condition.expression, 'bool');
    if (compiled) matchConditions.push({ ...compiled, name: condition.name });
  });

  const variables: CompiledVariable[] = [];
  (spec.variables ?? []).forEach((variable, i) => {
    const compiled = compile(['spec', 'variables', i, 'expression'], variable.expression, 'any', undefined, true);
    // A broken variable is still declared (as dyn) so later expressions report their own problems only.
    scope.declareVariable(variable.name, compiled?.program.resultType ?? 'dyn', compiled?.program.jsonResult === true);
    declared.variables.push(variable.name);
    if (compiled) variables.push(compiledVariable(compiled, variable.name));
  });

  const validations: CompiledValidation[] = [];
  (spec.validations ?? []).forEach((validation, i) => {
    const expression = compile(['spec', 'validations', i, 'expression'], validation.expression, 'bool');
    const messageExpression =
      validation.messageExpression === undefined
        ? undefined
        : compile(['spec', 'validations', i, 'messageExpression'], validation.messageExpression, 'string');
    if (!expression) return;
    validations.push({
      index: i,
      expression,
      message: validation.message,
      messageExpression,
      reason: validation.reason ?? 'Invalid',
    });
  });

  const mutations: CompiledMutation[] = [];
  (spec.mutations ?? []).forEach((mutation, i) => {
    const base: FieldPath = ['spec', 'mutations', i];
    const compiled: CompiledMutation = { name: mutation.name, field: formatFieldPath(base) };
    if (mutation.when !== undefined) compiled.when = compile([...base, 'when'], mutation.when, 'bool');
    if (mutation.jsonPatch) compiled.jsonPatch = compile([...base, 'jsonPatch', 'expression'], mutation.jsonPatch.expression, 'list');
    if (mutation.applyConfiguration) {
      compiled.applyConfiguration = compile([...base, 'applyConfiguration', 'expression'], mutation.applyConfiguration.expression, 'any');
    }
    if (mutation.defaults) {
      compiled.defaults = [];
      mutation.defaults.forEach((entry, j) => {
        const at: FieldPath = [...base, 'defaults', j];
        const compiledDefault = compileDefault(entry, at);
        if (compiledDefault) compiled.defaults!.push(compiledDefault);
      });
    }
    mutations.push(compiled);
  });

  function compileDefault(entry: DefaultSpec, at: FieldPath): CompiledDefault | undefined {
    let path: string[];
    let forEach: string[] | undefined;
    try {
      path = parsePointer(entry.path);
    } catch (error) {
      problemAt([...at, 'path'], (error as Error).message);
      return undefined;
    }
    if (path.includes('-')) {
      problemAt([...at, 'path'], 'a default cannot append to a list ("-"); use forEach to default a field of every element');
      return undefined;
    }
    let elementType: string | undefined;
    if (entry.forEach !== undefined) {
      try {
        forEach = parsePointer(entry.forEach);
      } catch (error) {
        problemAt([...at, 'forEach'], (error as Error).message);
        return undefined;
      }
      const listExpression = pointerToCel(forEach);
      elementType = 'dyn';
      if (listExpression) {
        try {
          elementType = listElementType(scope.typeOf(listExpression));
        } catch (error) {
          const message = error instanceof CelCompileError ? explainCelError(error, declared) : String(error);
          problemAt([...at, 'forEach'], message);
          return undefined;
        }
        if (!elementType) {
          problemAt([...at, 'forEach'], `${entry.forEach} is not a list in an apps/v1 DaemonSet`);
          return undefined;
        }
      }
    }
    const result: CompiledDefault = { path, forEach };
    if (entry.valueExpression !== undefined) {
      const valueExpression = compile([...at, 'valueExpression'], entry.valueExpression, 'any', elementType);
      if (!valueExpression) return undefined;
      result.valueExpression = valueExpression;
    } else {
      result.value = entry.value;
    }
    return result;
  }

  if (problems.length > 0) return { problems };
  // Read by every review: its maps kept where V8 reads them fastest (see withFastMaps).
  const params = withFastMaps(toCelValue(spec.params ?? {}));
  precomputeVariables(variables, params);

  const operations = new Set<Operation>();
  for (const op of spec.match?.operations ?? ['CREATE', 'UPDATE']) {
    if (op === '*') OPERATIONS.forEach((o) => operations.add(o));
    else operations.add(op);
  }
  const position = source.positionOf([]);
  const namespaceSelector = compileLabelSelector(spec.match?.namespaceSelector);
  const namespaceReads: NamespaceRead[] = [
    ...(namespaceSelector === undefined ? [] : [{ via: 'namespaceSelector' as const, field: 'spec.match.namespaceSelector' }]),
    ...compiledExpressions
      .filter((expression) => expressionDependencies(expression.program.source).namespaceObject)
      .map((expression) => ({ via: 'namespaceObject' as const, field: expression.field })),
  ];
  return {
    problems,
    policy: {
      name,
      source: { file: source.file, line: position.line, column: position.column },
      description: document.metadata.annotations?.['daemonguard.dev/description'],
      validationActions: actions,
      failurePolicy: spec.failurePolicy ?? 'Fail',
      operations,
      namespaceMatches: compileNamespaceMatch(spec.match?.namespaces, spec.match?.excludeNamespaces),
      namespaceSelector,
      objectSelector: compileLabelSelector(spec.match?.objectSelector),
      matchConditions,
      params,
      variables,
      validations,
      mutations,
      namespaceReads,
      document,
    },
  };
}

/**
 * Marks the variables that need no request: those reading only params (and each other) are
 * evaluated now, once; those reading only the request get a key under which policies declaring the
 * same expression share one evaluation per review. A variable whose load-time evaluation fails is
 * left to fail at review time, where failurePolicy handles it as before.
 */
function precomputeVariables(variables: CompiledVariable[], params: unknown): void {
  const constants: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  const activation = { object: null, oldObject: null, request: null, namespaceObject: null, coverage: null, params, variables: constants };
  for (const variable of variables) {
    const reads = expressionDependencies(variable.program.source);
    if (reads.requestScoped) {
      // Shared only with variables whose value takes the same form (JSON or CEL) from the same text.
      if (!reads.params && reads.variables.size === 0) variable.sharedKey = `${variable.program.jsonResult === true ? 'json' : 'cel'}|${variable.program.source}`;
      continue;
    }
    if (![...reads.variables].every((name) => Object.hasOwn(constants, name))) continue;
    try {
      const value = withCostBudget(DEFAULT_COST_BUDGET, () => variable.program.evaluate(activation));
      constants[variable.name] = value;
      variable.constant = { value };
    } catch {
      // Evaluated per review instead, with the error settled by failurePolicy there.
    }
  }
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
}
