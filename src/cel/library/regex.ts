// Regular expressions on RE2 semantics (linear time, Go's syntax) through re2js:
//   <string>.matches(<string>) <bool> and matches(<string>, <string>) <bool>  (CEL standard; replaces
//                                                      cel-js's, which runs JavaScript's backtracking RegExp)
//   <string>.find(<string>) <string>                 Kubernetes regex library: first match, '' if none
//   <string>.findAll(<string>) <list<string>>        all non-overlapping matches (Go's FindAllString)
//   <string>.findAll(<string>, <int>) <list<string>> at most n matches when n >= 0
// Syntax RE2 refuses (lookaround, backreferences, \Z, repeat counts over 1000...) is an evaluation
// error, never a fallback to another engine. `matches` runs a pattern of one simple kind (anchored,
// ASCII, deterministic: `^[0-9]+%?$`) on a native RegExp, which matches exactly what RE2 matches and
// in linear time too (linear-regex.ts); everything else runs on re2js. Policy patterns are nearly always constants, so
// compiled patterns live in a bounded cache that keeps the recently used ones (CLOCK).
//
// Each call costs what Kubernetes charges for matches, find and findAll: ceil((1 + size(s)) * 0.1) *
// ceil(size(pattern) * 0.25) (call-costs.ts), charged before compiling, whether the pattern was
// cached or not, so that a review's cost depends on the review alone. Compiling has no charge of its
// own (Kubernetes has none); what bounds it is the pattern length limit below, and the deadline: a
// long pattern's call costs at least ceil(length / 4) units, so the meter reads the clock before
// each such call (cost.ts CLOCK_CHECK_UNITS), and a run of long patterns stops at the deadline.
import type { Environment } from '@marcbachmann/cel-js';
import { RE2JS } from 're2js';
import { chargeCost, isCostBudgetArmed } from '../cost.js';
import { shadowBuiltinOverloads, type RegistryLike } from '../cel-js-internals.js';
import { regexCost, regexCostWithPattern, regexPatternUnits } from './call-costs.js';
import { linearNativeRegex } from './linear-regex.js';
import { celError, define, toIndex } from './support.js';

/** How many compiled patterns (or compile errors) the cache keeps. */
export const REGEX_CACHE_SIZE = 512;

/**
 * Patterns can come from the object under review (`name.matches(object.metadata.annotations[...])`),
 * and compiling is neither linear nor interruptible: measured, a 200,000-character pattern took
 * 0.6-3 s to compile and kept 30-110 MB. So patterns have a length limit, and only short patterns
 * (all that policies write) are cached.
 */
export const MAX_REGEX_LENGTH = 8192;
const MAX_CACHED_REGEX_LENGTH = 256;

type Compiled = RE2JS | { error: string };

/** What `matches` runs: the compiled RE2 pattern, or a native RegExp that matches the same strings (linear-regex.ts). */
interface Matcher {
  test(s: string): boolean;
}

/** A cached pattern: `used` is set on a hit and cleared when eviction passes it over (second chance). */
interface CacheEntry {
  readonly compiled: Compiled;
  /** What `matches` runs (undefined when the pattern does not compile). */
  readonly matcher: Matcher | undefined;
  used: boolean;
}

/**
 * Cached patterns in insertion order. A hit only marks its entry used (a policy's patterns are hit on
 * every review: no delete and re-insert per call, which rewrote the Map's table each time); a miss
 * that overflows the cache evicts the oldest entry not used since eviction last passed it, moving
 * the used ones it passes to the end (the CLOCK approximation of least recently used).
 */
const cache = new Map<string, CacheEntry>();

function evictOne(): void {
  // Terminates: each entry passed over loses its mark, so a second round finds one unmarked.
  for (const [pattern, entry] of cache) {
    cache.delete(pattern);
    if (!entry.used) return;
    entry.used = false;
    cache.set(pattern, entry);
  }
}

/** The cache entry of `pattern`, compiled now if it is not cached (a long pattern's entry is not kept). */
function entryOf(pattern: string): CacheEntry {
  const entry = cache.get(pattern);
  if (entry !== undefined) {
    if (!entry.used) entry.used = true;
    return entry;
  }
  if (pattern.length > MAX_REGEX_LENGTH) {
    throw celError(`regular expression of ${pattern.length} characters refused: the limit is ${MAX_REGEX_LENGTH}`);
  }
  let compiled: Compiled;
  try {
    compiled = RE2JS.compile(pattern);
  } catch (error) {
    compiled = { error: error instanceof Error ? error.message : String(error) };
  }
  const matcher = compiled instanceof RE2JS ? (linearNativeRegex(pattern) ?? compiled) : undefined;
  const made = { compiled, matcher, used: false };
  if (pattern.length > MAX_CACHED_REGEX_LENGTH) return made;
  if (cache.size >= REGEX_CACHE_SIZE) evictOne();
  cache.set(pattern, made);
  return made;
}

function refuse(pattern: string, compiled: { error: string }): never {
  const shown = pattern.length > MAX_CACHED_REGEX_LENGTH ? `${JSON.stringify(pattern.slice(0, 80))}…` : JSON.stringify(pattern);
  throw celError(`invalid regular expression ${shown}: ${compiled.error}`);
}

/** Compiles with RE2 syntax, from the cache when possible; throws a CEL error for invalid syntax. */
export function compileRegex(pattern: string): RE2JS {
  const { compiled } = entryOf(pattern);
  if (compiled instanceof RE2JS) return compiled;
  return refuse(pattern, compiled);
}

/** Charges one regex call as Kubernetes does, before the pattern is compiled or run. */
function chargeRegexCall(s: string, pattern: string): void {
  if (isCostBudgetArmed()) chargeCost(regexCost(s, pattern));
}

/** For tests: the number of cached patterns. */
export function regexCacheSize(): number {
  return cache.size;
}

export function matches(s: string, pattern: string): boolean {
  chargeRegexCall(s, pattern);
  const { compiled, matcher } = entryOf(pattern);
  if (matcher === undefined) return refuse(pattern, compiled as { error: string });
  return matcher.test(s);
}

/**
 * `matches` for a pattern known when the policy loads (a string literal, as nearly every policy
 * writes it): compiled once and its factor of the cost worked out once, so that a call charges what
 * `matches` charges and runs the same matcher, without the cache lookup and the pattern's measuring.
 * Undefined for a pattern that does not compile or is too long: calls then go to `matches`, which
 * fails as it always did.
 */
export function literalPatternMatcher(pattern: string): ((s: string) => boolean) | undefined {
  let entry: CacheEntry;
  try {
    entry = entryOf(pattern);
  } catch {
    return undefined;
  }
  const { matcher } = entry;
  if (matcher === undefined) return undefined;
  const patternUnits = regexPatternUnits(pattern);
  return (s) => {
    if (isCostBudgetArmed()) chargeCost(regexCostWithPattern(s, patternUnits));
    return matcher.test(s);
  };
}

export function find(s: string, pattern: string): string {
  chargeRegexCall(s, pattern);
  const re = compileRegex(pattern);
  return re.re2().find(s) as string;
}

export function findAll(s: string, pattern: string, limit: bigint = -1n): string[] {
  chargeRegexCall(s, pattern);
  const re = compileRegex(pattern);
  if (limit === 0n) return [];
  const found = re.re2().findAll(s, limit < 0n ? -1 : toIndex(limit)) as string[] | null;
  return found ?? [];
}

export function registerRegexLibrary(env: Environment, registry: RegistryLike): void {
  shadowBuiltinOverloads(registry, true, 'matches', 1, (d) => d.receiverType?.name === 'string');
  shadowBuiltinOverloads(registry, false, 'matches', 2, (d) => d.argTypes[0]?.name === 'string');
  define(env, 'string.matches(string): bool', matches);
  define(env, 'matches(string, string): bool', matches);
  define(env, 'string.find(string): string', find);
  define(env, 'string.findAll(string): list<string>', (s: string, p: string) => findAll(s, p));
  define(env, 'string.findAll(string, int): list<string>', findAll);
}
