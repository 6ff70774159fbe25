// Kubernetes-native admission policy documents (admissionregistration.k8s.io/v1) as daemonguard reads
// them from policy files: which kinds they are, and their shapes as far as daemonguard evaluates them.
// Fields follow k8s.io/api v0.37.2 admissionregistration/v1 (what kube-apiserver v1.37 serves).
import type { JsonObject } from '../common/vocabulary.js';
import type { LabelSelectorSpec } from '../policy/types.js';

export const NATIVE_API_VERSION = 'admissionregistration.k8s.io/v1';

export const VALIDATING_POLICY_KIND = 'ValidatingAdmissionPolicy';
export const VALIDATING_BINDING_KIND = 'ValidatingAdmissionPolicyBinding';
export const MUTATING_POLICY_KIND = 'MutatingAdmissionPolicy';
export const MUTATING_BINDING_KIND = 'MutatingAdmissionPolicyBinding';

export type NativePolicyKind = typeof VALIDATING_POLICY_KIND | typeof MUTATING_POLICY_KIND;
export type NativeBindingKind = typeof VALIDATING_BINDING_KIND | typeof MUTATING_BINDING_KIND;
export type NativeKind = NativePolicyKind | NativeBindingKind;

/** The binding kind that pairs with each policy kind. */
export const BINDING_KIND_OF: Readonly<Record<NativePolicyKind, NativeBindingKind>> = {
  [VALIDATING_POLICY_KIND]: VALIDATING_BINDING_KIND,
  [MUTATING_POLICY_KIND]: MUTATING_BINDING_KIND,
};

const NATIVE_KINDS: ReadonlySet<string> = new Set([VALIDATING_POLICY_KIND, VALIDATING_BINDING_KIND, MUTATING_POLICY_KIND, MUTATING_BINDING_KIND]);

/**
 * The native kind of a document, or undefined when it is not one. Only admissionregistration.k8s.io/v1
 * is read: v1beta1/v1alpha1 documents are recognised by `nativeKindOfAnyVersion` so the loader can
 * say which version to write instead.
 */
export function nativeKindOf(value: unknown): NativeKind | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { apiVersion, kind } = value as { apiVersion?: unknown; kind?: unknown };
  return apiVersion === NATIVE_API_VERSION && typeof kind === 'string' && NATIVE_KINDS.has(kind) ? (kind as NativeKind) : undefined;
}

/** A native kind in any admissionregistration.k8s.io version (for "write v1" problems). */
export function nativeKindOfAnyVersion(value: unknown): { kind: NativeKind; apiVersion: string } | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { apiVersion, kind } = value as { apiVersion?: unknown; kind?: unknown };
  if (typeof apiVersion !== 'string' || !apiVersion.startsWith('admissionregistration.k8s.io/')) return undefined;
  return typeof kind === 'string' && NATIVE_KINDS.has(kind) ? { kind: kind as NativeKind, apiVersion } : undefined;
}

export function isPolicyKind(kind: NativeKind): kind is NativePolicyKind {
  return kind === VALIDATING_POLICY_KIND || kind === MUTATING_POLICY_KIND;
}

export type RuleOperation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT' | '*';

export interface NamedRuleWithOperations {
  apiGroups?: string[];
  apiVersions?: string[];
  resources?: string[];
  operations?: RuleOperation[];
  scope?: '*' | 'Cluster' | 'Namespaced';
  resourceNames?: string[];
}

export interface MatchResources {
  namespaceSelector?: LabelSelectorSpec;
  objectSelector?: LabelSelectorSpec;
  resourceRules?: NamedRuleWithOperations[];
  excludeResourceRules?: NamedRuleWithOperations[];
  matchPolicy?: 'Exact' | 'Equivalent';
}

export interface ParamKind {
  apiVersion: string;
  kind: string;
}

export interface ParamRef {
  name?: string;
  namespace?: string;
  selector?: LabelSelectorSpec;
  parameterNotFoundAction?: 'Allow' | 'Deny';
}

export interface NamedExpression {
  name: string;
  expression: string;
}

export interface NativeValidation {
  expression: string;
  message?: string;
  messageExpression?: string;
  reason?: string;
}

export interface NativeAuditAnnotation {
  key: string;
  valueExpression: string;
}

export interface NativeMetadata {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** The spec fields both policy kinds share. */
export interface NativePolicySpecCommon {
  paramKind?: ParamKind;
  matchConstraints?: MatchResources;
  matchConditions?: NamedExpression[];
  variables?: NamedExpression[];
  failurePolicy?: 'Fail' | 'Ignore';
}

export interface ValidatingAdmissionPolicyDocument {
  apiVersion: typeof NATIVE_API_VERSION;
  kind: typeof VALIDATING_POLICY_KIND;
  metadata: NativeMetadata;
  spec: NativePolicySpecCommon & {
    validations?: NativeValidation[];
    auditAnnotations?: NativeAuditAnnotation[];
  };
}

export interface NativeMutation {
  patchType: 'ApplyConfiguration' | 'JSONPatch';
  applyConfiguration?: { expression: string };
  jsonPatch?: { expression: string };
}

export interface MutatingAdmissionPolicyDocument {
  apiVersion: typeof NATIVE_API_VERSION;
  kind: typeof MUTATING_POLICY_KIND;
  metadata: NativeMetadata;
  spec: NativePolicySpecCommon & {
    mutations?: NativeMutation[];
    reinvocationPolicy?: 'Never' | 'IfNeeded';
  };
}

export type NativePolicyDocument = ValidatingAdmissionPolicyDocument | MutatingAdmissionPolicyDocument;

export interface NativeBindingDocument {
  apiVersion: typeof NATIVE_API_VERSION;
  kind: NativeBindingKind;
  metadata: NativeMetadata;
  spec: {
    policyName: string;
    paramRef?: ParamRef;
    matchResources?: MatchResources;
    /** ValidatingAdmissionPolicyBinding only. */
    validationActions?: ('Deny' | 'Warn' | 'Audit')[];
  };
}

/** A document that may serve as a param object: any Kubernetes object with apiVersion, kind and metadata.name. */
export interface ParamObject {
  apiVersion: string;
  kind: string;
  name: string;
  /** Undefined for cluster-scoped objects (and namespaced ones written without a namespace). */
  namespace?: string;
  labels: Record<string, string>;
  /** The whole object, as CEL sees it under `params`. */
  object: JsonObject;
  file: string;
  line: number;
}
