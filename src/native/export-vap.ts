// A DaemonSetPolicy's validations as a ValidatingAdmissionPolicy and its binding
// (admissionregistration.k8s.io/v1), so the kube-apiserver's own CEL evaluates the expressions
// daemonguard evaluates. validationActions and failurePolicy are carried over as written (with
// daemonguard's defaults [Deny] and Fail); `namespaceObject` is a native variable too.
import type { JsonObject } from '../common/vocabulary.js';
import type { DaemonSetPolicyDocument } from '../policy/types.js';
import type { ExportOptions, PolicyExport } from './export-types.js';
import { nativeExpression, NotExportable, policyLimits } from './export-limits.js';
import { bindingMatchResources, exportScope } from './export-scope.js';

export const ADMISSION_API_VERSION = 'admissionregistration.k8s.io/v1';

/** Variables and matchConditions: shared by the validating and the mutating export. */
export function nativePreamble(document: DaemonSetPolicyDocument): JsonObject {
  const { spec } = document;
  const preamble: JsonObject = {};
  if (spec.matchConditions && spec.matchConditions.length > 0) {
    preamble.matchConditions = spec.matchConditions.map((c, i) => ({ name: c.name, expression: nativeExpression(document, `spec.matchConditions[${i}].expression`, c.expression) }));
  }
  if (spec.variables && spec.variables.length > 0) {
    preamble.variables = spec.variables.map((v, i) => ({ name: v.name, expression: nativeExpression(document, `spec.variables[${i}].expression`, v.expression) }));
  }
  return preamble;
}

/** The policy's scope, or NotExportable. */
export function nativeMatchConstraints(document: DaemonSetPolicyDocument): JsonObject {
  const scope = exportScope(document);
  if (!scope.ok) throw new NotExportable('spec.match', scope.reason);
  return scope.matchConstraints;
}

/** The ValidatingAdmissionPolicy and binding of `document`, or why it has none. */
export function exportValidatingPolicy(document: DaemonSetPolicyDocument, options: ExportOptions): PolicyExport {
  const { spec } = document;
  const policy = document.metadata.name;
  if ((spec.validations ?? []).length === 0) return { policy, kind: 'skipped', reason: 'no validations (export its mutations with --format map)' };
  try {
    policyLimits(document);
    const name = `${options.namePrefix}${policy}`;
    const validations = spec.validations!.map((v, i) => {
      const validation: JsonObject = { expression: nativeExpression(document, `spec.validations[${i}].expression`, v.expression) };
      if (v.message !== undefined) validation.message = v.message;
      if (v.messageExpression !== undefined) validation.messageExpression = nativeExpression(document, `spec.validations[${i}].messageExpression`, v.messageExpression);
      if (v.reason !== undefined) validation.reason = v.reason;
      return validation;
    });
    const policySpec: JsonObject = {
      failurePolicy: spec.failurePolicy ?? 'Fail',
      matchConstraints: nativeMatchConstraints(document),
      ...nativePreamble(document),
      validations,
    };
    const bindingSpec: JsonObject = { policyName: name, validationActions: [...(options.validationActions ?? spec.validationActions ?? ['Deny'])] };
    const matchResources = bindingMatchResources(options.excludeNamespaces);
    if (matchResources) bindingSpec.matchResources = matchResources;
    return {
      policy,
      kind: 'exported',
      documents: [
        { apiVersion: ADMISSION_API_VERSION, kind: 'ValidatingAdmissionPolicy', metadata: { name, labels: exportLabels(policy) }, spec: policySpec },
        { apiVersion: ADMISSION_API_VERSION, kind: 'ValidatingAdmissionPolicyBinding', metadata: { name, labels: exportLabels(policy) }, spec: bindingSpec },
      ],
    };
  } catch (error) {
    if (error instanceof NotExportable) return { policy, kind: 'not-exportable', reason: error.message };
    throw error;
  }
}

/** Labels that tie an exported document to the daemonguard policy it came from (for kubectl -l). */
export function exportLabels(policy: string): Record<string, string> {
  return { 'app.kubernetes.io/managed-by': 'daemonguard-export', 'daemonguard.dev/policy': policy.slice(0, 63).replace(/[^A-Za-z0-9]+$/, '') };
}
