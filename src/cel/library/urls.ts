// Kubernetes' URL library (k8s.io/apiserver/pkg/cel/library/urls.go) over a port of Go's net/url:
//   url(<string>) <URL>        the string must pass url.ParseRequestURI: an absolute URI or an
//                              absolute path ('/path'); relative references are errors
//   isURL(<string>) <bool>
//   <URL>.getScheme() .getHost() .getHostname() .getPort() .getEscapedPath() <string>
//   <URL>.getQuery() <map<string, list<string>>>   keys and values unescaped, repeated keys kept
// Costs, as Kubernetes charges: url() one traversal of the string, isURL() and the getters 1.
import type { Environment } from '@marcbachmann/cel-js';
import type { HasJsonForm } from '../values.js';
import { chargeNominalCall, chargeStringTraversal, nominal } from './call-costs.js';
import { addressFamily } from './ip.js';
import { celError, define } from './support.js';

type Mode = 'path' | 'pathSegment' | 'host' | 'zone' | 'userPassword' | 'queryComponent' | 'fragment';

function isAlnum(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39);
}

/** Go's shouldEscape for one byte. */
function shouldEscape(c: number, mode: Mode): boolean {
  if (isAlnum(c)) return false;
  const ch = String.fromCharCode(c);
  if ((mode === 'host' || mode === 'zone') && `!$&'()*+,;=:[]<>"`.includes(ch)) return false;
  if ('-_.~'.includes(ch)) return false;
  if ('$&+,/:;=?@'.includes(ch)) {
    switch (mode) {
      case 'path':
        return ch === '?';
      case 'pathSegment':
        return ch === '/' || ch === ';' || ch === ',' || ch === '?';
      case 'userPassword':
        return ch === '@' || ch === '/' || ch === '?' || ch === ':';
      case 'queryComponent':
        return true;
      case 'fragment':
        return false;
      default:
        break;
    }
  }
  if (mode === 'fragment' && '!()*'.includes(ch)) return false;
  return true;
}

const ENCODER = new TextEncoder();
const DECODER = new TextDecoder('utf-8');

function isHex(c: string | undefined): boolean {
  return c !== undefined && /^[0-9a-fA-F]$/.test(c);
}

class UrlError extends Error {}

/** Go's unescape, over the UTF-8 bytes of the string. */
function unescape(s: string, mode: Mode): string {
  let count = 0;
  let hasPlus = false;
  for (let i = 0; i < s.length; ) {
    const ch = s[i]!;
    if (ch === '%') {
      count++;
      if (i + 2 >= s.length || !isHex(s[i + 1]) || !isHex(s[i + 2])) {
        throw new UrlError(`invalid URL escape ${JSON.stringify(s.slice(i, i + 3))}`);
      }
      const v = parseInt(s.slice(i + 1, i + 3), 16);
      if (mode === 'host' && v < 0x80 && s.slice(i, i + 3) !== '%25') {
        throw new UrlError(`invalid URL escape ${JSON.stringify(s.slice(i, i + 3))}`);
      }
      if (mode === 'zone' && s.slice(i, i + 3) !== '%25' && v !== 0x20 && shouldEscape(v, 'host')) {
        throw new UrlError(`invalid URL escape ${JSON.stringify(s.slice(i, i + 3))}`);
      }
      i += 3;
    } else {
      if (ch === '+') hasPlus = mode === 'queryComponent';
      const code = s.charCodeAt(i);
      if ((mode === 'host' || mode === 'zone') && code < 0x80 && shouldEscape(code, mode)) {
        throw new UrlError(`invalid character ${JSON.stringify(ch)} in host name`);
      }
      i++;
    }
  }
  if (count === 0 && !hasPlus) return s;
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (ch === '%') {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (ch === '+') {
      bytes.push(mode === 'queryComponent' ? 0x20 : 0x2b);
    } else {
      const code = s.codePointAt(i) ?? 0;
      if (code > 0xffff) i++;
      for (const b of ENCODER.encode(String.fromCodePoint(code))) bytes.push(b);
    }
  }
  return DECODER.decode(new Uint8Array(bytes));
}

/** Go's escape. */
function escape(s: string, mode: Mode): string {
  let out = '';
  for (const b of ENCODER.encode(s)) {
    if (b === 0x20 && mode === 'queryComponent') out += '+';
    else if (shouldEscape(b, mode)) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
    else out += String.fromCharCode(b);
  }
  return out;
}

function validEncoded(s: string, mode: Mode): boolean {
  for (const b of ENCODER.encode(s)) {
    if ("!$&'()*+,;=:@[]%".includes(String.fromCharCode(b))) continue;
    if (shouldEscape(b, mode)) return false;
  }
  return true;
}

function validOptionalPort(port: string): boolean {
  return port === '' || /^:[0-9]*$/.test(port);
}

function validUserinfo(s: string): boolean {
  return /^[A-Za-z0-9\-._:~!$&'()*+,;=%@]*$/.test(s);
}

export interface ParsedUrl {
  scheme: string;
  opaque: string;
  user: { username: string; password?: string } | undefined;
  host: string;
  path: string;
  rawPath: string;
  rawQuery: string;
  forceQuery: boolean;
  fragment: string;
  rawFragment: string;
}

function getScheme(raw: string): [string, string] {
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if ((c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a)) continue;
    if ((c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2d || c === 0x2e) {
      if (i === 0) return ['', raw];
      continue;
    }
    if (c === 0x3a) {
      if (i === 0) throw new UrlError('missing protocol scheme');
      return [raw.slice(0, i), raw.slice(i + 1)];
    }
    return ['', raw];
  }
  return ['', raw];
}

function parseHost(scheme: string, host: string): string {
  const open = host.lastIndexOf('[');
  if (open > 0) throw new UrlError('invalid IP-literal');
  if (open === 0) {
    const close = host.lastIndexOf(']');
    if (close < 0) throw new UrlError("missing ']' in host");
    const colonPort = host.slice(close + 1);
    if (!validOptionalPort(colonPort)) throw new UrlError(`invalid port ${JSON.stringify(colonPort)} after host`);
    const unescapedPort = unescape(colonPort, 'host');
    const hostname = host.slice(1, close);
    const zone = hostname.indexOf('%25');
    const unescapedHost =
      zone >= 0 ? unescape(hostname.slice(0, zone), 'host') + unescape(hostname.slice(zone), 'zone') : unescape(hostname, 'host');
    // Only an IPv6 address may be bracketed (netip.ParseAddr must accept it, and not as IPv4).
    const family = addressFamily(unescapedHost);
    if (family === undefined) throw new UrlError(`invalid host: ${JSON.stringify(unescapedHost)}`);
    if (family === 'ipv4') throw new UrlError('invalid IP-literal');
    return `[${unescapedHost}]${unescapedPort}`;
  }
  const first = host.indexOf(':');
  if (first !== -1) {
    const last = host.lastIndexOf(':');
    // Go enforces a single colon for http(s); other schemes take the last colon as the port separator.
    const at = last !== first && scheme !== 'http' && scheme !== 'https' ? last : first;
    const colonPort = host.slice(at);
    if (!validOptionalPort(colonPort)) throw new UrlError(`invalid port ${JSON.stringify(colonPort)} after host`);
  }
  return unescape(host, 'host');
}

function hasControlByte(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** Go's url.parse. */
function parse(raw: string, viaRequest: boolean): ParsedUrl {
  if (hasControlByte(raw)) throw new UrlError('net/url: invalid control character in URL');
  if (raw === '' && viaRequest) throw new UrlError('empty url');
  const url: ParsedUrl = {
    scheme: '',
    opaque: '',
    user: undefined,
    host: '',
    path: '',
    rawPath: '',
    rawQuery: '',
    forceQuery: false,
    fragment: '',
    rawFragment: '',
  };
  if (raw === '*') {
    url.path = '*';
    return url;
  }
  const [scheme, afterScheme] = getScheme(raw);
  let rest = afterScheme;
  url.scheme = scheme.toLowerCase();
  if (rest.endsWith('?') && rest.indexOf('?') === rest.length - 1) {
    url.forceQuery = true;
    rest = rest.slice(0, -1);
  } else {
    const q = rest.indexOf('?');
    if (q >= 0) {
      url.rawQuery = rest.slice(q + 1);
      rest = rest.slice(0, q);
    }
  }
  if (!rest.startsWith('/')) {
    if (url.scheme !== '') {
      url.opaque = rest;
      return url;
    }
    if (viaRequest) throw new UrlError('invalid URI for request');
    const slash = rest.indexOf('/');
    const segment = slash >= 0 ? rest.slice(0, slash) : rest;
    if (segment.includes(':')) throw new UrlError('first path segment in URL cannot contain colon');
  }
  if ((url.scheme !== '' || (!viaRequest && !rest.startsWith('///'))) && rest.startsWith('//')) {
    let authority = rest.slice(2);
    rest = '';
    const slash = authority.indexOf('/');
    if (slash >= 0) {
      rest = authority.slice(slash);
      authority = authority.slice(0, slash);
    }
    const at = authority.lastIndexOf('@');
    url.host = parseHost(url.scheme, at < 0 ? authority : authority.slice(at + 1));
    if (at >= 0) {
      const userinfo = authority.slice(0, at);
      if (!validUserinfo(userinfo)) throw new UrlError('net/url: invalid userinfo');
      const colon = userinfo.indexOf(':');
      url.user =
        colon < 0
          ? { username: unescape(userinfo, 'userPassword') }
          : {
              username: unescape(userinfo.slice(0, colon), 'userPassword'),
              password: unescape(userinfo.slice(colon + 1), 'userPassword'),
            };
    }
  }
  const path = unescape(rest, 'path');
  url.path = path;
  url.rawPath = escape(path, 'path') === rest ? '' : rest;
  return url;
}

export class CelURL implements HasJsonForm {
  readonly celTypeName = 'kubernetes.URL';
  constructor(readonly parts: ParsedUrl) {}

  get scheme(): string {
    return this.parts.scheme;
  }

  get host(): string {
    return this.parts.host;
  }

  private splitHostPort(): [string, string] {
    let host = this.parts.host;
    let port = '';
    const colon = host.lastIndexOf(':');
    if (colon !== -1 && validOptionalPort(host.slice(colon))) {
      port = host.slice(colon + 1);
      host = host.slice(0, colon);
    }
    if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
    return [host, port];
  }

  get hostname(): string {
    return this.splitHostPort()[0];
  }

  get port(): string {
    return this.splitHostPort()[1];
  }

  get escapedPath(): string {
    const { rawPath, path } = this.parts;
    if (rawPath !== '' && validEncoded(rawPath, 'path')) {
      try {
        if (unescape(rawPath, 'path') === path) return rawPath;
      } catch {
        // fall through to the computed escaping
      }
    }
    if (path === '*') return '*';
    return escape(path, 'path');
  }

  /** Go's url.Values from RawQuery, dropping malformed pairs as URL.Query() does. */
  query(): Record<string, string[]> {
    const result = Object.create(null) as Record<string, string[]>;
    let q = this.parts.rawQuery;
    if (q.split('&').length > 10_000) return result;
    while (q !== '') {
      const amp = q.indexOf('&');
      let key = amp >= 0 ? q.slice(0, amp) : q;
      q = amp >= 0 ? q.slice(amp + 1) : '';
      if (key.includes(';') || key === '') continue;
      const eq = key.indexOf('=');
      let value = '';
      if (eq >= 0) {
        value = key.slice(eq + 1);
        key = key.slice(0, eq);
      }
      try {
        key = unescape(key, 'queryComponent');
        value = unescape(value, 'queryComponent');
      } catch {
        continue;
      }
      (result[key] ??= []).push(value);
    }
    return result;
  }

  /** Go's URL.String(), used for equality and JSON. */
  toString(): string {
    const p = this.parts;
    let out = '';
    if (p.scheme !== '') out += `${p.scheme}:`;
    if (p.opaque !== '') {
      out += p.opaque;
    } else {
      if (p.scheme !== '' || p.host !== '' || p.user) {
        if (p.host !== '' || p.path !== '' || p.user) out += '//';
        if (p.user) {
          out += escape(p.user.username, 'userPassword');
          if (p.user.password !== undefined) out += `:${escape(p.user.password, 'userPassword')}`;
          out += '@';
        }
        out += escape(p.host, 'host');
      }
      const path = this.escapedPath;
      if (path !== '' && path[0] !== '/' && p.host !== '') out += '/';
      out += path;
    }
    if (p.forceQuery || p.rawQuery !== '') out += `?${p.rawQuery}`;
    if (p.fragment !== '') out += `#${p.rawFragment !== '' ? p.rawFragment : escape(p.fragment, 'fragment')}`;
    return out;
  }

  equals(other: unknown): boolean {
    return other instanceof CelURL && other.toString() === this.toString();
  }

  toCelJson(): string {
    return this.toString();
  }
}

/** url.ParseRequestURI to validate, then url.Parse for the components (it handles fragments). */
export function parseUrl(raw: string): CelURL {
  chargeStringTraversal(raw);
  try {
    parse(raw, true);
    const hash = raw.indexOf('#');
    const url = parse(hash >= 0 ? raw.slice(0, hash) : raw, false);
    if (hash >= 0) {
      const fragment = raw.slice(hash + 1);
      url.fragment = unescape(fragment, 'fragment');
      url.rawFragment = escape(url.fragment, 'fragment') === fragment ? '' : fragment;
    }
    return new CelURL(url);
  } catch (error) {
    if (error instanceof UrlError) {
      throw celError(`URL parse error during conversion from string: parse ${JSON.stringify(raw)}: ${error.message}`);
    }
    throw error;
  }
}

export function isUrl(raw: string): boolean {
  // Kubernetes has no rule for isURL: cel-go's default of 1, whatever the length.
  chargeNominalCall();
  try {
    parse(raw, true);
    return true;
  } catch (error) {
    if (error instanceof UrlError) return false;
    throw error;
  }
}

const U = 'kubernetes.URL';

export function registerUrlsLibrary(env: Environment): void {
  env.registerType(U, { ctor: CelURL, fields: {} });
  env.registerOperator(`${U} == ${U}`, (a: CelURL, b: CelURL) => a.equals(b));
  define(env, `url(string): ${U}`, parseUrl);
  define(env, 'isURL(string): bool', isUrl);
  define(env, `${U}.getScheme(): string`, nominal((u: CelURL) => u.scheme));
  define(env, `${U}.getHost(): string`, nominal((u: CelURL) => u.host));
  define(env, `${U}.getHostname(): string`, nominal((u: CelURL) => u.hostname));
  define(env, `${U}.getPort(): string`, nominal((u: CelURL) => u.port));
  define(env, `${U}.getEscapedPath(): string`, nominal((u: CelURL) => u.escapedPath));
  define(env, `${U}.getQuery(): map<string, list<string>>`, nominal((u: CelURL) => u.query()));
}
