// What the validating and the mutating export share: a native policy and its binding around a spec
// each builds, with the policy's scope, matchConditions and variables, and NotExportable turned
// into a result that names the policy and why.
import type { JsonObject } from '../common/vocabulary.js';
import type { DaemonSetPolicyDocument } from '../policy/types.js';
import { nativeExpression, NotExportable, policyLimits } from './export-limits.js';
import { bindingMatchResources, exportScope } from './export-scope.js';
import type { ExportOptions, PolicyExport } from './export-types.js';

export const ADMISSION_API_VERSION = 'admissionregistration.k8s.io/v1';

/** Labels that tie an exported document to the daemonguard policy it came from (for kubectl -l). */
export function exportLabels(policy: string): Record<string, string> {
  return { 'app.kubernetes.io/managed-by': 'daemonguard-export', 'daemonguard.dev/policy': policy.slice(0, 63).replace(/[^A-Za-z0-9]+$/, '') };
}

/** The spec fields every native policy of `document` has: failurePolicy, matchConstraints, matchConditions, variables. */
function commonSpec(document: DaemonSetPolicyDocument): JsonObject {
  const { spec } = document;
  const scope = exportScope(document);
  if (!scope.ok) throw new NotExportable('spec.match', scope.reason);
  const common: JsonObject = { failurePolicy: spec.failurePolicy ?? 'Fail', matchConstraints: scope.matchConstraints };
  if (spec.matchConditions && spec.matchConditions.length > 0) {
    common.matchConditions = spec.matchConditions.map((c, i) => ({ name: c.name, expression: nativeExpression(document, `spec.matchConditions[${i}].expression`, c.expression) }));
  }
  if (spec.variables && spec.variables.length > 0) {
    common.variables = spec.variables.map((v, i) => ({ name: v.name, expression: nativeExpression(document, `spec.variables[${i}].expression`, v.expression) }));
  }
  return common;
}

export interface NativeParts {
  /** The spec fields of the kind (validations, or mutations), after the common ones. */
  policySpec: JsonObject;
  /** The binding's spec fields besides policyName and matchResources. */
  bindingSpec: JsonObject;
}

/**
 * `kind` (ValidatingAdmissionPolicy or MutatingAdmissionPolicy) and its binding for `document`, with
 * the parts `build` makes; or not exportable, naming the field and why.
 */
export function exportNative(document: DaemonSetPolicyDocument, kind: 'ValidatingAdmissionPolicy' | 'MutatingAdmissionPolicy', options: ExportOptions, build: () => NativeParts): PolicyExport {
  const policy = document.metadata.name;
  try {
    policyLimits(document);
    const name = `${options.namePrefix}${policy}`;
    const common = commonSpec(document);
    const parts = build();
    const bindingSpec: JsonObject = { policyName: name, ...parts.bindingSpec };
    const matchResources = bindingMatchResources(options.excludeNamespaces);
    if (matchResources) bindingSpec.matchResources = matchResources;
    const metadata = { name, labels: exportLabels(policy) };
    return {
      policy,
      kind: 'exported',
      documents: [
        { apiVersion: ADMISSION_API_VERSION, kind, metadata, spec: { ...common, ...parts.policySpec } },
        { apiVersion: ADMISSION_API_VERSION, kind: `${kind}Binding`, metadata: { ...metadata, labels: { ...metadata.labels } }, spec: bindingSpec },
      ],
    };
  } catch (error) {
    if (error instanceof NotExportable) return { policy, kind: 'not-exportable', reason: error.message };
    throw error;
  }
}
