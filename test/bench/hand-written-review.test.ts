// serve with the hand-written checks as its engine in `npm run bench` (bench/hand-written-review.ts):
// loaded with node's --import, every module that imports the engine's review() gets one that decides
// with the library written by hand. Its decisions must make serve's answers the engine's, byte for
// byte (the bench measures it as "serve with an engine as fast as plain JavaScript"), and each policy of
// the phase must still have its outcome (serve counts them in its metrics).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { POLICIES_DIR } from '../support/library-paths.js';

const HAND_WRITTEN_ENGINE = fileURLToPath(new URL('../../bench/hand-written-engine.js', import.meta.url));
const module = (path: string): string => JSON.stringify(new URL(path, import.meta.url).href);

// Every DaemonSet of the repository (CREATE and UPDATE) and the bench payloads, both phases, answered
// through the substituted review() and through the engine itself (imported with a query, which the
// hooks leave alone).
const SCRIPT = `
const substituted = await import(${module('../../src/engine/review.js')});
const engine = await import(${module('../../src/engine/review.js')} + '?engine');
const { answerAdmissionReview } = await import(${module('../../src/admission/webhook-answer.js')});
const { decodeAdmissionReview } = await import(${module('../../src/admission/admission-review.js')});
const { applyApiserverDefaults } = await import(${module('../../src/apiserver/daemonset-defaults.js')});
const { namespaceObject } = await import(${module('../../src/apiserver/namespace-object.js')});
const { loadPolicySet } = await import(${module('../../src/policy/load-policies.js')});
const { reviewTemplate } = await import(${module('../../bench/webhook-payloads.js')});
const { admissionRequest } = await import(${module('../support/admission-fixtures.js')});
const { repositoryDaemonSets } = await import(${module('../support/daemonset-corpus.js')});
const set = await loadPolicySet([${JSON.stringify(POLICIES_DIR)}]);
const { daemonSets, namespaceLabels } = await repositoryDaemonSets();
const namespaces = new Map([...namespaceLabels].map(([name, labels]) => [name, namespaceObject(name, labels)]));
namespaces.set('monitoring', namespaceObject('monitoring', { 'pod-security.kubernetes.io/enforce': 'baseline' }));
namespaces.set('kube-system', namespaceObject('kube-system', { 'pod-security.kubernetes.io/enforce': 'privileged' }));
const requests = [];
for (const entry of daemonSets) {
  const object = applyApiserverDefaults(entry.object, { namespace: entry.namespace });
  requests.push([entry.id, admissionRequest(object, { namespace: entry.namespace })]);
  requests.push([entry.id + ' (UPDATE)', admissionRequest(object, { namespace: entry.namespace, operation: 'UPDATE', oldObject: object })]);
}
for (const payload of ['small', 'large']) requests.push(['bench payload ' + payload, reviewTemplate(payload).request]);
const tally = { compared: 0, denied: 0, warned: 0, patched: 0, differences: [], substituted: substituted.review !== engine.review };
for (const [id, request] of requests) {
  const decoded = decodeAdmissionReview({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: JSON.parse(JSON.stringify(request)) });
  for (const phase of ['validate', 'mutate']) {
    const context = { phase };
    const known = namespaces.get(decoded.request.namespace ?? '');
    if (known !== undefined) context.namespaceObject = known;
    const byHand = answerAdmissionReview(decoded, (r, c) => substituted.review(r, set, c), context);
    const evaluated = answerAdmissionReview(decoded, (r, c) => engine.review(r, set, c), context);
    const policies = phase === 'validate' ? set.validatingPolicies : set.mutatingPolicies;
    // The engine's skip (a policy that does not apply) is a pass to the twins.
    const outcomes = (d) => d.outcomes.map((o) => o.policy + ' ' + (o.result === 'skip' ? 'pass' : o.result));
    tally.compared++;
    if (JSON.stringify(byHand.answer) !== JSON.stringify(evaluated.answer)) tally.differences.push(id + ' /' + phase + ': ' + JSON.stringify(byHand.answer).slice(0, 200));
    else if (byHand.decision.outcomes.length !== policies.length || JSON.stringify(outcomes(byHand.decision)) !== JSON.stringify(outcomes(evaluated.decision)))
      tally.differences.push(id + ' /' + phase + ': outcomes ' + JSON.stringify(outcomes(byHand.decision)));
    const response = evaluated.answer.response;
    if (!response.allowed) tally.denied++;
    if (response.warnings !== undefined) tally.warned++;
    if (response.patch !== undefined) tally.patched++;
  }
}
console.log(JSON.stringify(tally));
`;

describe('serve with the hand-written checks as its engine', () => {
  it("answers every review of the repository as the engine does, byte for byte, with every policy's outcome", () => {
    const child = spawnSync(process.execPath, [`--import=${HAND_WRITTEN_ENGINE}`, '--input-type=module', '-e', SCRIPT, '--', '--policies', POLICIES_DIR], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(child.status, 0, child.stderr);
    const tally = JSON.parse(child.stdout) as { compared: number; denied: number; warned: number; patched: number; differences: string[]; substituted: boolean };
    assert.equal(tally.substituted, true, 'the hooks gave the importing module the hand-written review()');
    assert.deepEqual(tally.differences, []);
    // The README's figures (The webhook against the floor): at least this many, of each kind.
    assert.ok(tally.compared >= 712, `${tally.compared} answers compared`);
    assert.ok(tally.denied >= 204 && tally.warned >= 323 && tally.patched >= 334, `denied ${tally.denied}, warned ${tally.warned}, patched ${tally.patched}`);
  });

  it('refuses to decide without the --policies folder its twins are built from', () => {
    const script = `const { review } = await import(${module('../../src/engine/review.js')}); const { loadPolicySet } = await import(${module('../../src/policy/load-policies.js')});
const { reviewTemplate } = await import(${module('../../bench/webhook-payloads.js')}); const { decodeAdmissionReview } = await import(${module('../../src/admission/admission-review.js')});
review(decodeAdmissionReview(reviewTemplate('small')).request, await loadPolicySet([${JSON.stringify(POLICIES_DIR)}]), { phase: 'validate' });`;
    const child = spawnSync(process.execPath, [`--import=${HAND_WRITTEN_ENGINE}`, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    assert.notEqual(child.status, 0);
    assert.match(child.stderr, /the hand-written engine needs serve started with --policies DIR/);
  });
});
