// Loads a PolicySet (DaemonSetPolicies and DaemonSetPolicyExceptions) from files and folders, or from
// documents already in memory. All-or-nothing: one broken document refuses the whole set with every
// problem listed, so a running server keeps its last good set.
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
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
import { compileNativeDocuments, declaredParamKinds, paramKindKey } from '../native/compile-native.js';
import { NATIVE_API_VERSION, nativeKindOf, nativeKindOfAnyVersion, type ParamObject } from '../native/documents.js';
import { paramObjectOf } from '../native/params.js';
import { compileException, unknownPolicyProblems } from './compile-exception.js';
import { compilePolicy, formatProblem, type PolicyProblem } from './compile-policy.js';
import {
  EXCEPTION_KIND,
  POLICY_API_VERSION,
  POLICY_KIND,
  type CompiledException,
  type CompiledPolicy,
  type DaemonSetPolicyDocument,
  type DaemonSetPolicyExceptionDocument,
  type PolicyNote,
  type PolicySet,
} from './types.js';

export type { PolicyProblem } from './compile-policy.js';

/**
 * The largest policy file read. The largest in the built-in library is under 15 KiB and the whole
 * library is under 140 KiB; a ConfigMap, the usual way files reach a cluster, holds at most 1 MiB. A
 * file above this is a mistake (or an attack on the server's memory and event loop), not a policy.
 */
export const MAX_POLICY_FILE_BYTES = 1024 * 1024;

export class PolicyLoadError extends Error {
  constructor(readonly problems: PolicyProblem[]) {
    super(`${problems.length} problem${problems.length === 1 ? '' : 's'} in the policies:\n${problems.map(formatProblem).join('\n')}`);
    this.name = 'PolicyLoadError';
  }
}

const validators = new Map<string, ReturnType<Ajv['compile']>>();
const SCHEMA_FILES = { [POLICY_KIND]: 'daemonsetpolicy.schema.json', [EXCEPTION_KIND]: 'daemonsetpolicyexception.schema.json' } as const;
function schemaValidator(kind: keyof typeof SCHEMA_FILES): ReturnType<Ajv['compile']> {
  let validate = validators.get(kind);
  if (validate === undefined) {
    // date-time is checked by compileException, with a message that shows the format to use.
    validate = new Ajv({ allErrors: true, strict: false, formats: { 'date-time': true } }).compile(readPackageJson('schema', SCHEMA_FILES[kind]) as object);
    validators.set(kind, validate);
  }
  return validate;
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
function schemaProblems(source: SourceDocument, errors: ErrorObject[], who: Pick<PolicyProblem, 'policy' | 'exception'>, kind: keyof typeof SCHEMA_FILES): PolicyProblem[] {
  const problems: PolicyProblem[] = [];
  const seen = new Set<string>();
  const add = (path: FieldPath, message: string, atKey: boolean): void => {
    const field = formatFieldPath(path);
    if (seen.has(`${field}|${message}`)) return;
    seen.add(`${field}|${message}`);
    const pos = atKey ? source.keyPositionOf(path) : source.positionOf(path);
    problems.push({ file: source.file, line: pos.line, column: pos.column, ...who, field: field || undefined, message });
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
      case 'required': {
        const missing = (error.params as { missingProperty: string }).missingProperty;
        const why = kind === EXCEPTION_KIND && missing === 'namespace' ? ': an exception applies only to the DaemonSets of its own namespace' : '';
        add(path, `missing required field "${missing}"${why}`, false);
        break;
      }
      case 'minItems':
        add(path, 'must not be empty', false);
        break;
      case 'minLength':
        add(path, 'must not be empty', false);
        break;
      case 'minProperties':
        add(path, 'give names, objectSelector or both', false);
        break;
      case 'uniqueItems':
        add(path, 'must not list the same value twice', false);
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
        else add(path, 'set exactly one of "defaults", "jsonPatch" or "applyConfiguration"', false);
        break;
      case 'pattern':
        if (kind === EXCEPTION_KIND) {
          add(path, path[1] === 'policies'
            ? 'must be the name of a policy, spelled out (no wildcards): lower-case letters, digits and "-"'
            : path.at(-1) === 'reason' ? 'must not be blank' : 'must be a DNS label: lower-case letters, digits and "-", at most 63 characters', false);
          break;
        }
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
  return problems.filter((p) => !(p.message.startsWith('missing required field "defaults"') || p.message.startsWith('missing required field "jsonPatch"') || p.message.startsWith('missing required field "applyConfiguration"') || p.message.startsWith('missing required field "value"') || p.message.startsWith('missing required field "valueExpression"')));
}

type DocumentKind = typeof POLICY_KIND | typeof EXCEPTION_KIND;

function kindOf(value: unknown): DocumentKind | undefined {
  const kind = typeof value === 'object' && value !== null ? (value as { kind?: unknown }).kind : undefined;
  return kind === POLICY_KIND || kind === EXCEPTION_KIND ? kind : undefined;
}

function metadataField(value: unknown, field: 'name' | 'namespace'): string | undefined {
  const metadata = typeof value === 'object' && value !== null ? (value as { metadata?: unknown }).metadata : undefined;
  const found = typeof metadata === 'object' && metadata !== null ? (metadata as Record<string, unknown>)[field] : undefined;
  return typeof found === 'string' ? found : undefined;
}

/** What documents compiled to, and what was wrong with the others: one document's problem never hides another's. */
export interface CompiledDocuments {
  policies: CompiledPolicy[];
  exceptions: CompiledException[];
  /** Problems of single documents (syntax, schema, CEL, duplicate names); exceptions' references are not checked here. */
  problems: PolicyProblem[];
  /** What loading noticed without refusing (native policies skipped, bindings without policy). */
  notes: PolicyNote[];
  /** The paramKinds native policies declare. */
  paramKinds: { apiVersion: string; kind: string }[];
}

export interface CompileOptions {
  /** Documents read only as param objects for native policies' paramRefs (`--params`). */
  params?: readonly SourceDocument[];
}

/**
 * Checks and compiles DaemonSetPolicy and DaemonSetPolicyException documents, wherever they came from
 * (files, or objects of a cluster rendered as SourceDocuments), in order. It yields to the event loop
 * between documents: compiling a policy type-checks all its CEL (milliseconds each), and a serving
 * process must keep answering its probes and reviews while a large set loads.
 */
/**
 * The items of `kind: List` documents (what `kubectl get validatingadmissionpolicies,validatingadmissionpolicybindings -o yaml`
 * writes) as documents of their own, positions kept: a problem in an item points at its line in the list.
 */
function expandLists(sources: readonly SourceDocument[]): SourceDocument[] {
  const expanded: SourceDocument[] = [];
  for (const source of sources) {
    const value = source.value as { kind?: unknown; items?: unknown } | null;
    if (value === null || typeof value !== 'object' || value.kind !== 'List' || !Array.isArray(value.items)) {
      expanded.push(source);
      continue;
    }
    value.items.forEach((item: unknown, i) => {
      const at = (path: FieldPath): FieldPath => ['items', i, ...path];
      expanded.push({
        file: source.file,
        index: source.index,
        value: item,
        positionOf: (path) => source.positionOf(at(path)),
        keyPositionOf: (path) => source.keyPositionOf(at(path)),
        positionInString: (path, offset) => source.positionInString(at(path), offset),
      });
    });
  }
  return expanded;
}

export async function compileDocuments(documents: readonly SourceDocument[], options: CompileOptions = {}): Promise<CompiledDocuments> {
  const sources = expandLists(documents);
  const problems: PolicyProblem[] = [];
  const policies: CompiledPolicy[] = [];
  const exceptions: CompiledException[] = [];
  // The first document of each name; its line is looked up only for a duplicate's message (a position
  // costs the position-keeping parse of the whole file, which a library without duplicates never needs).
  const firstSeen = new Map<string, SourceDocument>();
  const nativeSources: SourceDocument[] = [];
  /** Documents of no policy kind: params of native policies, or mistakes. */
  const others: SourceDocument[] = [];
  for (const source of sources) {
    if (source.value === null) continue; // an empty document between `---` separators
    const { file, value } = source;
    const kind = kindOf(value);
    const name = metadataField(value, 'name');
    const namespace = metadataField(value, 'namespace');
    const who = kind === EXCEPTION_KIND ? { exception: `${namespace ?? ''}/${name ?? ''}` } : { policy: name };
    if (nativeKindOf(value) !== undefined) {
      nativeSources.push(source);
      continue;
    }
    const otherNativeVersion = nativeKindOfAnyVersion(value);
    if (otherNativeVersion !== undefined) {
      const pos = source.positionOf(['apiVersion']);
      problems.push({ file, line: pos.line, column: pos.column, policy: name, field: 'apiVersion', message: `${otherNativeVersion.kind} ${otherNativeVersion.apiVersion} is not read: write apiVersion: ${NATIVE_API_VERSION} (the version kube-apiserver v1.37 serves)` });
      continue;
    }
    if (kind === undefined) {
      others.push(source);
      continue;
    }
    if ((value as { apiVersion?: unknown }).apiVersion !== POLICY_API_VERSION) {
      const pos = source.positionOf([]);
      problems.push({
        file, line: pos.line, column: pos.column, policy: name,
        message: `not a policy (apiVersion ${String((value as { apiVersion?: unknown }).apiVersion)}); policy folders may only hold apiVersion: ${POLICY_API_VERSION}, kind: ${POLICY_KIND} or ${EXCEPTION_KIND}, native admissionregistration.k8s.io/v1 policies and bindings, and their params`,
      });
      continue;
    }
    const validate = schemaValidator(kind);
    if (!validate(value)) {
      problems.push(...schemaProblems(source, validate.errors ?? [], who, kind));
      continue;
    }
    // Policies are cluster-wide, exceptions per namespace: each kind's names are unique in their scope.
    const key = kind === EXCEPTION_KIND ? `${kind}:${namespace}/${name}` : `${kind}:${name}`;
    const previous = firstSeen.get(key);
    if (previous) {
      const pos = source.positionOf(['metadata', 'name']);
      problems.push({
        file, line: pos.line, column: pos.column, ...who, field: 'metadata.name',
        message: `duplicate ${kind === EXCEPTION_KIND ? 'exception name in its namespace' : 'policy name'}; first defined at ${previous.file}:${previous.positionOf(['metadata', 'name']).line}`,
      });
      continue;
    }
    firstSeen.set(key, source);
    if (kind === EXCEPTION_KIND) {
      const compiled = compileException(source, value as unknown as DaemonSetPolicyExceptionDocument);
      problems.push(...compiled.problems);
      if (compiled.exception) exceptions.push(compiled.exception);
      continue;
    }
    const compiled = compilePolicy(source, value as unknown as DaemonSetPolicyDocument);
    problems.push(...compiled.problems);
    if (compiled.policy) policies.push(compiled.policy);
    await yieldToEventLoop();
  }
  // Any other document is a param object when a native policy's paramKind names its kind.
  const paramKinds = declaredParamKinds(nativeSources);
  const params: ParamObject[] = [];
  const paramSources = expandLists(options.params ?? []);
  for (const source of [...others, ...paramSources]) {
    if (source.value === null) continue;
    const param = paramKinds.has(paramKindKey(source.value as object)) ? paramObjectOf(source) : undefined;
    if (param !== undefined) {
      params.push(param);
      continue;
    }
    if (paramSources.includes(source)) continue; // --params files may hold other objects too
    const pos = source.positionOf([]);
    const value = source.value as { kind?: unknown; apiVersion?: unknown };
    problems.push({
      file: source.file, line: pos.line, column: pos.column, policy: metadataField(source.value, 'name'),
      message: `not a policy (kind ${String(value.kind ?? '(none)')}); policy folders may only hold apiVersion: ${POLICY_API_VERSION}, kind: ${POLICY_KIND} or ${EXCEPTION_KIND}, native admissionregistration.k8s.io/v1 policies and bindings, and objects of a native policy's paramKind`,
    });
  }
  const native = compileNativeDocuments(nativeSources, params);
  problems.push(...native.problems);
  policies.push(...native.policies);
  const declaredKinds = [...paramKinds].map((key) => {
    const slash = key.lastIndexOf('/');
    return { apiVersion: key.slice(0, slash), kind: key.slice(slash + 1) };
  });
  return { policies, exceptions, problems, notes: native.notes, paramKinds: declaredKinds };
}

/**
 * The PolicySet of in-memory documents (the cluster's objects go through here as files do), all or
 * nothing: any problem, including an exception that names a policy not among them, refuses the whole
 * set (PolicyLoadError, every problem listed). `files` are what the set reports it was loaded from.
 */
export function loadDocuments(sources: readonly SourceDocument[], files: readonly string[] = [], options: CompileOptions = {}): Promise<PolicySet> {
  return assemble(sources, files, [], options);
}

/** Loads, checks and compiles every DaemonSetPolicy and DaemonSetPolicyException under the given files and folders. */
export interface LoadPolicySetOptions {
  /** Files and folders of param objects for native policies (`--params`). */
  paramPaths?: readonly string[];
  /** Param objects already read (from the cluster). */
  params?: readonly SourceDocument[];
}

export async function loadPolicySet(paths: readonly string[], options: LoadPolicySetOptions = {}): Promise<PolicySet> {
  let files: string[] = [];
  try {
    files = await listManifestFiles(paths);
  } catch (error) {
    if (error instanceof SourceReadError) throw new PolicyLoadError(error.problems);
    throw error;
  }
  const unreadable: PolicyProblem[] = [];
  const sources: SourceDocument[] = [];
  for (const file of files) {
    try {
      sources.push(...(await readSourceFile(file, { maxBytes: MAX_POLICY_FILE_BYTES, what: 'policy files' })));
    } catch (error) {
      if (!(error instanceof SourceReadError)) throw error;
      unreadable.push(...error.problems);
    }
  }
  const params: SourceDocument[] = [...(options.params ?? [])];
  if (options.paramPaths !== undefined && options.paramPaths.length > 0) {
    try {
      for (const file of await listManifestFiles(options.paramPaths)) {
        try {
          params.push(...(await readSourceFile(file, { maxBytes: MAX_POLICY_FILE_BYTES, what: 'param files' })));
        } catch (error) {
          if (!(error instanceof SourceReadError)) throw error;
          unreadable.push(...error.problems);
        }
      }
    } catch (error) {
      if (error instanceof SourceReadError) throw new PolicyLoadError(error.problems);
      throw error;
    }
  }
  return assemble(sources, files, unreadable, { params });
}

async function assemble(sources: readonly SourceDocument[], files: readonly string[], earlier: readonly PolicyProblem[], options: CompileOptions = {}): Promise<PolicySet> {
  const compiled = await compileDocuments(sources, options);
  const problems = [...earlier, ...compiled.problems];
  // Only once every document compiled: a policy that failed to compile is not "unknown".
  if (problems.length === 0) problems.push(...unknownPolicyProblems(compiled.exceptions, compiled.policies.map((policy) => policy.name)));
  if (problems.length > 0) throw new PolicyLoadError(problems);
  return { ...buildPolicySet(compiled.policies, files, compiled.exceptions), notes: compiled.notes, paramKinds: compiled.paramKinds };
}

export function buildPolicySet(policies: CompiledPolicy[], files: readonly string[], exceptions: readonly CompiledException[] = []): PolicySet {
  const exceptionsByPolicy = new Map<string, CompiledException[]>();
  for (const exception of exceptions) {
    for (const policy of exception.policies) {
      const list = exceptionsByPolicy.get(policy) ?? [];
      list.push(exception);
      exceptionsByPolicy.set(policy, list);
    }
  }
  return {
    policies,
    files,
    // A native policy always takes part in its phase: an audit annotation or a configuration error (params not found) is an outcome too.
    mutatingPolicies: policies.filter((p) => p.mutations.length > 0 || p.native?.kind === 'MutatingAdmissionPolicy'),
    validatingPolicies: policies.filter((p) => p.validations.length > 0 || p.native?.kind === 'ValidatingAdmissionPolicy'),
    exceptions,
    exceptionsByPolicy,
  };
}
