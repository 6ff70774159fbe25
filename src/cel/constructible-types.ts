// The object types a CEL expression can construct, as Kubernetes' MutatingAdmissionPolicy names them:
// `JSONPatch{op, path, from, value}` and the apply configurations `Object{...}`, `Object.spec{...}`,
// `Object.spec.template.spec.containers{...}` (a type is named after its field path from the root
// object; a list's elements take the list field's name). Kubernetes types the `Object` family as dyn
// and only finds a misspelt field when the apiserver converts the result; daemonguard knows the
// DaemonSet schema (k8s-types.generated.json), so an unknown type or field is refused at load.
import k8sTypes from './k8s-types.generated.json' with { type: 'json' };

type TypeTable = Readonly<Record<string, Readonly<Record<string, string>>>>;

const SCHEMA: TypeTable = k8sTypes.types;

export const JSONPATCH_TYPE = 'JSONPatch';
export const OBJECT_TYPE = 'Object';

/** JSONPatch's fields and their CEL types (k8s.io/apiserver/pkg/cel/mutation JSONPatchType). */
export const JSONPATCH_FIELDS: Readonly<Record<string, string>> = Object.freeze({ op: 'string', path: 'string', from: 'string', value: 'dyn' });

export interface ConstructibleType {
  readonly name: string;
  readonly kind: 'JSONPatch' | 'Object';
  /** The Kubernetes schema type it configures (`DaemonSetSpec` for `Object.spec`); the CEL type for JSONPatch. */
  readonly schemaType: string;
  /** Field name -> CEL type of the field (from the schema). */
  readonly fields: Readonly<Record<string, string>>;
}

export type Resolution = ConstructibleType | { readonly error: string };

const OBJECT_TYPE_PATTERN = /^(?:list<)?([A-Za-z][A-Za-z0-9]*)>?$/;

/** The schema type a field's values configure, or why a construction cannot name it. */
function objectTypeOfField(owner: string, field: string, type: string): string | { error: string } {
  const named = OBJECT_TYPE_PATTERN.exec(type)?.[1];
  if (named && SCHEMA[named]) return named;
  if (type.startsWith('map<')) return { error: `'${field}' of ${owner} is a map (${type}): write its value as a map literal, not a typed object` };
  return { error: `'${field}' of ${owner} is a ${type}, not an object` };
}

const cache = new Map<string, Resolution>();

/** Resolves a construction's type name (`JSONPatch`, `Object.spec.template`), or says why it names nothing. */
export function resolveConstructible(name: string): Resolution {
  const cached = cache.get(name);
  if (cached) return cached;
  const resolution = resolveUncached(name);
  cache.set(name, resolution);
  return resolution;
}

function resolveUncached(name: string): Resolution {
  if (name === JSONPATCH_TYPE) return { name, kind: 'JSONPatch', schemaType: JSONPATCH_TYPE, fields: JSONPATCH_FIELDS };
  const [root, ...path] = name.split('.');
  if (root !== OBJECT_TYPE) {
    return { error: `unknown type '${name}': the types that can be constructed are JSONPatch, Object and Object.<field path> (e.g. Object.spec.template)` };
  }
  let schemaType = 'DaemonSet';
  let walked = OBJECT_TYPE;
  for (const field of path) {
    const fields = SCHEMA[schemaType]!;
    const type = Object.hasOwn(fields, field) ? fields[field] : undefined;
    if (type === undefined) return { error: `unknown type '${name}': ${walked} (${schemaType}) has no field '${field}'` };
    const next = objectTypeOfField(walked, field, type);
    if (typeof next !== 'string') return { error: `unknown type '${name}': ${next.error}` };
    schemaType = next;
    walked = `${walked}.${field}`;
  }
  return { name, kind: 'Object', schemaType, fields: SCHEMA[schemaType]! };
}

const SCALARS = new Set(['string', 'int', 'uint', 'double', 'bool', 'bytes', 'null']);

function splitTopLevel(inner: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < inner.length; i++) {
    const ch = inner[i];
    if (ch === '<') depth++;
    else if (ch === '>') depth--;
    else if (ch === ',' && depth === 0) {
      parts.push(inner.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(inner.slice(start).trim());
  return parts;
}

/**
 * Whether a value the checker typed `actual` may be given to a field typed `expected`. Unknowns (dyn,
 * type parameters of empty literals) pass and are left to run time; a map may configure an object
 * (Kubernetes accepts plain maps inside apply configurations). A literal `null` does not: the
 * apiserver cannot convert it (it removes nothing), so it is refused here already.
 */
export function isAssignable(actual: string | undefined, expected: string): boolean {
  if (actual === undefined || actual === expected) return true;
  if (actual === 'dyn' || expected === 'dyn' || /^[A-Z]$/.test(actual)) return true;
  const actualList = /^list<(.+)>$/.exec(actual)?.[1];
  const expectedList = /^list<(.+)>$/.exec(expected)?.[1];
  if (actualList !== undefined || expectedList !== undefined) {
    return actualList !== undefined && expectedList !== undefined && isAssignable(actualList, expectedList);
  }
  const actualMap = /^map<(.+)>$/.exec(actual)?.[1];
  const expectedMap = /^map<(.+)>$/.exec(expected)?.[1];
  if (actualMap !== undefined && expectedMap !== undefined) {
    const [ak, av] = splitTopLevel(actualMap);
    const [ek, ev] = splitTopLevel(expectedMap);
    return isAssignable(ak, ek!) && isAssignable(av, ev!);
  }
  if (actualMap !== undefined) return !SCALARS.has(expected);
  return false;
}
