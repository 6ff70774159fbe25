// Module resolution hooks for bench/replay-decisions.ts: every import of the engine's review module
// resolves to bench/replayed-review.js instead, except that module's own import of the real one.
import type { ResolveHook } from 'node:module';

const ENGINE_REVIEW = /\/src\/engine\/review\.js$/;
const REPLAYED = new URL('./replayed-review.js', import.meta.url).href;

export const resolve: ResolveHook = async (specifier, context, nextResolve) => {
  const resolved = await nextResolve(specifier, context);
  if (ENGINE_REVIEW.test(resolved.url) && context.parentURL !== REPLAYED) return { url: REPLAYED, shortCircuit: true };
  return resolved;
};
