import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_REGEX_LENGTH, REGEX_CACHE_SIZE, compileRegex, regexCacheSize } from './regex.js';
import { errorOf, evaluate } from '../../../test/support/evaluate-cel.js';
import { measureCost } from '../cost.js';

describe('regex library (RE2)', () => {
  it('matches, as a method and as a global function, searches unanchored', () => {
    assert.equal(evaluate("'hello'.matches('h.*o')"), true);
    assert.equal(evaluate("'hello'.matches('^ell')"), false);
    assert.equal(evaluate("matches('abc', 'b')"), true);
    assert.equal(evaluate("'a\\nb'.matches('^b$')"), false);
    assert.equal(evaluate("'a\\nb'.matches('(?m)^b$')"), true);
    assert.equal(evaluate("'x'.matches('^\\\\pL$')"), true);
    assert.equal(evaluate("'😀'.matches('^.$')"), true);
  });

  it('refuses syntax RE2 does not have', () => {
    assert.match(errorOf(() => evaluate("'abc'.matches('(?=a)')")), /invalid regular expression.*unsupported Perl syntax/);
    assert.match(errorOf(() => evaluate("'aa'.matches('(a)\\\\1')")), /invalid escape sequence/);
    assert.match(errorOf(() => evaluate("'ab'.matches('(?<=a)b')")), /invalid/);
    assert.match(errorOf(() => evaluate("'a'.matches('a{1001}')")), /invalid repeat count/);
    assert.match(errorOf(() => evaluate("'a'.find('(a')")), /missing closing \)/);
  });

  it('find returns the first match or an empty string', () => {
    assert.equal(evaluate("'abc 123'.find('[0-9]+')"), '123');
    assert.equal(evaluate("'abc 123'.find('xyz')"), '');
    // An empty match at the start is still the first match (Go's FindString).
    assert.equal(evaluate("'abc 123'.find('[0-9]*')"), '');
  });

  it('findAll follows Go FindAllString, with an optional limit', () => {
    assert.deepEqual(evaluate("'123 abc 456'.findAll('[0-9]+')"), ['123', '456']);
    assert.deepEqual(evaluate("'123 abc 456'.findAll('[0-9]*')"), ['123', '', '', '', '', '456']);
    assert.deepEqual(evaluate("'123 abc 456'.findAll('[0-9]+', 1)"), ['123']);
    assert.deepEqual(evaluate("'123 abc 456'.findAll('[0-9]+', 0)"), []);
    assert.deepEqual(evaluate("'123 abc 456'.findAll('[0-9]+', -1)"), ['123', '456']);
    assert.deepEqual(evaluate("'123 abc 456'.findAll('xyz')"), []);
    assert.deepEqual(evaluate("'日本'.findAll('.')"), ['日', '本']);
  });

  it('runs in linear time on patterns that make backtracking engines explode', () => {
    const started = performance.now();
    assert.equal(evaluate(`'${'a'.repeat(5000)}!'.matches('^(a+)+$')`), false);
    assert.ok(performance.now() - started < 2000);
  });

  it('refuses patterns longer than the limit, and does not cache long ones', () => {
    // Patterns may come from the object under review: compiling a long one costs seconds and megabytes.
    const started = performance.now();
    assert.match(errorOf(() => compileRegex('(a|b)*c'.repeat(30_000))), /210000 characters refused: the limit is 8192/);
    assert.ok(performance.now() - started < 100);
    const before = regexCacheSize();
    const long = `^${'x'.repeat(MAX_REGEX_LENGTH - 10)}$`;
    assert.notEqual(compileRegex(long), compileRegex(long));
    assert.equal(regexCacheSize(), before);
  });

  it('keeps a bounded cache of compiled patterns', () => {
    const re = compileRegex('^cache-[a-z]+$');
    assert.equal(compileRegex('^cache-[a-z]+$'), re);
    for (let i = 0; i < REGEX_CACHE_SIZE + 50; i++) compileRegex(`^fill-${i}$`);
    assert.ok(regexCacheSize() <= REGEX_CACHE_SIZE);
  });

  it('keeps the patterns in use and evicts the ones no longer used', () => {
    // A policy's pattern, hit on every review, outlives a stream of patterns from objects.
    const kept = compileRegex('^kept-[a-z]+$');
    const dropped = compileRegex('^dropped-[a-z]+$');
    for (let i = 0; i < 3 * REGEX_CACHE_SIZE; i++) {
      compileRegex(`^stream-${i}$`);
      assert.equal(compileRegex('^kept-[a-z]+$'), kept);
    }
    assert.ok(regexCacheSize() <= REGEX_CACHE_SIZE);
    assert.notEqual(compileRegex('^dropped-[a-z]+$'), dropped);
    // An invalid pattern is cached as its error, and says so on every call.
    for (let i = 0; i < 2; i++) assert.match(errorOf(() => compileRegex('(a')), /invalid regular expression "\(a"/);
  });

  it('costs the same whether the pattern was compiled before or not, so a review costs the same in a fresh CLI and a warm webhook', () => {
    // A pattern no other test uses: the first evaluation compiles it, the second finds it cached.
    const expression = "'node-exporter-v1'.matches('^node-[a-z]+-v[0-9]+$')";
    const first = measureCost(1_000_000, () => evaluate(expression));
    const second = measureCost(1_000_000, () => evaluate(expression));
    assert.equal(first.value, true);
    assert.equal(second.value, true);
    assert.equal(second.cost, first.cost);
    // Kubernetes' price, whether compiled now or before: ceil((1 + 16) * 0.1) * ceil(21 * 0.25) = 2 * 6.
    assert.equal(first.cost, 12);
    // Each use pays the same again: cel-go prices the call, not the compilation.
    const twice = measureCost(1_000_000, () => evaluate("'node-exporter-v1'.matches('^node-[a-z]+-v[0-9]+$') && 'node-exporter-v2'.matches('^node-[a-z]+-v[0-9]+$')"));
    assert.equal(twice.value, true);
    assert.equal(twice.cost, 2 * first.cost);
  });
});
