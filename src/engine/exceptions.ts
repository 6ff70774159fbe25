// Which DaemonSetPolicyExceptions match a request for a policy. An exception matches a DaemonSet of
// its own namespace only (the request's namespace, which the apiserver sets, never a name the object
// chooses), whose name matches one of its globs and whose labels match its selector, for every one of
// the two it gives. On UPDATE the new object decides, so a change that removes the matching label
// loses the exception; on DELETE, the object being deleted.
import type { CompiledException } from '../policy/types.js';
import type { AdmissionRequest, JsonObject } from './types.js';

/** The prefix of the notice an applied exception adds to the answer (reports recognise notices by it). */
export function exceptionNoticePrefix(use: { namespace: string; name: string }): string {
  return `exception ${use.namespace}/${use.name} applied to `;
}

/**
 * One warning per applied exception, naming the policies it excepted: a user reads warnings in a
 * terminal, and the apiserver keeps only 4096 characters of them in all, so an exception lifting four
 * policies takes one line, not four.
 */
export function exceptionNotices(uses: readonly { namespace: string; name: string; policy: string }[]): string[] {
  const policiesByException = new Map<string, string[]>();
  for (const use of uses) {
    const prefix = exceptionNoticePrefix(use);
    policiesByException.set(prefix, [...(policiesByException.get(prefix) ?? []), use.policy]);
  }
  return [...policiesByException].map(([prefix, policies]) => `${prefix}${policies.join(', ')}`);
}

export interface ExceptionMatch {
  /** The first exception in force (load order), if any: it applies. */
  active?: CompiledException;
  /** The first expired one, when none is in force: the answer says it expired. */
  expired?: CompiledException;
}

function metadataOf(object: JsonObject | null): JsonObject | undefined {
  const metadata = object?.metadata;
  return metadata && typeof metadata === 'object' && !Array.isArray(metadata) ? metadata : undefined;
}

function labelsOf(metadata: JsonObject | undefined): Record<string, string> | undefined {
  const labels = metadata?.labels;
  return labels && typeof labels === 'object' && !Array.isArray(labels) ? (labels as Record<string, string>) : undefined;
}

export function matchesDaemonSet(exception: CompiledException, request: AdmissionRequest): boolean {
  if (exception.namespace !== (request.namespace ?? '')) return false;
  const metadata = metadataOf(request.object ?? request.oldObject);
  if (exception.names !== undefined) {
    const name = typeof metadata?.name === 'string' && metadata.name !== '' ? metadata.name : (request.name ?? '');
    if (!exception.names(name)) return false;
  }
  return exception.objectSelector === undefined || exception.objectSelector(labelsOf(metadata));
}

/**
 * Which of `candidates` (the exceptions naming one policy, in load order, see PolicyPlan) match
 * `request`; undefined when none does.
 */
export function matchExceptions(candidates: readonly CompiledException[], request: AdmissionRequest, now: () => number): ExceptionMatch | undefined {
  const match: ExceptionMatch = {};
  for (const exception of candidates) {
    if (!matchesDaemonSet(exception, request)) continue;
    if (exception.expires !== undefined && exception.expires.at <= now()) {
      match.expired ??= exception;
      continue;
    }
    match.active = exception;
    break;
  }
  return match.active === undefined && match.expired === undefined ? undefined : match;
}
