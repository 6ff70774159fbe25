// Reading a request body into one Buffer, bounded. Hand-written rather than a body-parser middleware:
// this is the hot path, and we want the exact error for each way a body can be wrong.

import type { IncomingMessage } from 'node:http';

/** The apiserver sends reviews of several MiB; anything above this is refused with 413. */
export const MAX_BODY_BYTES = 7 * 1024 * 1024;

/**
 * Past this many bytes an oversized body is no longer read to its end before answering 413: the
 * connection is closed instead. Below it, reading to the end lets the client see the 413 rather than a reset.
 */
const MAX_DRAIN_BYTES = 64 * 1024 * 1024;

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
export function readBody(request: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = request.headers['content-length'];
    const declaredLength = declared === undefined ? undefined : Number(declared);
    const tooLarge = (size: string): BodyError => new BodyError(413, `request body is ${size}; the limit is ${limit} bytes (7 MiB)`);

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
