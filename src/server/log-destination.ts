// Where `serve` writes its JSON log (stdout): in batches, not one write per line.
//
// Every review logs one decision line. Written one by one, each line is an fs.write on libuv's thread
// pool: a thread woken, a syscall, a callback back on the event loop. Measured under load on the
// webhook benchmark, that cost more CPU per review than building the line, about as much as the whole
// log level being off. Lines are therefore gathered until LOG_BATCH_BYTES are waiting, and whatever
// is waiting is written at least every LOG_FLUSH_INTERVAL_MS, so a quiet server's last lines show up
// within a tenth of a second. Every shutdown path calls flushSync(), and pino flushes the destination
// when the process exits; only a process killed outright (SIGKILL, the OOM killer) loses the lines
// of its last interval.

import { pino } from 'pino';

/** Bytes of log lines gathered before they are written (about 20 decision lines). */
export const LOG_BATCH_BYTES = 8192;
/** The longest a line waits before it is written. */
export const LOG_FLUSH_INTERVAL_MS = 100;

export type LogDestination = ReturnType<typeof pino.destination>;

/** An asynchronous destination for pino on `fd` (default stdout) that writes in batches. */
export function batchedLogDestination(fd = 1): LogDestination {
  return pino.destination({ dest: fd, sync: false, minLength: LOG_BATCH_BYTES, periodicFlush: LOG_FLUSH_INTERVAL_MS });
}
