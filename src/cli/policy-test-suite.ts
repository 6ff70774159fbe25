// PolicyTest suites (apiVersion daemonguard.dev/v1alpha1, kind PolicyTest): finding them, checking
// them against schema/policytest.schema.json and resolving their files, with errors at file:line.
import { dirname, resolve } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { readPackageJson } from '../common/package-root.js';
import { isJsonObject, type JsonObject, type Operation } from '../common/vocabulary.js';
import { formatFieldPath, type SourceDocument } from '../common/yaml-documents.js';
import { InputError } from './exit-codes.js';
import { apiserverRejections, isDaemonSet, readManifestSources } from './manifest-reader.js';
import { readNodeFiles } from './node-reader.js';
import type { PolicyVerdict } from './outcomes.js';

export const POLICY_TEST_API_VERSION = 'daemonguard.dev/v1alpha1';
export const POLICY_TEST_KIND = 'PolicyTest';

export interface Expectation {
  allowed?: boolean;
  policies?: Record<string, PolicyVerdict>;
  messages?: string[];
  warnings?: string[];
  mutated?: Record<string, unknown>;
}

export interface SuiteResource {
  name: string;
  /** file:line of the resource entry in the suite, for messages. */
  where: string;
  object: JsonObject | null;
  oldObject: JsonObject | null;
  namespace?: string;
  operation: Operation;
  user?: string;
  groups?: string[];
  expect: Expectation;
}

export interface PolicyTestSuite {
  name: string;
  file: string;
  line: number;
  /** Absolute policy paths named by the suite. */
  policies: string[];
  namespaces: Record<string, Record<string, string>>;
  /** The Node objects of `spec.nodes`, for the `coverage` variable; null when the suite names none. */
  nodes: JsonObject[] | null;
  resources: SuiteResource[];
}

interface SuiteDocument {
  metadata: { name: string };
  spec: {
    policies?: string[];
    nodes?: string;
    namespaces?: Record<string, { labels?: Record<string, string> }>;
    resources: {
      name: string;
      file?: string;
      object?: JsonObject;
      namespace?: string;
      operation?: Operation;
      oldFile?: string;
      oldObject?: JsonObject;
      user?: string;
      groups?: string[];
      expect: Expectation;
    }[];
  };
}

let validator: ReturnType<Ajv['compile']> | undefined;
function validateSuite(value: unknown): ErrorObject[] {
  validator ??= new Ajv({ allErrors: true, strict: false }).compile(readPackageJson('schema', 'policytest.schema.json') as object);
  return validator(value) ? [] : (validator.errors ?? []);
}

function pathOf(instancePath: string): (string | number)[] {
  if (instancePath === '') return [];
  return instancePath.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~')).map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function schemaMessage(error: ErrorObject): string {
  switch (error.keyword) {
    case 'additionalProperties':
      return `unknown field "${(error.params as { additionalProperty: string }).additionalProperty}"`;
    case 'required':
      return `missing required field "${(error.params as { missingProperty: string }).missingProperty}"`;
    case 'enum':
      return `must be one of: ${(error.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`;
    case 'not':
      return error.schemaPath.includes('allOf/0') ? 'set only one of "file" or "object"' : 'set only one of "oldFile" or "oldObject"';
    case 'anyOf':
      return error.schemaPath.includes('then') ? 'a DELETE needs "oldFile" or "oldObject"' : 'set "file" or "object" (the object to review)';
    default:
      return error.message ?? error.keyword;
  }
}

export function isPolicyTestDocument(value: unknown): boolean {
  return isJsonObject(value) && value.kind === POLICY_TEST_KIND;
}

/** The one object a resource file holds (the first non-empty document). */
async function readObjectFile(file: string): Promise<JsonObject> {
  const documents = (await readManifestSources([file], () => Promise.reject(new InputError('stdin is not allowed here')))).filter((d) => d.value !== null);
  const first = documents[0]?.value;
  if (!isJsonObject(first)) throw new InputError(`${file}: expected one Kubernetes object`);
  if (documents.length > 1) throw new InputError(`${file}: holds ${documents.length} documents; a PolicyTest resource file must hold one object`);
  return first;
}

/**
 * Why the kube-apiserver would refuse this apps/v1 DaemonSet before any validating webhook saw it;
 * empty for a valid one and for other objects. A suite that expects a verdict on such an object tests
 * something no cluster does, so it is the suite's error, as it is for `daemonguard test`.
 */
function refusedByApiserver(object: JsonObject | null, role: 'object' | 'oldObject'): string[] {
  if (object === null || !isDaemonSet(object)) return [];
  return apiserverRejections(object).map(({ message }) => (role === 'oldObject' ? `oldObject: ${message}` : message));
}

/** Checks one PolicyTest document and loads the files it names; throws InputError listing every problem. */
export async function loadSuite(source: SourceDocument): Promise<PolicyTestSuite> {
  const where = (path: (string | number)[]): string => {
    const position = source.positionOf(path);
    return `${source.file}:${position.line}:${position.column}`;
  };
  const value = source.value as JsonObject;
  if (value.apiVersion !== POLICY_TEST_API_VERSION) {
    throw new InputError(`${where(['apiVersion'])}: PolicyTest apiVersion must be ${POLICY_TEST_API_VERSION}`);
  }
  const errors = validateSuite(value);
  if (errors.length > 0) {
    const seen = new Set<string>();
    const lines: string[] = [];
    for (const error of errors) {
      const path = pathOf(error.instancePath);
      const message = schemaMessage(error);
      const line = `${where(path)}: ${formatFieldPath(path) || '(document)'}: ${message}`;
      // anyOf and if/then/else repeat their branches' errors; the anyOf summary says it all.
      if (error.keyword === 'if' || (error.keyword === 'required' && /"(file|object|oldFile|oldObject)"/.test(message))) continue;
      if (!seen.has(line)) lines.push(line);
      seen.add(line);
    }
    throw new InputError(lines.join('\n'));
  }
  const document = value as unknown as SuiteDocument;
  const base = dirname(source.file);
  const names = new Map<string, string>();
  const problems: string[] = [];
  const resources: SuiteResource[] = [];
  for (const [index, entry] of document.spec.resources.entries()) {
    const at = where(['spec', 'resources', index]);
    const previous = names.get(entry.name);
    if (previous) problems.push(`${where(['spec', 'resources', index, 'name'])}: duplicate resource name "${entry.name}" (first at ${previous})`);
    names.set(entry.name, at);
    const operation = entry.operation ?? 'CREATE';
    try {
      const object = entry.file ? await readObjectFile(resolve(base, entry.file)) : (entry.object ?? null);
      const oldObject = entry.oldFile ? await readObjectFile(resolve(base, entry.oldFile)) : (entry.oldObject ?? null);
      if ((operation === 'UPDATE' || operation === 'DELETE') && oldObject === null) {
        problems.push(`${at}: operation ${operation} needs oldFile or oldObject (the object as stored in the cluster)`);
        continue;
      }
      const refused = [...refusedByApiserver(object, 'object'), ...refusedByApiserver(oldObject, 'oldObject')];
      if (refused.length > 0) {
        problems.push(...refused.map((message) => `${at}: resource "${entry.name}": ${message}`));
        continue;
      }
      const resource: SuiteResource = { name: entry.name, where: at, object: operation === 'DELETE' ? null : object, oldObject: operation === 'CREATE' ? null : oldObject, operation, expect: entry.expect };
      if (entry.namespace !== undefined) resource.namespace = entry.namespace;
      if (entry.user !== undefined) resource.user = entry.user;
      if (entry.groups !== undefined) resource.groups = entry.groups;
      resources.push(resource);
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      problems.push(`${at}: resource "${entry.name}": ${error.message}`);
    }
  }
  let nodes: JsonObject[] | null = null;
  if (document.spec.nodes !== undefined) {
    try {
      nodes = await readNodeFiles([resolve(base, document.spec.nodes)], () => Promise.reject(new InputError('stdin is not allowed here')));
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      problems.push(`${where(['spec', 'nodes'])}: ${error.message}`);
    }
  }
  if (problems.length > 0) throw new InputError(problems.join('\n'));
  const namespaces: Record<string, Record<string, string>> = {};
  for (const [name, namespace] of Object.entries(document.spec.namespaces ?? {})) namespaces[name] = namespace.labels ?? {};
  return {
    name: document.metadata.name,
    file: source.file,
    line: source.positionOf([]).line,
    policies: (document.spec.policies ?? []).map((p) => resolve(base, p)),
    namespaces,
    nodes,
    resources,
  };
}

/** Finds every PolicyTest document under the paths (other documents, such as policies, are ignored). */
export async function findSuites(paths: readonly string[]): Promise<PolicyTestSuite[]> {
  const documents = await readManifestSources(paths, () => Promise.reject(new InputError('verify does not read stdin')));
  const suites: PolicyTestSuite[] = [];
  const problems: string[] = [];
  for (const source of documents) {
    if (!isPolicyTestDocument(source.value)) continue;
    try {
      suites.push(await loadSuite(source));
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      problems.push(error.message);
    }
  }
  if (problems.length > 0) throw new InputError(problems.join('\n'));
  return suites;
}
