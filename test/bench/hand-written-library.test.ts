// The hand-written library as one webhook (bench/hand-written/library.ts, answer.ts): every policy of
// policies/ has its twin, in the engine's order, and the whole library's answer to a review is the
// answer daemonguard gives, byte for byte (allowed, denial status and reason, warnings, patch), on
// /validate and /mutate, for every DaemonSet the repository holds, the Pod Security fixtures (as written
// and as the apiserver defaults them) and the bench payloads, in namespaces the server knows (with and
// without Pod Security labels) and in one it does not. The group tests (hand-written-<group>.test.ts)
// hold each twin to its policy on generated inputs; this one holds their composition and the wording.
import assert from 'node:assert/strict';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeAdmissionReview } from '../../src/admission/admission-review.js';
import { answerAdmissionReview } from '../../src/admission/webhook-answer.js';
import { applyApiserverDefaults } from '../../src/apiserver/daemonset-defaults.js';
import { namespaceObject } from '../../src/apiserver/namespace-object.js';
import type { JsonObject } from '../../src/common/vocabulary.js';
import { review } from '../../src/engine/review.js';
import type { ReviewContext } from '../../src/engine/types.js';
import { loadPolicySet } from '../../src/policy/load-policies.js';
import type { PolicySet } from '../../src/policy/types.js';
import { answerReview, type ReviewShape } from '../../bench/hand-written/answer.js';
import { HandWrittenLibraryError, loadHandWrittenLibrary, type HandWrittenLibrary } from '../../bench/hand-written/library.js';
import { reviewTemplate } from '../../bench/webhook-payloads.js';
import { admissionRequest, policyYaml } from '../support/admission-fixtures.js';
import { psaFixtureDaemonSets, repositoryDaemonSets } from '../support/daemonset-corpus.js';
import { POLICIES_DIR } from '../support/library-paths.js';

/** A review to send: its JSON, as the apiserver would send it. */
interface Sent {
  id: string;
  body: JsonObject;
}

describe('the hand-written library', () => {
  let library: HandWrittenLibrary;
  let policySet: PolicySet;
  const namespaces = new Map<string, JsonObject>();
  const sent: Sent[] = [];

  before(async () => {
    library = loadHandWrittenLibrary(POLICIES_DIR);
    policySet = await loadPolicySet([POLICIES_DIR]);
    const { daemonSets, namespaceLabels } = await repositoryDaemonSets();
    // What the server knows of the namespaces: the suites' labels, the bench's, two Pod Security levels.
    for (const [name, labels] of namespaceLabels) namespaces.set(name, namespaceObject(name, labels));
    namespaces.set('kube-system', namespaceObject('kube-system', { 'pod-security.kubernetes.io/enforce': 'privileged' }));
    namespaces.set('monitoring', namespaceObject('monitoring', { 'pod-security.kubernetes.io/enforce': 'baseline' }));
    namespaces.set('pss-restricted', namespaceObject('pss-restricted', { 'pod-security.kubernetes.io/enforce': 'restricted' }));
    for (const entry of daemonSets) if (!namespaces.has(entry.namespace)) namespaces.set(entry.namespace, namespaceObject(entry.namespace));

    const add = (id: string, request: JsonObject, apiVersion = 'admission.k8s.io/v1'): void => {
      sent.push({ id, body: { apiVersion, kind: 'AdmissionReview', request: JSON.parse(JSON.stringify(request)) as JsonObject } });
    };
    // As the apiserver sends them: defaulted, and re-encoded as Go encodes them (no nulls where the schema
    // has a value), the only DaemonSets the twins promise to judge as the engine does.
    const admitted = (object: JsonObject, namespace: string): JsonObject => applyApiserverDefaults(object, { namespace });
    for (const entry of daemonSets) {
      const object = admitted(entry.object, entry.namespace);
      add(entry.id, admissionRequest(object, { namespace: entry.namespace }) as unknown as JsonObject);
      add(`${entry.id} (UPDATE)`, admissionRequest(object, { namespace: entry.namespace, operation: 'UPDATE', oldObject: object }) as unknown as JsonObject);
    }
    for (const entry of await psaFixtureDaemonSets()) {
      add(`${entry.id} in monitoring`, admissionRequest(admitted(entry.object, 'monitoring'), { namespace: 'monitoring' }) as unknown as JsonObject);
      add(`${entry.id} in pss-restricted`, admissionRequest(admitted(entry.object, 'pss-restricted'), { namespace: 'pss-restricted' }) as unknown as JsonObject, 'admission.k8s.io/v1beta1');
    }
    const first = admitted(daemonSets[0]!.object, 'monitoring');
    add('a namespace the server does not know', admissionRequest(first, { namespace: 'not-known' }) as unknown as JsonObject);
    add('DELETE', admissionRequest(null, { operation: 'DELETE', oldObject: first, namespace: 'monitoring' }) as unknown as JsonObject);
    add('a subresource', admissionRequest(first, { operation: 'UPDATE', oldObject: first, subResource: 'status', namespace: 'monitoring' }) as unknown as JsonObject);
    add('not a DaemonSet', admissionRequest(first, { kind: 'Deployment', namespace: 'monitoring' }) as unknown as JsonObject);
    for (const payload of ['small', 'large'] as const) add(`bench payload ${payload}`, reviewTemplate(payload).request as JsonObject);
  });

  it('has a twin for every policy, in the order the engine evaluates them', () => {
    assert.deepEqual(library.validating.map((twin) => twin.name), policySet.validatingPolicies.map((policy) => policy.name));
    assert.deepEqual(library.mutating.map((twin) => twin.name), policySet.mutatingPolicies.map((policy) => policy.name));
  });

  it('answers every review as daemonguard does, byte for byte, on /validate and /mutate', () => {
    const tally = { compared: 0, denied: 0, warned: 0, patched: 0, reasons: new Set<string>() };
    for (const { id, body } of sent) {
      const decoded = decodeAdmissionReview(body);
      assert.ok(decoded.ok, `${id}: not a review`);
      for (const phase of ['validate', 'mutate'] as const) {
        const context: ReviewContext = { phase };
        const known = namespaces.get(decoded.request.namespace ?? '');
        if (known !== undefined) context.namespaceObject = known;
        const engine = answerAdmissionReview(decoded, (request, reviewContext) => review(request, policySet, reviewContext), context);
        assert.equal(engine.failure, undefined, `${id}: the engine failed`);
        const expected = JSON.stringify(engine.answer);
        const actual = answerReview(library, namespaces, phase, body as unknown as ReviewShape);
        assert.equal(actual, expected, `${id} on /${phase}: the hand-written answer differs`);
        const response = engine.answer.response;
        tally.compared++;
        if (!response.allowed) {
          tally.denied++;
          tally.reasons.add(response.status!.reason ?? '');
        }
        if (response.warnings !== undefined) tally.warned++;
        if (response.patch !== undefined) tally.patched++;
      }
    }
    assert.ok(tally.compared >= 600, `${tally.compared} answers compared`);
    assert.ok(tally.denied >= 100, `${tally.denied} denials`);
    assert.ok(tally.warned >= 100, `${tally.warned} answers with warnings`);
    assert.ok(tally.patched >= 100, `${tally.patched} patches`);
    assert.deepEqual([...tally.reasons].sort(), ['Forbidden', 'InternalError', 'Invalid'], 'denials of every reason the library gives');
  });

  describe('refuses to be built', () => {
    let copy = '';
    before(async () => {
      copy = await mkdtemp(join(tmpdir(), 'daemonguard-hw-library-'));
      await cp(POLICIES_DIR, join(copy, 'policies'), { recursive: true });
    });
    after(() => rm(copy, { recursive: true, force: true }));

    it('when a library policy has no twin, naming the policy and its file', async () => {
      await writeFile(
        join(copy, 'policies', 'security', 'no-twin.yaml'),
        policyYaml('agent-labels', `
validationActions: [Deny]
validations:
  - expression: "has(object.metadata.labels)"
    message: "label the agent"
`),
      );
      assert.throws(
        () => loadHandWrittenLibrary(join(copy, 'policies')),
        (error: unknown) =>
          error instanceof HandWrittenLibraryError &&
          error.problems.length === 1 &&
          /no-twin\.yaml: policy "agent-labels" has validations but no validating twin/.test(error.message),
      );
    });

    it('when a twin has no library policy (a policy renamed or removed), naming the twin', async () => {
      await rm(join(copy, 'policies', 'security', 'no-twin.yaml'), { force: true });
      await rm(join(copy, 'policies', 'defaults', 'default-seccomp.yaml'));
      assert.throws(
        () => loadHandWrittenLibrary(join(copy, 'policies')),
        (error: unknown) => error instanceof HandWrittenLibraryError && /mutating twin for "default-seccomp", which no policy/.test(error.message),
      );
    });
  });
});
