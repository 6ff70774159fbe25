// Which packages compiled ES modules import, read from their text: the package test uses it to prove
// that everything the shipped code imports is declared in `dependencies`, so an install resolves it.
import { readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';

export interface ModuleImport {
  /** The importing file, relative to the folder that was scanned. */
  file: string;
  specifier: string;
}

// `import x from '…'`, `import { a,\n b } from '…'`, `export * from '…'`, `import '…'` (TypeScript
// erases `import type`, so what is left here is loaded at run time).
const STATIC_IMPORT = /(?:^|[\s;])(?:import|export)\s*(?:[\w$*{}\s,]+?\s*from\s*)?(['"])([^'"\n]+)\1/g;
// `import('…')` with a literal: the CLI and the server load heavy modules on demand this way.
const DYNAMIC_IMPORT = /\bimport\s*\(\s*(['"])([^'"\n]+)\1\s*\)/g;

/** The specifiers a module's text imports: statically (loaded with it) and through `import('…')` (loaded when that runs). */
export function importsOf(text: string): { static: string[]; dynamic: string[] } {
  return { static: [...text.matchAll(STATIC_IMPORT)].map((match) => match[2]!), dynamic: [...text.matchAll(DYNAMIC_IMPORT)].map((match) => match[2]!) };
}

/** Every import specifier written as a literal in the `.js` files under `dir`. */
export async function moduleImports(dir: string): Promise<ModuleImport[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const files = entries.filter((entry) => entry.isFile() && entry.name.endsWith('.js')).map((entry) => join(entry.parentPath, entry.name));
  const found: ModuleImport[] = [];
  for (const file of files.sort()) {
    const text = await readFile(file, 'utf8');
    for (const pattern of [STATIC_IMPORT, DYNAMIC_IMPORT]) {
      for (const match of text.matchAll(pattern)) found.push({ file: relative(dir, file), specifier: match[2]! });
    }
  }
  return found;
}

/**
 * The package a bare specifier names (`@scope/name/sub` → `@scope/name`, `name/sub` → `name`);
 * undefined for relative and absolute paths and for `node:` builtins, which no install provides.
 */
export function importedPackage(specifier: string): string | undefined {
  if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('node:')) return undefined;
  const segments = specifier.split('/');
  return specifier.startsWith('@') ? segments.slice(0, 2).join('/') : segments[0];
}

/** Every module node loads with `file` (relative static imports, followed), with the packages each imports. */
export function staticClosure(file: string): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  const visit = (module: string): void => {
    if (seen.has(module)) return;
    const imports = importsOf(readFileSync(module, 'utf8')).static;
    seen.set(module, imports.map(importedPackage).filter((name): name is string => name !== undefined));
    for (const specifier of imports) if (specifier.startsWith('.')) visit(resolve(dirname(module), specifier));
  };
  visit(file);
  return seen;
}
