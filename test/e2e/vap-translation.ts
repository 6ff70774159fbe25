// A daemonguard DaemonSetPolicy as a native ValidatingAdmissionPolicy and binding, so the kube-apiserver's
// own CEL (cel-go with the Kubernetes libraries) evaluates the very expressions daemonguard evaluates.
//
// Two adaptations, neither changing what an expression means:
// - params are written into the expressions as CEL literals (a VAP without paramKind has no params);
// - every value of a map literal is wrapped in dyn(): Kubernetes compiles CEL with homogeneous
//   aggregate literals, so `{'name': c.name, 'caps': [...]}` (a string and a list) is a compile error
//   there, while daemonguard accepts it. dyn(x) is x.
// The binding uses validationActions [Warn]: each failed validation comes back as a Warning header,
// `Validation failed for ValidatingAdmissionPolicy '<policy>' with binding '<binding>': <message>`.
import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import { isJsonObject, type JsonObject, type JsonValue } from '../../src/common/vocabulary.js';
import type { DaemonSetPolicyDocument, LabelSelectorRequirement, LabelSelectorSpec } from '../../src/policy/types.js';

export const VAP_PREFIX = 'dg-';
const NAME_LABEL = 'kubernetes.io/metadata.name';

/** A JSON value as a CEL literal. */
export function celLiteral(value: JsonValue): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  // Integers stay CEL ints (JSON integers are ints in both engines); booleans as they are.
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `[${value.map(celLiteral).join(', ')}]`;
  return `{${Object.entries(value).map(([key, item]) => `${celLiteral(key)}: ${celLiteral(item)}`).join(', ')}}`;
}

/** Replaces `params.<name>` with the literal of that parameter. */
export function inlineParams(expression: string, params: JsonObject, where: string): string {
  return expression.replace(/\bparams\.([A-Za-z_][A-Za-z0-9_]*)/g, (_match, name: string) => {
    if (!(name in params)) throw new Error(`${where}: params.${name} is not declared`);
    return celLiteral(params[name]!);
  });
}

/**
 * Wraps every value of every map literal in dyn(...). A small scanner: string literals are copied
 * as they are; `{` opens a map (daemonguard's CEL has no message construction), whose first `:` at
 * its own nesting level ends a key, and whose `,` or `}` at that level ends a value. A `:` inside a
 * value is a ternary's and is left alone.
 */
export function dynMapValues(expression: string): string {
  type Frame = { map: true; inValue: boolean } | { map: false };
  const stack: Frame[] = [];
  let out = '';
  for (let i = 0; i < expression.length; i++) {
    const ch = expression[i]!;
    if (ch === "'" || ch === '"') {
      const triple = expression.startsWith(ch.repeat(3), i);
      const quote = triple ? ch.repeat(3) : ch;
      let j = i + quote.length;
      while (j < expression.length && !expression.startsWith(quote, j)) j += expression[j] === '\\' ? 2 : 1;
      out += expression.slice(i, j + quote.length);
      i = j + quote.length - 1;
      continue;
    }
    const top = stack.at(-1);
    if (ch === '{') {
      stack.push({ map: true, inValue: false });
    } else if (ch === '(' || ch === '[') {
      stack.push({ map: false });
    } else if (ch === ')' || ch === ']') {
      stack.pop();
    } else if (top?.map) {
      if (ch === ':' && !top.inValue) {
        top.inValue = true;
        out += ': dyn(';
        while (expression[i + 1] === ' ' || expression[i + 1] === '\n') i++;
        continue;
      }
      if (ch === ',' && top.inValue) {
        top.inValue = false;
        out += '),';
        continue;
      }
      if (ch === '}') {
        if (top.inValue) out += ')';
        stack.pop();
      }
    }
    out += ch;
  }
  return out;
}

export interface NativePolicy {
  /** The daemonguard policy's name. */
  policy: string;
  validatingAdmissionPolicy: JsonObject;
  binding: JsonObject;
}

function selectorWith(selector: LabelSelectorSpec | undefined, extra: LabelSelectorRequirement[]): JsonObject {
  const result: JsonObject = {};
  if (selector?.matchLabels) result.matchLabels = { ...selector.matchLabels };
  const expressions = [...(selector?.matchExpressions ?? []), ...extra];
  if (expressions.length > 0) result.matchExpressions = expressions.map((e) => ({ ...e, ...(e.values ? { values: [...e.values] } : {}) }) as JsonObject);
  return result;
}

/**
 * The ValidatingAdmissionPolicy and binding for a validating DaemonSetPolicy. `excludeNamespaces` are
 * added to the binding's namespaceSelector (by their name label), so tests can keep namespaces apart.
 */
export function nativePolicyFor(document: DaemonSetPolicyDocument, options: { excludeNamespaces?: readonly string[] } = {}): NativePolicy {
  const { spec } = document;
  const name = `${VAP_PREFIX}${document.metadata.name}`;
  const params = spec.params ?? {};
  const adapt = (expression: string, where: string): string => dynMapValues(inlineParams(expression, params, `${document.metadata.name} ${where}`));
  const namespaces = spec.match?.namespaces ?? ['*'];
  if (namespaces.some((n) => n !== '*') || (spec.match?.excludeNamespaces ?? []).some((n) => /[*?[]/.test(n))) {
    throw new Error(`${document.metadata.name}: namespace globs other than "*" have no ValidatingAdmissionPolicy equivalent`);
  }
  const operations = (spec.match?.operations ?? ['CREATE', 'UPDATE']).map(String);
  const policySpec: JsonObject = {
    failurePolicy: 'Fail',
    matchConstraints: { resourceRules: [{ apiGroups: ['apps'], apiVersions: ['v1'], resources: ['daemonsets'], operations }] },
  };
  if (spec.matchConditions) policySpec.matchConditions = spec.matchConditions.map((c, i) => ({ name: c.name, expression: adapt(c.expression, `matchConditions[${i}]`) }));
  if (spec.variables) policySpec.variables = spec.variables.map((v, i) => ({ name: v.name, expression: adapt(v.expression, `variables[${i}]`) }));
  policySpec.validations = (spec.validations ?? []).map((v, i) => {
    const validation: JsonObject = { expression: adapt(v.expression, `validations[${i}].expression`) };
    if (v.messageExpression !== undefined) validation.messageExpression = adapt(v.messageExpression, `validations[${i}].messageExpression`);
    if (v.message !== undefined) validation.message = v.message;
    if (v.reason !== undefined) validation.reason = v.reason;
    return validation;
  });
  const excluded = [...(spec.match?.excludeNamespaces ?? []), ...(options.excludeNamespaces ?? [])];
  const matchResources: JsonObject = {
    namespaceSelector: selectorWith(spec.match?.namespaceSelector, excluded.length > 0 ? [{ key: NAME_LABEL, operator: 'NotIn', values: excluded }] : []),
  };
  if (spec.match?.objectSelector) matchResources.objectSelector = selectorWith(spec.match.objectSelector, []);
  return {
    policy: document.metadata.name,
    validatingAdmissionPolicy: { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicy', metadata: { name }, spec: policySpec },
    binding: {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name },
      spec: { policyName: name, validationActions: ['Warn'], matchResources },
    },
  };
}

/** The DaemonSetPolicy documents of a file. */
export async function readPolicyDocuments(file: string): Promise<DaemonSetPolicyDocument[]> {
  return parseAllDocuments(await readFile(file, 'utf8'))
    .map((document) => document.toJS() as unknown)
    .filter((value): value is DaemonSetPolicyDocument => isJsonObject(value as JsonValue) && (value as JsonObject).kind === 'DaemonSetPolicy');
}

export interface NativeVerdict {
  /** The daemonguard policy's name. */
  policy: string;
  kind: 'violation' | 'error';
  message: string;
}

/**
 * The ValidatingAdmissionPolicy outcomes among a response's warnings: failed validations with their
 * messages, and evaluation errors. Other warnings (Pod Security, deprecations) are skipped.
 */
export function nativeVerdicts(warnings: readonly string[]): NativeVerdict[] {
  const verdicts: NativeVerdict[] = [];
  for (const warning of warnings) {
    const failed = /^Validation failed for ValidatingAdmissionPolicy '([^']+)' with binding '[^']+': ([\s\S]*)$/.exec(warning);
    if (failed && failed[1]!.startsWith(VAP_PREFIX)) {
      verdicts.push({ policy: failed[1]!.slice(VAP_PREFIX.length), kind: 'violation', message: failed[2]! });
      continue;
    }
    const other = /ValidatingAdmissionPolicy '([^']+)'/.exec(warning);
    if (other && other[1]!.startsWith(VAP_PREFIX)) verdicts.push({ policy: other[1]!.slice(VAP_PREFIX.length), kind: 'error', message: warning });
  }
  return verdicts;
}
