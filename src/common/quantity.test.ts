// Expected texts were produced by k8s.io/apimachinery v0.37.2 (resource.ParseQuantity, json.Marshal,
// RoundUp(-3)); null means the apiserver refuses the value.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalQuantity, formatQuantity, parseQuantity, roundUpQuantity } from './quantity.js';

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
      const parsed = parseQuantity(input);
      if (plain === null) {
        assert.equal(parsed, undefined, input);
        continue;
      }
      assert.ok(parsed, input);
      assert.equal(formatQuantity(parsed), plain, `${input} printed`);
      assert.equal(formatQuantity(roundUpQuantity(parsed)), milli, `${input} rounded to milli`);
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
});
