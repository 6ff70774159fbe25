// Match predicates compiled once at load: namespace globs and Kubernetes label selectors.
import type { LabelPredicate, LabelSelectorSpec, NamePredicate } from './types.js';

/** `*` matches any run of characters, `?` exactly one; everything else is literal. */
export function compileGlob(glob: string): NamePredicate {
  if (!/[*?]/.test(glob)) return (name) => name === glob;
  if (glob === '*') return () => true;
  const source = glob
    .split('')
    .map((ch) => (ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  // The pattern comes from the policy author, not from requests, and has no nested quantifiers.
  const re = new RegExp(`^${source}$`);
  return (name) => re.test(name);
}

/** The namespace filter of a policy matching every namespace: one function, so the engine can tell it by identity and skip the call. */
export const ALL_NAMESPACES: NamePredicate = () => true;

/** Namespace filter: in any of `include` (default everything) and in none of `exclude`. */
export function compileNamespaceMatch(include: string[] | undefined, exclude: string[] | undefined): NamePredicate {
  const included = (include ?? ['*']).map(compileGlob);
  const excluded = (exclude ?? []).map(compileGlob);
  if (included.length === 1 && excluded.length === 0 && (include ?? ['*'])[0] === '*') return ALL_NAMESPACES;
  return (name) => included.some((m) => m(name)) && !excluded.some((m) => m(name));
}

/**
 * A label selector with Kubernetes semantics: all requirements must hold; an empty selector matches
 * everything. Returns undefined for an empty selector so the engine can skip the check entirely.
 */
export function compileLabelSelector(selector: LabelSelectorSpec | undefined): LabelPredicate | undefined {
  if (!selector) return undefined;
  const checks: LabelPredicate[] = [];
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    checks.push((labels) => labels !== undefined && Object.hasOwn(labels, key) && labels[key] === value);
  }
  for (const requirement of selector.matchExpressions ?? []) {
    const { key } = requirement;
    const values = new Set(requirement.values ?? []);
    const has = (labels: Readonly<Record<string, string>> | undefined): boolean =>
      labels !== undefined && Object.hasOwn(labels, key);
    switch (requirement.operator) {
      case 'In':
        checks.push((labels) => has(labels) && values.has(labels![key]!));
        break;
      case 'NotIn':
        checks.push((labels) => !has(labels) || !values.has(labels![key]!));
        break;
      case 'Exists':
        checks.push(has);
        break;
      case 'DoesNotExist':
        checks.push((labels) => !has(labels));
        break;
    }
  }
  if (checks.length === 0) return undefined;
  return (labels) => checks.every((check) => check(labels));
}

/** Problems a selector has that the JSON Schema cannot express, as [field suffix, message] pairs. */
export function labelSelectorProblems(selector: LabelSelectorSpec | undefined): [string, string][] {
  const problems: [string, string][] = [];
  (selector?.matchExpressions ?? []).forEach((requirement, i) => {
    const count = requirement.values?.length ?? 0;
    if ((requirement.operator === 'In' || requirement.operator === 'NotIn') && count === 0) {
      problems.push([`matchExpressions[${i}].values`, `operator ${requirement.operator} needs at least one value`]);
    }
    if ((requirement.operator === 'Exists' || requirement.operator === 'DoesNotExist') && count > 0) {
      problems.push([`matchExpressions[${i}].values`, `operator ${requirement.operator} takes no values`]);
    }
  });
  return problems;
}
