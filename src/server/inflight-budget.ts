// A bound on the request bytes the server holds at once, across all reviews.
//
// Each review is evaluated synchronously once its body is in, so only one review's parsed object is
// alive at a time (and that is bounded by the structural limits, common/json-limits.ts); what piles up
// under concurrency is bodies: being received, or received and waiting for the event loop. Every
// review therefore reserves its body's size before reading it and gives it back once answered. A
// review that does not fit waits in a short FIFO queue (its body stays in the kernel's socket buffers
// meanwhile, so waiting costs almost nothing); when the queue is full, or the wait is over, it is
// refused with 429 so the apiserver's failurePolicy decides, instead of the process running out of memory.

export interface InFlightBudgetOptions {
  /** Bytes that may be reserved at once. */
  capacityBytes: number;
  /** Reviews that may wait for room; one more is refused at once. */
  maxWaiting: number;
  /** How long a review may wait for room before it is refused. */
  maxWaitMs: number;
}

/**
 * 64 MiB of bodies: eight of the largest the default body limit lets in, or thousands of ordinary
 * reviews (5-60 KB). Body bytes live outside V8's heap (Buffers), so they do not count against
 * --max-old-space-size, but they do count in the container's memory limit (512 Mi as deployed).
 */
export const DEFAULT_MAX_INFLIGHT_BYTES = 64 * 1024 * 1024;

export const DEFAULT_INFLIGHT: InFlightBudgetOptions = {
  capacityBytes: DEFAULT_MAX_INFLIGHT_BYTES,
  // Waiting costs a socket's buffers, not a body; the queue is bounded all the same.
  maxWaiting: 128,
  // Well inside the default evaluation deadline (2 s), which counts from the request's first byte.
  maxWaitMs: 1_000,
};

export interface InFlightReservation {
  readonly bytes: number;
  /** Gives the bytes back; later calls do nothing. */
  release(): void;
}

/** Why a reservation was refused. */
export type BudgetRefusal = 'queue-full' | 'wait-timeout';

interface Waiter {
  bytes: number;
  grant(reservation: InFlightReservation): void;
  timer: NodeJS.Timeout;
}

export class InFlightBudget {
  private inUse = 0;
  private readonly queue: Waiter[] = [];

  constructor(private readonly options: InFlightBudgetOptions) {}

  /** Bytes reserved now. */
  get reservedBytes(): number {
    return this.inUse;
  }

  /** Reviews waiting for room now. */
  get waiting(): number {
    return this.queue.length;
  }

  get capacityBytes(): number {
    return this.options.capacityBytes;
  }

  get maxWaitMs(): number {
    return this.options.maxWaitMs;
  }

  /**
   * Reserves `bytes` (at most the whole capacity, so that one body larger than it still runs, alone):
   * at once when there is room and nobody is waiting, else after waiting in turn; or a refusal.
   */
  reserve(bytes: number): Promise<InFlightReservation | BudgetRefusal> {
    const now = this.tryReserve(bytes);
    if (now !== undefined) return Promise.resolve(now);
    const amount = this.amountOf(bytes);
    if (this.queue.length >= this.options.maxWaiting) return Promise.resolve('queue-full');
    return new Promise((resolve) => {
      const waiter: Waiter = {
        bytes: amount,
        grant: resolve,
        timer: setTimeout(() => {
          const index = this.queue.indexOf(waiter);
          if (index >= 0) this.queue.splice(index, 1);
          resolve('wait-timeout');
          // The head may have been the one that did not fit; those behind it may now.
          this.admitWaiting();
        }, this.options.maxWaitMs),
      };
      this.queue.push(waiter);
    });
  }

  /** What reserve() grants at once (room, and nobody waiting), without a promise; else undefined. */
  tryReserve(bytes: number): InFlightReservation | undefined {
    const amount = this.amountOf(bytes);
    return this.queue.length === 0 && this.fits(amount) ? this.grant(amount) : undefined;
  }

  private amountOf(bytes: number): number {
    return Math.min(Math.max(0, bytes), this.options.capacityBytes);
  }

  private fits(amount: number): boolean {
    return this.inUse + amount <= this.options.capacityBytes;
  }

  private grant(amount: number): InFlightReservation {
    this.inUse += amount;
    let released = false;
    return {
      bytes: amount,
      release: () => {
        if (released) return;
        released = true;
        this.inUse -= amount;
        this.admitWaiting();
      },
    };
  }

  /** First come, first served: a large body at the head is not overtaken by smaller ones behind it. */
  private admitWaiting(): void {
    while (this.queue.length > 0) {
      const head = this.queue[0] as Waiter;
      if (!this.fits(head.bytes)) return;
      this.queue.shift();
      clearTimeout(head.timer);
      head.grant(this.grant(head.bytes));
    }
  }
}
