// Policies that read the request's Namespace (match.namespaceSelector, `namespaceObject` in CEL) need
// a server that knows the namespaces: an AdmissionReview carries only the namespace's name. Without a
// namespace source such a policy cannot do its job (a namespaceSelector fails every review it meets,
// denying it under failurePolicy Fail; namespaceObject is always null), so a server started without
// one refuses such a policy: at start, and in every reload, where the last good set keeps serving.

import { formatProblem, type PolicyProblem } from '../policy/compile-policy.js';
import type { CompiledPolicy, PolicySet } from '../policy/types.js';
import type { LoadPolicies } from './policy-store.js';

/** A policy set refused because some of its policies need namespaces that the server was not given. */
export class NamespaceSourceMissingError extends Error {
  constructor(readonly problems: PolicyProblem[]) {
    const count = problems.length === 1 ? '1 policy reads' : `${problems.length} policies read`;
    super(
      `${count} the labels of the request's namespace, but the server was given no namespaces: pass --namespaces FILE ` +
        '(Namespace objects, e.g. from kubectl get namespaces -o yaml) or --namespaces-from-cluster\n' +
        problems.map(formatProblem).join('\n'),
    );
    this.name = 'NamespaceSourceMissingError';
  }
}

/** Why the policy needs the namespace, in the words of its fields. */
function namespaceNeed(policy: CompiledPolicy): string {
  const reasons: string[] = [];
  const selector = policy.namespaceReads.find((read) => read.via === 'namespaceSelector');
  if (selector !== undefined) reasons.push(`selects namespaces by label (${selector.field})`);
  const expressions = policy.namespaceReads.filter((read) => read.via === 'namespaceObject').map((read) => read.field);
  if (expressions.length > 0) reasons.push(`reads namespaceObject (${expressions.join(', ')})`);
  return reasons.join(' and ');
}

/** Throws NamespaceSourceMissingError, naming each policy and why, when any policy of the set reads the namespace. */
export function refuseNamespaceReaders(set: PolicySet): PolicySet {
  const problems = set.policies
    .filter((policy) => policy.namespaceReads.length > 0)
    .map((policy): PolicyProblem => ({ ...policy.source, policy: policy.name, message: namespaceNeed(policy) }));
  if (problems.length > 0) throw new NamespaceSourceMissingError(problems);
  return set;
}

/** The loader of a server without a namespace source: sets with a policy that reads the namespace are refused. */
export function withoutNamespaceSource(load: LoadPolicies<PolicySet>): LoadPolicies<PolicySet> {
  return async (paths) => refuseNamespaceReaders(await load(paths));
}
