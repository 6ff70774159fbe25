// Reads YAML/JSON files into documents that remember where each value came from, so that every
// later error (schema, CEL, duplicate names) can name file:line:column.
import type { Dirent } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import { LineCounter, isMap, isNode, isScalar, parseAllDocuments, type Document } from 'yaml';

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
  const results = new Array<SourceDocument[]>(files.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const index = next++;
      results[index] = await readSourceFile(files[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, files.length) }, worker));
  return results;
}

const YAML_OPTIONS = { prettyErrors: false, uniqueKeys: true, strict: true } as const;
/** Aliases are expanded by toJS; a bound keeps a "billion laughs" document from exhausting memory. */
const MAX_ALIAS_COUNT = 100;

/** The parser's message, except that running out of stack is said for what it is. */
function describeYamlError(message: string): string {
  if (/Maximum call stack size exceeded/.test(message)) {
    return 'the document is nested too deeply to read';
  }
  return `YAML syntax error: ${message.split('\n')[0]}`;
}

/** Parses YAML or JSON text (several documents allowed) into SourceDocuments; throws SourceReadError. */
export function parseSourceText(file: string, text: string): SourceDocument[] {
  const lineCounter = new LineCounter();
  const parsed = parseAllDocuments(text, { ...YAML_OPTIONS, lineCounter });
  const docs: Document[] = Array.isArray(parsed) ? parsed : [];
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

export async function readSourceFile(file: string): Promise<SourceDocument[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
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
