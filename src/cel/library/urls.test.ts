import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { errorOf, evaluate } from '../../../test/support/evaluate-cel.js';

describe('URL library', () => {
  it('accepts absolute URIs and absolute paths only', () => {
    assert.equal(evaluate("isURL('https://user:pass@example.com:80/path?query=val#fragment')"), true);
    assert.equal(evaluate("isURL('/absolute-path')"), true);
    assert.equal(evaluate("isURL('mailto:a@b.com')"), true);
    assert.equal(evaluate("isURL('https://a:b:c/')"), false);
    assert.equal(evaluate("isURL('../relative-path')"), false);
    assert.equal(evaluate("isURL('example.com')"), false);
    assert.equal(evaluate("isURL('')"), false);
    assert.equal(evaluate("isURL('https://exa mple.com/')"), false);
    assert.equal(evaluate("isURL('https://example.com/%zz')"), false);
    assert.equal(evaluate("isURL('https://[127.0.0.1]/')"), false);
    assert.equal(evaluate("isURL('https://example.com:8a/')"), false);
    assert.match(errorOf(() => evaluate("url('../relative-path')")), /URL parse error during conversion from string/);
    assert.match(errorOf(() => evaluate("url('https://a:b:c/')")), /invalid port/);
  });

  it('exposes the components as Go net/url computes them', () => {
    assert.equal(evaluate("url('/path').getScheme()"), '');
    assert.equal(evaluate("url('HTTPS://Example.com/').getScheme()"), 'https');
    assert.equal(evaluate("url('https://example.com:80/').getHost()"), 'example.com:80');
    assert.equal(evaluate("url('https://[::1]:80/').getHost()"), '[::1]:80');
    assert.equal(evaluate("url('/path').getHost()"), '');
    assert.equal(evaluate("url('https://example.com:80/').getHostname()"), 'example.com');
    assert.equal(evaluate("url('https://[::1]:80/').getHostname()"), '::1');
    assert.equal(evaluate("url('https://example.com:80/').getPort()"), '80');
    assert.equal(evaluate("url('https://example.com/').getPort()"), '');
    assert.equal(evaluate("url('https://example.com/path').getEscapedPath()"), '/path');
    assert.equal(evaluate("url('https://example.com/path with spaces/').getEscapedPath()"), '/path%20with%20spaces/');
    assert.equal(evaluate("url('https://example.com/A%2fB').getEscapedPath()"), '/A%2fB');
    assert.equal(evaluate("url('https://example.com').getEscapedPath()"), '');
  });

  it('getQuery returns every value of every key, unescaped', () => {
    assert.deepEqual({ ...(evaluate("url('https://example.com/path?k1=a&k2=b&k2=c').getQuery()") as object) }, { k1: ['a'], k2: ['b', 'c'] });
    assert.deepEqual(
      { ...(evaluate("url('https://example.com/path?key with spaces=value with spaces').getQuery()") as object) },
      { 'key with spaces': ['value with spaces'] },
    );
    assert.deepEqual({ ...(evaluate("url('https://example.com/path?').getQuery()") as object) }, {});
    // Pairs with semicolons or bad escapes are dropped, as url.Values drops them.
    assert.deepEqual({ ...(evaluate("url('https://x.com/?a=1;b=2&c=%zz&d=%41+x&&e').getQuery()") as object) }, { d: ['A x'], e: [''] });
    assert.equal(evaluate("url('https://example.com/path?k1=a').getQuery()['k1'][0]"), 'a');
  });

  it('compares URLs by their string form', () => {
    assert.equal(evaluate("url('https://example.com/p') == url('https://example.com/p')"), true);
    assert.equal(evaluate("url('https://example.com/p') == url('https://example.com/q')"), false);
  });
});
