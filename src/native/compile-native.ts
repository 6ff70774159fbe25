// Turns native policy documents (ValidatingAdmissionPolicy / MutatingAdmissionPolicy and their
// bindings) into CompiledPolicies for daemonguard's one engine: one CompiledPolicy per (policy,
// binding, param object), as the apiserver evaluates a binding once per param.
//
// Load-time rules, each as the apiserver behaves or with a note where it would do nothing:
// - a policy whose matchConstraints match no apps/v1 DaemonSet is skipped with a note;
// - a binding whose policy is not loaded does nothing (a note), a policy without binding likewise;
// - a field daemonguard does not know, or an expression it cannot evaluate, is a problem at its line.
import { toCelValue } from '../cel/values.js';
import { formatFieldPath, type FieldPath, type SourceDocument } from '../common/yaml-documents.js';
import type { PolicyProblem } from '../policy/compile-policy.js';
import { expressionDependencies } from '../policy/expression-dependencies.js';
import type { CompiledPolicy, CompiledValidation, CompiledMutation, CompiledAuditAnnotation, NamespaceRead, PolicyNote } from '../policy/types.js';
import {
  BINDING_KIND_OF,
  MUTATING_POLICY_KIND,
  VALIDATING_BINDING_KIND,
  VALIDATING_POLICY_KIND,
  isPolicyKind,
  nativeKindOf,
  type NativeBindingDocument,
  type NativePolicyDocument,
  type NativePolicyKind,
  type ParamObject,
} from './documents.js';
import { MATCH_RESOURCES_SHAPE, compileMatchResources, intersectLabelPredicates, type CompiledMatchResources } from './match-resources.js';
import { compileMutatingParts, MUTATING_SPEC_FIELDS } from './mutating.js';
import { NativeCel } from './native-cel.js';
import { paramId, resolveParams, type ParamEvaluation } from './params.js';
import { LABEL_SELECTOR, STRING, checkShape, type Shape } from './shape.js';
import { VALIDATING_SPEC_FIELDS, compileValidatingParts } from './validating.js';

const NAMED_EXPRESSIONS: Shape = { type: 'list', items: { type: 'object', fields: { name: STRING, expression: STRING }, required: ['name', 'expression'] } };

const METADATA: Shape = {
  type: 'object',
  fields: { name: { type: 'string', nonEmpty: true }, namespace: STRING, labels: { type: 'stringMap' }, annotations: { type: 'stringMap' }, uid: { type: 'any' }, resourceVersion: { type: 'any' }, generation: { type: 'any' }, creationTimestamp: { type: 'any' }, managedFields: { type: 'any' } },
  required: ['name'],
};

function policyShape(kind: NativePolicyKind): Shape {
  return {
    type: 'object',
    fields: {
      apiVersion: STRING,
      kind: STRING,
      metadata: METADATA,
      status: { type: 'any' },
      spec: {
        type: 'object',
        fields: {
          paramKind: { type: 'object', fields: { apiVersion: STRING, kind: STRING }, required: ['apiVersion', 'kind'] },
          matchConstraints: MATCH_RESOURCES_SHAPE,
          matchConditions: NAMED_EXPRESSIONS,
          variables: NAMED_EXPRESSIONS,
          failurePolicy: { type: 'string', enum: ['Fail', 'Ignore'] },
          ...(kind === VALIDATING_POLICY_KIND ? VALIDATING_SPEC_FIELDS : MUTATING_SPEC_FIELDS),
        },
        required: ['matchConstraints'],
      },
    },
    required: ['metadata', 'spec'],
  };
}

function bindingShape(kind: NativePolicyKind): Shape {
  return {
    type: 'object',
    fields: {
      apiVersion: STRING,
      kind: STRING,
      metadata: METADATA,
      spec: {
        type: 'object',
        fields: {
          policyName: { type: 'string', nonEmpty: true },
          paramRef: {
            type: 'object',
            fields: { name: STRING, namespace: STRING, selector: LABEL_SELECTOR, parameterNotFoundAction: { type: 'string', enum: ['Allow', 'Deny'] } },
            required: ['parameterNotFoundAction'],
          },
          matchResources: MATCH_RESOURCES_SHAPE,
          ...(kind === VALIDATING_POLICY_KIND
            ? { validationActions: { type: 'list', items: { type: 'string', enum: ['Deny', 'Warn', 'Audit'] }, nonEmpty: true } as Shape }
            : {}),
        },
        required: kind === VALIDATING_POLICY_KIND ? ['policyName', 'validationActions'] : ['policyName'],
      },
    },
    required: ['metadata', 'spec'],
  };
}

/** The kind-specific part of a compiled native policy. */
interface PolicyParts {
  validations: CompiledValidation[];
  auditAnnotations: CompiledAuditAnnotation[];
  mutations: CompiledMutation[];
}

/** A policy compiled once, from which each (binding, param) evaluation is made. */
interface PolicyTemplate {
  source: SourceDocument;
  document: NativePolicyDocument;
  kind: NativePolicyKind;
  match: CompiledMatchResources;
  cel: NativeCel;
  parts: PolicyParts;
  matchConditions: CompiledPolicy['matchConditions'];
  variables: CompiledPolicy['variables'];
  bound: boolean;
}

export interface CompiledNative {
  policies: CompiledPolicy[];
  notes: PolicyNote[];
  problems: PolicyProblem[];
}

/** The paramKinds the native policies among `sources` declare, as `apiVersion/kind` keys (to tell params from stray documents). */
export function declaredParamKinds(sources: readonly SourceDocument[]): Set<string> {
  const kinds = new Set<string>();
  for (const source of sources) {
    const kind = nativeKindOf(source.value);
    if (kind === undefined || !isPolicyKind(kind)) continue;
    const paramKind = (source.value as { spec?: { paramKind?: { apiVersion?: unknown; kind?: unknown } } }).spec?.paramKind;
    if (typeof paramKind?.apiVersion === 'string' && typeof paramKind.kind === 'string') kinds.add(`${paramKind.apiVersion}/${paramKind.kind}`);
  }
  return kinds;
}

export function paramKindKey(value: { apiVersion?: unknown; kind?: unknown }): string {
  return `${String(value.apiVersion)}/${String(value.kind)}`;
}

/**
 * Compiles the native documents among `sources` (others are ignored) with `params` as the objects
 * paramRefs select from. Names are unique per kind, as in a cluster.
 */
export function compileNativeDocuments(sources: readonly SourceDocument[], params: readonly ParamObject[]): CompiledNative {
  const problems: PolicyProblem[] = [];
  const notes: PolicyNote[] = [];
  const at = (source: SourceDocument, path: FieldPath, name: string | undefined, message: string, atKey = false): PolicyProblem => {
    const pos = atKey ? source.keyPositionOf(path) : source.positionOf(path);
    return { file: source.file, line: pos.line, column: pos.column, policy: name, field: formatFieldPath(path) || undefined, message };
  };
  const templates = new Map<string, PolicyTemplate>();
  const bindings: { source: SourceDocument; document: NativeBindingDocument; policyKind: NativePolicyKind }[] = [];
  const seen = new Map<string, SourceDocument>();

  for (const source of sources) {
    const kind = nativeKindOf(source.value);
    if (kind === undefined) continue;
    const policyKind: NativePolicyKind = isPolicyKind(kind) ? kind : kind === VALIDATING_BINDING_KIND ? VALIDATING_POLICY_KIND : MUTATING_POLICY_KIND;
    const name = (source.value as { metadata?: { name?: unknown } }).metadata?.name;
    const shown = typeof name === 'string' ? name : undefined;
    const shapeProblems = checkShape(source.value, isPolicyKind(kind) ? policyShape(kind) : bindingShape(policyKind));
    if (shapeProblems.length > 0) {
      problems.push(...shapeProblems.map((p) => at(source, p.path, shown, `${kind}: ${p.message}`, p.atKey)));
      continue;
    }
    const key = `${kind}/${shown}`;
    const first = seen.get(key);
    if (first) {
      problems.push(at(source, ['metadata', 'name'], shown, `duplicate ${kind} name; first defined at ${first.file}:${first.positionOf(['metadata', 'name']).line}`));
      continue;
    }
    seen.set(key, source);
    if (isPolicyKind(kind)) {
      const template = compileTemplate(source, source.value as NativePolicyDocument, kind, problems, notes);
      if (template) templates.set(key, template);
    } else {
      bindings.push({ source, document: source.value as NativeBindingDocument, policyKind });
    }
  }

  const policies: CompiledPolicy[] = [];
  for (const { source, document, policyKind } of bindings) {
    const name = document.metadata.name;
    const policyKey = `${policyKind}/${document.spec.policyName}`;
    const template = templates.get(policyKey);
    if (template === undefined) {
      // A policy that failed to compile or matches no DaemonSet has said so already.
      if (!seen.has(policyKey)) {
        notes.push({ ...at(source, ['spec', 'policyName'], name, ''), message: `${document.kind} "${name}" binds ${policyKind} "${document.spec.policyName}", which is not loaded: the binding does nothing (as in the apiserver)` });
      }
      continue;
    }
    template.bound = true;
    const bindingMatch = compileMatchResources(document.spec.matchResources, 'binding matchResources');
    const operations = new Set([...template.match.operations].filter((op) => bindingMatch.operations.has(op)));
    if (operations.size === 0) {
      notes.push({ ...at(source, ['spec', 'matchResources'], name, ''), message: `${document.kind} "${name}": its matchResources match no apps/v1 DaemonSet the policy matches; skipped` });
      continue;
    }
    const paramRef = document.spec.paramRef;
    if (paramRef !== undefined) {
      const hasName = paramRef.name !== undefined && paramRef.name !== '';
      if (hasName === (paramRef.selector !== undefined)) {
        problems.push(at(source, ['spec', 'paramRef'], name, 'set exactly one of paramRef.name or paramRef.selector'));
        continue;
      }
      if (template.document.spec.paramKind === undefined) {
        notes.push({ ...at(source, ['spec', 'paramRef'], name, ''), message: `${document.kind} "${name}": paramRef is ignored because ${policyKind} "${template.document.metadata.name}" has no paramKind (as in the apiserver)` });
      }
    }
    for (const evaluation of resolveParams(template.document.spec.paramKind, paramRef, params)) {
      policies.push(evaluationPolicy(template, source, document, bindingMatch, operations, evaluation));
    }
  }
  for (const template of templates.values()) {
    if (!template.bound) {
      notes.push({ ...at(template.source, ['metadata', 'name'], template.document.metadata.name, ''), message: `${template.kind} "${template.document.metadata.name}" has no ${BINDING_KIND_OF[template.kind]}: it does nothing until bound (as in the apiserver)` });
    }
  }
  return { policies, notes, problems };
}

function compileTemplate(source: SourceDocument, document: NativePolicyDocument, kind: NativePolicyKind, problems: PolicyProblem[], notes: PolicyNote[]): PolicyTemplate | undefined {
  const name = document.metadata.name;
  const spec = document.spec;
  const cel = new NativeCel(source, name, spec.paramKind !== undefined);
  if ((spec.matchConstraints?.resourceRules ?? []).length === 0) {
    cel.problemAt(['spec', 'matchConstraints'], 'matchConstraints.resourceRules is required (the apiserver refuses a policy without it); for DaemonSets: {apiGroups: [apps], apiVersions: [v1], resources: [daemonsets], operations: [CREATE, UPDATE]}');
  }
  const match = compileMatchResources(spec.matchConstraints, 'matchConstraints');
  const matchConditions = cel.matchConditions(spec.matchConditions);
  const variables = cel.variables(spec.variables);
  const parts: PolicyParts = { validations: [], auditAnnotations: [], mutations: [] };
  if (document.kind === VALIDATING_POLICY_KIND) Object.assign(parts, compileValidatingParts(source, document, cel));
  else Object.assign(parts, compileMutatingParts(source, document, cel));
  if (cel.problems.length > 0) {
    problems.push(...cel.problems);
    return undefined;
  }
  if (match.operations.size === 0) {
    const pos = source.positionOf(['spec', 'matchConstraints', 'resourceRules']);
    notes.push({ file: source.file, line: pos.line, column: pos.column, policy: name, message: `${kind} "${name}" matches no apps/v1 DaemonSet (spec.matchConstraints.resourceRules): skipped` });
    return undefined;
  }
  return { source, document, kind, match, cel, parts, matchConditions, variables, bound: false };
}

/** One CompiledPolicy: the template evaluated through `binding` with one param object (or none). */
function evaluationPolicy(
  template: PolicyTemplate,
  bindingSource: SourceDocument,
  binding: NativeBindingDocument,
  bindingMatch: CompiledMatchResources,
  operations: Set<CompiledPolicy['operations'] extends ReadonlySet<infer T> ? T : never>,
  evaluation: ParamEvaluation,
): CompiledPolicy {
  const policyName = template.document.metadata.name;
  const bindingName = binding.metadata.name;
  const param = evaluation.param ? paramId(evaluation.param) : undefined;
  const name = `${policyName}/${bindingName}${param ? `[${param}]` : ''}`;
  const validationActions = binding.spec.validationActions ?? ['Deny'];
  const failurePolicy = template.document.spec.failurePolicy ?? 'Fail';
  const namespaceSelector = intersectLabelPredicates(template.match.namespaceSelector, bindingMatch.namespaceSelector);
  const { onlyInNamespace, exceptNamespaces } = evaluation;
  const namespaceReads: NamespaceRead[] = [
    ...(template.match.namespaceSelector ? [{ via: 'namespaceSelector' as const, field: 'spec.matchConstraints.namespaceSelector' }] : []),
    ...(bindingMatch.namespaceSelector ? [{ via: 'namespaceSelector' as const, field: `${binding.kind} ${bindingName} spec.matchResources.namespaceSelector` }] : []),
    ...template.cel.compiled
      .filter((expression) => expressionDependencies(expression.program.source).namespaceObject)
      .map((expression) => ({ via: 'namespaceObject' as const, field: expression.field })),
  ];
  const position = bindingSource.positionOf([]);
  return {
    name,
    source: { file: template.source.file, line: template.source.positionOf([]).line, column: template.source.positionOf([]).column },
    description: `${template.kind} ${policyName} with binding ${bindingName} (${bindingSource.file}:${position.line})${param ? `, params ${param}` : ''}`,
    validationActions,
    failurePolicy,
    operations,
    namespaceMatches:
      onlyInNamespace !== undefined ? (ns) => ns === onlyInNamespace : exceptNamespaces !== undefined && exceptNamespaces.size > 0 ? (ns) => !exceptNamespaces.has(ns) : () => true,
    namespaceSelector,
    matchConditions: template.matchConditions,
    params: evaluation.param ? toCelValue(evaluation.param.object) : null,
    variables: template.variables,
    validations: template.parts.validations,
    mutations: template.parts.mutations,
    namespaceReads,
    document: {
      apiVersion: 'daemonguard.dev/v1alpha1',
      kind: 'DaemonSetPolicy',
      metadata: { name },
      spec: { validationActions, failurePolicy },
    },
    native: {
      kind: template.kind,
      policy: policyName,
      binding: bindingName,
      param,
      notMatched: (request) => template.match.notMatched(request) ?? bindingMatch.notMatched(request),
      auditAnnotations: template.parts.auditAnnotations,
      configurationError: evaluation.configurationError,
    },
  };
}
