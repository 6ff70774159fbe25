// Runs the engine for the reviews that became ready in the same turn of the event loop one right after
// another, before any of them is answered.
//
// Why: a review executes a large amount of code once (the built-in library's small review runs 83
// generated CEL functions, then about 0.6 MB of optimised machine code (322 KB on 2026-12-05,
// `npm run bench:code-size -- --machine-code`), plus the engine and the CEL
// library), so its cost depends on what ran just before it. Measured inside `serve` under load, the
// same small review took a median of 97 µs right after its request's TLS read, HTTP parse and JSON
// parse, and 47 µs when run again at once on a freshly parsed copy; a loop of reviews alone takes
// 35–38 µs. Between two requests, the TLS and HTTP work, the answer's write and the kernel's
// loopback delivery evict that code from the CPU caches. When several requests are ready at once
// (the server is busy), running their reviews back to back lets every review but the first find the
// engine's code still cached; their answers are then written one after another, as before. Measured
// later the same way (2026-12-05, the built-in library, small reviews at 10 connections): turns of 7–8
// reviews most often; the first of a turn 81–97 µs, the second 25–29, the fourth and later 14–16.
//
// Nothing else changes: each review runs with the context it was given (its deadline is absolute,
// from its own first byte), its answer is the same, and a request alone waits only for the end of the
// current event-loop phase (setImmediate). A turn ends once its reviews have taken MAX_TURN_MS, so
// that a burst of large reviews does not hold back the answers of those already done: the rest run
// in the next turn, ahead of reviews that became ready since.

/** After this many milliseconds of reviews, a turn lets the answers of its finished reviews go out. */
export const MAX_TURN_MS = 2;

/**
 * What the turns have run so far, as running totals (the metrics read them when scraped): the reviews
 * first in their turn, whose code starts out of the CPU caches, apart from the later ones. The time of a
 * review is its engine's work and its answer's (what `run` was given), read from the clock a turn reads
 * anyway to keep within MAX_TURN_MS.
 */
export interface ReviewTurnTotals {
  readonly turns: number;
  readonly firstReviews: number;
  readonly laterReviews: number;
  readonly firstSeconds: number;
  readonly laterSeconds: number;
}

interface Job {
  work: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export class ReviewTurn implements ReviewTurnTotals {
  #jobs: Job[] = [];
  /** See MAX_TURN_MS (tests set their own). */
  constructor(readonly maxTurnMs = MAX_TURN_MS) {}
  /** How many turns ran, and how many reviews they ran. */
  turns = 0;
  reviews = 0;
  firstSeconds = 0;
  laterSeconds = 0;

  /** Each turn has one first review. */
  get firstReviews(): number {
    return this.turns;
  }

  get laterReviews(): number {
    return this.reviews - this.turns;
  }

  /** Runs `work` with the other reviews of this turn, after the current event-loop phase; resolves with its value. */
  run<T>(work: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.#jobs.length === 0) setImmediate(this.#runTurn);
      this.#jobs.push({ work, resolve: resolve as (value: unknown) => void, reject });
    });
  }

  readonly #runTurn = (): void => {
    const jobs = this.#jobs;
    this.#jobs = [];
    this.turns++;
    const started = performance.now();
    const ends = started + this.maxTurnMs;
    let firstEnded = started;
    let now = started;
    // Each promise settles now, but what awaits it runs only after this loop: every review of the
    // turn runs before the first answer is written.
    let done = 0;
    while (done < jobs.length) {
      const job = jobs[done++]!;
      try {
        job.resolve(job.work());
      } catch (error) {
        job.reject(error);
      }
      now = performance.now();
      if (done === 1) firstEnded = now;
      if (done < jobs.length && now >= ends) {
        // Out of time: the rest go first in the next turn.
        this.#jobs = jobs.slice(done).concat(this.#jobs);
        setImmediate(this.#runTurn);
        break;
      }
    }
    this.reviews += done;
    this.firstSeconds += (firstEnded - started) / 1000;
    this.laterSeconds += (now - firstEnded) / 1000;
  };
}
