// `node --import <this file> build/src/cli/main.js serve --policies DIR ...`: serve whose engine is the
// library written by hand (bench/hand-written-review.ts), for `npm run bench` only.
import { register } from 'node:module';
import type { ReviewSubstitute } from './review-substitute-hooks.js';

register<ReviewSubstitute>('./review-substitute-hooks.js', import.meta.url, { data: { substitute: new URL('./hand-written-review.js', import.meta.url).href } });
