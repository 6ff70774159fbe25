// Which TLS versions and cipher suites the admission listener accepts, and the flags that choose them.
//
// The names are the ones the kube-apiserver's --tls-min-version and --tls-cipher-suites take (Go's
// crypto/tls names), so one value works for both; Node wants OpenSSL's names, hence the table. Only
// AEAD suites with an ephemeral ECDHE key exchange are offered on TLS 1.2, like Go's defaults and
// Mozilla's "intermediate" profile: CBC suites (Lucky13-style padding oracles, SHA-1 MACs), a static
// RSA key exchange (no forward secrecy), RC4 and 3DES are refused by name rather than silently kept.
// TLS 1.3 suites are all AEAD and always enabled, as in Go; naming them is allowed and changes nothing,
// except that a list naming only TLS 1.3 suites is consistent with --tls-min-version VersionTLS13 alone
// (the kube-apiserver accepts that pair too). The two flags are checked together by tlsProfileFrom.

export type TlsMinVersion = 'TLSv1.2' | 'TLSv1.3';

export interface TlsProfile {
  minVersion: TlsMinVersion;
  /** OpenSSL cipher list for TLS 1.2 (Node's `ciphers`); TLS 1.3 keeps Node's defaults. */
  ciphers: string;
}

/** TLS 1.2 suites that may be enabled: Go name -> OpenSSL name. The order is the server's preference. */
const ALLOWED_TLS12_SUITES: ReadonlyMap<string, string> = new Map([
  ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', 'ECDHE-ECDSA-AES128-GCM-SHA256'],
  ['TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', 'ECDHE-RSA-AES128-GCM-SHA256'],
  ['TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384', 'ECDHE-ECDSA-AES256-GCM-SHA384'],
  ['TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384', 'ECDHE-RSA-AES256-GCM-SHA384'],
  ['TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256', 'ECDHE-ECDSA-CHACHA20-POLY1305'],
  ['TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256', 'ECDHE-RSA-CHACHA20-POLY1305'],
]);

/** Go's older spellings of the ChaCha20 suites, which the kube-apiserver still accepts. */
const ALIASES: ReadonlyMap<string, string> = new Map([
  ['TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305', 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256'],
  ['TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305', 'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256'],
]);

const TLS13_SUITES: ReadonlySet<string> = new Set(['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256']);

const CBC = 'CBC mode (padding-oracle attacks; use an AES-GCM or ChaCha20-Poly1305 suite)';
const STATIC_RSA = 'RSA key exchange without forward secrecy';
const BROKEN = 'a broken cipher';

/** Suites the kube-apiserver knows that daemonguard refuses, and why. */
const REFUSED_SUITES: ReadonlyMap<string, string> = new Map([
  ['TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA', CBC],
  ['TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA', CBC],
  ['TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA', CBC],
  ['TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA', CBC],
  ['TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256', CBC],
  ['TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256', CBC],
  ['TLS_RSA_WITH_AES_128_CBC_SHA', `${STATIC_RSA}, ${CBC}`],
  ['TLS_RSA_WITH_AES_256_CBC_SHA', `${STATIC_RSA}, ${CBC}`],
  ['TLS_RSA_WITH_AES_128_CBC_SHA256', `${STATIC_RSA}, ${CBC}`],
  ['TLS_RSA_WITH_AES_128_GCM_SHA256', STATIC_RSA],
  ['TLS_RSA_WITH_AES_256_GCM_SHA384', STATIC_RSA],
  ['TLS_RSA_WITH_RC4_128_SHA', `${BROKEN} (RC4)`],
  ['TLS_ECDHE_ECDSA_WITH_RC4_128_SHA', `${BROKEN} (RC4)`],
  ['TLS_ECDHE_RSA_WITH_RC4_128_SHA', `${BROKEN} (RC4)`],
  ['TLS_RSA_WITH_3DES_EDE_CBC_SHA', `${BROKEN} (3DES)`],
  ['TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA', `${BROKEN} (3DES)`],
]);

/** The suites named in --help and in errors. */
export const TLS12_SUITE_NAMES: readonly string[] = [...ALLOWED_TLS12_SUITES.keys()];

export const DEFAULT_TLS_PROFILE: TlsProfile = {
  minVersion: 'TLSv1.2',
  ciphers: [...ALLOWED_TLS12_SUITES.values()].join(':'),
};

/** A value the flags refuse; the message names it and says what is accepted. */
export class TlsSettingError extends Error {}

const MIN_VERSIONS: ReadonlyMap<string, TlsMinVersion> = new Map([
  ['VersionTLS12', 'TLSv1.2'],
  ['VersionTLS13', 'TLSv1.3'],
]);

/** --tls-min-version: VersionTLS12 or VersionTLS13 (the kube-apiserver's names). */
export function parseTlsMinVersion(value: string): TlsMinVersion {
  const name = value.trim();
  const version = MIN_VERSIONS.get(name);
  if (version !== undefined) return version;
  if (name === 'VersionTLS10' || name === 'VersionTLS11') {
    throw new TlsSettingError(`${name} is not allowed: TLS 1.0 and 1.1 are deprecated (RFC 8996); use VersionTLS12 or VersionTLS13`);
  }
  throw new TlsSettingError(`unknown TLS version "${name}"; use VersionTLS12 or VersionTLS13`);
}

/** What --tls-cipher-suites named, split by protocol version; checked against the minimum version later. */
export interface CipherSuiteChoice {
  /** OpenSSL names of the TLS 1.2 suites, in the order given, once each. */
  tls12: string[];
  /** Go names of the TLS 1.3 suites named (always enabled; kept to check the pair of flags). */
  tls13: string[];
}

/**
 * --tls-cipher-suites: a comma-separated list of suite names. Every TLS 1.2 suite must be one of the
 * allowed ones; TLS 1.3 names are accepted (those suites are always on). Whether the list fits the
 * minimum version is for tlsProfileFrom, which sees both flags.
 */
export function parseTlsCipherSuites(value: string): CipherSuiteChoice {
  const names = value
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  if (names.length === 0) throw new TlsSettingError(`expected one or more of: ${TLS12_SUITE_NAMES.join(', ')}`);
  const choice: CipherSuiteChoice = { tls12: [], tls13: [] };
  for (const given of names) {
    const name = ALIASES.get(given) ?? given;
    const openssl = ALLOWED_TLS12_SUITES.get(name);
    if (openssl !== undefined) {
      if (!choice.tls12.includes(openssl)) choice.tls12.push(openssl);
      continue;
    }
    if (TLS13_SUITES.has(name)) {
      if (!choice.tls13.includes(name)) choice.tls13.push(name);
      continue;
    }
    const refusal = REFUSED_SUITES.get(name);
    if (refusal !== undefined) throw new TlsSettingError(`cipher suite ${given} is not allowed: ${refusal}. Allowed: ${TLS12_SUITE_NAMES.join(', ')}`);
    throw new TlsSettingError(`unknown cipher suite "${given}"; use Go/IANA names such as ${TLS12_SUITE_NAMES.join(', ')}`);
  }
  return choice;
}

/**
 * The profile both TLS flags describe, or a refusal when they contradict each other:
 * - only TLS 1.3 suites with TLS 1.2 allowed would leave TLS 1.2 clients no suite at all;
 * - only TLS 1.2 suites with VersionTLS13 names suites that can never be negotiated.
 * A list with suites of both versions fits either minimum (under VersionTLS13 the TLS 1.2 ones are unused).
 */
export function tlsProfileFrom(minVersion: TlsMinVersion, suites: CipherSuiteChoice | undefined): TlsProfile {
  if (suites === undefined) return { ...DEFAULT_TLS_PROFILE, minVersion };
  if (minVersion === 'TLSv1.2' && suites.tls12.length === 0) {
    throw new TlsSettingError(
      `--tls-cipher-suites names only TLS 1.3 suites (${suites.tls13.join(', ')}), but --tls-min-version VersionTLS12 also accepts TLS 1.2 clients, ` +
        `which would have no suite: add --tls-min-version VersionTLS13, or name at least one of: ${TLS12_SUITE_NAMES.join(', ')}`,
    );
  }
  if (minVersion === 'TLSv1.3' && suites.tls13.length === 0) {
    throw new TlsSettingError(
      '--tls-cipher-suites names only TLS 1.2 suites, which --tls-min-version VersionTLS13 never negotiates (TLS 1.3 suites are always enabled): ' +
        'drop --tls-cipher-suites, name TLS 1.3 suites, or use --tls-min-version VersionTLS12',
    );
  }
  return { minVersion, ciphers: suites.tls12.length === 0 ? DEFAULT_TLS_PROFILE.ciphers : suites.tls12.join(':') };
}
