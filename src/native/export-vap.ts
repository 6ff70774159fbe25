// A DaemonSetPolicy's validations as a ValidatingAdmissionPolicy and its binding
// (admissionregistration.k8s.io/v1), so the kube-apiserver's own CEL evaluates the expressions
// daemonguard evaluates. validationActions and failurePolicy are carried over as written (with
// daemonguard's defaults [Deny] and Fail); `namespaceObject` is a native variable too.
import type { JsonObject } from '../common/vocabulary.js';
import type { DaemonSetPolicyDocument } from '../policy/types.js';
import { exportNative } from './export-documents.js';
import { nativeExpression } from './export-limits.js';
import type { ExportOptions, PolicyExport } from './export-types.js';

/** The ValidatingAdmissionPolicy and binding of `document`, or why it has none. */
export function exportValidatingPolicy(document: DaemonSetPolicyDocument, options: ExportOptions): PolicyExport {
  const { spec } = document;
  if ((spec.validations ?? []).length === 0) return { policy: document.metadata.name, kind: 'skipped', reason: 'no validations (export its mutations with --format map)' };
  return exportNative(document, 'ValidatingAdmissionPolicy', options, () => ({
    policySpec: {
      validations: spec.validations!.map((v, i) => {
        const validation: JsonObject = { expression: nativeExpression(document, `spec.validations[${i}].expression`, v.expression) };
        if (v.message !== undefined) validation.message = v.message;
        if (v.messageExpression !== undefined) validation.messageExpression = nativeExpression(document, `spec.validations[${i}].messageExpression`, v.messageExpression);
        if (v.reason !== undefined) validation.reason = v.reason;
        return validation;
      }),
    },
    bindingSpec: { validationActions: [...(options.validationActions ?? spec.validationActions ?? ['Deny'])] },
  }));
}
