// The TLS flags' parsers: kube-apiserver names in, OpenSSL names out, weak suites refused by name.
// (The handshakes themselves are tested against the running server in admission-server.test.ts and
// serve-command.test.ts.)

import assert from 'node:assert/strict';
import { getCiphers } from 'node:tls';
import { describe, it } from 'node:test';
import { DEFAULT_TLS_PROFILE, parseTlsCipherSuites, parseTlsMinVersion, TLS12_SUITE_NAMES, tlsProfileFrom, TlsSettingError } from './tls-profile.js';

/** The OpenSSL list a --tls-cipher-suites value gives under VersionTLS12. */
const tls12Ciphers = (value: string): string => tlsProfileFrom('TLSv1.2', parseTlsCipherSuites(value)).ciphers;

describe('parseTlsCipherSuites', () => {
  it('maps every allowed name to a cipher this Node.js knows, in the order given, once each', () => {
    const known = new Set(getCiphers());
    for (const name of TLS12_SUITE_NAMES) {
      const openssl = tls12Ciphers(name);
      assert.ok(known.has(openssl.toLowerCase()), `${name} -> ${openssl}`);
    }
    assert.equal(
      tls12Ciphers('TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384'),
      'ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256',
    );
    assert.equal(DEFAULT_TLS_PROFILE.ciphers, TLS12_SUITE_NAMES.map((name) => tls12Ciphers(name)).join(':'));
  });

  it('accepts Go’s older ChaCha20 names and TLS 1.3 names (always enabled, so they change nothing)', () => {
    assert.equal(tls12Ciphers('TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305'), 'ECDHE-ECDSA-CHACHA20-POLY1305');
    assert.equal(tls12Ciphers('TLS_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305'), 'ECDHE-RSA-CHACHA20-POLY1305');
  });

  it('refuses unknown and weak suites by name', () => {
    assert.throws(() => parseTlsCipherSuites('ECDHE-ECDSA-AES128-GCM-SHA256'), new TlsSettingError(`unknown cipher suite "ECDHE-ECDSA-AES128-GCM-SHA256"; use Go/IANA names such as ${TLS12_SUITE_NAMES.join(', ')}`));
    assert.throws(() => parseTlsCipherSuites('TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256'), /TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256 is not allowed: CBC mode/);
    assert.throws(() => parseTlsCipherSuites('TLS_RSA_WITH_AES_256_CBC_SHA'), /RSA key exchange without forward secrecy, CBC mode/);
    assert.throws(() => parseTlsCipherSuites('TLS_ECDHE_RSA_WITH_RC4_128_SHA'), /a broken cipher \(RC4\)/);
    assert.throws(() => parseTlsCipherSuites(' , '), /expected one or more of/);
  });
});

describe('tlsProfileFrom: the two TLS flags together', () => {
  it('accepts only TLS 1.3 suites with VersionTLS13, as the kube-apiserver does', () => {
    assert.deepEqual(tlsProfileFrom('TLSv1.3', parseTlsCipherSuites('TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384')), { ...DEFAULT_TLS_PROFILE, minVersion: 'TLSv1.3' });
  });

  it('accepts a list of both versions under either minimum, and no list at all', () => {
    const mixed = parseTlsCipherSuites('TLS_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256');
    assert.deepEqual(tlsProfileFrom('TLSv1.2', mixed), { minVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-GCM-SHA256' });
    assert.equal(tlsProfileFrom('TLSv1.3', mixed).minVersion, 'TLSv1.3');
    assert.deepEqual(tlsProfileFrom('TLSv1.3', undefined), { ...DEFAULT_TLS_PROFILE, minVersion: 'TLSv1.3' });
  });

  it('refuses only TLS 1.3 suites while TLS 1.2 is allowed, saying which flag to add', () => {
    assert.throws(
      () => tlsProfileFrom('TLSv1.2', parseTlsCipherSuites('TLS_AES_256_GCM_SHA384')),
      new TlsSettingError(
        `--tls-cipher-suites names only TLS 1.3 suites (TLS_AES_256_GCM_SHA384), but --tls-min-version VersionTLS12 also accepts TLS 1.2 clients, which would have no suite: add --tls-min-version VersionTLS13, or name at least one of: ${TLS12_SUITE_NAMES.join(', ')}`,
      ),
    );
  });

  it('refuses only TLS 1.2 suites under VersionTLS13, since none of them could ever be negotiated', () => {
    assert.throws(() => tlsProfileFrom('TLSv1.3', parseTlsCipherSuites('TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256')), /names only TLS 1\.2 suites, which --tls-min-version VersionTLS13 never negotiates/);
  });
});

describe('parseTlsMinVersion', () => {
  it('takes the kube-apiserver’s names and refuses TLS 1.0 and 1.1', () => {
    assert.equal(parseTlsMinVersion('VersionTLS12'), 'TLSv1.2');
    assert.equal(parseTlsMinVersion('VersionTLS13'), 'TLSv1.3');
    assert.throws(() => parseTlsMinVersion('VersionTLS10'), /VersionTLS10 is not allowed/);
    assert.throws(() => parseTlsMinVersion('1.3'), /unknown TLS version "1\.3"/);
  });
});
