// Turning daemonguard CEL into CEL the kube-apiserver compiles, without changing what it means.
//
// - params become literals. A native policy can read params only through paramKind/paramRef, which
//   names a cluster object of a served kind; daemonguard's params are typed JSON (lists, numbers,
//   booleans, nested maps). A ConfigMap is the only built-in kind one could point at, and its `data`
//   is map<string, string>, so `params.healthPortWords` (a list) or `params.liveness` (a bool) would
//   change type; a CRD just for params would have to be installed first. Literals keep the types
//   and make each exported document self-contained (the value written in the policy file is the
//   value exported: change the file and export again).
// - every value of a map literal is wrapped in dyn(): Kubernetes compiles CEL with homogeneous
//   aggregate literals, so `{'name': c.name, 'ports': c.ports}` (a string and a list) is a compile
//   error there, while daemonguard accepts it. dyn(x) is x.
import type { JsonObject, JsonValue } from '../common/vocabulary.js';

/** A JSON value as a CEL literal (integers stay CEL ints, as JSON integers are in both engines). */
export function celLiteral(value: JsonValue): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n').replace(/\r/g, '\\r')}'`;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `[${value.map(celLiteral).join(', ')}]`;
  return `{${Object.entries(value).map(([key, item]) => `${celLiteral(key)}: ${celLiteral(item)}`).join(', ')}}`;
}

/** A `params.<name>` that the policy does not declare: export cannot guess its value. */
export class UndeclaredParamError extends Error {}

/** Replaces `params.<name>` with the literal of that parameter (string literals are left alone). */
export function inlineParams(expression: string, params: JsonObject): string {
  return mapOutsideStrings(expression, (code) =>
    code.replace(/(?<![.\w])(?<!\.\?)params\.([A-Za-z_][A-Za-z0-9_]*)/g, (_match, name: string) => {
      if (!Object.hasOwn(params, name)) throw new UndeclaredParamError(`params.${name} is not declared in spec.params`);
      return celLiteral(params[name]!);
    }),
  );
}

/** Whether the expression names `identifier` as a top-level variable (not as a field or inside a string). */
export function readsIdentifier(expression: string, identifier: string): boolean {
  // Not after `.` or `.?` (a field of that name), nor inside a longer name.
  return matchesCode(expression, new RegExp(`(?<![.\\w])(?<!\\.\\?)${identifier}\\b`));
}

/** Whether `pattern` matches the expression's code outside its string literals. */
export function matchesCode(expression: string, pattern: RegExp): boolean {
  let found = false;
  mapOutsideStrings(expression, (code) => {
    if (pattern.test(code)) found = true;
    return code;
  });
  return found;
}

/** Calls `transform` on each stretch of code between string literals, keeping the literals as written. */
function mapOutsideStrings(expression: string, transform: (code: string) => string): string {
  let out = '';
  let code = '';
  for (let i = 0; i < expression.length; i++) {
    const ch = expression[i]!;
    if (ch === "'" || ch === '"') {
      const end = stringLiteralEnd(expression, i);
      out += transform(code) + expression.slice(i, end);
      code = '';
      i = end - 1;
      continue;
    }
    code += ch;
  }
  return out + transform(code);
}

/** The index just past the string literal (single, double or triple quoted) starting at `start`. */
function stringLiteralEnd(expression: string, start: number): number {
  const ch = expression[start]!;
  const quote = expression.startsWith(ch.repeat(3), start) ? ch.repeat(3) : ch;
  let j = start + quote.length;
  while (j < expression.length && !expression.startsWith(quote, j)) j += expression[j] === '\\' ? 2 : 1;
  return Math.min(expression.length, j + quote.length);
}

/**
 * Wraps every value of every map literal in dyn(...). A small scanner: string literals are copied as
 * they are; a `{` after an identifier opens a message construction (`JSONPatch{op: ...}`), whose
 * typed fields are left alone; any other `{` opens a map, whose first `:` at its own nesting level
 * ends a key, and whose `,` or `}` at that level ends a value. A `:` inside a value is a ternary's.
 */
export function dynMapValues(expression: string): string {
  type Frame = { kind: 'map'; inValue: boolean } | { kind: 'other' };
  const stack: Frame[] = [];
  let out = '';
  for (let i = 0; i < expression.length; i++) {
    const ch = expression[i]!;
    if (ch === "'" || ch === '"') {
      const end = stringLiteralEnd(expression, i);
      out += expression.slice(i, end);
      i = end - 1;
      continue;
    }
    const top = stack.at(-1);
    if (ch === '{') {
      const word = /([A-Za-z_][A-Za-z0-9_.]*)\s*$/.exec(out)?.[1];
      const constructs = word !== undefined && word !== 'in';
      stack.push(constructs ? { kind: 'other' } : { kind: 'map', inValue: false });
    } else if (ch === '(' || ch === '[') {
      stack.push({ kind: 'other' });
    } else if (ch === ')' || ch === ']') {
      stack.pop();
    } else if (top?.kind === 'map') {
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
    } else if (ch === '}') {
      stack.pop();
    }
    out += ch;
  }
  return out;
}

/** A daemonguard expression as the apiserver's CEL takes it: params inlined, map values dyn. */
export function adaptExpression(expression: string, params: JsonObject): string {
  return dynMapValues(inlineParams(expression, params));
}
