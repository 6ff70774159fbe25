// Checks the shape of native policy documents field by field. Kubernetes' API validation refuses an
// unknown field (kubectl apply --validate=strict) and a field daemonguard does not know is one it
// cannot evaluate, so both are load problems at the field's line, never ignored.
import type { FieldPath } from '../common/yaml-documents.js';

export type Shape =
  | { type: 'string'; enum?: readonly string[]; nonEmpty?: boolean }
  | { type: 'bool' }
  | { type: 'stringMap' }
  | { type: 'any' }
  | { type: 'list'; items: Shape; enumItems?: readonly string[]; nonEmpty?: boolean }
  | { type: 'object'; fields: Readonly<Record<string, Shape>>; required?: readonly string[]; why?: Readonly<Record<string, string>> };

/** Where a field is wrong and why: the caller turns it into a problem at the field's position. */
export interface ShapeProblem {
  path: FieldPath;
  message: string;
  /** Point at the key rather than the value (unknown fields). */
  atKey?: boolean;
}

export const STRING: Shape = { type: 'string' };
export const STRING_LIST: Shape = { type: 'list', items: STRING };

const SELECTOR_REQUIREMENT: Shape = {
  type: 'object',
  fields: { key: STRING, operator: { type: 'string', enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'] }, values: STRING_LIST },
  required: ['key', 'operator'],
};
export const LABEL_SELECTOR: Shape = {
  type: 'object',
  fields: { matchLabels: { type: 'stringMap' }, matchExpressions: { type: 'list', items: SELECTOR_REQUIREMENT } },
};

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

export function checkShape(value: unknown, shape: Shape, path: FieldPath = []): ShapeProblem[] {
  const problems: ShapeProblem[] = [];
  const visit = (v: unknown, s: Shape, at: FieldPath): void => {
    switch (s.type) {
      case 'any':
        return;
      case 'bool':
        if (typeof v !== 'boolean') problems.push({ path: at, message: `must be true or false, not ${describe(v)}` });
        return;
      case 'string':
        if (typeof v !== 'string') problems.push({ path: at, message: `must be a string, not ${describe(v)}` });
        else if (s.enum && !s.enum.includes(v)) problems.push({ path: at, message: `must be one of: ${s.enum.join(', ')} (found "${v}")` });
        else if (s.nonEmpty && v.trim() === '') problems.push({ path: at, message: 'must not be empty' });
        return;
      case 'stringMap':
        if (typeof v !== 'object' || v === null || Array.isArray(v)) {
          problems.push({ path: at, message: `must be a map of strings, not ${describe(v)}` });
          return;
        }
        for (const [key, item] of Object.entries(v)) if (typeof item !== 'string') problems.push({ path: [...at, key], message: `must be a string, not ${describe(item)}` });
        return;
      case 'list':
        if (!Array.isArray(v)) {
          problems.push({ path: at, message: `must be a list, not ${describe(v)}` });
          return;
        }
        if (s.nonEmpty && v.length === 0) problems.push({ path: at, message: 'must not be empty' });
        v.forEach((item, i) => visit(item, s.items, [...at, i]));
        return;
      case 'object': {
        if (typeof v !== 'object' || v === null || Array.isArray(v)) {
          problems.push({ path: at, message: `must be an object, not ${describe(v)}` });
          return;
        }
        const record = v as Record<string, unknown>;
        for (const key of s.required ?? []) {
          if (!Object.hasOwn(record, key) || record[key] === null) problems.push({ path: at, message: `missing required field "${key}"` });
        }
        for (const [key, item] of Object.entries(record)) {
          const fieldShape = Object.hasOwn(s.fields, key) ? s.fields[key] : undefined;
          if (fieldShape === undefined) {
            const why = s.why?.[key];
            problems.push({ path: [...at, key], message: why ?? `unknown field "${key}"`, atKey: true });
            continue;
          }
          if (item === null && !(s.required ?? []).includes(key)) continue; // `field: null` is the field left out, as in Kubernetes
          visit(item, fieldShape, [...at, key]);
        }
        return;
      }
    }
  };
  visit(value, shape, path);
  return problems;
}
