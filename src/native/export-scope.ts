// Which DaemonSets a native policy sees: daemonguard's `match` as `matchConstraints`.
//
// daemonguard matches namespaces by glob; a native policy only by the Namespace's labels. Every
// Namespace carries its name in the label kubernetes.io/metadata.name (set by the apiserver, since
// 1.22, and not removable), so exact names become an In / NotIn requirement on that label. A list
// holding "*" is every namespace: no requirement. A real glob (`kube-*`) has no label-selector form.
import type { JsonObject } from '../common/vocabulary.js';
import type { DaemonSetPolicyDocument, LabelSelectorRequirement, LabelSelectorSpec } from '../policy/types.js';

export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';
/** daemonguard's globs (policy/selectors.ts): `*` any run of characters, `?` one. */
const GLOB_CHARACTERS = /[*?]/;

/** Why a policy's scope cannot be said natively, or the scope. */
export type ExportedScope = { ok: true; matchConstraints: JsonObject } | { ok: false; reason: string };

/** A label selector as JSON, with extra requirements appended (an empty selector matches everything). */
export function labelSelector(selector: LabelSelectorSpec | undefined, extra: readonly LabelSelectorRequirement[] = []): JsonObject {
  const result: JsonObject = {};
  if (selector?.matchLabels && Object.keys(selector.matchLabels).length > 0) result.matchLabels = { ...selector.matchLabels };
  const expressions = [...(selector?.matchExpressions ?? []), ...extra];
  if (expressions.length > 0) {
    result.matchExpressions = expressions.map((e) => ({ key: e.key, operator: e.operator, ...(e.values ? { values: [...e.values] } : {}) }));
  }
  return result;
}

/** The namespace-name requirements of `namespaces` / `excludeNamespaces`, or why there is none. */
function namespaceRequirements(namespaces: readonly string[], excluded: readonly string[]): LabelSelectorRequirement[] | string {
  const requirements: LabelSelectorRequirement[] = [];
  if (namespaces.length === 0) return 'spec.match.namespaces is empty, so the policy matches no namespace: there is nothing to export';
  if (!namespaces.includes('*')) {
    const globs = namespaces.filter((n) => GLOB_CHARACTERS.test(n));
    if (globs.length > 0) return `spec.match.namespaces has the glob${globs.length > 1 ? 's' : ''} ${globs.map((g) => `"${g}"`).join(', ')}, which no label selector can express (only exact names and "*" alone can be exported)`;
    requirements.push({ key: NAMESPACE_NAME_LABEL, operator: 'In', values: [...new Set(namespaces)] });
  }
  const excludedGlobs = excluded.filter((n) => GLOB_CHARACTERS.test(n));
  if (excludedGlobs.length > 0) return `spec.match.excludeNamespaces has the glob${excludedGlobs.length > 1 ? 's' : ''} ${excludedGlobs.map((g) => `"${g}"`).join(', ')}, which no label selector can express`;
  if (excluded.length > 0) requirements.push({ key: NAMESPACE_NAME_LABEL, operator: 'NotIn', values: [...new Set(excluded)] });
  return requirements;
}

/** The matchConstraints of a native policy for the DaemonSets `document` matches. */
export function exportScope(document: DaemonSetPolicyDocument): ExportedScope {
  const match = document.spec.match ?? {};
  const requirements = namespaceRequirements(match.namespaces ?? ['*'], match.excludeNamespaces ?? []);
  if (typeof requirements === 'string') return { ok: false, reason: requirements };
  const operations = match.operations ?? ['CREATE', 'UPDATE'];
  const matchConstraints: JsonObject = {
    resourceRules: [{ apiGroups: ['apps'], apiVersions: ['v1'], resources: ['daemonsets'], operations: [...operations], scope: 'Namespaced' }],
  };
  const namespaceSelector = labelSelector(match.namespaceSelector, requirements);
  if (Object.keys(namespaceSelector).length > 0) matchConstraints.namespaceSelector = namespaceSelector;
  if (match.objectSelector) {
    const objectSelector = labelSelector(match.objectSelector);
    if (Object.keys(objectSelector).length > 0) matchConstraints.objectSelector = objectSelector;
  }
  return { ok: true, matchConstraints };
}

/** The binding's matchResources for namespaces the user keeps every exported policy out of. */
export function bindingMatchResources(excludedNamespaces: readonly string[]): JsonObject | undefined {
  if (excludedNamespaces.length === 0) return undefined;
  return { namespaceSelector: { matchExpressions: [{ key: NAMESPACE_NAME_LABEL, operator: 'NotIn', values: [...new Set(excludedNamespaces)] }] } };
}
