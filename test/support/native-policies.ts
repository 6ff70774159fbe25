// Policy files of Kubernetes' own kinds for tests: a MutatingAdmissionPolicy and its binding as one
// YAML text, so that a test writes only the part it is about (its mutations, params, conditions).

/** resourceRules matching apps/v1 DaemonSets on CREATE and UPDATE, as flow YAML. */
export const DAEMONSET_RESOURCE_RULES = '[{apiGroups: [apps], apiVersions: [v1], resources: [daemonsets], operations: [CREATE, UPDATE]}]';

export interface MutatingPolicyOptions {
  /** matchConstraints.objectSelector.matchLabels: the policy applies only to objects with these labels. */
  readonly objectSelector?: Readonly<Record<string, string>>;
  /** More lines of the binding's spec (two-space indented YAML), after policyName. */
  readonly bindingSpec?: string;
}

/**
 * A MutatingAdmissionPolicy `name` matching DaemonSets, and a binding of the same name. `spec` holds the
 * rest of its spec (two-space indented YAML: mutations, paramKind, variables...); reinvocationPolicy
 * is Never unless `spec` sets it (the apiserver requires the field).
 */
export function mutatingPolicy(name: string, spec: string, options: MutatingPolicyOptions = {}): string {
  const body = spec.replace(/^\n/, '').replace(/\s+$/, '');
  const labels = Object.entries(options.objectSelector ?? {});
  const selector = labels.length === 0 ? '' : `    objectSelector: {matchLabels: {${labels.map(([key, value]) => `${key}: ${value}`).join(', ')}}}\n`;
  const reinvocation = /^\s*reinvocationPolicy:/m.test(body) ? '' : '  reinvocationPolicy: Never\n';
  return `apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicy
metadata: {name: ${name}}
spec:
  matchConstraints:
    resourceRules: ${DAEMONSET_RESOURCE_RULES}
${selector}${reinvocation}${body}
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicyBinding
metadata: {name: ${name}}
spec:
  policyName: ${name}
${options.bindingSpec ?? ''}`;
}
