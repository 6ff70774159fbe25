// The cel-spec conformance run against what the repository says of it: RESULTS.md's failing tests
// (no test that passed fails now) and the README's table (its figures are this run's). When a change
// makes more tests pass, `npm run conformance` rewrites RESULTS.md and the README's table is copied
// from its output.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { repoRoot } from '../support/library-paths.js';
import { compilerReport, renderMarkdown, runConformance } from './run-conformance.js';

const results = runConformance();

/** The names of the tests RESULTS.md lists as failing. */
function recordedFailures(): Set<string> {
  const text = readFileSync(path.join(repoRoot(), 'test', 'conformance', 'RESULTS.md'), 'utf8');
  return new Set([...text.matchAll(/^- `([^`]+)`: /gm)].map((m) => m[1]!));
}

describe('the CEL conformance run', () => {
  it('fails no test that RESULTS.md records as passing', () => {
    const recorded = recordedFailures();
    assert.ok(recorded.size > 0, 'RESULTS.md lists no failing test: its format changed');
    const newlyFailing = results.flatMap((r) => r.failures).filter((f) => !recorded.has(f.name)).map((f) => `${f.name}: ${f.reason}`);
    assert.deepEqual(newlyFailing, []);
  });

  it('evaluates every compiled expression as the interpreter does', () => {
    assert.deepEqual(compilerReport.disagreements, []);
    // The README's figure: 1,178 of 1,209 checked expressions compiled.
    assert.ok(compilerReport.compiled >= 1178, `only ${compilerReport.compiled} compiled`);
  });

  it('has the figures the README shows', () => {
    const readme = readFileSync(path.join(repoRoot(), 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## CEL conformance'));
    const table = /\| section \| pass \| fail \| skipped \|[\s\S]*?\| \*\*total\*\*[^\n]*/.exec(section)?.[0];
    assert.ok(table, 'no conformance table under "## CEL conformance" in the README');
    // The run's summary without its list of skip reasons, which the README words itself.
    const [summary] = renderMarkdown(results, false).split('\n\n');
    assert.equal(table, summary);
  });
});
