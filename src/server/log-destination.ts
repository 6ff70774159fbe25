// Where `serve` writes its JSON log (stdout): in batches, not one write per line.
//
// Every review logs one decision line. Written one by one, each line cost an fs.write on libuv's
// thread pool (a thread woken, a syscall, a callback back on the event loop): measured under load on
// the webhook benchmark, more CPU per review than building the line. Lines are therefore gathered
// here, as they come, and written as one batch once LOG_BATCH_BYTES are waiting, or
// LOG_FLUSH_INTERVAL_MS after the first of them, so a quiet server's last lines still show up within a
// tenth of a second. A shutdown that can wait calls flushInOrder(), which waits until everything is
// written; flushSync() writes everything at once, for the paths that cannot wait (a shutdown that
// overran its grace period, the process's `exit` event). A process that ends by running out of work
// waits for the timer. Only a process killed outright (SIGKILL, the OOM killer) loses its last
// interval's lines.
//
// The waiting lines are kept as UTF-8 bytes in a buffer made once, not as strings: a line is built
// by concatenation (a tree of string pieces), and kept as a string until its batch was written it was
// alive at every scavenge in between, so V8 copied its pieces from one half of the young generation to
// the other and promoted those that waited across two (a trace of serve with `--trace-gc-nvp` at 10
// connections: 200 KB survived per scavenge with decision lines, 105 KB without).
//
// The batches are written here, with fs.write from two buffers that take turns (one fills while the
// other is written), not handed to pino's destination (sonic-boom): given a batch, sonic-boom made a
// 64 KB string of it, fs.write copied that again, and after each write sonic-boom copied the string
// into a new Buffer to cut off what was written. Three copies of every batch, one of them memory
// outside the heap that V8 counts towards its next full collection: under the webhook benchmark's load
// (small reviews, 10 connections, 14 s) serve ran 5–6 mark-compacts under load with it and 1 with the
// batches written from these two buffers, p99 2.34–2.60 ms against 2.51–2.78. Now a batch allocates nothing
// unless the writer falls behind (a third buffer then, dropped once written) or a line is longer than
// a batch (written from a copy of its own).

// fs's own methods, not named imports: tests observe the writes through them.
import fs from 'node:fs';
import type { DestinationStream } from 'pino';

/**
 * Bytes of log lines gathered before they are written (about 200 decision lines). Measured on
 * the webhook benchmark (one trivial policy, small reviews, A B A B in one session): 64 KB batches
 * cost 4–6 µs less CPU per review than 8 KB ones; the lines still wait at most LOG_FLUSH_INTERVAL_MS.
 */
export const LOG_BATCH_BYTES = 65536;
/** The longest a line waits before it is written. */
export const LOG_FLUSH_INTERVAL_MS = 100;
/** How long a write that found its pipe full (EAGAIN: the reader is behind) waits before it tries again. */
const FULL_PIPE_RETRY_MS = 10;
/** How long flushSync (blocking) keeps trying a pipe that stays full before it gives the rest up. */
const FLUSH_SYNC_PATIENCE_MS = 2_000;

/** A batch (or a long line) waiting to be written, or being written: `buffer`'s first `length` bytes. */
interface PendingWrite {
  readonly buffer: Buffer;
  readonly length: number;
  /** Bytes already written (a pipe may take part of a write). */
  written: number;
  /** One of the batch buffers: filled again once written. */
  readonly reusable: boolean;
}

function isFullPipe(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code === 'EAGAIN' || code === 'EBUSY';
}

/** Blocks the thread for `ms` (flushSync's wait for a full pipe: it may not return to the event loop). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export class BatchedLogDestination implements DestinationStream {
  readonly #fd: number;
  /** The buffer lines go into; `#waitingBytes` of it are in use. */
  #filling: Buffer = Buffer.alloc(LOG_BATCH_BYTES);
  /** The other batch buffer, when it is not waiting or being written. */
  #spare: Buffer | undefined = Buffer.alloc(LOG_BATCH_BYTES);
  #waitingBytes = 0;
  #timer: NodeJS.Timeout | undefined;
  /** Batches and long lines to write, in order; the first is being written while #inFlight is set. */
  readonly #queue: PendingWrite[] = [];
  #inFlight: PendingWrite | undefined;
  #retry: NodeJS.Timeout | undefined;
  /** Called once the queue is empty (flush(callback), flushInOrder, end). */
  #whenWritten: (() => void)[] = [];
  readonly #flushOnExit = (): void => this.flushSync();

  /** Writes to `fd` (default stdout). */
  constructor(fd = 1) {
    this.#fd = fd;
    process.on('exit', this.#flushOnExit);
  }

  /** pino's entry point: one serialised line, with its newline. */
  write(line: string): void {
    // A UTF-16 unit takes at most 3 bytes in UTF-8: only a line that might not fit is measured.
    if (this.#waitingBytes + 3 * line.length > LOG_BATCH_BYTES) {
      const bytes = Buffer.byteLength(line);
      if (this.#waitingBytes + bytes > LOG_BATCH_BYTES) {
        this.flush();
        if (bytes > LOG_BATCH_BYTES) {
          // Longer than a batch: written from a copy of its own, after the lines before it.
          const buffer = Buffer.from(line);
          this.#enqueue({ buffer, length: buffer.length, written: 0, reusable: false });
          return;
        }
      }
    }
    // It fits: Buffer#write writes the whole line.
    this.#waitingBytes += this.#filling.write(line, this.#waitingBytes);
    if (this.#timer === undefined) this.#timer = setTimeout(() => this.flush(), LOG_FLUSH_INTERVAL_MS);
  }

  /**
   * Queues the waiting lines for writing now (off the event loop). pino's logger.flush(callback) comes
   * here: the callback runs once everything queued is written.
   */
  flush(callback?: (error?: Error) => unknown): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#waitingBytes > 0) {
      const batch: PendingWrite = { buffer: this.#filling, length: this.#waitingBytes, written: 0, reusable: true };
      // The other buffer, or (the writer is behind) a new one, which is dropped once written.
      this.#filling = this.#spare ?? Buffer.alloc(LOG_BATCH_BYTES);
      this.#spare = undefined;
      this.#waitingBytes = 0;
      this.#enqueue(batch);
    }
    if (callback !== undefined) {
      if (this.#queue.length === 0) process.nextTick(callback);
      else this.#whenWritten.push(() => callback());
    }
  }

  #enqueue(pending: PendingWrite): void {
    this.#queue.push(pending);
    if (this.#inFlight === undefined && this.#retry === undefined) this.#writeFirst();
  }

  /** Starts the asynchronous write of the queue's first entry, or reports that everything is written. */
  #writeFirst(): void {
    const pending = this.#queue[0];
    if (pending === undefined) {
      this.#reportWritten();
      return;
    }
    this.#inFlight = pending;
    fs.write(this.#fd, pending.buffer, pending.written, pending.length - pending.written, null, this.#afterWrite);
  }

  readonly #afterWrite = (error: NodeJS.ErrnoException | null, bytes: number): void => {
    const pending = this.#inFlight!;
    this.#inFlight = undefined;
    if (error !== null) {
      if (isFullPipe(error)) {
        // The reader is behind: the same bytes again a little later; lines keep gathering meanwhile.
        this.#retry = setTimeout(() => {
          this.#retry = undefined;
          this.#writeFirst();
        }, FULL_PIPE_RETRY_MS);
        return;
      }
      // The log's destination is gone (EPIPE, EBADF...): as with pino's own destination, whose
      // 'error' event nobody handles, the process fails loudly rather than dropping its log unnoticed.
      throw error;
    }
    pending.written += bytes;
    if (pending.written >= pending.length) {
      // The entry in flight is always the queue's first: flushSync leaves it there.
      this.#queue.shift();
      if (pending.reusable && this.#spare === undefined) this.#spare = pending.buffer;
    }
    this.#writeFirst();
  };

  /** Everything queued is written: what waited for that (flush(callback), flushInOrder, end) goes on. */
  #reportWritten(): void {
    const waiting = this.#whenWritten;
    this.#whenWritten = [];
    for (const resolve of waiting) resolve();
  }

  /**
   * Writes every waiting line and resolves once everything is written, in order: for shutdown paths
   * that can wait. Waits at most `timeoutMs` for the writes (a reader that stopped reading), then
   * writes what is left at once (flushSync).
   */
  async flushInOrder(timeoutMs = 2_000): Promise<void> {
    this.flush();
    if (this.#queue.length > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        timer.unref();
        this.#whenWritten.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    this.flushSync();
  }

  /**
   * Writes every waiting line before returning (blocking): for exit, and a shutdown that cannot wait
   * (see flushInOrder). A batch whose asynchronous write is in flight lands when that write completes,
   * possibly after the lines written here. A pipe that stays full for FLUSH_SYNC_PATIENCE_MS, or a
   * destination that fails, gets nothing more: the process is ending, and its exit is not held up.
   */
  flushSync(): void {
    this.flush();
    const giveUpAt = Date.now() + FLUSH_SYNC_PATIENCE_MS;
    const first = this.#inFlight === undefined ? 0 : 1;
    writing: for (let i = first; i < this.#queue.length; i++) {
      const pending = this.#queue[i]!;
      while (pending.written < pending.length) {
        try {
          pending.written += fs.writeSync(this.#fd, pending.buffer, pending.written, pending.length - pending.written);
        } catch (error) {
          if (!isFullPipe(error) || Date.now() >= giveUpAt) break writing;
          sleepSync(FULL_PIPE_RETRY_MS);
        }
      }
      if (pending.reusable && this.#spare === undefined) this.#spare = pending.buffer;
    }
    this.#queue.splice(first, this.#queue.length - first);
    // Nothing left to write and nothing in flight or to retry: no write will report it otherwise.
    if (this.#queue.length === 0 && this.#retry === undefined) this.#reportWritten();
  }

  /** Writes what is waiting, closes the file descriptor, and stops following the process's exit (tests). */
  async end(): Promise<void> {
    process.off('exit', this.#flushOnExit);
    await this.flushInOrder();
    if (this.#retry !== undefined) clearTimeout(this.#retry);
    await new Promise<void>((resolve) => fs.close(this.#fd, () => resolve()));
  }
}

let timeMillis = Number.NaN;
let timeField = '';
let secondMillis = Number.NaN;
/** `,"time":"YYYY-MM-DDTHH:MM:SS.` of the current second. */
let secondPrefix = '';

/**
 * pino's `timestamp` option: pino.stdTimeFunctions.isoTime (`,"time":"2026-12-04T22:59:01.123Z"`),
 * with the field built once per millisecond instead of once per line, and the date part once per
 * second (a Date and its ISO string for every decision line showed in the profile under load, where
 * the millisecond changes from one line to the next).
 */
export function isoTimeOncePerMillisecond(): string {
  const now = Date.now();
  if (now !== timeMillis) {
    timeMillis = now;
    const millis = ((now % 1000) + 1000) % 1000;
    const second = now - millis;
    if (second !== secondMillis) {
      secondMillis = second;
      const iso = new Date(second).toISOString();
      // Outside years 0–9999 toISOString writes a signed six-digit year: the prefix is all but `sssZ`.
      secondPrefix = `,"time":"${iso.slice(0, iso.length - 4)}`;
    }
    timeField = `${secondPrefix}${millis < 10 ? '00' : millis < 100 ? '0' : ''}${millis}Z"`;
  }
  return timeField;
}
