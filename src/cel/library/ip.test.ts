import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { errorOf, evaluate, typeChecks } from '../../../test/support/evaluate-cel.js';

describe('IP library', () => {
  it('parses IPv4 and IPv6, refusing what Kubernetes refuses', () => {
    assert.equal(evaluate("isIP('127.0.0.1')"), true);
    assert.equal(evaluate("isIP('::1')"), true);
    assert.equal(evaluate("isIP('::1.2.3.4')"), true);
    for (const bad of ['127.0.0.256', ':::1', '010.0.0.1', '1.2.3', 'fe80::1%eth0', '::ffff:1.2.3.4', '', '1::2::3']) {
      assert.equal(evaluate(`isIP('${bad}')`), false, bad);
    }
    assert.match(errorOf(() => evaluate("ip('127.0.0.256')")), /IPv4 field has value >255/);
    assert.match(errorOf(() => evaluate("ip('::ffff:1.2.3.4')")), /IPv4-mapped IPv6 address "::ffff:1.2.3.4" is not allowed/);
    assert.match(errorOf(() => evaluate("ip('fe80::1%eth0')")), /with zone value is not allowed/);
    assert.equal(typeChecks('ip(1)'), false);
  });

  it('prints the canonical form and checks it', () => {
    assert.equal(evaluate("string(ip('2001:db8:0:0:1:0:0:1'))"), '2001:db8::1:0:0:1');
    assert.equal(evaluate("string(ip('1:0:0:2:0:0:0:3'))"), '1:0:0:2::3');
    assert.equal(evaluate("string(ip('0:0:0:0:0:0:0:0'))"), '::');
    assert.equal(evaluate("string(ip('::1.2.3.4'))"), '::102:304');
    assert.equal(evaluate("ip.isCanonical('127.0.0.1')"), true);
    assert.equal(evaluate("ip.isCanonical('2001:db8::abcd')"), true);
    assert.equal(evaluate("ip.isCanonical('2001:DB8::ABCD')"), false);
    assert.equal(evaluate("ip.isCanonical('2001:db8::0:0:0:abcd')"), false);
  });

  it('classifies addresses as net/netip does', () => {
    assert.equal(evaluate("ip('127.0.0.1').family()"), 4n);
    assert.equal(evaluate("ip('::1').family()"), 6n);
    assert.equal(evaluate("ip('0.0.0.0').isUnspecified()"), true);
    assert.equal(evaluate("ip('::').isUnspecified()"), true);
    assert.equal(evaluate("ip('127.0.0.1').isUnspecified()"), false);
    assert.equal(evaluate("ip('127.1.2.3').isLoopback()"), true);
    assert.equal(evaluate("ip('::1').isLoopback()"), true);
    assert.equal(evaluate("ip('2001:db8::abcd').isLoopback()"), false);
    assert.equal(evaluate("ip('224.0.0.1').isLinkLocalMulticast()"), true);
    assert.equal(evaluate("ip('224.0.1.1').isLinkLocalMulticast()"), false);
    assert.equal(evaluate("ip('ff02::1').isLinkLocalMulticast()"), true);
    assert.equal(evaluate("ip('fd00::1').isLinkLocalMulticast()"), false);
    assert.equal(evaluate("ip('169.254.169.254').isLinkLocalUnicast()"), true);
    assert.equal(evaluate("ip('fe80::1').isLinkLocalUnicast()"), true);
    assert.equal(evaluate("ip('fd80::1').isLinkLocalUnicast()"), false);
    assert.equal(evaluate("ip('192.168.0.1').isGlobalUnicast()"), true);
    assert.equal(evaluate("ip('255.255.255.255').isGlobalUnicast()"), false);
    assert.equal(evaluate("ip('224.0.0.1').isGlobalUnicast()"), false);
    assert.equal(evaluate("ip('2001:db8::abcd').isGlobalUnicast()"), true);
    assert.equal(evaluate("ip('ff00::1').isGlobalUnicast()"), false);
    assert.equal(evaluate("ip('1.2.3.4') == ip('1.2.3.4')"), true);
  });
});

describe('CIDR library', () => {
  it('parses prefixes, keeping host bits', () => {
    assert.equal(evaluate("isCIDR('192.168.0.0/16')"), true);
    assert.equal(evaluate("isCIDR('::1/128')"), true);
    assert.equal(evaluate("isCIDR('192.168.0.1/16')"), true);
    for (const bad of ['192.168.0.0/33', '::1/129', '192.168.0.0/08', '192.168.0.0/', '192.168.0.0', '::ffff:1.2.3.4/120', 'fe80::1%eth0/64', '1.2.3.4/+8']) {
      assert.equal(evaluate(`isCIDR('${bad}')`), false, bad);
    }
    assert.match(errorOf(() => evaluate("cidr('192.168.0.0/')")), /bad bits after slash: ""/);
    assert.match(errorOf(() => evaluate("cidr('192.168.0.0/33')")), /prefix length out of range/);
  });

  it('containsIP and containsCIDR take strings or values', () => {
    assert.equal(evaluate("cidr('192.168.0.0/24').containsIP(ip('192.168.0.1'))"), true);
    assert.equal(evaluate("cidr('192.168.0.0/24').containsIP('192.168.1.1')"), false);
    assert.equal(evaluate("cidr('10.0.0.0/8').containsIP('::1')"), false);
    assert.equal(evaluate("cidr('::/0').containsIP('1.2.3.4')"), false);
    assert.equal(evaluate("cidr('192.168.0.0/16').containsCIDR(cidr('192.168.10.0/24'))"), true);
    assert.equal(evaluate("cidr('192.168.0.0/16').containsCIDR('192.168.10.0/24')"), true);
    assert.equal(evaluate("cidr('192.168.1.0/24').containsCIDR('192.168.2.0/24')"), false);
    assert.equal(evaluate("cidr('192.168.0.0/24').containsCIDR('192.168.0.0/23')"), false);
    assert.equal(evaluate("cidr('2001:db8::/32').containsCIDR('2001:db8::/33')"), true);
    assert.equal(evaluate("cidr('0.0.0.0/0').containsCIDR('::/0')"), false);
    assert.throws(() => evaluate("cidr('192.168.0.0/24').containsIP('bad')"));
  });

  it('ip, masked, prefixLength, string and equality', () => {
    assert.equal(evaluate("string(cidr('192.168.0.1/24').ip())"), '192.168.0.1');
    assert.equal(evaluate("cidr('::1/128').ip().family()"), 6n);
    assert.equal(evaluate("string(cidr('192.168.0.1/24').masked())"), '192.168.0.0/24');
    assert.equal(evaluate("string(cidr('2001:db8:1::/32').masked())"), '2001:db8::/32');
    assert.equal(evaluate("cidr('192.168.0.0/24') == cidr('192.168.0.0/24').masked()"), true);
    assert.equal(evaluate("cidr('192.168.0.1/24') == cidr('192.168.0.1/24').masked()"), false);
    assert.equal(evaluate("cidr('192.168.0.0/16').prefixLength()"), 16n);
    assert.equal(evaluate("string(cidr('192.168.0.0/24'))"), '192.168.0.0/24');
  });
});
