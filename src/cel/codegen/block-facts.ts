// What the lines a generator has written establish for the lines after them, block by block: a fact
// recorded inside a block holds in it and in the blocks inside it, never after it closes (a branch
// not taken, a loop body that did not run, a `try` left by a throw). Both generators keep the values
// they have read here (emitter.ts, lean-generator.ts), so that a later read on every path after the
// first finds its temporary instead of reading again.

export class BlockFacts<V> {
  /** One map per open block, the innermost last. */
  private readonly levels: Map<string, V>[] = [new Map()];

  /** A block opens: what is recorded from now on is forgotten when it closes. */
  open(): void {
    this.levels.push(new Map());
  }

  close(): void {
    this.levels.pop();
  }

  /** The fact recorded for `key` in this block or one around it. */
  recall(key: string): V | undefined {
    for (let i = this.levels.length - 1; i >= 0; i--) {
      const value = this.levels[i]!.get(key);
      if (value !== undefined) return value;
    }
    return undefined;
  }

  /** Records `value` for `key` until the current block closes. */
  remember(key: string, value: V): void {
    this.levels[this.levels.length - 1]!.set(key, value);
  }

  /**
   * Drops the facts `stale` picks, in every open block: what they said no longer holds from here on,
   * nor after any of these blocks closes.
   */
  forget(stale: (key: string, value: V) => boolean): void {
    for (const level of this.levels) for (const [key, value] of level) if (stale(key, value)) level.delete(key);
  }
}
