// Turns one schema-valid DaemonSetPolicyException document into a CompiledException, and checks that
// the policies exceptions name exist. The second check is a function of its own: loading files makes
// its problems load errors, while a cluster reports them in the exception's status instead.
import { formatFieldPath, type FieldPath, type SourceDocument } from '../common/yaml-documents.js';
import type { PolicyProblem } from './compile-policy.js';
import { compileGlob, compileLabelSelector, labelSelectorProblems } from './selectors.js';
import type { CompiledException, DaemonSetPolicyExceptionDocument } from './types.js';

/** RFC 3339 date-time, as Kubernetes writes and accepts it (a time zone is required). */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** Parses `spec.expires`; undefined when it is not an RFC 3339 time. */
export function parseExpiry(text: string): number | undefined {
  if (!RFC3339.test(text)) return undefined;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : at;
}

export interface CompiledExceptionResult {
  exception?: CompiledException;
  problems: PolicyProblem[];
}

export function compileException(source: SourceDocument, document: DaemonSetPolicyExceptionDocument): CompiledExceptionResult {
  const { name, namespace } = document.metadata;
  const id = `${namespace}/${name}`;
  const problems: PolicyProblem[] = [];
  const problem = (path: FieldPath, message: string): void => {
    const { line, column } = source.positionOf(path);
    problems.push({ file: source.file, line, column, exception: id, field: formatFieldPath(path), message });
  };
  const { match, expires } = document.spec;

  for (const [field, message] of labelSelectorProblems(match.objectSelector)) {
    problem(['spec', 'match', 'objectSelector', ...field.split(/[.[\]]+/).filter(Boolean).map((p) => (/^\d+$/.test(p) ? Number(p) : p))], message);
  }
  const objectSelector = compileLabelSelector(match.objectSelector);
  if (match.objectSelector !== undefined && objectSelector === undefined) {
    // An empty selector matches every DaemonSet: too easy to write by accident for an exception.
    problem(['spec', 'match', 'objectSelector'], 'an empty selector would match every DaemonSet in the namespace: give matchLabels or matchExpressions, or to except them all on purpose, names: ["*"]');
  }
  if (match.names === undefined && match.objectSelector === undefined) {
    problem(['spec', 'match'], 'give names, objectSelector or both');
  }

  let expiry: CompiledException['expires'];
  if (expires !== undefined) {
    const at = parseExpiry(expires);
    if (at === undefined) problem(['spec', 'expires'], `"${expires}" is not an RFC 3339 time; write it as 2027-06-30T00:00:00Z`);
    else expiry = { text: expires, at };
  }
  if (problems.length > 0) return { problems };

  const position = source.positionOf([]);
  const exception: CompiledException = {
    name,
    namespace,
    id,
    source: { file: source.file, line: position.line, column: position.column },
    policies: [...document.spec.policies],
    policyPositions: document.spec.policies.map((_, index) => source.positionOf(['spec', 'policies', index])),
    reason: document.spec.reason.trim(),
    document,
  };
  if (match.names !== undefined) {
    const globs = match.names.map(compileGlob);
    exception.names = (daemonSet) => globs.some((glob) => glob(daemonSet));
  }
  if (objectSelector !== undefined) exception.objectSelector = objectSelector;
  if (expiry !== undefined) exception.expires = expiry;
  return { exception, problems };
}

/**
 * Each policy an exception names that is not among `policyNames`, as a problem at the name: which
 * exception, which name, and the names that exist.
 */
export function unknownPolicyProblems(exceptions: readonly CompiledException[], policyNames: readonly string[]): PolicyProblem[] {
  const known = new Set(policyNames);
  const sorted = [...known].sort();
  const problems: PolicyProblem[] = [];
  for (const exception of exceptions) {
    exception.policies.forEach((policy, index) => {
      if (known.has(policy)) return;
      const field = `spec.policies[${index}]`;
      const position = exception.policyPositions[index] ?? exception.source;
      problems.push({
        file: exception.source.file,
        line: position.line,
        column: position.column,
        exception: exception.id,
        field,
        message: `no policy is named "${policy}"; the policies are: ${sorted.length === 0 ? '(none)' : sorted.join(', ')}`,
      });
    });
  }
  return problems;
}
