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

/** The headers that decide whether this layer may answer. Any other header is read for its syntax only. */
type Known = 'host' | 'content-length' | 'content-type' | 'connection' | 'transfer-encoding' | 'expect' | 'upgrade';
const KNOWN_LENGTHS = new Set([4, 6, 7, 10, 12, 14, 17]);
const KNOWN = new Set<string>(['host', 'content-length', 'content-type', 'connection', 'transfer-encoding', 'expect', 'upgrade']);

/**
 * Reads the head at the start of `bytes` (the bytes of a connection from the first byte of a request).
 * `maxBodyBytes`: a larger Content-Length is `other` (node refuses it with 413, after reading the body).
 */
export function readRequestHead(bytes: Buffer, maxBodyBytes: number): HeadReading {
  // A head that is not a review can be told from its first bytes: no need to wait for all of it.
  const start = Math.min(bytes.length, METHOD.length);
  if (bytes.compare(METHOD, 0, start, 0, start) !== 0) return OTHER;
  const end = bytes.indexOf(HEAD_END);
  // A line ended by LF alone: node may take it as a line end where this reader would wait for CRLF.
  if (hasBareLineFeed(bytes, end < 0 ? bytes.length : end)) return OTHER;
  if (end < 0) return bytes.length > MAX_HEAD_BYTES ? OTHER : INCOMPLETE;
  const headBytes = end + HEAD_END.length;
  if (headBytes > MAX_HEAD_BYTES) return OTHER;

  let position = METHOD.length - 1;
  while (position < end && isTargetByte(bytes[position] as number)) position += 1;
  const target = bytes.toString('latin1', METHOD.length - 1, position);
  const path = requestPath(target);
  if (path !== '/validate' && path !== '/mutate') return OTHER;
  if (bytes.compare(VERSION, 0, VERSION.length, position, position + VERSION.length) !== 0) return OTHER;
  position += VERSION.length;

  const seen: Partial<Record<Known, string>> = {};
  // Each header line: name ":" OWS value OWS CRLF, up to and including the blank line's CRLF at `end`.
  while (position < headBytes - 2) {
    const nameStart = position;
    while (TOKEN[bytes[position] as number] === 1) position += 1;
    const nameLength = position - nameStart;
    if (nameLength === 0 || bytes[position] !== 0x3a) return OTHER;
    position += 1;
    const valueStart = position;
    while (isValueByte(bytes[position] as number)) position += 1;
    if (bytes[position] !== CR || bytes[position + 1] !== LF) return OTHER;
    const valueEnd = position;
    position += 2;
    if (!KNOWN_LENGTHS.has(nameLength)) continue;
    const name = bytes.toString('latin1', nameStart, nameStart + nameLength).toLowerCase();
    if (!KNOWN.has(name)) continue;
    // Each of them at most once: node joins or picks among repeats by rules of its own.
    if (seen[name as Known] !== undefined) return OTHER;
    seen[name as Known] = trimOws(bytes.toString('latin1', valueStart, valueEnd));
  }

  if (seen.host === undefined || seen['transfer-encoding'] !== undefined || seen.expect !== undefined || seen.upgrade !== undefined) return OTHER;
  const contentLength = seen['content-length'];
  if (contentLength === undefined || !/^[0-9]{1,15}$/.test(contentLength)) return OTHER;
  const length = Number(contentLength);
  if (length > maxBodyBytes) return OTHER;
  if (contentTypeProblem(seen['content-type']) !== undefined) return OTHER;
  let close = false;
  if (seen.connection !== undefined) {
    for (const option of seen.connection.split(',')) {
      const value = trimOws(option).toLowerCase();
      if (value === 'close') close = true;
      else if (value !== 'keep-alive') return OTHER;
    }
  }
  return { kind: 'review', path, target, contentLength: length, close, headBytes };
}

function hasBareLineFeed(bytes: Buffer, end: number): boolean {
  for (let at = bytes.indexOf(LF); at >= 0 && at < end; at = bytes.indexOf(LF, at + 1)) if (bytes[at - 1] !== CR) return true;
  return false;
}

function trimOws(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && (value.charCodeAt(start) === SPACE || value.charCodeAt(start) === TAB)) start += 1;
  while (end > start && (value.charCodeAt(end - 1) === SPACE || value.charCodeAt(end - 1) === TAB)) end -= 1;
  return start === 0 && end === value.length ? value : value.slice(start, end);
}
