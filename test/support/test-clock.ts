// Time and timers that move only when a test says so, for the retry loops in src/kube (lease election,
// the informer restart): structurally the timers those modules take, plus a clock for `now`.

/** Lets every promise chain a fake API started run to its end (fakes answer in microtasks). */
export const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Time and timers that move only when the test says so. */
export class TestClock {
  private time = Date.parse('2026-12-04T12:00:00Z');
  private nextId = 0;
  private tasks: { id: number; at: number; callback: () => void }[] = [];

  readonly now = (): number => this.time;

  setTimeout(callback: () => void, ms: number): unknown {
    const id = ++this.nextId;
    this.tasks.push({ id, at: this.time + ms, callback });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.tasks = this.tasks.filter((task) => task.id !== handle);
  }

  /** Moves time on by `ms`, running each timer due on the way at its own time and letting its work finish. */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    for (;;) {
      await settle();
      const due = this.tasks.filter((task) => task.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (due === undefined) break;
      this.tasks = this.tasks.filter((task) => task !== due);
      this.time = due.at;
      due.callback();
    }
    this.time = end;
    await settle();
  }

  get pendingTimers(): number {
    return this.tasks.length;
  }
}
