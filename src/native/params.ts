// paramKind / paramRef: which param objects a binding evaluates its policy with, as the apiserver's
// CollectParams does (k8s.io/apiserver pkg/admission/plugin/policy/generic/policy_dispatcher.go,
// v0.37.2). One evaluation per param object found; none found is nothing to evaluate (Allow) or a
// configuration error settled by failurePolicy (Deny). A namespaced paramRef without a namespace
// reads the params of the request's own namespace, so the evaluations depend on the request: each
// says which namespaces it applies to.
import { isJsonObject, type JsonObject } from '../common/vocabulary.js';
import type { SourceDocument } from '../common/yaml-documents.js';
import { compileLabelSelector } from '../policy/selectors.js';
import type { ParamKind, ParamObject, ParamRef } from './documents.js';

/** Kinds of Kubernetes' own API that are cluster-scoped (the rest of its kinds are namespaced). */
const CLUSTER_SCOPED_KINDS: ReadonlySet<string> = new Set([
  'Namespace', 'Node', 'PersistentVolume', 'StorageClass', 'CSIDriver', 'CSINode', 'VolumeAttachment', 'ClusterRole',
  'ClusterRoleBinding', 'PriorityClass', 'RuntimeClass', 'CustomResourceDefinition', 'APIService', 'IngressClass',
  'ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding',
  'MutatingAdmissionPolicy', 'MutatingAdmissionPolicyBinding', 'CertificateSigningRequest', 'FlowSchema', 'PriorityLevelConfiguration',
  'DeviceClass', 'ResourceSlice', 'DaemonSetPolicy',
]);
/** Groups of Kubernetes' own API: a kind in them not listed above is namespaced. */
const BUILT_IN_GROUPS: ReadonlySet<string> = new Set([
  '', 'apps', 'batch', 'policy', 'networking.k8s.io', 'rbac.authorization.k8s.io', 'storage.k8s.io', 'node.k8s.io',
  'scheduling.k8s.io', 'admissionregistration.k8s.io', 'apiextensions.k8s.io', 'coordination.k8s.io', 'discovery.k8s.io',
  'autoscaling', 'certificates.k8s.io', 'flowcontrol.apiserver.k8s.io', 'resource.k8s.io', 'events.k8s.io',
]);

export type ParamScope = 'Namespaced' | 'Cluster';

function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}

/**
 * Whether a paramKind is namespaced. Kubernetes' own kinds are known; for a custom resource, whose
 * CRD is not at hand offline, the param objects tell: namespaced when any of them has a namespace.
 */
export function paramKindScope(paramKind: ParamKind, candidates: readonly ParamObject[]): ParamScope {
  if (CLUSTER_SCOPED_KINDS.has(paramKind.kind) && BUILT_IN_GROUPS.has(groupOf(paramKind.apiVersion))) return 'Cluster';
  if (BUILT_IN_GROUPS.has(groupOf(paramKind.apiVersion))) return 'Namespaced';
  return candidates.some((c) => c.namespace !== undefined) ? 'Namespaced' : 'Cluster';
}

/** A document read alongside the policies that could be a param: any object with apiVersion, kind and a name. */
export function paramObjectOf(source: SourceDocument): ParamObject | undefined {
  const value = source.value;
  if (!isJsonObject(value)) return undefined;
  const { apiVersion, kind, metadata } = value;
  if (typeof apiVersion !== 'string' || typeof kind !== 'string' || !isJsonObject(metadata) || typeof metadata.name !== 'string') return undefined;
  const labels = isJsonObject(metadata.labels) ? Object.fromEntries(Object.entries(metadata.labels).filter((e): e is [string, string] => typeof e[1] === 'string')) : {};
  return {
    apiVersion,
    kind,
    name: metadata.name,
    namespace: typeof metadata.namespace === 'string' && metadata.namespace !== '' ? metadata.namespace : undefined,
    labels,
    object: value as JsonObject,
    file: source.file,
    line: source.positionOf([]).line,
  };
}

/** One evaluation of a binding's policy. */
export interface ParamEvaluation {
  /** The param object (`params`); undefined means `params` is null. */
  param?: ParamObject;
  /** Applies only to requests in this namespace (a namespaced paramRef without namespace). */
  onlyInNamespace?: string;
  /** Applies to requests in every namespace but these. */
  exceptNamespaces?: ReadonlySet<string>;
  /** The apiserver's error for this binding instead of an evaluation, settled by the policy's failurePolicy. */
  configurationError?: string;
}

export const PARAMS_NOT_FOUND = 'no params found for policy binding with `Deny` parameterNotFoundAction';

/** The namespace kubectl would create a namespaced object in when its manifest names none. */
const DEFAULT_NAMESPACE = 'default';

/**
 * The evaluations a binding asks for. `candidates` are every object read alongside the policies (or
 * from the cluster); only those of the paramKind's apiVersion and kind are considered.
 */
export function resolveParams(paramKind: ParamKind | undefined, paramRef: ParamRef | undefined, candidates: readonly ParamObject[]): ParamEvaluation[] {
  if (paramKind === undefined || paramRef === undefined) return [{}];
  const ofKind = candidates.filter((c) => c.apiVersion === paramKind.apiVersion && c.kind === paramKind.kind);
  const scope = paramKindScope(paramKind, ofKind);
  if (paramRef.namespace && scope === 'Cluster') {
    return [{ configurationError: 'paramRef.namespace must not be provided for a cluster-scoped `paramKind`' }];
  }
  const deny = paramRef.parameterNotFoundAction === 'Deny';
  const selector = compileLabelSelector(paramRef.selector);
  const select = (pool: readonly ParamObject[]): ParamObject[] =>
    paramRef.name ? pool.filter((c) => c.name === paramRef.name) : pool.filter((c) => selector === undefined || selector(c.labels));
  const namespaceOf = (c: ParamObject): string => c.namespace ?? DEFAULT_NAMESPACE;

  if (scope === 'Cluster' || paramRef.namespace) {
    const pool = scope === 'Cluster' ? ofKind : ofKind.filter((c) => namespaceOf(c) === paramRef.namespace);
    const found = select(pool);
    if (found.length === 0) return deny ? [{ configurationError: PARAMS_NOT_FOUND }] : [];
    return found.map((param) => ({ param }));
  }
  // Relative to the request's namespace: group the params by theirs.
  const byNamespace = new Map<string, ParamObject[]>();
  for (const candidate of ofKind) {
    const list = byNamespace.get(namespaceOf(candidate)) ?? [];
    list.push(candidate);
    byNamespace.set(namespaceOf(candidate), list);
  }
  const evaluations: ParamEvaluation[] = [];
  const covered = new Set<string>();
  for (const [namespace, pool] of byNamespace) {
    const found = select(pool);
    if (found.length === 0) continue;
    covered.add(namespace);
    evaluations.push(...found.map((param) => ({ param, onlyInNamespace: namespace })));
  }
  if (deny) evaluations.push({ configurationError: PARAMS_NOT_FOUND, exceptNamespaces: covered });
  return evaluations;
}

/** `namespace/name` (or `name` when cluster-scoped) of a param object, as daemonguard names evaluations. */
export function paramId(param: ParamObject): string {
  return param.namespace === undefined ? param.name : `${param.namespace}/${param.name}`;
}
