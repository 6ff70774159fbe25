// The admission port's own HTTP/1.1 layer for the requests that make up nearly all of its traffic:
// `POST /validate` and `POST /mutate` with a Content-Length body, as the kube-apiserver sends them.
//
// Why: measured on the webhook benchmark (small /validate, 10 connections), node's HTTP server (its
// parser, IncomingMessage and ServerResponse streams, timers) takes 12-17 µs of CPU of the ≈100 µs a
// small review costs in all. This layer reads a review's head and body straight off the TLS socket and
// writes the answer in one write.
//
// What it leaves to node: every connection whose next request is anything else (request-head.ts says
// what it takes) is handed to node's HTTP server with the bytes read so far, and stays there, so every
// unusual request, and every error answer that is not a review's, is answered exactly as before. A
// connection is only handed over between requests, never in the middle of one.
//
// One request at a time per connection: bytes that arrive while a review is being answered wait (and
// the socket is paused) until the answer is written. Timeouts are node's, checked once a second for all
// connections: headersTimeout from a request's first byte (or the connection's start) to the end of its
// head, requestTimeout to the end of its body, keepAliveTimeout between requests.

import { STATUS_CODES } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { AdmissionEndpoint, EndpointReply } from './admission-handler.js';
import type { AdmissionEndpoints } from './app.js';
import type { InFlightReservation } from './inflight-budget.js';
import { readRequestHead } from './request-head.js';
import { failureStatus } from './status.js';

export interface ReviewConnectionsOptions {
  endpoints: AdmissionEndpoints;
  /** Gives a connection to node's HTTP server, with the bytes already read from it (of its next request). */
  handOver(socket: TLSSocket, bytes: Buffer, reason: HandOverReason): void;
  logger: Logger;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  /** How often timeouts are checked (default 1 s, as node's connectionsCheckingInterval is set). */
  checkIntervalMs?: number;
}

/**
 * Where a connection is: waiting for (or reading) a head, reading a body, answering, idle between
 * requests, or closing (its last bytes written, nothing more read; cut if the client does not take them).
 */
type Phase = 'head' | 'body' | 'answering' | 'idle' | 'closing';

/** Why a connection went to node's HTTP server: a request this layer does not take, no room for its body now, or a head in too many reads. */
export type HandOverReason = 'other-request' | 'busy' | 'slow-head';

const EMPTY = Buffer.alloc(0);
/**
 * A head still incomplete after this many reads goes to node's parser, which reads incrementally: this
 * one reads a head from its start again on each read, which a client sending a byte at a time would
 * make quadratic. The kube-apiserver's heads come in one or two reads.
 */
const MAX_HEAD_READS = 8;
const TIMEOUT_ANSWER = 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n';

/** Node's Date header, computed once a second as node does. */
let dateSecond = -1;
let dateHeader = '';
function currentDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateHeader = new Date(now).toUTCString();
  }
  return dateHeader;
}

export class ReviewConnections {
  private readonly open = new Set<ReviewConnection>();
  private readonly checker: NodeJS.Timeout;
  /** The end of every kept-alive answer's head: the same for all of them. */
  private readonly keepAliveLines: string;

  constructor(private readonly options: ReviewConnectionsOptions) {
    this.keepAliveLines = `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(options.keepAliveTimeoutMs / 1000)}\r\n\r\n`;
    this.checker = setInterval(() => this.checkTimeouts(), options.checkIntervalMs ?? 1_000);
    this.checker.unref();
  }

  /** Serves a connection whose TLS handshake is done. */
  accept(socket: TLSSocket): void {
    const connection = new ReviewConnection(socket, this.options, this.open, this.keepAliveLines);
    this.open.add(connection);
    connection.start();
  }

  /** Connections this layer serves now. */
  get size(): number {
    return this.open.size;
  }

  /** Closes every connection with no request on it (idle between requests, or not yet sent a byte). */
  closeIdle(): void {
    for (const connection of this.open) connection.closeIfIdle();
  }

  /** Cuts every connection at once, requests or not. */
  destroyAll(): void {
    for (const connection of this.open) connection.destroy();
  }

  /** Stops the timeout checks (the server is closed). */
  stop(): void {
    clearInterval(this.checker);
  }

  private checkTimeouts(): void {
    const now = performance.now();
    for (const connection of this.open) connection.checkTimeout(now);
  }
}

class ReviewConnection {
  private phase: Phase = 'head';
  /** When the current phase's clock started (its timeout counts from then): the connection's start, a request's first byte, or the last answer. */
  private since = performance.now();
  /** The current request's first byte: its evaluation deadline and its duration count from then. */
  private requestStarted = 0;
  /** Bytes read and not yet used: part of a head, or requests sent ahead of their turn. */
  private pending: Buffer = EMPTY;
  private endpoint: AdmissionEndpoint | undefined;
  private target = '';
  private closeAfterAnswer = false;
  private reservation: InFlightReservation | undefined;
  private body: Buffer = EMPTY;
  private bodyFilled = 0;
  /** Reads the current head has taken so far. */
  private headReads = 0;
  private readonly onData = (chunk: Buffer): void => this.receive(chunk);
  private readonly onClose = (): void => this.closed();
  private readonly onError = (error: Error): void => {
    this.options.logger.debug({ err: error, remoteAddress: this.socket.remoteAddress }, 'review connection failed');
  };

  constructor(
    private readonly socket: TLSSocket,
    private readonly options: ReviewConnectionsOptions,
    private readonly open: Set<ReviewConnection>,
    private readonly keepAliveLines: string,
  ) {}

  start(): void {
    this.socket.on('data', this.onData);
    this.socket.on('error', this.onError);
    this.socket.on('close', this.onClose);
  }

  closeIfIdle(): void {
    if (this.phase === 'idle' || (this.phase === 'head' && this.pending.length === 0)) this.close();
  }

  destroy(): void {
    this.socket.destroy();
  }

  checkTimeout(now: number): void {
    const elapsed = now - this.since;
    if (this.phase === 'idle') {
      if (elapsed >= this.options.keepAliveTimeoutMs) this.close();
    } else if (this.phase === 'head') {
      if (elapsed >= this.options.headersTimeoutMs) this.timedOut();
    } else if (this.phase === 'body') {
      if (elapsed >= this.options.requestTimeoutMs) {
        this.abandonBody(`the body did not arrive within the request timeout (${this.options.requestTimeoutMs} ms)`);
        this.timedOut();
      }
    } else if (this.phase === 'closing') {
      // A client that does not read what is left to write does not hold the connection open.
      if (elapsed >= this.options.headersTimeoutMs) this.socket.destroy();
    }
  }

  private timedOut(): void {
    this.close(TIMEOUT_ANSWER);
  }

  /** Writes `last` (if anything), then closes once it is written; nothing more is read. */
  private close(last?: string): void {
    this.phase = 'closing';
    this.since = performance.now();
    this.pending = EMPTY;
    if (last !== undefined && this.socket.writable) this.socket.end(last);
    this.socket.destroySoon();
  }

  private receive(chunk: Buffer): void {
    if (this.phase === 'closing') return;
    if (this.phase === 'body') {
      this.fillBody(chunk, 0);
      return;
    }
    if (this.phase === 'idle') {
      this.phase = 'head';
      this.since = performance.now();
    }
    if (this.pending.length === 0) {
      if (this.phase === 'head') this.requestStarted = performance.now();
      this.headReads = 0;
      this.pending = chunk;
    } else this.pending = Buffer.concat([this.pending, chunk]);
    this.headReads += 1;
    if (this.phase === 'answering') {
      // One request at a time: the next waits until this answer is written.
      this.socket.pause();
      return;
    }
    this.readHead();
  }

  /** Reads the head at the start of `pending`, and starts its body, or hands the connection over. */
  private readHead(): void {
    const { validate, mutate } = this.options.endpoints;
    const head = readRequestHead(this.pending, validate.maxBodyBytes);
    if (head.kind === 'incomplete') {
      if (this.headReads >= MAX_HEAD_READS) this.handOver('slow-head');
      return;
    }
    if (head.kind === 'other') {
      this.handOver('other-request');
      return;
    }
    const endpoint = head.path === validate.path ? validate : mutate;
    const reservation = endpoint.inFlight.tryReserve(head.contentLength);
    // No room for its body now: node's path waits for room, or says 429.
    if (reservation === undefined) {
      this.handOver('busy');
      return;
    }
    this.endpoint = endpoint;
    this.target = head.target;
    this.closeAfterAnswer = head.close;
    this.reservation = reservation;
    this.phase = 'body';
    const rest = this.pending;
    this.pending = EMPTY;
    if (rest.length - head.headBytes >= head.contentLength) {
      // The usual case: the whole body came with its head. No copy.
      this.body = rest.subarray(head.headBytes, head.headBytes + head.contentLength);
      this.bodyFilled = head.contentLength;
      this.pending = rest.subarray(head.headBytes + head.contentLength);
      this.answer();
      return;
    }
    this.body = Buffer.allocUnsafe(head.contentLength);
    this.bodyFilled = 0;
    this.fillBody(rest, head.headBytes);
  }

  private fillBody(chunk: Buffer, from: number): void {
    const wanted = this.body.length - this.bodyFilled;
    const available = chunk.length - from;
    const taken = Math.min(wanted, available);
    chunk.copy(this.body, this.bodyFilled, from, from + taken);
    this.bodyFilled += taken;
    if (this.bodyFilled < this.body.length) return;
    if (taken < available) this.pending = chunk.subarray(from + taken);
    this.answer();
  }

  private answer(): void {
    this.phase = 'answering';
    const endpoint = this.endpoint as AdmissionEndpoint;
    const body = this.body;
    this.body = EMPTY;
    let written = false;
    const write = (reply: EndpointReply): void => {
      written = true;
      this.write(reply);
    };
    endpoint
      .answerBody(body, this.target, this.requestStarted, write)
      .catch((error: unknown) => {
        this.options.logger.error({ err: error, method: 'POST', url: this.target }, 'request failed');
        if (written) this.socket.destroy();
        else this.write({ status: 500, payload: JSON.stringify(failureStatus(500, 'internal error')), close: true });
      })
      .finally(() => {
        this.reservation?.release();
        this.reservation = undefined;
        this.endpoint = undefined;
        this.next();
      });
  }

  private write(reply: EndpointReply): void {
    // The endpoint asks for the close while the server drains, as for a body it did not read to its end.
    if (reply.close) this.closeAfterAnswer = true;
    if (this.socket.destroyed || !this.socket.writable) return;
    let head = `HTTP/1.1 ${reply.status} ${STATUS_CODES[reply.status] ?? 'Unknown'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(reply.payload)}\r\nDate: ${currentDate()}\r\n`;
    if (reply.headers !== undefined) for (const [name, value] of Object.entries(reply.headers)) head += `${name}: ${value}\r\n`;
    head += this.closeAfterAnswer ? 'Connection: close\r\n\r\n' : this.keepAliveLines;
    if (this.closeAfterAnswer) {
      this.close(head + reply.payload);
    } else if (!this.socket.write(head + reply.payload)) {
      // The client is not reading its answers: read nothing more from it until it does.
      this.socket.pause();
      this.socket.once('drain', () => {
        if (this.phase !== 'answering') this.socket.resume();
      });
    }
  }

  /** After an answer: the next request if it is already here, else wait for one. */
  private next(): void {
    if (this.phase === 'closing' || this.socket.destroyed) return;
    this.since = performance.now();
    if (this.pending.length === 0) {
      this.phase = 'idle';
      if (this.socket.writableNeedDrain) return;
      this.socket.resume();
      return;
    }
    this.phase = 'head';
    this.requestStarted = this.since;
    if (!this.socket.writableNeedDrain) this.socket.resume();
    this.readHead();
  }

  /** Gives the connection, and what it has sent of its next request, to node's HTTP server. */
  private handOver(reason: HandOverReason): void {
    const bytes = this.pending;
    this.pending = EMPTY;
    this.detach();
    this.options.handOver(this.socket, bytes, reason);
  }

  private detach(): void {
    this.open.delete(this);
    this.socket.off('data', this.onData);
    this.socket.off('error', this.onError);
    this.socket.off('close', this.onClose);
  }

  /** The client went away, or the request timed out, in the middle of a body. */
  private abandonBody(message: string): void {
    this.reservation?.release();
    this.reservation = undefined;
    this.body = EMPTY;
    this.endpoint?.recordIncompleteBody(this.requestStarted, message);
    this.endpoint = undefined;
  }

  private closed(): void {
    if (this.phase === 'body') this.abandonBody('client closed the connection before the body was complete');
    // An answer in progress releases its own reservation when it is done; its write then finds the socket gone.
    this.phase = 'closing';
    this.pending = EMPTY;
    this.detach();
  }
}
