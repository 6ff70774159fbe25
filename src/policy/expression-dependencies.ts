// Which top-level CEL variables an expression reads. The compiler uses it for two optimizations
// that change no result:
// - a policy variable that reads only `params` (and other such variables) is the same on every
//   review, so it is evaluated once at load (normalizing an allowlist, say);
// - a variable that reads only the request (`object`, `oldObject`, `request`, `namespaceObject`,
//   `coverage`)
//   and no params or variables has the same value for every policy that declares the same
//   expression, so one review evaluates it once for all of them.
//
// It also tells whether an expression reads `namespaceObject`, which only a server that knows the
// namespaces can give it (`daemonguard serve` refuses such a policy without a namespace source).
//
// The scan is deliberately conservative: string literals are removed first, then every identifier
// that is not a field or method name is looked at. Other names (macro iteration variables such as
// `c` in `containers.all(c, ...)`, global functions) read nothing: CEL here has no impure function.

const REQUEST_SCOPED = new Set(['object', 'oldObject', 'request', 'namespaceObject', 'coverage', 'element', 'index']);

export interface ExpressionDependencies {
  params: boolean;
  /** Names of the policy variables read (`variables.<name>`). */
  variables: Set<string>;
  /** Reads `object`, `oldObject`, `request`, `namespaceObject`, `coverage` (or `element`/`index`, or `variables` whole). */
  requestScoped: boolean;
  /** Reads `namespaceObject`. */
  namespaceObject: boolean;
  /** Reads `coverage` (which a Kubernetes ValidatingAdmissionPolicy has no equivalent of). */
  coverage: boolean;
}

/** Removes string and bytes literals (all quote styles, raw or not) so their words are not read as names. */
function withoutStringLiterals(source: string): string {
  return source.replace(/[rRbB]{0,2}("""[\s\S]*?"""|'''[\s\S]*?'''|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')/g, '""');
}

export function expressionDependencies(source: string): ExpressionDependencies {
  const code = withoutStringLiterals(source);
  const result: ExpressionDependencies = { params: false, variables: new Set(), requestScoped: false, namespaceObject: false, coverage: false };
  const identifier = /[A-Za-z_][A-Za-z0-9_]*/g;
  let match: RegExpExecArray | null;
  while ((match = identifier.exec(code)) !== null) {
    const name = match[0];
    let i = match.index - 1;
    while (i >= 0 && /\s/.test(code[i]!)) i--;
    if (code[i] === '?') i--;
    // A field, method or optional-field name (`x.name`, `x.?name`), or the tail of a number (`1e5`).
    if (code[i] === '.' || /[0-9]/.test(code[match.index - 1] ?? '')) continue;
    if (name === 'params') result.params = true;
    else if (name === 'variables') {
      const member = /^\s*\.\s*\??\s*([A-Za-z_][A-Za-z0-9_]*)/.exec(code.slice(match.index + name.length));
      // `variables` used as a whole (not `variables.x`) could read anything: treat as request-scoped.
      if (member) result.variables.add(member[1]!);
      else result.requestScoped = true;
    } else if (REQUEST_SCOPED.has(name)) {
      result.requestScoped = true;
      if (name === 'namespaceObject') result.namespaceObject = true;
      if (name === 'coverage') result.coverage = true;
    }
  }
  return result;
}
