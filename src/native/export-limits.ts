// What a daemonguard policy may hold that a native admission policy cannot, and the one place that
// adapts its expressions (so every exported expression goes through the same checks).
//
// Compared with the CEL environment of kube-apiserver v1.37 (k8s.io/apiserver/pkg/cel/environment
// base.go and library/): daemonguard's libraries (src/cel/library: lists, regex, strings, quantity,
// IP/CIDR, URL, format, optionals, jsonpatch.escapeKey for mutations) are served there with the same
// names, but for one function: `<string>.reverse()`, which cel-go's strings extension has from its
// version 3 while the apiserver enables version 2 (daemonguard has no list reverse(), so any
// reverse() in a policy is the string one). Beyond functions, daemonguard adds:
// - `coverage` (which nodes the DaemonSet lands on): a native policy sees no nodes;
// - params from a ConfigMap resolved by `serve` (`paramsFrom`): export inlines params, so it would
//   freeze whatever the file holds today.
// Anything else the apiserver refuses (a type error) is caught by the e2e that installs every
// exported document in a real kube-apiserver.
import type { JsonObject } from '../common/vocabulary.js';
import type { DaemonSetPolicyDocument } from '../policy/types.js';
import { adaptExpression, matchesCode, readsIdentifier, UndeclaredParamError } from './export-cel.js';

/** A construct of one policy that has no native form; `field` says where it is. */
export class NotExportable extends Error {
  constructor(
    readonly field: string,
    readonly why: string,
  ) {
    super(`${field}: ${why}`);
  }
}

/** The policy-wide reasons a document cannot be exported at all. */
export function policyLimits(document: DaemonSetPolicyDocument): void {
  if (document.spec.paramsFrom) {
    throw new NotExportable(
      'spec.paramsFrom',
      `params come from the ConfigMap "${document.spec.paramsFrom.configMap}" when serve runs; export writes params as literals and would freeze the file's values`,
    );
  }
}

/** Adapts one expression of `document` (at `field`), or throws NotExportable saying why it cannot be. */
export function nativeExpression(document: DaemonSetPolicyDocument, field: string, expression: string): string {
  if (readsIdentifier(expression, 'coverage')) {
    throw new NotExportable(field, 'reads `coverage` (the nodes the DaemonSet lands on), which the kube-apiserver does not know');
  }
  if (matchesCode(expression, /\.\s*reverse\s*\(/)) {
    throw new NotExportable(field, 'calls <string>.reverse(), which the kube-apiserver lacks (cel-go strings extension version 3; v1.37 enables version 2)');
  }
  if (/\bhas\(\s*params\./.test(expression)) {
    throw new NotExportable(field, 'tests has(params.<name>), which is no longer a field test once params are literals');
  }
  let adapted: string;
  try {
    adapted = adaptExpression(expression, (document.spec.params ?? {}) as JsonObject);
  } catch (error) {
    if (error instanceof UndeclaredParamError) throw new NotExportable(field, error.message);
    throw error;
  }
  if (readsIdentifier(adapted, 'params')) {
    throw new NotExportable(field, 'reads params other than as params.<name> (e.g. has(params.x) or params[...]), which export cannot turn into literals');
  }
  return adapted;
}
