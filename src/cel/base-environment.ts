// The CEL environment every daemonguard expression starts from: cel-js with optional types, mixed
// aggregate literals, structural parse limits, metered comprehensions and the Kubernetes CEL
// libraries (lists, regex on RE2, strings, quantity, URL, IP/CIDR). It declares no variables: callers
// clone it and declare `object`, `params`, ... on the clone.
//
// Building the environment registers a few hundred overloads; it is done once per process into a
// parent that cel-js then freezes, and each call returns a cheap clone of that parent.
import { Environment, type EnvironmentOptions } from '@marcbachmann/cel-js';
import { registerAllocationCosts } from './library/allocations.js';
import { registerMeteredComprehensions } from './library/comprehensions.js';
import { registerIpLibrary } from './library/ip.js';
import { registerListsLibrary } from './library/lists.js';
import { registerQuantityLibrary } from './library/quantity.js';
import { registerRegexLibrary } from './library/regex.js';
import { registerStandardFixes } from './library/standard.js';
import { registerStringsLibrary } from './library/strings.js';
import { registerUrlsLibrary } from './library/urls.js';
import { readOverloads } from './overloads.js';

/**
 * Parse-time limits. A policy expression is a few hundred characters; these bound what a hostile or
 * generated one can make the parser and type checker do, while leaving room for real policies
 * (the conformance suite's nesting tests all fit; the CEL spec asks implementations for at least 12).
 */
export const MAX_AST_NODES = 10_000;
export const MAX_NESTING_DEPTH = 64;
export const MAX_LIST_LITERAL_ELEMENTS = 1_000;
export const MAX_MAP_LITERAL_ENTRIES = 1_000;
export const MAX_CALL_ARGUMENTS = 32;

export const CEL_PARSE_LIMITS = Object.freeze({
  maxAstNodes: MAX_AST_NODES,
  maxDepth: MAX_NESTING_DEPTH,
  maxListElements: MAX_LIST_LITERAL_ELEMENTS,
  maxMapEntries: MAX_MAP_LITERAL_ENTRIES,
  maxCallArguments: MAX_CALL_ARGUMENTS,
});

export const BASE_ENVIRONMENT_OPTIONS: Readonly<EnvironmentOptions> = Object.freeze({
  enableOptionalTypes: true,
  homogeneousAggregateLiterals: false,
  unlistedVariablesAreDyn: false,
  limits: CEL_PARSE_LIMITS,
});

function buildBaseEnvironment(): Environment {
  const env = new Environment(BASE_ENVIRONMENT_OPTIONS);
  // First: it registers functions (giving env its own overload table) and captures the registry
  // that the libraries need to replace cel-js built-ins.
  const registry = registerMeteredComprehensions(env);
  registerStandardFixes(env, registry);
  registerAllocationCosts(env, registry);
  registerStringsLibrary(env, registry);
  registerRegexLibrary(env, registry);
  registerListsLibrary(env);
  registerQuantityLibrary(env);
  registerIpLibrary(env);
  registerUrlsLibrary(env);
  // The compiler resolves calls from this table (overloads.ts), read once the overloads are final.
  readOverloads(env, registry);
  return env;
}

let parent: Environment | undefined;

/**
 * A fresh environment with the libraries and no variables. The first call builds (and freezes) the
 * shared parent; later calls cost one clone.
 */
export function newBaseEnvironment(): Environment {
  parent ??= buildBaseEnvironment();
  return parent.clone();
}
