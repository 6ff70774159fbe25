import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromCelValue } from '../values.js';
import { errorOf, evaluate, typeChecks } from '../../../test/support/evaluate-cel.js';

describe('quantity library', () => {
  it('parses decimal SI, binary SI and exponent suffixes', () => {
    assert.equal(evaluate("quantity('1.5G').asInteger()"), 1_500_000_000n);
    assert.equal(evaluate("quantity('200k').asInteger()"), 200_000n);
    assert.equal(evaluate("quantity('12Mi').asInteger()"), 12n * 2n ** 20n);
    assert.equal(evaluate("quantity('1Ki') == quantity('1024')"), true);
    assert.equal(evaluate("quantity('1e3').asInteger()"), 1000n);
    assert.equal(evaluate("quantity('1E3').asInteger()"), 1000n);
    assert.equal(evaluate("quantity('+5').asInteger()"), 5n);
    assert.equal(evaluate("quantity('100m').asApproximateFloat()"), 0.1);
    assert.equal(evaluate("quantity('1n').asApproximateFloat()"), 1e-9);
    assert.equal(evaluate("quantity('1u').asApproximateFloat()"), 1e-6);
    assert.equal(evaluate("quantity('1E').asApproximateFloat()"), 1e18);
  });

  it('refuses what resource.ParseQuantity refuses, with its messages', () => {
    assert.match(errorOf(() => evaluate("quantity('200K')")), /unable to parse quantity's suffix/);
    assert.match(errorOf(() => evaluate("quantity('10Mm')")), /unable to parse quantity's suffix/);
    assert.match(errorOf(() => evaluate("quantity('10Mo')")), /quantities must match the regular expression/);
    assert.match(errorOf(() => evaluate("quantity('Three')")), /quantities must match the regular expression/);
    assert.match(errorOf(() => evaluate("quantity('')")), /quantities must match the regular expression/);
    for (const bad of ['200K', 'Three', '1,3G', ' 5', '5 ', '1.1.M', '1i', '1e', '1e+', '']) {
      assert.equal(evaluate(`isQuantity('${bad}')`), false, bad);
    }
    for (const good of ['1.3G', '1.3Gi', '10000k', '20', '20M', '20Mi', '1.G']) {
      assert.equal(evaluate(`isQuantity('${good}')`), true, good);
    }
  });

  it('reproduces apimachinery quirks exactly', () => {
    // A bare suffix scans as zero in apimachinery (the documentation says error; the apiserver accepts).
    assert.equal(evaluate("quantity('Mi').asInteger()"), 0n);
    // Only the compact form with a non-negative scale converts to an integer.
    assert.equal(evaluate("quantity('1.0').isInteger()"), false);
    assert.equal(evaluate("quantity('1000m').isInteger()"), false);
    assert.equal(evaluate("quantity('0.5k').isInteger()"), true);
    assert.equal(evaluate("quantity('1.5Gi').isInteger()"), false);
    // Binary quantities are capped at 2^63-1.
    assert.equal(evaluate("quantity('10Ei').asApproximateFloat()"), 2 ** 63);
    // Sub-nano amounts round up to one nano unit.
    assert.equal(evaluate("quantity('0.0000000001').asApproximateFloat()"), 1e-9);
    assert.equal(evaluate("quantity('-0.0000000001').asApproximateFloat()"), -1e-9);
    assert.equal(evaluate("quantity('123456789012345678901234567890').asApproximateFloat()"), 1.234567890123457e29);
  });

  it('isInteger / asInteger / asApproximateFloat', () => {
    assert.equal(evaluate("quantity('50000000G').isInteger()"), true);
    assert.equal(evaluate("quantity('9999999999999999999999999999999999999G').isInteger()"), false);
    assert.equal(errorOf(() => evaluate("quantity('9999999999999999999999999999999999999G').asInteger()")), 'cannot convert value to integer');
    assert.equal(evaluate("quantity('922337203685477580').asInteger()"), 922337203685477580n);
    // 19 digits take apimachinery's arbitrary-precision path, which never converts to int64.
    assert.equal(evaluate("quantity('9223372036854775807').isInteger()"), false);
    assert.equal(evaluate("quantity('50.703k').asApproximateFloat()"), 50703);
    assert.equal(evaluate("quantity('50k').sub(20000).asApproximateFloat() == 30000.0"), true);
  });

  it('sign, as the global function Kubernetes declares and as a method', () => {
    assert.equal(evaluate("sign(quantity('-50k'))"), -1n);
    assert.equal(evaluate("sign(quantity('0'))"), 0n);
    assert.equal(evaluate("quantity('5m').sign()"), 1n);
  });

  it('add and sub, with quantities and integers', () => {
    assert.equal(evaluate("quantity('50k').add(quantity('20k')) == quantity('70k')"), true);
    assert.equal(evaluate("quantity('50k').add(20) == quantity('50020')"), true);
    assert.equal(evaluate("quantity('50k').sub(quantity('20')) == quantity('49.98k')"), true);
    assert.equal(evaluate("quantity('50k').add(20).sub(quantity('100k')).sub(-50000) == quantity('20')"), true);
    assert.equal(evaluate("quantity('50k').add(20).sub(quantity('100k')).asInteger()"), -49980n);
    // Overflowing the compact form moves to exact arithmetic (and isInteger turns false, as in Go).
    assert.equal(evaluate("quantity('9223372036854775807').add(1).isInteger()"), false);
    assert.equal(evaluate("quantity('9223372036854775807').add(1).asApproximateFloat()"), 9223372036854775808);
  });

  it('comparisons and equality', () => {
    assert.equal(evaluate("quantity('200M').compareTo(quantity('0.2G'))"), 0n);
    assert.equal(evaluate("quantity('50M').compareTo(quantity('50Mi'))"), -1n);
    assert.equal(evaluate("quantity('50Mi').compareTo(quantity('50M'))"), 1n);
    assert.equal(evaluate("quantity('150Mi').isGreaterThan(quantity('100Mi'))"), true);
    assert.equal(evaluate("quantity('50M').isLessThan(quantity('100M'))"), true);
    assert.equal(evaluate("quantity('1m') == quantity('0.001')"), true);
    assert.equal(evaluate("quantity('200M') != quantity('0.3G')"), true);
    assert.equal(typeChecks('isQuantity([1, 2, 3])'), false);
  });

  it('bounds exponents instead of computing 10^(2^31)', () => {
    assert.match(errorOf(() => evaluate("quantity('1e2147483648')")), /exponent out of the supported range/);
    assert.equal(evaluate("quantity('1e1000').isInteger()"), false);
  });

  it('writes a quantity into JSON as the apiserver prints it', () => {
    const written = fromCelValue(evaluate("[quantity('1500m'), quantity('1.5'), quantity('2048Ki'), quantity('1.5').add(quantity('500m'))]"));
    assert.deepEqual(written, ['1500m', '1500m', '2Mi', '2']);
  });
});
