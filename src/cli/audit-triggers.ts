// When a change the informers see asks for another background audit, and how such changes are
// gathered into one audit. Status updates (a DaemonSet's pod counts change all day) do not: they
// leave every policy's verdict as it was, and the interval audit catches what they change in Reports.
import { isJsonObject, type JsonObject } from '../common/vocabulary.js';

function metadataOf(object: JsonObject): JsonObject {
  return isJsonObject(object.metadata) ? object.metadata : {};
}

/**
 * Whether a DaemonSet or Namespace change can change an audit's results: the object came or went, or
 * its spec (metadata.generation), labels or annotations changed, which policies, selectors and
 * exceptions read.
 */
export function changeMattersToAudit(before: JsonObject | undefined, after: JsonObject | undefined): boolean {
  if (before === undefined || after === undefined) return before !== after;
  const [old, now] = [metadataOf(before), metadataOf(after)];
  return old.generation !== now.generation || JSON.stringify(old.labels ?? {}) !== JSON.stringify(now.labels ?? {}) || JSON.stringify(old.annotations ?? {}) !== JSON.stringify(now.annotations ?? {});
}

/**
 * Calls `fire` once, `delayMs` after the first poke of a burst: a `kubectl label` over 100 DaemonSets,
 * or a rollout touching many, makes one audit, not 100; and no change waits longer than `delayMs`.
 */
export class CoalescedTrigger {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly delayMs: number,
    private readonly fire: () => void,
  ) {}

  get waiting(): boolean {
    return this.timer !== undefined;
  }

  poke(): void {
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.fire();
    }, this.delayMs);
    this.timer.unref();
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
