// The DaemonSetPolicy document as written (after schema validation) and as compiled.
import type { CelProgram } from '../cel/program.js';
import type { FailurePolicy, JsonObject, JsonValue, Operation, ValidationAction } from '../common/vocabulary.js';

export const POLICY_API_VERSION = 'daemonguard.dev/v1alpha1';
export const POLICY_KIND = 'DaemonSetPolicy';

export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}

export interface LabelSelectorSpec {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

export interface NamedExpressionSpec {
  name: string;
  expression: string;
}

export interface ValidationSpec {
  expression: string;
  message?: string;
  messageExpression?: string;
  reason?: string;
}

export interface DefaultSpec {
  forEach?: string;
  path: string;
  value?: JsonValue;
  valueExpression?: string;
}

export interface MutationSpec {
  name: string;
  when?: string;
  defaults?: DefaultSpec[];
  jsonPatch?: { expression: string };
  /** MutatingAdmissionPolicy style: CEL returning an `Object{...}` merged as server-side apply merges. */
  applyConfiguration?: { expression: string };
}

export interface DaemonSetPolicyDocument {
  apiVersion: typeof POLICY_API_VERSION;
  kind: typeof POLICY_KIND;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: {
    validationActions?: ValidationAction[];
    failurePolicy?: FailurePolicy;
    match?: {
      operations?: (Operation | '*')[];
      namespaces?: string[];
      excludeNamespaces?: string[];
      namespaceSelector?: LabelSelectorSpec;
      objectSelector?: LabelSelectorSpec;
    };
    matchConditions?: NamedExpressionSpec[];
    params?: JsonObject;
    /** Resolved by `serve --policies-from-cluster` before the policy is compiled (see src/server/params-from.ts). */
    paramsFrom?: { configMap: string; optional?: boolean };
    variables?: NamedExpressionSpec[];
    validations?: ValidationSpec[];
    mutations?: MutationSpec[];
  };
}

/** Where a policy came from, for messages that point the user at the right line. */
export interface SourceLocation {
  file: string;
  line: number;
  column: number;
}

export type LabelPredicate = (labels: Readonly<Record<string, string>> | undefined) => boolean;
export type NamePredicate = (name: string) => boolean;

export interface CompiledExpression {
  /** Field path of the expression in the policy, e.g. spec.validations[2].expression. */
  field: string;
  program: CelProgram;
}

export interface CompiledNamedExpression extends CompiledExpression {
  name: string;
}

export interface CompiledVariable extends CompiledNamedExpression {
  /** Set when the variable reads only params (and such variables): evaluated once, at load. */
  constant?: { value: unknown };
  /**
   * Set when the variable reads only the request and no params or variables: policies declaring the
   * same expression share one evaluation per review, under this key (the expression's source).
   */
  sharedKey?: string;
}

/**
 * A variable with every field it can get set from the start (the loader fills `constant` and
 * `sharedKey` later): all variables share one hidden class, so the engine's reads of them in every
 * review stay monomorphic instead of going through V8's megamorphic lookup.
 */
export function compiledVariable(compiled: CompiledExpression, name: string): CompiledVariable {
  return { field: compiled.field, program: compiled.program, name, constant: undefined, sharedKey: undefined };
}

export interface CompiledValidation {
  index: number;
  expression: CompiledExpression;
  message?: string;
  messageExpression?: CompiledExpression;
  reason: string;
}

export interface CompiledDefault {
  /** Decoded JSON-pointer segments of the list to iterate, when `forEach` is set. */
  forEach?: string[];
  /** Decoded JSON-pointer segments (relative to the element under forEach). */
  path: string[];
  value?: JsonValue;
  valueExpression?: CompiledExpression;
}

export interface CompiledMutation {
  name: string;
  field: string;
  when?: CompiledExpression;
  defaults?: CompiledDefault[];
  jsonPatch?: CompiledExpression;
  applyConfiguration?: CompiledExpression;
}

/** A place where a policy reads the request's Namespace, which an AdmissionReview does not carry. */
export interface NamespaceRead {
  /** The match's namespaceSelector, or a CEL expression that reads `namespaceObject`. */
  via: 'namespaceSelector' | 'namespaceObject';
  /** Where, e.g. spec.match.namespaceSelector or spec.validations[0].messageExpression. */
  field: string;
}

export interface CompiledPolicy {
  name: string;
  source: SourceLocation;
  description?: string;
  validationActions: ValidationAction[];
  failurePolicy: FailurePolicy;
  operations: ReadonlySet<Operation>;
  namespaceMatches: NamePredicate;
  namespaceSelector?: LabelPredicate;
  objectSelector?: LabelPredicate;
  matchConditions: CompiledNamedExpression[];
  /** CEL runtime form of spec.params, converted once at load. */
  params: unknown;
  variables: CompiledVariable[];
  validations: CompiledValidation[];
  mutations: CompiledMutation[];
  /** Where the policy reads the request's Namespace; empty when it never does. */
  namespaceReads: readonly NamespaceRead[];
  /** The document as written, for reports and the CLI (for a native policy: a DaemonSetPolicy-shaped summary). */
  document: DaemonSetPolicyDocument;
  /** Set when the policy is one evaluation of a native (policy, binding[, param]): see src/native/. */
  native?: NativeOrigin;
}

/** What of an admission request native resource rules look at (a structural subset of the engine's AdmissionRequest). */
export interface NativeRequestFacts {
  operation: Operation;
  namespace?: string;
  name?: string;
  resource: { group: string; version: string; resource: string };
  subResource?: string;
  object: { [key: string]: unknown } | null;
  oldObject: { [key: string]: unknown } | null;
}

export type NativeKindName = 'ValidatingAdmissionPolicy' | 'MutatingAdmissionPolicy';

export interface CompiledAuditAnnotation {
  key: string;
  valueExpression: CompiledExpression;
}

/**
 * One evaluation of a Kubernetes-native policy through one binding (and one param object, when the
 * binding selects params): the engine evaluates it with the apiserver's semantics and wording
 * (matchConditions, failure handling, messages, warnings and audit annotations), see engine/native-semantics.ts.
 */
export interface NativeOrigin {
  kind: NativeKindName;
  /** metadata.name of the policy and of the binding. */
  policy: string;
  binding: string;
  /** `namespace/name` of the param object, when the evaluation has one. */
  param?: string;
  /** Resource rules, objectSelector and param namespace of policy and binding: why the request is not matched, or undefined. */
  notMatched: (request: NativeRequestFacts) => string | undefined;
  /** spec.auditAnnotations (ValidatingAdmissionPolicy). */
  auditAnnotations: readonly CompiledAuditAnnotation[];
  /** The apiserver's configuration error instead of an evaluation (e.g. params not found with Deny): settled by failurePolicy. */
  configurationError?: string;
}

export interface PolicySet {
  policies: readonly CompiledPolicy[];
  /** The policy files the set was loaded from. */
  files: readonly string[];
  /** Policies that mutate, in order; precomputed so the mutating path skips the rest. */
  mutatingPolicies: readonly CompiledPolicy[];
  /** Policies that validate, in order. */
  validatingPolicies: readonly CompiledPolicy[];
  /** Every DaemonSetPolicyException, in load order. */
  exceptions: readonly CompiledException[];
  /** The exceptions naming each policy, by policy name (precomputed: most policies have none). */
  exceptionsByPolicy: ReadonlyMap<string, readonly CompiledException[]>;
  /**
   * What loading noticed but did not refuse: native policies that match no DaemonSet (skipped),
   * bindings whose policy is missing, policies without a binding. The CLI prints them on stderr, serve logs them.
   */
  notes?: readonly PolicyNote[];
  /** The paramKinds native policies declare (`serve --native-params-from-cluster` watches their objects). */
  paramKinds?: readonly { apiVersion: string; kind: string }[];
}

/** A remark about the loaded set, at a document's position. */
export interface PolicyNote {
  file: string;
  line: number;
  column: number;
  policy?: string;
  message: string;
}

export const EXCEPTION_KIND = 'DaemonSetPolicyException';

/** The DaemonSetPolicyException document as written (after schema validation). */
export interface DaemonSetPolicyExceptionDocument {
  apiVersion: typeof POLICY_API_VERSION;
  kind: typeof EXCEPTION_KIND;
  metadata: { name: string; namespace: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: {
    policies: string[];
    match: { names?: string[]; objectSelector?: LabelSelectorSpec };
    reason: string;
    expires?: string;
  };
}

/**
 * An exception ready for the engine: it excepts `policies` for the DaemonSets of `namespace` that
 * match every criterion given (names and/or objectSelector), until `expiresAt`.
 */
export interface CompiledException {
  name: string;
  namespace: string;
  /** `namespace/name`, as warnings, annotations and metrics name it. */
  id: string;
  source: SourceLocation;
  policies: readonly string[];
  /** Where each of `policies` is written, for "no such policy" problems. */
  policyPositions: readonly { line: number; column: number }[];
  /** Matches the DaemonSet's name; undefined when the exception does not select by name. */
  names?: NamePredicate;
  /** Matches the DaemonSet's labels; undefined when the exception does not select by labels. */
  objectSelector?: LabelPredicate;
  reason: string;
  /** `spec.expires` as written and as milliseconds since the epoch. */
  expires?: { text: string; at: number };
  document: DaemonSetPolicyExceptionDocument;
}
