// Where `serve` writes its JSON log (stdout): in batches, not one write per line.
//
// Every review logs one decision line. Handed one by one to pino's asynchronous destination
// (sonic-boom), each line costs an fs.write on libuv's thread pool when the last one is done (a
// thread woken, a syscall, a callback back on the event loop), and even when lines pile up, sonic-boom
// measures its whole buffer again for each line it appends. Measured under load on the webhook
// benchmark, that cost more CPU per review than pino building the line. Lines are therefore gathered
// here, as they come, and handed to sonic-boom as one string once LOG_BATCH_BYTES are waiting, or
// LOG_FLUSH_INTERVAL_MS after the first of them, so a quiet server's last lines still show up within a
// tenth of a second. sonic-boom keeps doing the writing (off the event loop, retrying a full pipe).
// A shutdown that can wait calls flushInOrder(), which hands the waiting lines over and waits until
// sonic-boom has written everything; flushSync() writes everything at once, for the paths that cannot
// wait (a shutdown that overran its grace period, the process's `exit` event). A process that ends by
// running out of work waits for the timer.
// Only a process killed outright (SIGKILL, the OOM killer) loses its last interval's lines.
//
// The waiting lines are kept as UTF-8 bytes in one buffer made once, not as strings: a line is built
// by concatenation (a tree of string pieces), and kept as a string until its batch was written it was
// alive at every scavenge in between, so V8 copied its pieces from one half of the young generation to
// the other and promoted those that waited across two. Under load that was half of what each scavenge
// copied (a trace of serve with `--trace-gc-nvp` at 10 connections: 200 KB survived per scavenge with
// decision lines, 105 KB without), and the scavenge pause grew with it. Bytes in a buffer outside the
// heap are nothing for the scavenger to copy; the line becomes garbage as soon as it is encoded.

import { pino, type DestinationStream } from 'pino';

/**
 * Bytes of log lines gathered before they are written (about 200 decision lines). Measured on
 * the webhook benchmark (one trivial policy, small reviews, A B A B in one session): 64 KB batches
 * cost 4–6 µs less CPU per review than 8 KB ones; the lines still wait at most LOG_FLUSH_INTERVAL_MS.
 */
export const LOG_BATCH_BYTES = 65536;
/** The longest a line waits before it is written. */
export const LOG_FLUSH_INTERVAL_MS = 100;

type SonicBoom = ReturnType<typeof pino.destination>;

export class BatchedLogDestination implements DestinationStream {
  private readonly output: SonicBoom;
  /** The waiting lines, encoded; `waitingBytes` of it are in use. */
  private readonly batch = Buffer.alloc(LOG_BATCH_BYTES);
  private waitingBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Lines were handed to sonic-boom since it last reported (its 'drain') that it had written everything. */
  private handedOver = false;
  private readonly flushOnExit = (): void => this.flushSync();

  /** Writes to `fd` (default stdout). */
  constructor(fd = 1) {
    this.output = pino.destination({ dest: fd, sync: false });
    this.output.on('drain', () => {
      this.handedOver = false;
    });
    process.on('exit', this.flushOnExit);
  }

  /** pino's entry point: one serialised line, with its newline. */
  write(line: string): void {
    // A UTF-16 unit takes at most 3 bytes in UTF-8: only a line that might not fit is measured.
    if (this.waitingBytes + 3 * line.length > LOG_BATCH_BYTES) {
      const bytes = Buffer.byteLength(line);
      if (this.waitingBytes + bytes > LOG_BATCH_BYTES) {
        this.flush();
        if (bytes > LOG_BATCH_BYTES) {
          // Longer than a batch: handed over as it is, after the lines before it.
          this.output.write(line);
          this.handedOver = true;
          return;
        }
      }
    }
    this.waitingBytes += this.batch.write(line, this.waitingBytes);
    if (this.timer === undefined) this.timer = setTimeout(() => this.flush(), LOG_FLUSH_INTERVAL_MS);
  }

  /**
   * Hands the waiting lines to the writer now; they are written off the event loop. pino's
   * logger.flush(callback) comes here: the callback is sonic-boom's to call.
   */
  flush(callback?: (error?: Error) => unknown): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.waitingBytes > 0) {
      // One string for sonic-boom, which keeps it until its write is done: the buffer is free again at once.
      const text = this.batch.toString('utf8', 0, this.waitingBytes);
      this.waitingBytes = 0;
      this.output.write(text);
      this.handedOver = true;
    }
    if (callback !== undefined) this.output.flush(callback);
  }

  /**
   * Writes every waiting line and resolves once all lines handed over are written, in their order:
   * for shutdown paths that can wait. (flushSync() cannot keep the order when a batch's asynchronous
   * write is in flight: sonic-boom's flushSync writes what it holds at once, and the batch in flight
   * lands after it.) Waits at most `timeoutMs` for that write, then writes what is left at once.
   */
  async flushInOrder(timeoutMs = 2_000): Promise<void> {
    this.flush();
    if (this.handedOver) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        timer.unref();
        this.output.once('drain', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    this.output.flushSync();
  }

  /** Writes every waiting line before returning (blocking): for exit, and a shutdown that cannot wait (see flushInOrder). */
  flushSync(): void {
    this.flush();
    this.output.flushSync();
  }

  /** Writes what is waiting, closes the file descriptor, and stops following the process's exit (tests). */
  end(): Promise<void> {
    process.off('exit', this.flushOnExit);
    this.flush();
    return new Promise((resolve) => {
      this.output.once('close', () => resolve());
      this.output.end();
    });
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
