// The DaemonSet apiVersions a kube-apiserver no longer serves. A manifest that still uses one fails at
// `kubectl apply` ("no matches for kind DaemonSet in version …"), so a dry run must say so rather
// than pass over it as some other kind of document.

const UNSERVED_DAEMONSET_VERSIONS: ReadonlyMap<string, string> = new Map([
  ['extensions/v1beta1', 'removed in Kubernetes 1.16'],
  ['apps/v1beta2', 'removed in Kubernetes 1.16'],
  ['apps/v1beta1', 'it never had DaemonSets; its other kinds were removed in Kubernetes 1.16'],
]);

/**
 * Why a DaemonSet of this apiVersion cannot be applied, and the fix; undefined when it can (apps/v1)
 * or when it is not a built-in one (a DaemonSet of another group, such as OpenKruise's, is its own kind).
 */
export function unservedDaemonSetVersion(apiVersion: unknown): string | undefined {
  if (typeof apiVersion !== 'string') return undefined;
  const why = UNSERVED_DAEMONSET_VERSIONS.get(apiVersion);
  if (why === undefined) return undefined;
  return `apiVersion ${apiVersion} is not served for DaemonSets (${why}), so kubectl apply fails: convert to apps/v1; spec.selector is required there`;
}
