// Loads a PolicySet from files and folders. All-or-nothing: one broken document refuses the whole
// set with every problem listed, so a running server keeps its last good set.
import { Ajv, type ErrorObject } from 'ajv';
import { readPackageJson } from '../common/package-root.js';
import {
  SourceReadError,
  formatFieldPath,
  listManifestFiles,
  readSourceFile,
  type FieldPath,
  type SourceDocument,
} from '../common/yaml-documents.js';
import { compilePolicy, formatProblem, type PolicyProblem } from './compile-policy.js';
import { POLICY_API_VERSION, POLICY_KIND, type CompiledPolicy, type DaemonSetPolicyDocument, type PolicySet } from './types.js';

export type { PolicyProblem } from './compile-policy.js';

export class PolicyLoadError extends Error {
  constructor(readonly problems: PolicyProblem[]) {
    super(`${problems.length} problem${problems.length === 1 ? '' : 's'} in the policies:\n${problems.map(formatProblem).join('\n')}`);
    this.name = 'PolicyLoadError';
  }
}

let validateDocument: ReturnType<Ajv['compile']> | undefined;
function schemaValidator(): ReturnType<Ajv['compile']> {
  validateDocument ??= new Ajv({ allErrors: true, strict: false }).compile(readPackageJson('schema', 'daemonsetpolicy.schema.json') as object);
  return validateDocument;
}

function pathOf(instancePath: string): (string | number)[] {
  if (instancePath === '') return [];
  return instancePath
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

/** Turns ajv's errors into one message per field, in the words a policy author needs. */
function schemaProblems(source: SourceDocument, errors: ErrorObject[], policy: string | undefined): PolicyProblem[] {
  const problems: PolicyProblem[] = [];
  const seen = new Set<string>();
  const add = (path: FieldPath, message: string, atKey: boolean): void => {
    const field = formatFieldPath(path);
    if (seen.has(`${field}|${message}`)) return;
    seen.add(`${field}|${message}`);
    const pos = atKey ? source.keyPositionOf(path) : source.positionOf(path);
    problems.push({ file: source.file, line: pos.line, column: pos.column, policy, field: field || undefined, message });
  };
  // oneOf failures repeat the branch errors; report the branches' own errors and a short summary.
  for (const error of errors) {
    const path = pathOf(error.instancePath);
    switch (error.keyword) {
      case 'additionalProperties': {
        const key = String((error.params as { additionalProperty: string }).additionalProperty);
        add([...path, key], `unknown field "${key}"`, true);
        break;
      }
      case 'required':
        add(path, `missing required field "${(error.params as { missingProperty: string }).missingProperty}"`, false);
        break;
      case 'type':
        add(path, `must be ${(error.params as { type: string }).type}`, false);
        break;
      case 'enum':
        add(path, `must be one of: ${((error.params as { allowedValues: unknown[] }).allowedValues).join(', ')}`, false);
        break;
      case 'const':
        add(path, `must be "${String((error.params as { allowedValue: unknown }).allowedValue)}"`, false);
        break;
      case 'oneOf':
        if (path.at(-2) === 'defaults') add(path, 'set exactly one of "value" or "valueExpression"', false);
        else add(path, 'set exactly one of "defaults" or "jsonPatch"', false);
        break;
      case 'pattern':
        add(path, path.at(-1) === 'name' && path.length === 2
          ? 'must be a DNS label: lower-case letters, digits and "-", at most 63 characters'
          : path.at(-1) === 'path' || path.at(-1) === 'forEach'
            ? 'must be a JSON pointer such as /spec/template/spec (escape "~" as ~0 and "/" as ~1)'
            : `does not match the expected format ${(error.params as { pattern: string }).pattern}`, false);
        break;
      default:
        add(path, error.message ?? error.keyword, false);
    }
  }
  // A oneOf with a missing branch also reports "required" for every branch: keep only the summary.
  return problems.filter((p) => !(p.message.startsWith('missing required field "defaults"') || p.message.startsWith('missing required field "jsonPatch"') || p.message.startsWith('missing required field "value"') || p.message.startsWith('missing required field "valueExpression"')));
}

function isPolicyDocument(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === POLICY_KIND;
}

/** Checks that a document is a DaemonSetPolicy that satisfies the schema; the document when it is, else why not. */
export function checkPolicyDocument(source: SourceDocument): { document?: DaemonSetPolicyDocument; problems: PolicyProblem[] } {
  const value = source.value as Record<string, unknown>;
  const name = typeof (value.metadata as { name?: unknown } | undefined)?.name === 'string'
    ? ((value.metadata as { name: string }).name)
    : undefined;
  if (!isPolicyDocument(value) || value.apiVersion !== POLICY_API_VERSION) {
    const pos = source.positionOf([]);
    const found = isPolicyDocument(value) ? `apiVersion ${String(value.apiVersion)}` : `kind ${String((value as { kind?: unknown }).kind ?? '(none)')}`;
    return {
      problems: [{
        file: source.file, line: pos.line, column: pos.column, policy: name,
        message: `not a policy (${found}); policy folders may only hold apiVersion: ${POLICY_API_VERSION}, kind: ${POLICY_KIND}`,
      }],
    };
  }
  const validate = schemaValidator();
  if (!validate(value)) return { problems: schemaProblems(source, validate.errors ?? [], name) };
  return { document: value as unknown as DaemonSetPolicyDocument, problems: [] };
}

/**
 * One policy document on its own (a DaemonSetPolicy object from the cluster): checked and compiled, or
 * every problem with it. Names shared with other documents are the caller's to decide.
 */
export function loadPolicyDocument(source: SourceDocument): { policy?: CompiledPolicy; problems: PolicyProblem[] } {
  const checked = checkPolicyDocument(source);
  if (checked.document === undefined) return { problems: checked.problems };
  return compilePolicy(source, checked.document);
}

/** Loads, checks and compiles every DaemonSetPolicy under the given files and folders. */
export async function loadPolicySet(paths: readonly string[]): Promise<PolicySet> {
  const problems: PolicyProblem[] = [];
  const policies: CompiledPolicy[] = [];
  const firstSeen = new Map<string, { file: string; line: number }>();
  let files: string[] = [];
  try {
    files = await listManifestFiles(paths);
  } catch (error) {
    if (error instanceof SourceReadError) throw new PolicyLoadError(error.problems);
    throw error;
  }

  for (const file of files) {
    let documents: SourceDocument[];
    try {
      documents = await readSourceFile(file);
    } catch (error) {
      if (error instanceof SourceReadError) {
        problems.push(...error.problems);
        continue;
      }
      throw error;
    }
    for (const source of documents) {
      if (source.value === null) continue; // an empty document between `---` separators
      const checked = checkPolicyDocument(source);
      if (checked.document === undefined) {
        problems.push(...checked.problems);
        continue;
      }
      const document = checked.document;
      const previous = firstSeen.get(document.metadata.name);
      if (previous) {
        const pos = source.positionOf(['metadata', 'name']);
        problems.push({
          file, line: pos.line, column: pos.column, policy: document.metadata.name, field: 'metadata.name',
          message: `duplicate policy name; first defined at ${previous.file}:${previous.line}`,
        });
        continue;
      }
      firstSeen.set(document.metadata.name, { file, line: source.positionOf(['metadata', 'name']).line });
      const compiled = compilePolicy(source, document);
      problems.push(...compiled.problems);
      if (compiled.policy) policies.push(compiled.policy);
    }
  }
  if (problems.length > 0) throw new PolicyLoadError(problems);
  return buildPolicySet(policies, files);
}

export function buildPolicySet(policies: CompiledPolicy[], files: readonly string[]): PolicySet {
  return {
    policies,
    files,
    mutatingPolicies: policies.filter((p) => p.mutations.length > 0),
    validatingPolicies: policies.filter((p) => p.validations.length > 0),
  };
}
