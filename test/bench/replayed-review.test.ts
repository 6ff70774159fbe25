// serve with its decisions replayed in `npm run bench` (bench/replayed-review.ts): loaded with node's
// --import, every module that imports the engine's review() gets the replaying one, which evaluates
// the first review of an object and answers later reviews of it (another uid) with the same decision;
// and the split it gives: the library's answer, the evaluation, and the evaluation's budget at a target.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { replayedSplit } from '../../bench/serve-floor.js';

const REPLAY_DECISIONS = fileURLToPath(new URL('../../bench/replay-decisions.js', import.meta.url));
const ENGINE_REVIEW = new URL('../../src/engine/review.js', import.meta.url).href;
const PAYLOADS = new URL('../../bench/webhook-payloads.js', import.meta.url).href;
const LOADER = new URL('../../src/policy/load-policies.js', import.meta.url).href;
const DECODER = new URL('../../src/admission/admission-review.js', import.meta.url).href;
const NAMESPACES = new URL('../../src/server/namespace-catalog.js', import.meta.url).href;

/** Runs `script` (an ES module) in a node with or without the replaying hooks; returns its JSON output. */
function runScript(script: string, replay: boolean): Record<string, unknown> {
  const child = spawnSync(process.execPath, [...(replay ? [`--import=${REPLAY_DECISIONS}`] : []), '--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(child.status, 0, child.stderr);
  return JSON.parse(child.stdout) as Record<string, unknown>;
}

// Two reviews of the bench's small DaemonSet that differ in their uid, then one of another name.
const SCRIPT = `
const engine = await import(${JSON.stringify(ENGINE_REVIEW)});
const { BUILT_IN_POLICIES, NAMESPACES_YAML, reviewTemplate } = await import(${JSON.stringify(PAYLOADS)});
const { loadPolicySet } = await import(${JSON.stringify(LOADER)});
const { decodeAdmissionReview } = await import(${JSON.stringify(DECODER)});
const { parseNamespaces } = await import(${JSON.stringify(NAMESPACES)});
const set = await loadPolicySet([BUILT_IN_POLICIES]);
const request = (uid, name) => {
  const body = reviewTemplate('small');
  body.request.uid = uid;
  if (name) { body.request.name = name; body.request.object.metadata.name = name; }
  return decodeAdmissionReview(body).request;
};
const namespaceObject = parseNamespaces(NAMESPACES_YAML, 'namespaces').get('monitoring');
const context = { phase: 'validate', namespaceObject };
const first = engine.review(request('a'), set, context);
const second = engine.review(request('b'), set, context);
const other = engine.review(request('c', 'other-exporter'), set, context);
const mutated = engine.review(request('d'), set, { ...context, phase: 'mutate' });
console.log(JSON.stringify({
  sameDecision: first === second,
  otherIsFresh: other !== first,
  mutateIsFresh: mutated !== first,
  outcomes: first.outcomes.length,
  otherExports: typeof engine.isDaemonSetRequest,
}));
`;

describe('serve with its decisions replayed', () => {
  it("answers a review of the same object with the engine's first decision, and evaluates another object, phase or build afresh", () => {
    const replayed = runScript(SCRIPT, true);
    assert.deepEqual(replayed, { sameDecision: true, otherIsFresh: true, mutateIsFresh: true, outcomes: replayed.outcomes, otherExports: 'function' });
    assert.ok((replayed.outcomes as number) >= 10, `the library's decision has every policy's outcome (${String(replayed.outcomes)})`);
    // Without the hooks the same script gets the engine itself: a new decision for every review.
    const evaluated = runScript(SCRIPT, false);
    assert.equal(evaluated.sameDecision, false);
    assert.equal(evaluated.outcomes, replayed.outcomes);
  });
});

describe("serve with its decisions replayed: the split and the evaluation's budget", () => {
  it('is answer = replayed − trivial, evaluation = daemonguard − replayed, budget = floor / target − replayed, medians of the rounds', () => {
    const split = replayedSplit(
      [
        { floor: 50, trivial: 60, replayed: 66, daemonguard: 110 },
        { floor: 56, trivial: 66, replayed: 74, daemonguard: 120 },
        { floor: 49, trivial: 58, replayed: 63, daemonguard: 104 },
      ],
      0.7,
    );
    // Rounds: answer 6, 8, 5; evaluation 44, 46, 41; budget 50/0.7 − 66 = 5.43, 56/0.7 − 74 = 6, 49/0.7 − 63 = 7.
    assert.deepEqual({ answer: split.answer, evaluation: split.evaluation }, { answer: 6, evaluation: 44 });
    assert.ok(Math.abs(split.evaluationBudget - 6) < 1e-9, String(split.evaluationBudget));
  });

  it('gives a negative budget when serve without any evaluation is already below the target', () => {
    const split = replayedSplit([{ floor: 50, trivial: 70, replayed: 80, daemonguard: 120 }], 0.7);
    assert.ok(split.evaluationBudget < 0);
  });
});
