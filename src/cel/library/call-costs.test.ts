import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CostBudgetExceededError, DEFAULT_COST_BUDGET, measureCost, withCostBudget } from '../cost.js';
import { PolicyScope } from '../policy-scope.js';
import type { CelActivation } from '../program.js';
import { toCelValue } from '../values.js';
import { LIST_LITERAL_COST } from './allocations.js';
import { containsCost, traversalCost } from './call-costs.js';
import { codePointCount, utf8Length } from './string-sizes.js';

// The reference is Kubernetes 1.37's runtime cost of each call: k8s.io/apiserver@v0.37.2
// pkg/cel/library/cost.go (CostEstimator.CallCost, consulted first) and cel-go v0.29.2
// interpreter/runtimecost.go (costCall, for the rest). Every expected number below is worked out by
// hand from the Go rule quoted beside it, in float64 as Go computes it, not read back from the
// implementation. size() is cel-go's actualSize: a string's code points, a list's elements.
// Each expression's cost is that of its calls plus what its nodes cost (node-costs.ts, checked
// against cel-go itself by node-costs.test.ts): READ for each `params.x` (the identifier and the
// selection, 1 each), and 1 for each call Kubernetes prices at 1 (size(), `>`, optional.of()).

function activation(params: unknown): CelActivation {
  return { object: null, oldObject: null, request: null, params: toCelValue(params), variables: null, namespaceObject: null, coverage: null };
}

const PARAMS = {
  s: 'a'.repeat(1_000),
  sub: 'a'.repeat(95),
  s39: 'a'.repeat(39),
  accents: 'é'.repeat(100), // 100 code points, 200 bytes in UTF-8
  faces: '😀'.repeat(50), // 50 code points, 100 UTF-16 units
  face10: '😀'.repeat(10),
  face5: '😀'.repeat(5),
  words: Array.from({ length: 100 }, () => 'word'),
  longWords: Array.from({ length: 10 }, () => 'w'.repeat(25)),
  ints: Array.from({ length: 1_000 }, (_, i) => i),
  names: Array.from({ length: 1_000 }, (_, i) => `name-${i}`),
  quantity: '123456789012345678901234', // 24 characters
  url: 'https://example.com/' + 'p'.repeat(80), // 100 characters
};

/** What reading `params.x` costs: the identifier and the field selection, 1 each. */
const READ = 2;

const scope = new PolicyScope(PARAMS);
const input = activation(PARAMS);

/** The cost of one evaluation on each engine; both must charge the same. */
function cost(expression: string): number {
  const program = scope.compile(expression, 'any');
  assert.equal(program.notCompiled, undefined, `${expression} is compiled`);
  const compiled = measureCost(1e12, () => program.evaluate(input)).cost;
  const interpreted = measureCost(1e12, () => program.interpret(input)).cost;
  assert.equal(compiled, interpreted, `${expression}: the compiled code and the interpreter charge the same`);
  return compiled;
}

describe('call costs: what Kubernetes charges for each call', () => {
  it('contains: ceil(size(s) * 0.1) * ceil(size(sub) * 0.1), in code points', () => {
    // 100 * ceil(9.5) = 100 * 10
    assert.equal(cost('params.s.contains(params.sub)'), 1_000 + 2 * READ);
    // ceil(5) * ceil(1) = 5: 50 code points (100 UTF-16 units would give 10 * 1)
    assert.equal(cost('params.faces.contains(params.face10)'), 5 + 2 * READ);
    assert.equal(cost("params.s.contains('')"), 0 + READ);
  });

  it('startsWith and endsWith: ceil(size(argument) * 0.1); the receiver costs nothing', () => {
    assert.equal(cost('params.s.startsWith(params.sub)'), 10 + 2 * READ);
    assert.equal(cost('params.s.endsWith(params.sub)'), 10 + 2 * READ);
    assert.equal(cost('params.sub.startsWith(params.s)'), 100 + 2 * READ);
  });

  it('matches, find, findAll: ceil((1 + size(s)) * 0.1) * ceil(size(pattern) * 0.25)', () => {
    // ceil(100.1) * ceil(1) = 101
    assert.equal(cost("params.s.matches('^a+$')"), 101 + READ);
    assert.equal(cost("matches(params.s, '^a+$')"), 101 + READ);
    // ceil(100.1) * ceil(1.5) = 202
    assert.equal(cost("params.s.find('a{3}b?')"), 202 + READ);
    // (size() and `>`: 1 each)
    assert.equal(cost("params.s.findAll('a{3}b?').size() > 0"), 202 + READ + 2);
    // An empty string still pays for the pattern: ceil(0.1) * ceil(2) = 2
    assert.equal(cost("''.matches('^[a-z]+$')"), 2);
    // Five code points in ten UTF-16 units: ceil(0.6) * ceil(1) = 1 (ten would give ceil(1.1) = 2)
    assert.equal(cost("params.face5.matches('^.+$')"), 1 + READ);
  });

  it('string and bytes concatenation, orderings and conversions', () => {
    // AddString: ceil((1,000 + 95) * 0.1) = ceil(109.5)
    assert.equal(cost('params.s + params.sub'), 110 + 2 * READ);
    // Code points added up before rounding: ceil((5 + 5) * 0.1) = 1, twice that with each step of a chain
    // priced by its own operands: ceil((10 + 5) * 0.1) = 2
    assert.equal(cost('params.face5 + params.face5'), 1 + 2 * READ);
    assert.equal(cost('params.face5 + params.face5 + params.face5'), 1 + 2 + 3 * READ);
    // LessString and the others: ceil(min(1,000, 95) * 0.1)
    assert.equal(cost('params.s < params.sub'), 10 + 2 * READ);
    assert.equal(cost('params.s >= params.sub'), 10 + 2 * READ);
    // StringToBytes: ceil(1,000 * 0.1); BytesToString: ceil(1,000 bytes * 0.1); LessBytes as strings.
    assert.equal(cost('bytes(params.s)'), 100 + READ);
    assert.equal(cost('string(bytes(params.s))'), 200 + READ);
    assert.equal(cost('bytes(params.s) < bytes(params.sub)'), 100 + 10 + 10 + 2 * READ);
    // AddBytes: ceil((200 + 200) * 0.1), after two conversions of 100 code points (10 each)
    assert.equal(cost('bytes(params.accents) + bytes(params.accents)'), 10 + 10 + 40 + 2 * READ);
  });

  it('`in` on a list: the size of the list, without the 0.1', () => {
    // Compiled code takes a fast path for strings in a list of strings; both charge the same.
    assert.equal(cost("'name-999' in params.names"), 1_000 + READ);
    assert.equal(cost('5 in params.ints'), 1_000 + READ);
    // A constant list of scalars is a set lookup for cel-go (OptOptimize): free, the literal too.
    assert.equal(cost('5 in [1, 2, 3]'), 0);
  });

  it('the strings library: transforms one traversal, replace and split two, join two of its result', () => {
    assert.equal(cost('params.s.lowerAscii()'), 100 + READ);
    assert.equal(cost('params.s.upperAscii()'), 100 + READ);
    assert.equal(cost('params.s.trim()'), 100 + READ);
    assert.equal(cost('params.s.substring(1)'), 100 + READ);
    // ceil(39 * 0.1) = ceil(3.9)
    assert.equal(cost('params.s39.lowerAscii()'), 4 + READ);
    // ceil(1,000 * 2 * 0.1)
    assert.equal(cost("params.s.replace('a', 'b')"), 200 + READ);
    assert.equal(cost("params.s.split('a').size()"), 200 + READ + 1); // size(): 1
    // The result is 100 * 4 + 99 = 499 characters: ceil(499 * 2 * 0.1) = ceil(99.8)
    assert.equal(cost("params.words.join(',')"), 100 + READ);
    // charAt has no rule in Kubernetes: cel-go's default of 1.
    assert.equal(cost('params.s.charAt(3)'), 1 + READ);
    // format and strings.quote: cel-go's ceil(size(first argument) * 0.1), plus the list literal.
    assert.equal(cost("'%s and %s'.format([params.sub, params.sub])"), 1 + LIST_LITERAL_COST + 2 * READ);
    assert.equal(cost('strings.quote(params.s)'), 100 + READ);
  });

  it('indexOf and lastIndexOf on strings: the receiver in bytes times 0.1, truncated (traversalCost)', () => {
    assert.equal(cost("params.s.indexOf('b')"), 100 + READ);
    assert.equal(cost("params.s.lastIndexOf('b')"), 100 + READ);
    // 100 code points but 200 bytes: 20
    assert.equal(cost("params.accents.indexOf('b')"), 20 + READ);
    // 39 bytes * 0.1 truncated: 3 (not rounded up to 4)
    assert.equal(cost("params.s39.indexOf('b')"), 3 + READ);
  });

  it('the lists library: one traversal of the list (1 per scalar, a string its bytes times 0.1 truncated)', () => {
    assert.equal(cost('params.ints.sum()'), 1_000 + READ);
    assert.equal(cost('params.ints.isSorted()'), 1_000 + READ);
    assert.equal(cost('params.ints.min()'), 1_000 + READ);
    assert.equal(cost('params.ints.max()'), 1_000 + READ);
    assert.equal(cost('params.ints.indexOf(7)'), 1_000 + READ);
    assert.equal(cost('params.ints.lastIndexOf(7)'), 1_000 + READ);
    // Four-byte strings: trunc(0.4) = 0 each.
    assert.equal(cost("params.words.indexOf('word')"), 0 + READ);
    // 25-byte strings: trunc(2.5) = 2 each, ten of them.
    assert.equal(cost('params.longWords.isSorted()'), 20 + READ);
  });

  it('quantity, URL, IP and CIDR: parsing one traversal of the string, accessors 1', () => {
    // quantity(): ceil(24 * 0.1) = ceil(2.4)
    assert.equal(cost('quantity(params.quantity)'), 3 + READ);
    assert.equal(cost('isQuantity(params.s)'), 100 + READ);
    // quantity('1') costs ceil(0.1) = 1, add() 1, isGreaterThan() 1, a second quantity('1') 1
    assert.equal(cost("quantity('1').add(2).isGreaterThan(quantity('1'))"), 4);
    // url(): ceil(100 * 0.1); each getter 1; isURL has no rule: 1 whatever the length.
    assert.equal(cost('url(params.url)'), 10 + READ);
    assert.equal(cost('url(params.url).getHost()'), 11 + READ);
    assert.equal(cost('isURL(params.url)'), 1 + READ);
    // ip('10.0.0.1'): ceil(0.8); family() 1; ip.isCanonical: ceil(11 * 2 * 0.1) = ceil(2.2)
    assert.equal(cost("ip('10.0.0.1').family()"), 2);
    assert.equal(cost("ip.isCanonical('2001:db8::1')"), 3);
    // cidr('10.0.0.0/8'): ceil(1.0); containsIP(string): the prefix is ceil(8 / 8) = 1 byte,
    // ceil((1 + 1) * 0.1) = 1, and the string parsed, ceil(0.8) = 1
    assert.equal(cost("cidr('10.0.0.0/8').containsIP('10.1.2.3')"), 1 + 2);
    // Two cidr() of 11 characters (2 each); containsCIDR(cidr) with a 3-byte prefix:
    // ceil(6 * 0.1) + ceil(3 * 0.1) + 1 = 3
    assert.equal(cost("cidr('10.0.0.0/24').containsCIDR(cidr('10.0.0.0/28'))"), 2 + 2 + 3);
    // cidr(): ceil(1.3) = 2; ip() and family() 1 each
    assert.equal(cost("cidr('2001:db8::/32').ip().family()"), 4);
  });

  it('== on optionals: sized by the value they hold (cel-go\'s actualSize unwraps them)', () => {
    // ceil(min(1,000, 1,000) * 0.1), and optional.of() and optional.none() 1 each
    assert.equal(cost('optional.of(params.s) == optional.of(params.s)'), 100 + 2 * READ + 2);
    // An empty optional has no size: 1, so ceil(0.1)
    assert.equal(cost('optional.none() == optional.of(params.s)'), 1 + READ + 2);
  });

  it('constructions: a struct costs 40 (StructCreateBaseCost), a list 10', () => {
    assert.equal(cost("JSONPatch{op: 'add', path: '/x', value: 1}"), 40);
    assert.equal(cost("[JSONPatch{op: 'add', path: '/x', value: 1}]"), 10 + 40);
    // jsonpatch.escapeKey: ceil(size * 0.1), here ceil(3.1)
    assert.equal(cost("jsonpatch.escapeKey('node-role.kubernetes.io/control')"), 4);
  });

  it('stops an expression at the budget only because of contains() on long strings', () => {
    // 50,000 characters in a 10,000-character needle: 5,000 * 1,000 = 5,000,000 units, over the
    // 1,000,000 budget of one expression (Kubernetes' PerCallLimit); 5,000 characters fit.
    const long = new PolicyScope({ hay: 'x'.repeat(50_000), needle: 'y'.repeat(10_000), short: 'x'.repeat(5_000) });
    const params = activation({ hay: 'x'.repeat(50_000), needle: 'y'.repeat(10_000), short: 'x'.repeat(5_000) });
    const over = long.compile('params.hay.contains(params.needle)', 'any');
    const under = long.compile('params.short.contains(params.needle)', 'any');
    for (const run of [over.evaluate, over.interpret]) {
      assert.throws(() => withCostBudget(DEFAULT_COST_BUDGET, () => run(params)), CostBudgetExceededError);
    }
    for (const run of [under.evaluate, under.interpret]) {
      // 500 * 1,000 = 500,000 units, and the two reads of params
      assert.equal(measureCost(DEFAULT_COST_BUDGET, () => run(params)).cost, 500_000 + 2 * READ);
    }
  });

  it('measures sizes as Go does', () => {
    assert.equal(utf8Length('aé😀'), 1 + 2 + 4);
    assert.equal(utf8Length('\ud800'), 3);
    assert.equal(utf8Length('x'.repeat(100) + 'é'), 102);
    assert.equal(codePointCount('é😀'.repeat(20)), 40);
    assert.equal(codePointCount('a'.repeat(20) + 'b'), 21);
    assert.equal(codePointCount('\ud800x'), 2);
    assert.equal(traversalCost(['a'.repeat(19), 5n, new Map([['k'.repeat(10), 'v']])]), 1 + 1 + (1 + 0));
  });

  it('counts code points the same when the strings measured last come again (the memo)', () => {
    const pair = '😀'.repeat(6); // 12 UTF-16 units, 6 code points
    const ascii = 'x'.repeat(12); // the same length, 12 code points
    const lone = '\udc00' + 'y'.repeat(11); // a lone low surrogate counts one
    const large = '😀'.repeat(3000); // too long to be kept
    const rounds = [pair, ascii, pair, pair, lone, ascii, '', pair, large, large, ascii, 'é'.repeat(11)];
    const expected = [6, 12, 6, 6, 12, 12, 0, 6, 3000, 3000, 12, 11];
    for (let round = 0; round < 2; round++) {
      assert.deepEqual(rounds.map((s) => codePointCount(s)), expected);
      // Equal strings that are different objects (made at run time) are counted alike.
      assert.deepEqual(rounds.map((s) => codePointCount([...s].join(''))), expected);
    }
    // And so are the costs that read them: contains on a string of 12 units is 2 (ascii) or 1 (pairs).
    for (const s of [pair, ascii, pair, ascii]) assert.equal(containsCost(s, ':'), s === pair ? 1 : 2);
  });
});
