// The hand-written twins timed one by one on the same review, as `bench/code-size.ts --cold` times the
// engine's policies: right after another review (warm) and after other work evicted the CPU caches
// (cold), alternating. Beside the engine's per-policy times it shows how far each policy's generated
// code is from the same checks written by hand, in the conditions a webhook's reviews meet.
import type { JsonObject } from '../../src/common/vocabulary.js';
import type { PatchOperation } from '../../src/engine/types.js';
import { median } from '../bench-processes.js';
import { applyAdd } from './apply-patch.js';
import type { HandWrittenLibrary } from './library.js';
import type { HandWrittenReview } from './policy.js';

export interface TwinCost {
  /** Median µs of the twin's validate (or mutate) right after another review. */
  readonly warm: number;
  /** Median µs of the same after `evict` ran. */
  readonly cold: number;
}

export interface HandWrittenCosts {
  readonly byPolicy: ReadonlyMap<string, TwinCost>;
  /** Medians of the reviews' sums over every twin of the phase. */
  readonly total: TwinCost;
}

export interface CostByPolicyOptions {
  readonly phase: 'validate' | 'mutate';
  /** A freshly parsed review each time, as a server gets one. */
  readonly review: () => HandWrittenReview;
  /** What makes a review cold (writing a few MB): called before each cold review with its round. */
  readonly evict: (round: number) => void;
  /** Reviews of each kind, after as many again to warm up (not counted). */
  readonly reviews: number;
}

/** Per twin of the phase (in the library's order), its median time warm and cold; twins run as the hand-written server runs them. */
export function handWrittenCostByPolicy(library: HandWrittenLibrary, options: CostByPolicyOptions): HandWrittenCosts {
  const { phase, reviews } = options;
  const twins = phase === 'validate' ? library.validating : library.mutating;
  const samples = { warm: twins.map((): number[] => []), cold: twins.map((): number[] => []) };
  const totals = { warm: [] as number[], cold: [] as number[] };
  let sink = 0;
  for (let i = 0; i < 2 * reviews; i++) {
    for (const mode of ['warm', 'cold'] as const) {
      const review = options.review();
      if (mode === 'cold') options.evict(i);
      let working: JsonObject | null = review.object;
      let total = 0;
      for (let t = 0; t < twins.length; t++) {
        let operations: PatchOperation[] = [];
        const t0 = process.hrtime.bigint();
        if (phase === 'validate') sink += library.validating[t]!.validate(review).length;
        else if (working !== null) operations = library.mutating[t]!.mutate(review, working);
        const us = Number(process.hrtime.bigint() - t0) / 1000;
        // The next twin sees this one's operations (as mutateAll applies them); applying them is not its check.
        for (const operation of operations) working = applyAdd(working!, operation);
        sink += operations.length;
        if (i >= reviews) samples[mode][t]!.push(us);
        total += us;
      }
      if (i >= reviews) totals[mode].push(total);
    }
  }
  if (sink < 0) console.log(sink);
  const byPolicy = new Map<string, TwinCost>();
  twins.forEach((twin, t) => byPolicy.set(twin.name, { warm: median(samples.warm[t]!), cold: median(samples.cold[t]!) }));
  return { byPolicy, total: { warm: median(totals.warm), cold: median(totals.cold) } };
}
