// The request heads the review connections (review-connections.ts) answer themselves: `POST /validate`
// or `POST /mutate`, HTTP/1.1, a body framed by one Content-Length, as the kube-apiserver's Go client
// writes every review. Anything else, however legal, is `other`: the connection goes to node's HTTP
// server with the bytes read so far, and node answers it as before (chunked bodies, Expect, HTTP/1.0,
// a wrong Content-Type or size, other paths, errors). Strictness costs nothing here: a head read wrong
// could frame a request wrong, a head refused only takes the slower path.

import { contentTypeProblem, requestPath } from './request-query.js';

/** Node's default --max-http-header-size: a head still incomplete past it is node's to refuse (431). */
export const MAX_HEAD_BYTES = 16 * 1024;

export type HeadReading =
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'other' }
  | {
      readonly kind: 'review';
      readonly path: '/validate' | '/mutate';
      /** The request target as sent, with its query (`?timeout=`). */
      readonly target: string;
      readonly contentLength: number;
      /** `Connection: close`: answer, then close. */
      readonly close: boolean;
      /** Bytes of the head, its blank line included: where the body starts. */
      readonly headBytes: number;
    };

const INCOMPLETE: HeadReading = Object.freeze({ kind: 'incomplete' });
const OTHER: HeadReading = Object.freeze({ kind: 'other' });

const CR = 0x0d;
const LF = 0x0a;
const SPACE = 0x20;
const TAB = 0x09;
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');
const METHOD = Buffer.from('POST /', 'latin1');
const VERSION = Buffer.from(' HTTP/1.1\r\n', 'latin1');

/** RFC 9110 tchar: the bytes of a header name. */
const TOKEN = new Uint8Array(256);
for (const character of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TOKEN[character.charCodeAt(0)] = 1;

/** Field-value bytes: visible ASCII, space, tab and obs-text; never CR, LF, NUL or another control. */
function isValueByte(byte: number): boolean {
  return byte === TAB || (byte >= SPACE && byte !== 0x7f);
}

/** Request-target bytes: visible ASCII without `#` (a fragment has no business in a request). */
function isTargetByte(byte: number): boolean {
  return byte > SPACE && byte < 0x7f && byte !== 0x23;
}

/** The headers that decide whether this layer may answer, in lower case. Any other is read for its syntax only. */
const HOST = 0;
const CONTENT_LENGTH = 1;
const CONTENT_TYPE = 2;
const CONNECTION = 3;
const REFUSED = 4; // Transfer-Encoding, Expect, Upgrade: node's to answer
const KNOWN_NAMES: readonly (readonly [Buffer, number])[] = [
  [Buffer.from('host'), HOST],
  [Buffer.from('content-length'), CONTENT_LENGTH],
  [Buffer.from('content-type'), CONTENT_TYPE],
  [Buffer.from('connection'), CONNECTION],
  [Buffer.from('transfer-encoding'), REFUSED],
  [Buffer.from('expect'), REFUSED],
  [Buffer.from('upgrade'), REFUSED],
];
/** By name length: the known names of that length. */
const KNOWN_BY_LENGTH: (readonly [Buffer, number])[][] = [];
for (const known of KNOWN_NAMES) (KNOWN_BY_LENGTH[known[0].length] ??= []).push(known);
const APPLICATION_JSON = Buffer.from('application/json');

/** Which known header `bytes[start, start + length)` names, in any case, or -1. */
function knownHeader(bytes: Buffer, start: number, length: number): number {
  const candidates = KNOWN_BY_LENGTH[length];
  if (candidates === undefined) return -1;
  for (const [name, which] of candidates) {
    let i = 0;
    // Header names are tokens: setting 0x20 lower-cases a letter and leaves `-` as it is.
    while (i < length && (bytes[start + i]! | 0x20) === name[i]) i += 1;
    if (i === length) return which;
  }
  return -1;
}

/**
 * Reads the head at the start of `bytes` (the bytes of a connection from the first byte of a request).
 * `maxBodyBytes`: a larger Content-Length is `other` (node refuses it with 413, after reading the body).
 */
export function readRequestHead(bytes: Buffer, maxBodyBytes: number): HeadReading {
  // A head that is not a review can be told from its first bytes: no need to wait for all of it.
  const prefix = Math.min(bytes.length, METHOD.length);
  for (let i = 0; i < prefix; i += 1) if (bytes[i] !== METHOD[i]) return OTHER;
  const end = bytes.indexOf(HEAD_END);
  if (end < 0) {
    // A line ended by LF alone: node may take it as a line end where this reader would wait for CRLF.
    // (In a complete head, the line checks below refuse it.)
    if (hasBareLineFeed(bytes)) return OTHER;
    return bytes.length > MAX_HEAD_BYTES ? OTHER : INCOMPLETE;
  }
  const headBytes = end + HEAD_END.length;
  if (headBytes > MAX_HEAD_BYTES) return OTHER;

  let position = METHOD.length - 1;
  while (position < end && isTargetByte(bytes[position]!)) position += 1;
  const target = bytes.toString('latin1', METHOD.length - 1, position);
  const path = requestPath(target);
  if (path !== '/validate' && path !== '/mutate') return OTHER;
  for (let i = 0; i < VERSION.length; i += 1) if (bytes[position + i] !== VERSION[i]) return OTHER;
  position += VERSION.length;

  // Where each known header's value is (OWS trimmed), -1 until seen.
  let hostSeen = false;
  let lengthStart = -1;
  let lengthEnd = -1;
  let typeStart = -1;
  let typeEnd = -1;
  let connectionStart = -1;
  let connectionEnd = -1;
  // Each header line: name ":" OWS value OWS CRLF, up to and including the blank line's CRLF at `end`.
  while (position < headBytes - 2) {
    const nameStart = position;
    while (TOKEN[bytes[position]!] === 1) position += 1;
    const nameLength = position - nameStart;
    if (nameLength === 0 || bytes[position] !== 0x3a) return OTHER;
    position += 1;
    let valueStart = position;
    while (isValueByte(bytes[position]!)) position += 1;
    if (bytes[position] !== CR || bytes[position + 1] !== LF) return OTHER;
    let valueEnd = position;
    position += 2;
    const which = knownHeader(bytes, nameStart, nameLength);
    if (which < 0) continue;
    if (which === REFUSED) return OTHER;
    while (valueStart < valueEnd && (bytes[valueStart] === SPACE || bytes[valueStart] === TAB)) valueStart += 1;
    while (valueEnd > valueStart && (bytes[valueEnd - 1] === SPACE || bytes[valueEnd - 1] === TAB)) valueEnd -= 1;
    // Each of them at most once: node joins or picks among repeats by rules of its own.
    if (which === HOST) {
      if (hostSeen) return OTHER;
      hostSeen = true;
    } else if (which === CONTENT_LENGTH) {
      if (lengthStart >= 0) return OTHER;
      lengthStart = valueStart;
      lengthEnd = valueEnd;
    } else if (which === CONTENT_TYPE) {
      if (typeStart >= 0) return OTHER;
      typeStart = valueStart;
      typeEnd = valueEnd;
    } else {
      if (connectionStart >= 0) return OTHER;
      connectionStart = valueStart;
      connectionEnd = valueEnd;
    }
  }

  if (!hostSeen || lengthStart < 0) return OTHER;
  // 1 to 15 digits, nothing else: a sign, a space or a second number is node's to judge.
  const digits = lengthEnd - lengthStart;
  if (digits < 1 || digits > 15) return OTHER;
  let length = 0;
  for (let i = lengthStart; i < lengthEnd; i += 1) {
    const digit = bytes[i]! - 0x30;
    if (digit < 0 || digit > 9) return OTHER;
    length = length * 10 + digit;
  }
  if (length > maxBodyBytes) return OTHER;
  if (typeStart >= 0 && !isApplicationJson(bytes, typeStart, typeEnd) && contentTypeProblem(bytes.toString('latin1', typeStart, typeEnd)) !== undefined) return OTHER;
  let close = false;
  if (connectionStart >= 0) {
    for (const option of bytes.toString('latin1', connectionStart, connectionEnd).split(',')) {
      const value = trimOws(option).toLowerCase();
      if (value === 'close') close = true;
      else if (value !== 'keep-alive') return OTHER;
    }
  }
  return { kind: 'review', path, target, contentLength: length, close, headBytes };
}

/** `application/json` exactly, as the apiserver writes it. */
function isApplicationJson(bytes: Buffer, start: number, end: number): boolean {
  if (end - start !== APPLICATION_JSON.length) return false;
  for (let i = 0; i < APPLICATION_JSON.length; i += 1) if (bytes[start + i] !== APPLICATION_JSON[i]) return false;
  return true;
}

function hasBareLineFeed(bytes: Buffer): boolean {
  for (let at = bytes.indexOf(LF); at >= 0; at = bytes.indexOf(LF, at + 1)) if (bytes[at - 1] !== CR) return true;
  return false;
}

function trimOws(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && (value.charCodeAt(start) === SPACE || value.charCodeAt(start) === TAB)) start += 1;
  while (end > start && (value.charCodeAt(end - 1) === SPACE || value.charCodeAt(end - 1) === TAB)) end -= 1;
  return start === 0 && end === value.length ? value : value.slice(start, end);
}
