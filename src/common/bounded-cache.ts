// A map that forgets its oldest entries beyond a limit. For caches that dedupe work across a load
// (the CEL compiler's interpreted operations): a server that reloads its policies for weeks must not
// keep everything any policy set ever needed. Forgetting only costs a rebuild on the next use.

export class BoundedCache<V> {
  readonly #entries = new Map<string, V>();

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`cache limit must be a positive integer, got ${limit}`);
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string): V | undefined {
    return this.#entries.get(key);
  }

  /** Adds (or replaces) an entry; beyond the limit the entry added first is forgotten. */
  set(key: string, value: V): void {
    this.#entries.delete(key);
    this.#entries.set(key, value);
    if (this.#entries.size > this.limit) this.#entries.delete(this.#entries.keys().next().value as string);
  }
}
