// `node --import <this file> build/src/cli/main.js serve ...`: serve with its decisions replayed
// (bench/replayed-review.ts), for `npm run bench` only.
import { register } from 'node:module';

register('./replayed-review-hooks.js', import.meta.url);
