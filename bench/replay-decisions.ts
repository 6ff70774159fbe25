// `node --import <this file> build/src/cli/main.js serve ...`: serve with its decisions replayed
// (bench/replayed-review.ts), for `npm run bench` only.
import { register } from 'node:module';
import type { ReviewSubstitute } from './review-substitute-hooks.js';

register<ReviewSubstitute>('./review-substitute-hooks.js', import.meta.url, { data: { substitute: new URL('./replayed-review.js', import.meta.url).href } });
