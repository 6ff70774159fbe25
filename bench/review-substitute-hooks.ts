// Module resolution hooks for the bench's engine substitutes (bench/replay-decisions.ts,
// bench/hand-written-engine.ts): every import of the engine's review module resolves to the substitute
// named in the hooks' data instead, except the substitute's own import of the real one.
import type { InitializeHook, ResolveHook } from 'node:module';

const ENGINE_REVIEW = /\/src\/engine\/review\.js$/;

/** What `register` passes as data: the URL of the module that stands in for src/engine/review.js. */
export interface ReviewSubstitute {
  substitute: string;
}

let substitute: string | undefined;

export const initialize: InitializeHook<ReviewSubstitute> = (data) => {
  substitute = data.substitute;
};

export const resolve: ResolveHook = async (specifier, context, nextResolve) => {
  const resolved = await nextResolve(specifier, context);
  if (substitute !== undefined && ENGINE_REVIEW.test(resolved.url) && context.parentURL !== substitute) return { url: substitute, shortCircuit: true };
  return resolved;
};
