// The ValidatingAdmissionPolicy part of a native policy: validations (expression, message,
// messageExpression, reason) and auditAnnotations, compiled for the engine.
import type { SourceDocument } from '../common/yaml-documents.js';
import type { CompiledAuditAnnotation, CompiledValidation } from '../policy/types.js';
import type { ValidatingAdmissionPolicyDocument } from './documents.js';
import type { NativeCel } from './native-cel.js';
import { STRING, type Shape } from './shape.js';

/** The StatusReasons a validation may name (API validation of ValidatingAdmissionPolicy accepts these three). */
export const VALIDATION_REASONS = ['Forbidden', 'Invalid', 'RequestEntityTooLarge'] as const;

export const VALIDATING_SPEC_FIELDS: Readonly<Record<string, Shape>> = {
  validations: {
    type: 'list',
    items: {
      type: 'object',
      fields: { expression: STRING, message: STRING, messageExpression: STRING, reason: { type: 'string', enum: VALIDATION_REASONS } },
      required: ['expression'],
    },
  },
  auditAnnotations: {
    type: 'list',
    items: { type: 'object', fields: { key: { type: 'string', nonEmpty: true }, valueExpression: STRING }, required: ['key', 'valueExpression'] },
  },
};

export interface ValidatingParts {
  validations: CompiledValidation[];
  auditAnnotations: CompiledAuditAnnotation[];
}

export function compileValidatingParts(_source: SourceDocument, document: ValidatingAdmissionPolicyDocument, cel: NativeCel): ValidatingParts {
  const spec = document.spec;
  if ((spec.validations ?? []).length === 0 && (spec.auditAnnotations ?? []).length === 0) {
    cel.problemAt(['spec'], 'a ValidatingAdmissionPolicy needs validations or auditAnnotations (the apiserver refuses one with neither)');
  }
  const validations: CompiledValidation[] = [];
  (spec.validations ?? []).forEach((validation, i) => {
    const expression = cel.compile(['spec', 'validations', i, 'expression'], validation.expression, 'bool', ['bool']);
    const messageExpression =
      validation.messageExpression === undefined ? undefined : cel.compile(['spec', 'validations', i, 'messageExpression'], validation.messageExpression, 'string', ['string']);
    if (validation.message !== undefined && /[\r\n]/.test(validation.message)) {
      cel.problemAt(['spec', 'validations', i, 'message'], 'must not contain line breaks (the apiserver refuses them)');
    }
    if (!expression) return;
    validations.push({ index: i, expression, message: validation.message, messageExpression, reason: validation.reason ?? 'Invalid' });
  });
  const auditAnnotations: CompiledAuditAnnotation[] = [];
  const keys = new Set<string>();
  (spec.auditAnnotations ?? []).forEach((annotation, i) => {
    if (keys.has(annotation.key)) cel.problemAt(['spec', 'auditAnnotations', i, 'key'], `duplicate key "${annotation.key}"`);
    keys.add(annotation.key);
    // The key is published as "<policy name>/<key>", a qualified name: the apiserver limits the key to a name part.
    if (!/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/.test(annotation.key)) {
      cel.problemAt(['spec', 'auditAnnotations', i, 'key'], 'must be the name part of a qualified name: letters, digits, "-", "_" and ".", at most 63 characters');
    }
    const valueExpression = cel.compile(['spec', 'auditAnnotations', i, 'valueExpression'], annotation.valueExpression, 'any', ['string', 'null']);
    if (valueExpression) auditAnnotations.push({ key: annotation.key, valueExpression });
  });
  return { validations, auditAnnotations };
}
