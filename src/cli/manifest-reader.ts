// Reading the manifest files `daemonguard test` reviews (and `review` and `verify` read): files, folders
// (recursively), `-` for stdin, several documents per file and `List` objects, each DaemonSet
// remembered with its file and line.
import { formatFieldError, validateDaemonSet, type FieldPath } from '../apiserver/daemonset-validation.js';
import { unservedDaemonSetVersion } from '../apiserver/served-versions.js';
import { isJsonObject, type JsonObject } from '../common/vocabulary.js';
import { SourceReadError, listManifestFiles, parseSourceText, readSourceFiles, readSourceFilesSettled, type SourceDocument } from '../common/yaml-documents.js';
import { InputError } from './exit-codes.js';

export const STDIN_PATH = '-';
export const STDIN_NAME = '<stdin>';

export interface ManifestDocument {
  /** The file as given or found ("<stdin>" for `-`). */
  file: string;
  /** 1-based line of the object (of the List item, for Lists). */
  line: number;
  object: JsonObject;
}

/** A document that cannot be reviewed and must be fixed, at its file and line. */
export interface ManifestProblem {
  file: string;
  /** 1-based; 0 when the whole file is meant (it cannot be read). */
  line: number;
  /** Where the reader's own errors point (YAML syntax, a tag); absent for problems of a whole object. */
  column?: number;
  message: string;
}

export interface ManifestScan {
  daemonSets: ManifestDocument[];
  /** Documents that are not DaemonSets (empty documents are not counted). */
  skipped: number;
  /**
   * DaemonSets no cluster would accept as they are: an apiVersion no longer served, or an apps/v1
   * object the apiserver's validation refuses (one problem per field error, at that field's line).
   */
  problems: ManifestProblem[];
}

export function formatProblem(problem: ManifestProblem, path: (file: string) => string = (file) => file): string {
  if (problem.line <= 0) return `${path(problem.file)}: ${problem.message}`;
  return `${path(problem.file)}:${problem.line}${problem.column === undefined ? '' : `:${problem.column}`}: ${problem.message}`;
}

export function isDaemonSet(value: unknown): value is JsonObject {
  return isJsonObject(value) && value.apiVersion === 'apps/v1' && value.kind === 'DaemonSet';
}

/** kind: List (kubectl get -o yaml) or any *List with items (DaemonSetList, …). */
function isList(value: unknown): value is JsonObject & { items: unknown[] } {
  return isJsonObject(value) && typeof value.kind === 'string' && value.kind.endsWith('List') && Array.isArray(value.items);
}

export function sourceReadMessage(error: SourceReadError): string {
  return error.problems.map((p) => (p.line > 0 ? `${p.file}:${p.line}:${p.column}: ${p.message}` : `${p.file}: ${p.message}`)).join('\n');
}

/** Reads documents from files and folders, or from stdin for `-`; throws InputError naming file:line. */
export async function readManifestSources(paths: readonly string[], readStdin: () => Promise<string>): Promise<SourceDocument[]> {
  const documents: SourceDocument[] = [];
  try {
    for (const path of paths) {
      if (path === STDIN_PATH) {
        documents.push(...parseSourceText(STDIN_NAME, await readStdin()));
        continue;
      }
      for (const fileDocuments of await readSourceFiles(await listManifestFiles([path]))) documents.push(...fileDocuments);
    }
  } catch (error) {
    if (error instanceof SourceReadError) throw new InputError(sourceReadMessage(error));
    throw error;
  }
  return documents;
}

/** The reader's refusals as problems of the files they name. */
function problemsOf(error: unknown): ManifestProblem[] {
  if (!(error instanceof SourceReadError)) throw error;
  return error.problems.map(({ file, line, column, message }) => (line > 0 ? { file, line, column, message } : { file, line: 0, message }));
}

/**
 * Reads as readManifestSources does, except that a path or file that cannot be read or parsed is a
 * problem of its own and every other file is still read: `test` reports such files as errors in each
 * output format (JUnit and SARIF included, where a CI dashboard shows them) and reviews the rest.
 */
export async function readManifestSourcesWithProblems(paths: readonly string[], readStdin: () => Promise<string>): Promise<{ documents: SourceDocument[]; problems: ManifestProblem[] }> {
  const documents: SourceDocument[] = [];
  const problems: ManifestProblem[] = [];
  for (const path of paths) {
    try {
      if (path === STDIN_PATH) {
        documents.push(...parseSourceText(STDIN_NAME, await readStdin()));
        continue;
      }
      for (const read of await readSourceFilesSettled(await listManifestFiles([path]))) {
        if (read instanceof SourceReadError) problems.push(...problemsOf(read));
        else documents.push(...read);
      }
    } catch (error) {
      problems.push(...problemsOf(error));
    }
  }
  return { documents, problems };
}

function nameOf(object: JsonObject): string {
  const metadata = object.metadata;
  return isJsonObject(metadata) && typeof metadata.name === 'string' ? ` "${metadata.name}"` : '';
}

/**
 * Why the kube-apiserver would refuse this apps/v1 DaemonSet (daemonset-validation.ts), one message
 * per field error, naming the DaemonSet: `DaemonSet "x": the kube-apiserver would reject this: <error>`.
 */
export function apiserverRejections(daemonSet: JsonObject): { path: FieldPath; message: string }[] {
  return validateDaemonSet(daemonSet).map((error) => ({ path: error.path, message: `DaemonSet${nameOf(daemonSet)}: the kube-apiserver would reject this: ${formatFieldError(error)}` }));
}

/** Picks the valid apps/v1 DaemonSets out of the documents, expanding Lists; reports legacy and invalid DaemonSets, counts the rest. */
export function collectDaemonSets(documents: readonly SourceDocument[]): ManifestScan {
  const daemonSets: ManifestDocument[] = [];
  const problems: ManifestProblem[] = [];
  let skipped = 0;
  const visit = (value: unknown, source: SourceDocument, path: (string | number)[]): void => {
    if (isList(value)) {
      value.items.forEach((item, index) => visit(item, source, [...path, 'items', index]));
      return;
    }
    const line = (): number => source.positionOf(path).line;
    if (isDaemonSet(value)) {
      const refused = apiserverRejections(value);
      if (refused.length === 0) daemonSets.push({ file: source.file, line: line(), object: value });
      // Each at the line of its field, or of the nearest part of it the file has (no selector: spec).
      for (const { path: field, message } of refused) problems.push({ file: source.file, line: source.positionOf([...path, ...field]).line, message });
      return;
    }
    const unserved = isJsonObject(value) && value.kind === 'DaemonSet' ? unservedDaemonSetVersion(value.apiVersion) : undefined;
    if (unserved !== undefined) problems.push({ file: source.file, line: line(), message: `DaemonSet${nameOf(value as JsonObject)}: ${unserved}` });
    else skipped++;
  };
  for (const source of documents) {
    if (source.value === null) continue;
    visit(source.value, source, []);
  }
  return { daemonSets, skipped, problems };
}

export async function readStream(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}
