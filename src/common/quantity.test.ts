// Expected texts were produced by k8s.io/apimachinery v0.37.2 (resource.ParseQuantity, json.Marshal,
// RoundUp(-3)); null means the apiserver refuses the value.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalQuantity, isQuantity, parseQuantity, QuantityError } from './quantity.js';

const VECTORS: [string, string | null, string | null][] = [
  ['0', '0', '0'],
  ['1', '1', '1'],
  ['1023', '1023', '1023'],
  ['1024', '1024', '1024'],
  ['128974848', '128974848', '128974848'],
  ['', null, null],
  ['  2  ', null, null],
  ['+1', '+1', '+1'],
  ['-1', '-1', '-1'],
  ['-1500m', '-1500m', '-1500m'],
  ['0.0000000001', '1n', '1m'],
  ['0.000000001', '1n', '1m'],
  ['0.0001', '100u', '1m'],
  ['0.1', '100m', '100m'],
  ['0.5', '500m', '500m'],
  ['0.5Gi', '512Mi', '512Mi'],
  ['00.5', '500m', '500m'],
  ['01', '01', '01'],
  ['0Gi', '0', '0'],
  ['0m', '0', '0'],
  ['1.', '1.', '1.'],
  ['1.000', '1', '1'],
  ['1.0001', '1000100u', '1001m'],
  ['1.10', '1100m', '1100m'],
  ['1.5', '1500m', '1500m'],
  ['1.5Gi', '1536Mi', '1536Mi'],
  ['1.5e3', '1500', '1500'],
  ['1.G', '1.G', '1.G'],
  ['1000Mi', '1000Mi', '1000Mi'],
  ['1000e0', '1e3', '1e3'],
  ['1000m', '1', '1'],
  ['100Mi', '100Mi', '100Mi'],
  ['100k', '100k', '100k'],
  ['100m', '100m', '100m'],
  ['100u', '100u', '1m'],
  ['1024Mi', '1Gi', '1Gi'],
  ['1025Ki', '1025Ki', '1025Ki'],
  ['123456789012345678', '123456789012345678', '123456789012345678'],
  ['12345678901234567890', '12345678901234567890', '12345678901234567890'],
  ['123Mi', '123Mi', '123Mi'],
  ['129M', '129M', '129M'],
  ['129e6', '129e6', '129e6'],
  ['12e-1', '1200e-3', '1200e-3'],
  ['1500Ki', '1500Ki', '1500Ki'],
  ['1500m', '1500m', '1500m'],
  ['1536Ki', '1536Ki', '1536Ki'],
  ['1536Mi', '1536Mi', '1536Mi'],
  ['1E', '1E', '1E'],
  ['1E3', '1E3', '1E3'],
  ['1Gi', '1Gi', '1Gi'],
  ['1K', null, null],
  ['1Ki', '1Ki', '1Ki'],
  ['1M', '1M', '1M'],
  ['1Mi', '1Mi', '1Mi'],
  ['1e', null, null],
  ['1e-3', '1e-3', '1e-3'],
  ['1e21', '1e21', '1e21'],
  ['1e3', '1e3', '1e3'],
  ['1k', '1k', '1k'],
  ['1m', '1m', '1m'],
  ['1n', '1n', '1m'],
  ['2048Mi', '2Gi', '2Gi'],
  ['250M', '250M', '250M'],
  ['2P', '2P', '2P'],
  ['3Ti', '3Ti', '3Ti'],
  ['500m', '500m', '500m'],
  ['5Gi', '5Gi', '5Gi'],
  ['64Mi', '64Mi', '64Mi'],
  ['7Ei', '7Ei', '7Ei'],
  ['8Gi', '8Gi', '8Gi'],
  ['99999999999999999999Ei', '9223372036854775807', '9223372036854775807'],
  ['abc', null, null],
];

describe('quantities as the apiserver prints them', () => {
  it('match apimachinery for every vector', () => {
    for (const [input, plain, milli] of VECTORS) {
      if (plain === null) {
        assert.equal(isQuantity(input), false, input);
        assert.throws(() => parseQuantity(input), QuantityError, input);
        continue;
      }
      const parsed = parseQuantity(input);
      assert.equal(parsed.toString(), plain, `${input} printed`);
      assert.equal(parsed.roundUp().toString(), milli, `${input} rounded to milli`);
    }
  });

  it('reads numbers from their JSON text and trims strings as UnmarshalJSON does', () => {
    assert.equal(canonicalQuantity(0.5), '500m');
    assert.equal(canonicalQuantity(2), '2');
    assert.equal(canonicalQuantity(' 2 '), '2');
    assert.equal(canonicalQuantity('100u', true), '1m');
    assert.equal(canonicalQuantity('100u'), '100u');
    assert.equal(canonicalQuantity(true), undefined);
  });

  it('prints the canonical form after arithmetic (what CEL writes into JSON)', () => {
    assert.equal(parseQuantity('1500m').toString(), '1500m');
    assert.equal(parseQuantity('1.5').toString(), '1500m');
    assert.equal(parseQuantity('2048Ki').toString(), '2Mi');
    assert.equal(parseQuantity('1000').toString(), '1k');
    assert.equal(parseQuantity('0').toString(), '0');
    assert.equal(parseQuantity('1500m').plus(parseQuantity('500m')).toString(), '2');
    assert.equal(parseQuantity('1Gi').plus(parseQuantity('1Gi')).toString(), '2Gi');
  });

  it('refuses exponents beyond ±1000 and rounds far-below-nano values without computing huge powers', () => {
    assert.throws(() => parseQuantity('1e2147483648'), /exponent out of the supported range/);
    assert.equal(canonicalQuantity('1e-1001'), undefined);
    // 30 digits below the nano unit: rounds up to one nano.
    assert.equal(parseQuantity('0.000000000000000000000000000000000000001').toString(), '1n');
  });
});
