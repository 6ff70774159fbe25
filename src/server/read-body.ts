// Reading a request body into one Buffer, bounded. Hand-written rather than a body-parser middleware:
// this is the hot path, and we want the exact error for each way a body can be wrong.

import type { IncomingMessage } from 'node:http';

/**
 * Bodies above this get 413 (`serve --max-body-bytes`). Measured against a real kube-apiserver v1.37.2
 * and etcd (test/e2e/request-size.e2e.test.ts): etcd stores at most 1.5 MiB per object, in protobuf,
 * and the apiserver writes the JSON a webhook gets with every defaulted field, key name and
 * managedFields entry spelt out. The largest reviews of storable DaemonSets were 3.0 MiB (UPDATE of one
 * 1.5 MiB argument: object and oldObject), 3.9 MiB (UPDATE of 92,353 tolerations) and 7.55 MiB (CREATE
 * of 25,107 containers, whose JSON is 2.5 times what etcd stores). 12 MiB takes the largest with half
 * again to spare.
 * A contrived object can still exceed it (a 1.5 MiB string of `<` is written as `\u003c`, six bytes
 * each: an 18 MiB UPDATE review); such a DaemonSet gets 413, which the webhook's failurePolicy turns
 * into a refusal, as the structural limits would anyway.
 */
export const DEFAULT_MAX_BODY_BYTES = 12 * 1024 * 1024;

/**
 * Past this many bytes an oversized body is no longer read to its end before answering 413: the
 * connection is closed instead. Below it, reading to the end lets the client see the 413 rather than a reset.
 */
const MAX_DRAIN_BYTES = 64 * 1024 * 1024;

function formatMiB(bytes: number): string {
  return `${Number((bytes / 2 ** 20).toFixed(2))} MiB`;
}

export class BodyError extends Error {
  constructor(
    readonly statusCode: 400 | 413,
    message: string,
    /** Whether the connection must be closed after answering (the rest of the body was not read). */
    readonly closeConnection = false,
  ) {
    super(message);
  }
}

/**
 * Resolves with the whole body, or rejects with a BodyError: 413 when it is larger than `limit`
 * (by Content-Length, or as it arrives), 400 when the client aborts. An oversized body is drained
 * (up to 64 MiB) before rejecting so the 413 reaches the client.
 */
export function readBody(request: IncomingMessage, limit = DEFAULT_MAX_BODY_BYTES): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = request.headers['content-length'];
    const declaredLength = declared === undefined ? undefined : Number(declared);
    const tooLarge = (size: string): BodyError => new BodyError(413, `request body is ${size}; the limit is ${limit} bytes (${formatMiB(limit)}, --max-body-bytes)`);

    if (declaredLength !== undefined && declaredLength > limit) {
      if (declaredLength > MAX_DRAIN_BYTES) {
        reject(new BodyError(413, tooLarge(`${declaredLength} bytes`).message, true));
        return;
      }
      request.resume();
      request.once('end', () => reject(tooLarge(`${declaredLength} bytes`)));
      request.once('error', () => reject(tooLarge(`${declaredLength} bytes`)));
      return;
    }

    const chunks: Buffer[] = [];
    let received = 0;
    let overflowed = false;
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      if (overflowed) {
        if (received > MAX_DRAIN_BYTES) {
          cleanup();
          reject(new BodyError(413, tooLarge(`more than ${limit} bytes`).message, true));
        }
        return;
      }
      if (received > limit) {
        overflowed = true;
        chunks.length = 0;
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      if (overflowed) reject(tooLarge(`${received} bytes`));
      else resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, received));
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(new BodyError(400, `request body could not be read: ${error.message}`, true));
    };
    const onAborted = (): void => {
      cleanup();
      reject(new BodyError(400, 'client closed the connection before the body was complete', true));
    };
    const cleanup = (): void => {
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onError);
      request.off('close', onClose);
    };
    const onClose = (): void => {
      if (!request.complete) onAborted();
    };
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', onError);
    request.on('close', onClose);
  });
}

/**
 * Reads a body to its end and throws it away, keeping nothing: for requests refused before their body
 * matters (a wrong Content-Type, no room in the in-flight budget), so the connection stays usable. Resolves false, without waiting, when
 * the body is declared larger than `limit` (the caller closes the connection), or once more than
 * `limit` bytes have arrived.
 */
export function discardBody(request: IncomingMessage, limit = DEFAULT_MAX_BODY_BYTES): Promise<boolean> {
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > limit) return Promise.resolve(false);
  return new Promise((resolve) => {
    let received = 0;
    const finish = (complete: boolean): void => {
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onFailure);
      request.off('close', onFailure);
      resolve(complete);
    };
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      if (received > limit) finish(false);
    };
    const onEnd = (): void => finish(true);
    const onFailure = (): void => finish(request.complete);
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', onFailure);
    request.on('close', onFailure);
  });
}
