// A policy's matchConstraints and a binding's matchResources, as the kube-apiserver matches them
// (k8s.io/apiserver pkg/admission/plugin/policy/matching and webhook/predicates/rules, v0.37.2):
// namespaceSelector, objectSelector, excludeResourceRules, then resourceRules with resourceNames.
//
// matchPolicy: Equivalent also matches a rule written for another version or group of the same
// resource. A v1.37 apiserver serves DaemonSets only as apps/v1 (extensions/v1beta1 and apps/v1beta2
// were removed in 1.16), so for DaemonSets Equivalent and Exact match the same requests.
import { OPERATIONS, type Operation } from '../common/vocabulary.js';
import { compileLabelSelector } from '../policy/selectors.js';
import type { LabelPredicate, NativeRequestFacts } from '../policy/types.js';
import type { MatchResources, NamedRuleWithOperations } from './documents.js';
import { LABEL_SELECTOR, STRING_LIST, type Shape } from './shape.js';

export type RequestFacts = NativeRequestFacts;

const RULE: Shape = {
  type: 'object',
  fields: {
    apiGroups: STRING_LIST,
    apiVersions: STRING_LIST,
    resources: STRING_LIST,
    operations: { type: 'list', items: { type: 'string', enum: ['CREATE', 'UPDATE', 'DELETE', 'CONNECT', '*'] } },
    scope: { type: 'string', enum: ['*', 'Cluster', 'Namespaced'] },
    resourceNames: STRING_LIST,
  },
};

export const MATCH_RESOURCES_SHAPE: Shape = {
  type: 'object',
  fields: {
    namespaceSelector: LABEL_SELECTOR,
    objectSelector: LABEL_SELECTOR,
    resourceRules: { type: 'list', items: RULE },
    excludeResourceRules: { type: 'list', items: RULE },
    matchPolicy: { type: 'string', enum: ['Exact', 'Equivalent'] },
  },
};

const DAEMONSETS = { group: 'apps', version: 'v1', resource: 'daemonsets' } as const;

function listMatches(values: readonly string[] | undefined, value: string): boolean {
  return (values ?? []).some((v) => v === '*' || v === value);
}

function splitResource(resource: string): [string, string] {
  const slash = resource.indexOf('/');
  return slash < 0 ? [resource, ''] : [resource.slice(0, slash), resource.slice(slash + 1)];
}

/** rules.Matcher.Matches plus the resourceNames check of matchesResourceRules. */
function ruleMatches(rule: NamedRuleWithOperations, request: RequestFacts): boolean {
  const namespace = request.namespace ?? '';
  const scope = rule.scope ?? '*';
  if (scope === 'Namespaced' && namespace === '') return false;
  if (scope === 'Cluster' && namespace !== '') return false;
  if (!listMatches(rule.operations, request.operation)) return false;
  if (!listMatches(rule.apiGroups, request.resource.group)) return false;
  if (!listMatches(rule.apiVersions, request.resource.version)) return false;
  const subResource = request.subResource ?? '';
  const resourceMatches = (rule.resources ?? []).some((written) => {
    const [resource, sub] = splitResource(written);
    return (resource === '*' || resource === request.resource.resource) && (sub === '*' || sub === subResource);
  });
  if (!resourceMatches) return false;
  if (rule.resourceNames === undefined || rule.resourceNames.length === 0) return true;
  // As the apiserver: a CREATE relying on generateName has no name yet, so it matches no name list.
  return rule.resourceNames.includes(request.name ?? '');
}

function anyRuleMatches(rules: readonly NamedRuleWithOperations[], request: RequestFacts): boolean {
  return rules.some((rule) => ruleMatches(rule, request));
}

/** The operations for which a rule list can match an apps/v1 DaemonSet (main resource, namespaced). */
function daemonSetOperations(rules: readonly NamedRuleWithOperations[]): Set<Operation> {
  const operations = new Set<Operation>();
  for (const operation of OPERATIONS) {
    const probe: RequestFacts = { operation, namespace: 'any', resource: DAEMONSETS, object: null, oldObject: null };
    // resourceNames narrow by name, not by kind: a rule with names still matches some DaemonSets.
    if (rules.some((rule) => ruleMatches({ ...rule, resourceNames: undefined }, probe))) operations.add(operation);
  }
  return operations;
}

function labelsOf(object: { [key: string]: unknown } | null): Record<string, string> | undefined {
  const metadata = object?.metadata;
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) return undefined;
  const labels = (metadata as { labels?: unknown }).labels;
  return typeof labels === 'object' && labels !== null && !Array.isArray(labels) ? (labels as Record<string, string>) : undefined;
}

export interface CompiledMatchResources {
  /** The operations on apps/v1 DaemonSets the rules can match; empty when they match no DaemonSet at all. */
  operations: ReadonlySet<Operation>;
  namespaceSelector?: LabelPredicate;
  objectSelector?: LabelPredicate;
  /**
   * objectSelector, excludeResourceRules, resourceRules and resourceNames on one request: why it is
   * not matched, or undefined when it is. The namespaceSelector is left to the engine, which knows
   * whether the namespace's labels are known.
   */
  notMatched(request: RequestFacts): string | undefined;
}

/**
 * Compiles a matchConstraints (`role: 'policy'`) or a binding's matchResources (`role: 'binding'`).
 * Empty resourceRules match every resource (the apiserver's generic matcher): for a binding that
 * means "whatever the policy matches"; a policy must list them (API validation requires it).
 */
export function compileMatchResources(match: MatchResources | undefined, what: string): CompiledMatchResources {
  const rules = match?.resourceRules ?? [];
  const excluded = match?.excludeResourceRules ?? [];
  const namespaceSelector = compileLabelSelector(match?.namespaceSelector);
  const objectSelector = compileLabelSelector(match?.objectSelector);
  const operations = rules.length === 0 ? new Set(OPERATIONS) : daemonSetOperations(rules);
  return {
    operations,
    namespaceSelector,
    objectSelector,
    notMatched(request) {
      if (objectSelector && !objectSelector(labelsOf(request.object)) && !(request.oldObject !== null && objectSelector(labelsOf(request.oldObject)))) {
        return `${what}.objectSelector not matched`;
      }
      if (anyRuleMatches(excluded, request)) return `${what}.excludeResourceRules matched`;
      if (rules.length > 0 && !anyRuleMatches(rules, request)) return `${what}.resourceRules not matched`;
      return undefined;
    },
  };
}

/** Both must hold: the binding's matchResources narrow the policy's matchConstraints. */
export function intersectLabelPredicates(a: LabelPredicate | undefined, b: LabelPredicate | undefined): LabelPredicate | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return (labels) => a(labels) && b(labels);
}
