// Reads YAML/JSON files into documents that remember where each value came from, so that every
// later error (schema, CEL, duplicate names) can name file:line:column.
import { readFile, type Dirent } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import jsYaml from 'js-yaml';
import type * as Yaml from 'yaml';
import { yamlPackageOnDemand } from './yaml-package.js';

export const MANIFEST_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

/** A position in a source file, 1-based like editors and compilers print it. */
export interface Position {
  line: number;
  column: number;
}

export type FieldPath = readonly (string | number)[];

export interface SourceDocument {
  file: string;
  /** 0-based index of the document in its file. */
  index: number;
  /** The document as plain JSON data (null for an empty document). */
  value: unknown;
  /** Position of the value at `path`; for a missing path, of its nearest existing ancestor. */
  positionOf(path: FieldPath): Position;
  /** Position of the key of the entry at `path` (for "unknown field" errors); falls back to positionOf. */
  keyPositionOf(path: FieldPath): Position;
  /**
   * Position of character `offset` of the string scalar at `path` (a CEL expression), so an error
   * points at the exact column. Exact for plain, quoted and literal (`|`) scalars; for folded (`>`)
   * scalars, whose line breaks YAML rewrites, it points at the first line of the value.
   */
  positionInString(path: FieldPath, offset: number): Position;
}

export interface SourceProblem {
  file: string;
  line: number;
  column: number;
  message: string;
}

export class SourceReadError extends Error {
  constructor(readonly problems: SourceProblem[]) {
    super(problems.map((p) => `${p.file}:${p.line}:${p.column}: ${p.message}`).join('\n'));
    this.name = 'SourceReadError';
  }
}

/** Expands files and folders (recursively) into the manifest files below them, in a stable order. */
export async function listManifestFiles(paths: readonly string[]): Promise<string[]> {
  const problems: SourceProblem[] = [];
  // Entries of a folder are walked concurrently (a CI checkout may hold thousands of manifests);
  // each walk returns its files in sorted order, so the result stays stable.
  const walk = async (path: string, explicit: boolean, known?: Dirent): Promise<string[]> => {
    let isDirectory: boolean;
    if (known && !known.isSymbolicLink()) {
      isDirectory = known.isDirectory();
    } else {
      try {
        isDirectory = (await stat(path)).isDirectory();
      } catch (error) {
        problems.push({ file: path, line: 0, column: 0, message: `cannot read: ${(error as Error).message}` });
        return [];
      }
    }
    if (!isDirectory) return explicit || MANIFEST_EXTENSIONS.has(extname(path).toLowerCase()) ? [path] : [];
    const entries = (await readdir(path, { withFileTypes: true }))
      // ..data symlink farms of mounted ConfigMaps, editor files
      .filter((entry) => !entry.name.startsWith('.'))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const nested = await Promise.all(entries.map((entry) => walk(join(path, entry.name), false, entry)));
    return nested.flat();
  };
  const files: string[] = [];
  for (const path of paths) files.push(...(await walk(resolve(path), true)));
  if (problems.length > 0) throw new SourceReadError(problems);
  return files;
}

/** Reads many files concurrently (bounded, so a huge folder does not open thousands of files at once). */
export async function readSourceFiles(files: readonly string[], concurrency = 32): Promise<SourceDocument[][]> {
  const results = await readSourceFilesSettled(files, concurrency);
  const failed = results.find((result) => result instanceof SourceReadError);
  if (failed !== undefined) throw failed;
  return results as SourceDocument[][];
}

/** Like readSourceFiles, but each file's SourceReadError takes its place in the result instead of ending the read. */
export async function readSourceFilesSettled(files: readonly string[], concurrency = 32): Promise<(SourceDocument[] | SourceReadError)[]> {
  const results = new Array<SourceDocument[] | SourceReadError>(files.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const index = next++;
      try {
        results[index] = await readSourceFile(files[index]!);
      } catch (error) {
        if (!(error instanceof SourceReadError)) throw error;
        results[index] = error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, files.length) }, worker));
  return results;
}

// resolveKnownTags: false keeps YAML 1.1's !!binary, !!set, !!timestamp and !!omap unresolved, so they
// are refused below with the unknown tags rather than turned into a Buffer, Set or Date that no JSON
// schema, CEL value or Kubernetes object can hold.
const YAML_OPTIONS = { prettyErrors: false, uniqueKeys: true, strict: true, resolveKnownTags: false } as const;
/** Aliases are expanded by toJS; a bound keeps a "billion laughs" document from exhausting memory. */
const MAX_ALIAS_COUNT = 100;

/** The parser's message, except that running out of stack is said for what it is. */
function describeYamlError(message: string): string {
  if (/Maximum call stack size exceeded/.test(message)) {
    return 'the document is nested too deeply to read';
  }
  return `YAML syntax error: ${message.split('\n')[0]}`;
}

/** The tags JSON data can carry, the only ones a Kubernetes object or a policy may use. */
const JSON_TAGS = '!!str, !!int, !!float, !!bool, !!null, !!map, !!seq';

/**
 * Without this, the parser would read a value under a tag it does not know (`!!js/function`, `!foo`)
 * as a plain string, silently: a document would mean something other than what its author wrote.
 */
function describeUnknownTag(tag: string): string {
  if (tag === '!!binary') {
    return 'the tag !!binary is not supported: write binary data as a plain base64 string, as Kubernetes objects carry it, and remove the tag';
  }
  return `unknown YAML tag ${tag}: only the tags of JSON data (${JSON_TAGS}) are accepted; remove the tag`;
}

/**
 * Parses YAML or JSON text (several documents allowed) into SourceDocuments; throws SourceReadError.
 *
 * Positions cost: the position-keeping parser takes about 340 µs for a 1 KB manifest, which was a
 * quarter of `daemonguard test` on a thousand files. So a plain parse (js-yaml, YAML 1.2 core
 * schema, like the `yaml` package's default) runs first, and the position-keeping parse runs only
 * for a file whose positions are asked for beyond a document's start, or whose text the plain
 * parse refuses (so every error still comes from one parser, with its exact position).
 */
export function parseSourceText(file: string, text: string): SourceDocument[] {
  return parseWithoutPositions(file, text) ?? parseWithPositions(file, text);
}

/**
 * A YAML alias: left to the position-keeping parser, which bounds alias expansion. Anchors alone are
 * read alike by both parsers, and `&&` is in most CEL files: a file is left to the slow parser only
 * for what looks like an alias (a false alarm, such as `*emphasis*` in a comment, costs only time).
 */
const ALIAS = /(^|[\s[{,])[*][^\s,\]}]/m;
const DOCUMENT_MARKER = /^---(?=\s|$)/;
const DOCUMENT_END = /^\.\.\.(?=\s|$)/;

/**
 * Where each document's content starts, as the position-keeping parser reports it: the first
 * content after a `---` marker (on its line or a later one), skipping blank lines, comments and
 * directives. A document marker always stands at column 1, even after a block scalar.
 */
function documentStarts(text: string): (Position | undefined)[] {
  const starts: (Position | undefined)[] = [];
  let open = false; // a document has begun (by a marker or by content)
  let current: Position | undefined;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, '');
    if (DOCUMENT_MARKER.test(line)) {
      if (open) starts.push(current);
      open = true;
      current = undefined;
      const rest = /^---\s+(\S)/.exec(line);
      if (rest && !line.slice(3).trimStart().startsWith('#')) current = { line: i + 1, column: line.indexOf(rest[1]!, 3) + 1 };
      continue;
    }
    if (DOCUMENT_END.test(line)) {
      if (open) starts.push(current);
      open = false;
      current = undefined;
      continue;
    }
    const content = /^(\s*)([^\s#%])/.exec(line);
    if (!content || (line.startsWith('%') && !open)) continue;
    if (!open) open = true;
    current ??= { line: i + 1, column: content[1]!.length + 1 };
  }
  if (open) starts.push(current);
  return starts;
}

function parseWithoutPositions(file: string, text: string): SourceDocument[] | undefined {
  if (ALIAS.test(text)) return undefined;
  let values: unknown[];
  try {
    values = jsYaml.loadAll(text, undefined, { schema: jsYaml.CORE_SCHEMA });
  } catch {
    return undefined;
  }
  const starts = documentStarts(text);
  if (starts.length !== values.length) return undefined;
  let precise: SourceDocument[] | undefined;
  const preciseDocument = (index: number): SourceDocument => (precise ??= parseWithPositions(file, text))[index]!;
  return values.map((value, index) => ({
    file,
    index,
    value: value ?? null,
    positionOf: (path) => (path.length === 0 && starts[index] ? starts[index] : preciseDocument(index).positionOf(path)),
    keyPositionOf: (path) => preciseDocument(index).keyPositionOf(path),
    positionInString: (path, offset) => preciseDocument(index).positionInString(path, offset),
  }));
}

export function parseWithPositions(file: string, text: string): SourceDocument[] {
  const { LineCounter, isMap, isNode, isScalar, parseAllDocuments } = yamlPackageOnDemand();
  const lineCounter = new LineCounter();
  const parsed = parseAllDocuments(text, { ...YAML_OPTIONS, lineCounter });
  const docs: Yaml.Document[] = Array.isArray(parsed) ? parsed : [];
  const problems: SourceProblem[] = [];
  const position = (offset: number): Position => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  for (const doc of docs) {
    for (const error of doc.errors) {
      const { line, column } = position(error.pos[0]);
      problems.push({ file, line, column, message: describeYamlError(error.message) });
    }
    for (const warning of doc.warnings) {
      if (warning.code !== 'TAG_RESOLVE_FAILED') continue;
      const { line, column } = position(warning.pos[0]);
      problems.push({ file, line, column, message: describeUnknownTag(text.slice(warning.pos[0], warning.pos[1])) });
    }
  }
  if (problems.length > 0) throw new SourceReadError(problems);

  return docs.map((doc, index) => {
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (error) {
      const { line, column } = position(doc.range?.[0] ?? 0);
      throw new SourceReadError([{ file, line, column, message: describeYamlError((error as Error).message) }]);
    }
    const nodeAt = (path: FieldPath): { offset: number; keyOffset?: number; node?: unknown } => {
      let node: unknown = doc.contents;
      let offset = doc.contents && isNode(doc.contents) ? (doc.contents.range?.[0] ?? 0) : (doc.range?.[0] ?? 0);
      let keyOffset: number | undefined;
      for (const segment of path) {
        if (isMap(node)) {
          const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(segment));
          if (!pair) return { offset, keyOffset };
          keyOffset = isNode(pair.key) ? pair.key.range?.[0] : undefined;
          node = pair.value;
        } else if (node && typeof node === 'object' && 'items' in node && typeof segment === 'number') {
          node = (node as { items: unknown[] }).items[segment];
          keyOffset = undefined;
        } else {
          return { offset, keyOffset };
        }
        if (isNode(node) && node.range) offset = node.range[0];
        else if (keyOffset !== undefined) offset = keyOffset;
      }
      return { offset, keyOffset, node };
    };
    const positionInString = (path: FieldPath, charOffset: number): Position => {
      const found = nodeAt(path);
      const start = position(found.offset);
      if (!isScalar(found.node) || typeof found.node.value !== 'string') return start;
      const value = found.node.value;
      const before = value.slice(0, charOffset);
      switch (found.node.type) {
        case 'PLAIN':
          return value.includes('\n') ? start : { line: start.line, column: start.column + charOffset };
        case 'QUOTE_SINGLE':
        case 'QUOTE_DOUBLE':
          return value.includes('\n') ? start : { line: start.line, column: start.column + 1 + charOffset };
        case 'BLOCK_LITERAL': {
          // Content starts on the line after the indicator, at the block's indentation.
          const lines = text.split('\n');
          const firstContentLine = start.line + 1;
          const indent = /^ */.exec(lines[firstContentLine - 1] ?? '')?.[0].length ?? 0;
          const lineInValue = before.split('\n').length - 1;
          const column = charOffset - (before.lastIndexOf('\n') + 1);
          return { line: firstContentLine + lineInValue, column: indent + column + 1 };
        }
        default:
          return { line: start.line + 1, column: start.column };
      }
    };
    return {
      file,
      index,
      value: value ?? null,
      positionOf: (path) => position(nodeAt(path).offset),
      keyPositionOf: (path) => {
        const found = nodeAt(path);
        return position(found.keyOffset ?? found.offset);
      },
      positionInString,
    };
  });
}

/** A bound on a file's size, checked before it is read. */
export interface FileSizeLimit {
  maxBytes: number;
  /** What the files are, for the message: "policy files". */
  what: string;
}

/**
 * Made on the first message that needs it: constructing an Intl formatter loads ICU's locale data,
 * about 10 MB of resident memory that `serve` would otherwise hold for a message it may never write.
 */
let bytesFormat: Intl.NumberFormat | undefined;

function describeSize(bytes: number): string {
  const mib = bytes / (1024 * 1024);
  const rounded = Number.isInteger(mib) ? `${mib} MiB` : mib >= 1 ? `${mib.toFixed(mib >= 10 ? 1 : 2)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`;
  bytesFormat ??= new Intl.NumberFormat('en-US');
  return `${rounded} (${bytesFormat.format(bytes)} bytes)`;
}

/**
 * A file's text through node's callback API: it takes a third of the CPU the promise API's FileHandle
 * takes per file (measured reading 1,000 manifests 32 at a time: 41 against 111 ms of wall time, 50
 * against 144 of CPU), and `daemonguard test` reads manifests by the thousand.
 */
function readText(file: string): Promise<string> {
  return new Promise((resolve, reject) => readFile(file, 'utf8', (error, text) => (error ? reject(error) : resolve(text))));
}

/** A file's text, refused unread when it is larger than `limit` (sized on the open file, so it cannot grow in between). */
async function readLimitedText(file: string, limit: FileSizeLimit): Promise<string> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    if (size > limit.maxBytes) {
      throw new SourceReadError([{
        file, line: 0, column: 0,
        message: `the file is ${describeSize(size)}; ${limit.what} may be at most ${describeSize(limit.maxBytes)}: split it into several files`,
      }]);
    }
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

export async function readSourceFile(file: string, limit?: FileSizeLimit): Promise<SourceDocument[]> {
  let text: string;
  try {
    text = limit === undefined ? await readText(file) : await readLimitedText(file, limit);
  } catch (error) {
    if (error instanceof SourceReadError) throw error;
    throw new SourceReadError([{ file, line: 0, column: 0, message: `cannot read: ${(error as Error).message}` }]);
  }
  return parseSourceText(file, text);
}

/** Formats a field path the way kubectl explains fields: spec.validations[0].expression. */
export function formatFieldPath(path: FieldPath): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out === '' ? segment : `.${segment}`;
  }
  return out;
}
