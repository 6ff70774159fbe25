// What the review endpoints read from a request besides its body: the media type and charset of the
// Content-Type header, and the apiserver's `?timeout=` query parameter.

import { parseDuration } from './duration.js';

/**
 * Why a Content-Type cannot carry an AdmissionReview, or undefined when it can: `application/json`,
 * with no charset or with charset utf-8 (any case, quoted or not). A missing header is accepted, as
 * JSON. The body is decoded as UTF-8, so any other charset would be read wrong: UTF-16 text read as
 * UTF-8 is not even JSON, and Latin-1 text would have its accents turned into other characters.
 */
export function contentTypeProblem(contentType: string | undefined): string | undefined {
  // What the apiserver sends, every time.
  if (contentType === undefined || contentType === 'application/json') return undefined;
  const [mediaType = '', ...parameters] = contentType.split(';');
  if (mediaType.trim().toLowerCase() !== 'application/json') {
    return `Content-Type is ${JSON.stringify(contentType)}; an AdmissionReview is sent as application/json`;
  }
  for (const parameter of parameters) {
    const equals = parameter.indexOf('=');
    if (equals < 0 || parameter.slice(0, equals).trim().toLowerCase() !== 'charset') continue;
    const value = parameter.slice(equals + 1).trim().replace(/^"(.*)"$/, '$1');
    if (value.toLowerCase() !== 'utf-8') {
      return `Content-Type charset is ${JSON.stringify(value)}; an AdmissionReview is read as UTF-8 only (send application/json, or application/json; charset=utf-8)`;
    }
  }
  return undefined;
}

/** The path of a request's URL, without its query: what the fast paths of app.ts and probe-server.ts route on. */
export function requestPath(url: string | undefined): string {
  const target = url ?? '';
  const query = target.indexOf('?');
  return query < 0 ? target : target.slice(0, query);
}

export type TimeoutQuery = Readonly<{ kind: 'absent' } | { kind: 'valid'; ms: number } | { kind: 'malformed'; value: string }>;

const ABSENT: TimeoutQuery = Object.freeze({ kind: 'absent' });
// The last query read and its reading (see timeoutQuery).
let lastQuery: string | undefined;
let lastReading: TimeoutQuery = ABSENT;

/**
 * The `timeout` query parameter the apiserver appends to a webhook's URL (`?timeout=10s`, the webhook's
 * timeoutSeconds). Anything that is not a positive Go duration is `malformed`: the caller ignores it
 * (the server's own deadline still applies) rather than failing the review over a hint.
 */
export function timeoutQuery(url: string | undefined): TimeoutQuery {
  const start = url === undefined ? -1 : url.indexOf('?');
  if (start < 0) return ABSENT;
  const query = (url as string).slice(start + 1);
  // An apiserver sends the same query (its webhook's timeoutSeconds) on every review: the last one's
  // reading is kept. The results are never changed by callers.
  if (query === lastQuery) return lastReading;
  // URLSearchParams never throws: a bad percent-escape (`%`, `%zz`) is kept as written.
  const value = new URLSearchParams(query).get('timeout');
  let reading: TimeoutQuery;
  if (value === null) reading = ABSENT;
  else {
    const ms = parseDuration(value);
    reading = ms === undefined || !(ms > 0) || !Number.isFinite(ms) ? { kind: 'malformed', value } : { kind: 'valid', ms };
  }
  lastQuery = query;
  lastReading = reading;
  return reading;
}

