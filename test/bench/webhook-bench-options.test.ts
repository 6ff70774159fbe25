// The command line of `npm run bench` (bench/webhook-bench-options.ts): which servers take turns (the
// hand-written one and serve with one trivial policy, each with its opt-out, and what --policies
// changes), which cases run and in what order, node flags that look like flags, and every bad
// argument refused by name; the bench itself prints the usage and exits 2 on one, before starting anything.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { UsageError, allCases, caseId, parseWebhookBenchArgs, selectedCases } from '../../bench/webhook-bench-options.js';

const BENCH = fileURLToPath(new URL('../../bench/webhook-bench.js', import.meta.url));

describe('npm run bench: the command line', () => {
  it('by default runs every case, 3 rounds of 5 s, with the hand-written server and serve with one trivial policy', () => {
    const options = parseWebhookBenchArgs([]);
    assert.deepEqual([options.rounds, options.seconds, options.handWritten, options.serveFloor], [3, 5, true, true]);
    assert.deepEqual(selectedCases(options).map(caseId), allCases().map(caseId));
    assert.equal(allCases().length, 8);
  });

  it('with --quick: 2 rounds of 1 s over the two target cases and the two most telling others', () => {
    const options = parseWebhookBenchArgs(['--quick']);
    assert.deepEqual([options.rounds, options.seconds], [2, 1]);
    assert.deepEqual(selectedCases(options).map(caseId), ['validate-small-c10', 'mutate-small-c10', 'validate-small-c50', 'validate-large-c10']);
  });

  it('leaves serve with one trivial policy out with --no-serve-floor, and only it', () => {
    const options = parseWebhookBenchArgs(['--no-serve-floor']);
    assert.deepEqual([options.serveFloor, options.handWritten], [false, true]);
    assert.deepEqual([parseWebhookBenchArgs(['--no-hand-written']).serveFloor, parseWebhookBenchArgs(['--no-hand-written']).handWritten], [true, false]);
  });

  it("with --policies DIR leaves the hand-written server out (its checks are the built-in library's) and keeps serve's own cost", () => {
    const options = parseWebhookBenchArgs(['--policies', '/tmp/lib']);
    assert.deepEqual([options.policies, options.handWritten, options.serveFloor], ['/tmp/lib', false, true]);
    assert.equal(parseWebhookBenchArgs(['--policies', '/tmp/lib', '--no-serve-floor']).serveFloor, false);
  });

  it('runs the --only cases in the bench order, whatever order they are given in', () => {
    const options = parseWebhookBenchArgs(['--only', 'mutate-small-c10,validate-small-c10', '--rounds', '1', '--seconds', '0.5']);
    assert.deepEqual(selectedCases(options).map(caseId), ['validate-small-c10', 'mutate-small-c10']);
    assert.deepEqual([options.rounds, options.seconds], [1, 0.5]);
  });

  it('takes node flags as values even though they start with --, in order, for serve and the baseline apart', () => {
    const options = parseWebhookBenchArgs([
      '--node-flag',
      '--max-semi-space-size=8',
      '--baseline',
      'old-build',
      '--node-flag',
      '--no-single-threaded-gc',
      '--baseline-node-flag',
      '--no-opt',
    ]);
    assert.deepEqual(options.nodeFlags, ['--max-semi-space-size=8', '--no-single-threaded-gc']);
    assert.deepEqual(options.baselineNodeFlags, ['--no-opt']);
    assert.equal(options.baseline, 'old-build');
  });

  const refused: [string, string[], RegExp][] = [
    ['an unknown flag', ['--no-serve-flor'], /unknown argument --no-serve-flor/],
    ['a word without a flag', ['validate-small-c10'], /unknown argument validate-small-c10/],
    ['a flag without its value', ['--rounds'], /--rounds needs a value/],
    ['zero rounds', ['--rounds', '0'], /--rounds 0: expected a positive whole number/],
    ['a fraction of a round', ['--rounds', '1.5'], /--rounds 1.5: expected a positive whole number/],
    ['seconds that are not a number', ['--seconds', 'five'], /--seconds five: expected a positive number/],
    ['a case that does not exist', ['--only', 'validate-small-c10,validate-huge-c10'], /--only .*: no such case validate-huge-c10/],
    ['an empty --only', ['--only', ','], /--only ,: no case named/],
    ['--policies twice', ['--policies', 'a', '--policies', 'b'], /--policies given twice \(a, b\)/],
  ];
  for (const [what, argv, message] of refused) {
    it(`refuses ${what}, naming it`, () => {
      assert.throws(() => parseWebhookBenchArgs(argv), (error: unknown) => error instanceof UsageError && message.test(error.message));
    });
  }

  it('makes the bench print its usage and exit 2 on a bad argument, before starting any server', () => {
    const child = spawnSync(process.execPath, [BENCH, '--no-serve-flor'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(child.status, 2, child.stderr);
    assert.match(child.stderr, /webhook-bench: unknown argument --no-serve-flor/);
    assert.match(child.stderr, /usage: node build\/bench\/webhook-bench\.js .*--no-serve-floor/s);
    assert.match(child.stderr, /cases: validate-small-c10, /);
    assert.equal(child.stdout, '');
  });
});
