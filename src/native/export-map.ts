// A DaemonSetPolicy's mutations as a MutatingAdmissionPolicy and its binding
// (admissionregistration.k8s.io/v1: GA and on by default since Kubernetes 1.36).
//
// Every step becomes one JSONPatch mutation, never an ApplyConfiguration: an apply configuration
// overwrites what it names and merges lists by their keys, so "set only where absent" would need a
// guard per field anyway, while a JSON Patch `add` behind presence tests is daemonguard's own
// algorithm (engine/mutate.ts addIfAbsent) spelled in CEL:
// - a default at /a/b/c becomes `!has(o.a) ? add /a {b: {c: v}} : !has(o.a.b) ? add /a/b {c: v} :
//   !has(o.a.b.c) ? add /a/b/c v : []` — the add targets the first missing segment and carries the
//   rest, exactly as addIfAbsent does; the value is computed only when the field is absent, and a
//   null value writes nothing (the value goes through dyn(): a typed string cannot be compared
//   with null in the apiserver's CEL);
// - a forEach default does the same per element (`transformList(index, element, ...)`), with
//   `element` and `index` named as daemonguard names them;
// - a mutation's `when` guards each of its steps; a jsonPatch mutation's list of maps becomes
//   `JSONPatch{...}` objects, field for field.
//
// Why equivalent: the apiserver runs a policy's mutations in order, and each sees the object the
// previous ones produced; daemonguard runs them in order on a working copy too, but its CEL `object`
// and `variables` stay those of the policy's input. The two agree whenever no step after the first
// reads `object` or `variables` (a step may read `element`, which is the working copy in both). A
// policy where a later step does is listed as not exportable rather than exported with a doubt.
//
// One difference is left as it is: daemonguard refuses JSON Patch `test` operations (an error,
// settled by failurePolicy); the apiserver runs them.
import { formatPointer, parsePointer } from '../common/json-pointer.js';
import type { JsonValue } from '../common/vocabulary.js';
import type { DaemonSetPolicyDocument, DefaultSpec } from '../policy/types.js';
import { celLiteral, dynMapValues, readsIdentifier } from './export-cel.js';
import { exportNative } from './export-documents.js';
import { nativeExpression, NotExportable } from './export-limits.js';
import type { ExportOptions, PolicyExport } from './export-types.js';

/**
 * CEL's reserved words. Kubernetes exposes an object field with such a name as __<word>__, but a map
 * key as it is; export cannot tell which a path segment is, so such a segment is not exported.
 */
const CEL_RESERVED = new Set(['in', 'as', 'break', 'const', 'continue', 'else', 'for', 'function', 'if', 'import', 'let', 'loop', 'package', 'namespace', 'return', 'var', 'void', 'while', 'true', 'false', 'null']);
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `base.segment` (or `base['segment']` for a map key that is no identifier). */
function member(base: string, segment: string): string {
  if (!IDENTIFIER.test(segment)) return `${base}[${celLiteral(segment)}]`;
  return `${base}.${segment}`;
}

/** Whether `base` has `segment`: a field test, or a key test for map keys that are no identifiers. */
function presence(base: string, segment: string): string {
  // Parenthesized: it is negated, and `!` binds tighter than `in`.
  if (!IDENTIFIER.test(segment)) return `(${celLiteral(segment)} in ${base})`;
  return `has(${member(base, segment)})`;
}

/** The CEL string of the pointer to `segments`, after an optional CEL string prefix (a forEach element's). */
function pointerExpression(prefix: string | undefined, segments: readonly string[]): string {
  const literal = celLiteral(formatPointer(segments));
  return prefix === undefined ? literal : `${prefix} + ${literal}`;
}

/** `value` nested under `segments` as CEL map literals, as addIfAbsent carries the missing rest of a path. */
function nestedValue(segments: readonly string[], value: string): string {
  return segments.reduceRight((inner, segment) => `{${celLiteral(segment)}: dyn(${inner})}`, value);
}

function decodePath(field: string, pointer: string): string[] {
  let segments: string[];
  try {
    segments = parsePointer(pointer);
  } catch (error) {
    throw new NotExportable(field, (error as Error).message);
  }
  const numeric = segments.find((s) => /^\d+$/.test(s));
  if (numeric !== undefined) throw new NotExportable(field, `the path ${pointer} indexes a list (${numeric}); use forEach`);
  const reserved = segments.find((s) => CEL_RESERVED.has(s));
  if (reserved !== undefined) throw new NotExportable(field, `the path ${pointer} has "${reserved}", a CEL reserved word, which the apiserver writes __${reserved}__ for a field and as it is for a map key`);
  return segments;
}

/** The ops of one default as a CEL list<JSONPatch> expression (see the file comment). */
function defaultStep(document: DaemonSetPolicyDocument, field: string, entry: DefaultSpec): string {
  const path = decodePath(`${field}.path`, entry.path);
  if (path.length === 0) throw new NotExportable(`${field}.path`, 'a default must name a field below the object');
  const forEach = entry.forEach === undefined ? undefined : decodePath(`${field}.forEach`, entry.forEach);
  const base = forEach ? 'element' : 'object';
  const prefix = forEach ? `${celLiteral(`${formatPointer(forEach)}/`)} + string(index)` : undefined;
  const valueExpression = entry.valueExpression === undefined ? undefined : nativeExpression(document, `${field}.valueExpression`, entry.valueExpression);

  const branches: string[] = [];
  let parent = base;
  for (let i = 0; i < path.length; i++) {
    const target = pointerExpression(prefix, path.slice(0, i + 1));
    const rest = path.slice(i + 1);
    const ops =
      valueExpression === undefined
        ? `[JSONPatch{op: 'add', path: ${target}, value: ${dynMapValues(celLiteral(nestValue(rest, entry.value ?? null)))}}]`
        : `[dyn(${valueExpression})].filter(dgValue, dgValue != null).map(dgValue, JSONPatch{op: 'add', path: ${target}, value: ${nestedValue(rest, 'dgValue')}})`;
    branches.push(`!${presence(parent, path[i]!)} ? ${ops}`);
    parent = member(parent, path[i]!);
  }
  const chain = `${branches.join('\n  : ')}\n  : []`;
  if (!forEach) return chain;
  const list = forEach.reduce((access, segment) => (IDENTIFIER.test(segment) ? `${access}.?${segment}` : `${access}[?${celLiteral(segment)}]`), 'object');
  return `${list}.orValue([]).transformList(index, element,\n  ${chain}).flatten()`;
}

/** The JSON value nested under `segments`. */
function nestValue(segments: readonly string[], value: JsonValue): JsonValue {
  return segments.reduceRight<JsonValue>((inner, segment) => ({ [segment]: inner }), value);
}

/** A jsonPatch mutation's list of maps as JSONPatch objects, field for field. */
function jsonPatchStep(adapted: string): string {
  return `(${adapted}).map(dgPatch, JSONPatch{op: dgPatch.op, path: dgPatch.path, ?value: dgPatch.?value, ?from: dgPatch.?from})`;
}

interface Step {
  field: string;
  expression: string;
  /** The expressions as written, to tell whether a later step reads `object` or `variables`. */
  sources: string[];
}

function mutationSteps(document: DaemonSetPolicyDocument): Step[] {
  const steps: Step[] = [];
  for (const [mi, mutation] of (document.spec.mutations ?? []).entries()) {
    const field = `spec.mutations[${mi}]`;
    const when = mutation.when === undefined ? undefined : nativeExpression(document, `${field}.when`, mutation.when);
    const guard = (expression: string): string => (when === undefined ? expression : `(${when})\n? (${expression})\n: []`);
    if (mutation.jsonPatch) {
      const adapted = nativeExpression(document, `${field}.jsonPatch.expression`, mutation.jsonPatch.expression);
      steps.push({ field: `${field}.jsonPatch`, expression: guard(jsonPatchStep(adapted)), sources: [mutation.when ?? '', mutation.jsonPatch.expression] });
    }
    for (const [di, entry] of (mutation.defaults ?? []).entries()) {
      const defaultField = `${field}.defaults[${di}]`;
      steps.push({ field: defaultField, expression: guard(defaultStep(document, defaultField, entry)), sources: [mutation.when ?? '', entry.valueExpression ?? ''] });
    }
  }
  for (const step of steps.slice(1)) {
    const reads = ['object', 'variables'].filter((name) => step.sources.some((source) => readsIdentifier(source, name)));
    if (reads.length > 0) {
      throw new NotExportable(
        step.field,
        `reads ${reads.map((r) => `\`${r}\``).join(' and ')} after an earlier step of the policy: the apiserver shows each step the object the previous ones made, daemonguard the policy's input, so they may differ (split the policy, or read \`element\`)`,
      );
    }
  }
  return steps;
}

/** The MutatingAdmissionPolicy and binding of `document`, or why it has none. */
export function exportMutatingPolicy(document: DaemonSetPolicyDocument, options: ExportOptions): PolicyExport {
  if ((document.spec.mutations ?? []).length === 0) return { policy: document.metadata.name, kind: 'skipped', reason: 'no mutations (export its validations with --format vap)' };
  return exportNative(document, 'MutatingAdmissionPolicy', options, () => ({
    policySpec: {
      // daemonguard's mutations are idempotent (a second run writes nothing), so running again after a
      // later mutation changed the object is safe, and catches what that mutation removed.
      reinvocationPolicy: 'IfNeeded',
      mutations: mutationSteps(document).map((step) => ({ patchType: 'JSONPatch', jsonPatch: { expression: step.expression } })),
    },
    bindingSpec: {},
  }));
}
