// Kubernetes' IP and CIDR libraries (k8s.io/apiserver/pkg/cel/library/ip.go, cidr.go) over a port of
// Go's net/netip parsing:
//   ip(<string>) <net.IP>, isIP(<string>) <bool>, ip.isCanonical(<string>) <bool>, string(<net.IP>)
//   <net.IP>.family() <int>, .isUnspecified() .isLoopback() .isLinkLocalMulticast()
//            .isLinkLocalUnicast() .isGlobalUnicast() <bool>
//   cidr(<string>) <net.CIDR>, isCIDR(<string>) <bool>, string(<net.CIDR>)
//   <net.CIDR>.containsIP(<string>|<net.IP>) .containsCIDR(<string>|<net.CIDR>) <bool>
//            .ip() <net.IP>, .masked() <net.CIDR>, .prefixLength() <int>
// As in Kubernetes, IPv4-mapped IPv6 addresses (::ffff:1.2.3.4) and zones (fe80::1%eth0) are
// refused, and IPv4 octets with leading zeros are invalid. containsCIDR compares masked networks
// (the behaviour since Kubernetes 1.33; earlier releases compared unmasked addresses by mistake).
// Costs, as Kubernetes charges (call-costs.ts): parsing (ip, isIP, cidr, isCIDR) one traversal of
// the string, ip.isCanonical two; containsIP and containsCIDR by the CIDR prefix's bytes (plus one
// traversal of a string operand, which they parse); string(), the accessors and cidr.ip() 1.
import type { Environment } from '@marcbachmann/cel-js';
import { chargeCost, isCostBudgetArmed } from '../cost.js';
import type { HasJsonForm } from '../values.js';
import { chargeStringTraversal, nominal, stringSize, stringTraversal, traversal, traversalAndBuild } from './call-costs.js';
import { celError, define } from './support.js';

class AddrError extends Error {}

/** An address as netip.Addr keeps it: 4 or 16 bytes, and an optional IPv6 zone. */
export interface ParsedAddr {
  bytes: Uint8Array;
  zone: string;
}

function addrError(input: string, message: string, at?: string): AddrError {
  return new AddrError(`ParseAddr(${JSON.stringify(input)}): ${message}${at !== undefined ? ` (at ${JSON.stringify(at)})` : ''}`);
}

function parseIPv4Fields(input: string, s: string, out: Uint8Array, offset: number): void {
  let value = 0;
  let digits = 0;
  let field = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) {
      if (digits === 1 && value === 0) throw addrError(input, 'IPv4 field has octet with leading zero');
      value = value * 10 + (c - 0x30);
      digits++;
      if (value > 255) throw addrError(input, 'IPv4 field has value >255');
    } else if (c === 0x2e) {
      if (i === 0 || i === s.length - 1 || s.charCodeAt(i - 1) === 0x2e) {
        throw addrError(input, 'IPv4 field must have at least one digit', s.slice(i));
      }
      if (field === 3) throw addrError(input, 'IPv4 address too long');
      out[offset + field++] = value;
      value = 0;
      digits = 0;
    } else {
      throw addrError(input, 'unexpected character', s.slice(i));
    }
  }
  if (field < 3) throw addrError(input, 'IPv4 address too short');
  out[offset + 3] = value;
}

function parseIPv6(input: string): ParsedAddr {
  let s = input;
  let zone = '';
  const percent = s.indexOf('%');
  if (percent !== -1) {
    zone = s.slice(percent + 1);
    s = s.slice(0, percent);
    if (zone === '') throw addrError(input, 'zone must be a non-empty string');
  }
  const ip = new Uint8Array(16);
  let ellipsis = -1;
  if (s.length >= 2 && s[0] === ':' && s[1] === ':') {
    ellipsis = 0;
    s = s.slice(2);
    if (s.length === 0) return { bytes: ip, zone };
  }
  let i = 0;
  while (i < 16) {
    let off = 0;
    let acc = 0;
    for (; off < s.length; off++) {
      const c = s.charCodeAt(off);
      let digit: number;
      if (c >= 0x30 && c <= 0x39) digit = c - 0x30;
      else if (c >= 0x61 && c <= 0x66) digit = c - 0x61 + 10;
      else if (c >= 0x41 && c <= 0x46) digit = c - 0x41 + 10;
      else break;
      if (off > 3) throw addrError(input, 'each colon-separated field must have at most 4 hex digits', s);
      acc = acc * 16 + digit;
    }
    if (off === 0) throw addrError(input, 'each colon-separated field must have at least one digit', s);
    if (off < s.length && s[off] === '.') {
      if (ellipsis < 0 && i !== 12) throw addrError(input, 'embedded IPv4 address must replace the final 2 fields of the address', s);
      if (i + 4 > 16) throw addrError(input, 'too many hex fields to fit an embedded IPv4 at the end of the address', s);
      parseIPv4Fields(input, s, ip, i);
      s = '';
      i += 4;
      break;
    }
    ip[i] = acc >> 8;
    ip[i + 1] = acc & 0xff;
    i += 2;
    s = s.slice(off);
    if (s.length === 0) break;
    if (s[0] !== ':') throw addrError(input, 'unexpected character, want colon', s);
    if (s.length === 1) throw addrError(input, 'colon must be followed by more characters', s);
    s = s.slice(1);
    if (s[0] === ':') {
      if (ellipsis >= 0) throw addrError(input, 'multiple :: in address', s);
      ellipsis = i;
      s = s.slice(1);
      if (s.length === 0) break;
    }
  }
  if (s.length !== 0) throw addrError(input, 'trailing garbage after address', s);
  if (i < 16) {
    if (ellipsis < 0) throw addrError(input, 'address string too short');
    const n = 16 - i;
    for (let j = i - 1; j >= ellipsis; j--) ip[j + n] = ip[j]!;
    ip.fill(0, ellipsis, ellipsis + n);
  } else if (ellipsis >= 0) {
    throw addrError(input, 'the :: must expand to at least one field of zeros');
  }
  return { bytes: ip, zone };
}

/** netip.ParseAddr (accepts zones and IPv4-mapped addresses, as Go does). */
export function parseAddr(input: string): ParsedAddr {
  for (let i = 0; i < input.length; i++) {
    const ch = input[i];
    if (ch === '.') {
      const bytes = new Uint8Array(4);
      parseIPv4Fields(input, input, bytes, 0);
      return { bytes, zone: '' };
    }
    if (ch === ':') return parseIPv6(input);
    if (ch === '%') throw addrError(input, 'missing IPv6 address');
  }
  throw addrError(input, 'unable to parse IP');
}

/** For url(): how netip classifies a bracketed host. */
export function addressFamily(host: string): 'ipv4' | 'ipv6' | undefined {
  try {
    return parseAddr(host).bytes.length === 4 ? 'ipv4' : 'ipv6';
  } catch {
    return undefined;
  }
}

function is4In6(bytes: Uint8Array): boolean {
  if (bytes.length !== 16) return false;
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

function formatAddr(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join('.');
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  let zeroStart = -1;
  let zeroEnd = -1;
  for (let i = 0; i < 8; i++) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i >= 2 && j - i > zeroEnd - zeroStart) {
      zeroStart = i;
      zeroEnd = j;
    }
  }
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (i === zeroStart) {
      out += '::';
      i = zeroEnd - 1;
      continue;
    }
    if (i > 0 && !out.endsWith(':')) out += ':';
    out += groups[i]!.toString(16);
  }
  return out;
}

export class IPAddress implements HasJsonForm {
  readonly celTypeName = 'net.IP';
  constructor(readonly bytes: Uint8Array) {}

  get family(): 4 | 6 {
    return this.bytes.length === 4 ? 4 : 6;
  }

  private byte(i: number): number {
    return this.bytes[i] ?? 0;
  }

  isUnspecified(): boolean {
    return this.bytes.every((b) => b === 0);
  }

  isLoopback(): boolean {
    if (this.family === 4) return this.byte(0) === 127;
    return this.bytes.every((b, i) => (i === 15 ? b === 1 : b === 0));
  }

  isMulticast(): boolean {
    return this.family === 4 ? (this.byte(0) & 0xf0) === 0xe0 : this.byte(0) === 0xff;
  }

  isLinkLocalMulticast(): boolean {
    if (this.family === 4) return this.byte(0) === 224 && this.byte(1) === 0 && this.byte(2) === 0;
    return this.byte(0) === 0xff && (this.byte(1) & 0x0f) === 0x02;
  }

  isLinkLocalUnicast(): boolean {
    if (this.family === 4) return this.byte(0) === 169 && this.byte(1) === 254;
    return this.byte(0) === 0xfe && (this.byte(1) & 0xc0) === 0x80;
  }

  isGlobalUnicast(): boolean {
    if (this.family === 4 && (this.isUnspecified() || this.bytes.every((b) => b === 255))) return false;
    return !this.isUnspecified() && !this.isLoopback() && !this.isMulticast() && !this.isLinkLocalUnicast();
  }

  equals(other: unknown): boolean {
    return other instanceof IPAddress && other.bytes.length === this.bytes.length && other.bytes.every((b, i) => b === this.bytes[i]);
  }

  toString(): string {
    return formatAddr(this.bytes);
  }

  toCelJson(): string {
    return this.toString();
  }
}

function maskBytes(bytes: Uint8Array, bits: number): Uint8Array {
  const out = new Uint8Array(bytes);
  for (let i = 0; i < out.length; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    out[i] = out[i]! & ((0xff << (8 - keep)) & 0xff);
  }
  return out;
}

export class CIDR implements HasJsonForm {
  readonly celTypeName = 'net.CIDR';
  constructor(
    readonly address: IPAddress,
    readonly bits: number,
  ) {}

  masked(): CIDR {
    return new CIDR(new IPAddress(maskBytes(this.address.bytes, this.bits)), this.bits);
  }

  containsIP(ip: IPAddress): boolean {
    if (ip.family !== this.address.family) return false;
    return new IPAddress(maskBytes(ip.bytes, this.bits)).equals(this.masked().address);
  }

  containsCIDR(other: CIDR): boolean {
    return other.bits >= this.bits && this.containsIP(other.address);
  }

  equals(other: unknown): boolean {
    return other instanceof CIDR && other.bits === this.bits && other.address.equals(this.address);
  }

  toString(): string {
    return `${this.address}/${this.bits}`;
  }

  toCelJson(): string {
    return this.toString();
  }
}

/** Kubernetes' parseIPAddr: netip.ParseAddr, then no zones and no IPv4-mapped IPv6. */
function parseKubernetesAddr(raw: string): IPAddress {
  let parsed: ParsedAddr;
  try {
    parsed = parseAddr(raw);
  } catch (error) {
    if (error instanceof AddrError) {
      throw celError(`IP Address ${JSON.stringify(raw)} parse error during conversion from string: ${error.message}`);
    }
    throw error;
  }
  if (parsed.zone !== '') throw celError(`IP address ${JSON.stringify(raw)} with zone value is not allowed`);
  if (is4In6(parsed.bytes)) throw celError(`IPv4-mapped IPv6 address ${JSON.stringify(raw)} is not allowed`);
  return new IPAddress(parsed.bytes);
}

/** netip.ParsePrefix plus Kubernetes' refusal of IPv4-mapped addresses. */
function parseKubernetesCidr(raw: string): CIDR {
  const fail = (message: string): never => {
    throw celError(`network address parse error during conversion from string: netip.ParsePrefix(${JSON.stringify(raw)}): ${message}`);
  };
  const slash = raw.lastIndexOf('/');
  if (slash < 0) fail("no '/'");
  let parsed: ParsedAddr;
  try {
    parsed = parseAddr(raw.slice(0, slash));
  } catch (error) {
    if (error instanceof AddrError) return fail(error.message);
    throw error;
  }
  if (parsed.bytes.length === 16 && parsed.zone !== '') fail('IPv6 zones cannot be present in a prefix');
  const bitsText = raw.slice(slash + 1);
  if (!/^(0|[1-9][0-9]*)$/.test(bitsText)) fail(`bad bits after slash: ${JSON.stringify(bitsText)}`);
  const bits = Number(bitsText);
  if (bits > parsed.bytes.length * 8) fail('prefix length out of range');
  if (is4In6(parsed.bytes)) throw celError(`IPv4-mapped IPv6 address ${JSON.stringify(raw)} is not allowed`);
  return new CIDR(new IPAddress(parsed.bytes), bits);
}

function succeeds(parse: (raw: string) => unknown): (raw: string) => boolean {
  return (raw) => {
    try {
      parse(raw);
      return true;
    } catch {
      return false;
    }
  };
}

const isAddr = succeeds(parseKubernetesAddr);
const isCidr = succeeds(parseKubernetesCidr);

/**
 * containsIP and containsCIDR as Kubernetes prices them, by the size of the CIDR (its prefix length
 * in bytes, rounded up: cel.CIDR's Size): the comparison of up to that many bytes, ceil(2 * size *
 * 0.1); for containsCIDR the masking of the base as well, ceil(size * 0.1) + 1; and one traversal of
 * a string operand, which is parsed first.
 */
function chargeContains(c: CIDR, raw: string | undefined, cidrOperand: boolean): void {
  if (!isCostBudgetArmed()) return;
  const size = Math.ceil(c.bits / 8);
  let cost = traversal(size + size);
  if (cidrOperand) cost += traversal(size) + 1;
  if (raw !== undefined) cost += stringTraversal(raw);
  chargeCost(cost);
}

class IPNamespace {}

const IP = 'net.IP';
const CIDR_TYPE = 'net.CIDR';

export function registerIpLibrary(env: Environment): void {
  env.registerType(IP, { ctor: IPAddress, fields: {} });
  env.registerType(CIDR_TYPE, { ctor: CIDR, fields: {} });
  env.registerOperator(`${IP} == ${IP}`, (a: IPAddress, b: IPAddress) => a.equals(b));
  env.registerOperator(`${CIDR_TYPE} == ${CIDR_TYPE}`, (a: CIDR, b: CIDR) => a.equals(b));

  define(env, `ip(string): ${IP}`, (raw: string) => (chargeStringTraversal(raw), parseKubernetesAddr(raw)));
  define(env, 'isIP(string): bool', (raw: string) => (chargeStringTraversal(raw), isAddr(raw)));
  env.registerType('IPNamespace', IPNamespace);
  env.registerConstant('ip', 'IPNamespace', new IPNamespace());
  define(env, 'IPNamespace.isCanonical(string): bool', (_ns: IPNamespace, raw: string) => {
    // Parsed, then printed and compared: Kubernetes charges two traversals.
    if (isCostBudgetArmed()) chargeCost(traversalAndBuild(stringSize(raw)));
    return parseKubernetesAddr(raw).toString() === raw;
  });
  // Not nominal(): `string` has constant-time overloads of cel-js's, so the call's node pays the unit (node-costs.ts).
  define(env, `string(${IP}): string`, (ip: IPAddress) => ip.toString());
  define(env, `${IP}.family(): int`, nominal((ip: IPAddress) => BigInt(ip.family)));
  define(env, `${IP}.isUnspecified(): bool`, nominal((ip: IPAddress) => ip.isUnspecified()));
  define(env, `${IP}.isLoopback(): bool`, nominal((ip: IPAddress) => ip.isLoopback()));
  define(env, `${IP}.isLinkLocalMulticast(): bool`, nominal((ip: IPAddress) => ip.isLinkLocalMulticast()));
  define(env, `${IP}.isLinkLocalUnicast(): bool`, nominal((ip: IPAddress) => ip.isLinkLocalUnicast()));
  define(env, `${IP}.isGlobalUnicast(): bool`, nominal((ip: IPAddress) => ip.isGlobalUnicast()));

  define(env, `cidr(string): ${CIDR_TYPE}`, (raw: string) => (chargeStringTraversal(raw), parseKubernetesCidr(raw)));
  define(env, 'isCIDR(string): bool', (raw: string) => (chargeStringTraversal(raw), isCidr(raw)));
  define(env, `string(${CIDR_TYPE}): string`, (c: CIDR) => c.toString());
  define(env, `${CIDR_TYPE}.containsIP(string): bool`, (c: CIDR, raw: string) => {
    chargeContains(c, raw, false);
    return c.containsIP(parseKubernetesAddr(raw));
  });
  define(env, `${CIDR_TYPE}.containsIP(${IP}): bool`, (c: CIDR, ip: IPAddress) => {
    chargeContains(c, undefined, false);
    return c.containsIP(ip);
  });
  define(env, `${CIDR_TYPE}.containsCIDR(string): bool`, (c: CIDR, raw: string) => {
    chargeContains(c, raw, true);
    return c.containsCIDR(parseKubernetesCidr(raw));
  });
  define(env, `${CIDR_TYPE}.containsCIDR(${CIDR_TYPE}): bool`, (c: CIDR, other: CIDR) => {
    chargeContains(c, undefined, true);
    return c.containsCIDR(other);
  });
  define(env, `${CIDR_TYPE}.ip(): ${IP}`, nominal((c: CIDR) => c.address));
  define(env, `${CIDR_TYPE}.masked(): ${CIDR_TYPE}`, nominal((c: CIDR) => c.masked()));
  define(env, `${CIDR_TYPE}.prefixLength(): int`, nominal((c: CIDR) => BigInt(c.bits)));
}
