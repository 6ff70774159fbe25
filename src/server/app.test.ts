// Endpoint rules and bad input, through the express app with supertest, against the real policy loader
// and engine with real policy files.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fastJsonPatch from 'fast-json-patch';
import request from 'supertest';
import type { RequestListener } from 'node:http';
import { review } from '../engine/review.js';
import type { AdmissionRequest, JsonObject, ReviewContext } from '../engine/types.js';
import { loadPolicySet } from '../policy/load-policies.js';
import type { PolicySet } from '../policy/types.js';
import { createAdmissionApp, createRequestListener } from './app.js';
import { createProbeListener } from './probe-server.js';
import { createServerMetrics, type ServerMetrics } from './metrics.js';
import { StaticPolicyStore, type PolicyStore } from './policy-store.js';
import { DEFAULT_JSON_LIMITS } from './json-limit-defaults.js';
import { DEFAULT_MAX_BODY_BYTES } from './read-body.js';
import { admissionReview, captureLogger, daemonSet, decodePatch, temporaryDirectory, TEST_POLICIES, writeFiles, type CapturedLogger } from '../../test/support/server-fixtures.js';

interface AnswerBody {
  apiVersion: string;
  kind: string;
  response: {
    uid: string;
    allowed: boolean;
    status?: { code: number; reason: string; message: string };
    warnings?: string[];
    auditAnnotations?: Record<string, string>;
    patchType?: string;
    patch?: string;
  };
}

interface StatusBody {
  kind: string;
  code: number;
  reason: string;
  message: string;
}

let policySet: PolicySet;
let app: RequestListener;
let metrics: ServerMetrics;
let logs: CapturedLogger;
const contexts: ReviewContext[] = [];

function buildApp(options: { policies?: PolicyStore<PolicySet>; evalDeadlineMs?: number; reviewFn?: typeof review } = {}): RequestListener {
  // The listener the HTTPS server uses: reviews on the fast path, everything else through express.
  return createRequestListener({
    policies: options.policies ?? new StaticPolicyStore(policySet),
    review: options.reviewFn ?? review,
    metrics,
    logger: logs.logger,
    evalDeadlineMs: options.evalDeadlineMs ?? 2000,
  });
}

async function post(path: string, body: JsonObject, target: RequestListener = app): Promise<AnswerBody> {
  const answer = await request(target).post(path).set('Content-Type', 'application/json').send(JSON.stringify(body)).expect(200);
  assert.match(String(answer.headers['content-type']), /^application\/json/);
  return answer.body as AnswerBody;
}

/** Applies a mutating answer's patch the way the apiserver does, failing on any op that does not apply. */
function applyAnswerPatch(object: JsonObject, answer: AnswerBody): JsonObject {
  assert.equal(answer.response.patchType, 'JSONPatch');
  const operations = decodePatch(answer.response.patch as string) as fastJsonPatch.Operation[];
  return fastJsonPatch.applyPatch(structuredClone(object), operations, true, false).newDocument as JsonObject;
}

before(async () => {
  const dir = await temporaryDirectory();
  await writeFiles(dir, { 'policies.yaml': TEST_POLICIES });
  policySet = await loadPolicySet([dir]);
  metrics = createServerMetrics({ defaultMetrics: false });
  logs = captureLogger('info');
  app = buildApp({
    reviewFn: (admission: AdmissionRequest, set: PolicySet, context: ReviewContext) => {
      contexts.push(context);
      return review(admission, set, context);
    },
  });
});

describe('POST /validate', () => {
  it('allows a compliant DaemonSet, echoing uid, apiVersion and kind, with no patch', async () => {
    const body = admissionReview('CREATE', daemonSet({ memoryLimit: '128Mi' }), { uid: 'uid-compliant' });
    const answer = await post('/validate', body);
    assert.deepEqual(answer, { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'uid-compliant', allowed: true } });
  });

  it('answers a v1beta1 review in v1beta1', async () => {
    const answer = await post('/validate', admissionReview('CREATE', daemonSet({ memoryLimit: '1Gi' }), { apiVersion: 'admission.k8s.io/v1beta1', uid: 'uid-beta' }));
    assert.equal(answer.apiVersion, 'admission.k8s.io/v1beta1');
    assert.equal(answer.kind, 'AdmissionReview');
    assert.equal(answer.response.uid, 'uid-beta');
    assert.equal(answer.response.allowed, true);
  });

  it('denies with 403 and lists every Deny violation, naming the policy and what to change', async () => {
    const answer = await post('/validate', admissionReview('CREATE', daemonSet({ privileged: true, hostNetwork: true, tolerateEverything: true })));
    assert.equal(answer.response.allowed, false);
    assert.equal(answer.response.status?.code, 403);
    assert.equal(answer.response.status?.reason, 'Forbidden');
    assert.equal(
      answer.response.status?.message,
      'privileged-namespaces: container "agent" is privileged; privileged containers are allowed only in: kube-system, monitoring\n' +
        'host-network: hostNetwork is not allowed; remove spec.template.spec.hostNetwork',
    );
    // Warn violations become warnings, Audit ones audit annotations; neither denies on its own.
    assert.deepEqual(answer.response.warnings, ['memory-limits: every container should set resources.limits.memory']);
    assert.deepEqual(answer.response.auditAnnotations, { 'tolerate-everything': 'tolerates every taint' });
    assert.equal(answer.response.patch, undefined);
  });

  it('allows what only warns or audits', async () => {
    const answer = await post('/validate', admissionReview('CREATE', daemonSet({ namespace: 'monitoring', privileged: true, tolerateEverything: true })));
    assert.equal(answer.response.allowed, true);
    assert.equal(answer.response.status, undefined);
    assert.deepEqual(answer.response.warnings, ['memory-limits: every container should set resources.limits.memory']);
    assert.deepEqual(answer.response.auditAnnotations, { 'tolerate-everything': 'tolerates every taint' });
  });

  it('never returns a patch, even when a mutation would apply', async () => {
    const answer = await post('/validate', admissionReview('CREATE', daemonSet({ memoryLimit: '1Gi' })));
    assert.equal('patch' in answer.response, false);
    assert.equal('patchType' in answer.response, false);
  });

  it('evaluates UPDATE against the new object', async () => {
    const before = daemonSet({ memoryLimit: '1Gi' });
    const answer = await post('/validate', admissionReview('UPDATE', daemonSet({ memoryLimit: '1Gi', hostNetwork: true }), { oldObject: before }));
    assert.equal(answer.response.allowed, false);
    assert.equal(answer.response.status?.message, 'host-network: hostNetwork is not allowed; remove spec.template.spec.hostNetwork');
  });

  it('passes DELETE through to the engine: allowed unless a policy matches DELETE', async () => {
    const plain = await post('/validate', admissionReview('DELETE', null, { oldObject: daemonSet({ privileged: true }) }));
    assert.equal(plain.response.allowed, true);
    const protectedSet = daemonSet({ labels: { app: 'node-agent', 'daemonguard.dev/protected': 'true' } });
    const refused = await post('/validate', admissionReview('DELETE', null, { oldObject: protectedSet }));
    assert.equal(refused.response.allowed, false);
    assert.equal(
      refused.response.status?.message,
      'protected-delete: this DaemonSet is protected; remove the label daemonguard.dev/protected before deleting it',
    );
  });

  it('allows CONNECT when no policy asks for it', async () => {
    const answer = await post('/validate', admissionReview('CONNECT', null, { oldObject: null }));
    assert.equal(answer.response.allowed, true);
  });

  it('evaluates dryRun requests like any other', async () => {
    const answer = await post('/validate', admissionReview('CREATE', daemonSet({ privileged: true, memoryLimit: '1Gi' }), { dryRun: true }));
    assert.equal(answer.response.allowed, false);
    assert.match(answer.response.status?.message ?? '', /^privileged-namespaces: /);
  });

  it('lets a non-DaemonSet through without evaluating it', async () => {
    const body = admissionReview('CREATE', daemonSet({ privileged: true }));
    (body['request'] as JsonObject)['kind'] = { group: 'apps', version: 'v1', kind: 'Deployment' };
    const answer = await post('/validate', body);
    assert.equal(answer.response.allowed, true);
  });

  it('gives the engine a deadline from --eval-deadline, shortened by the apiserver timeout', async () => {
    contexts.length = 0;
    const startedAt = performance.now();
    await post('/validate', admissionReview('CREATE', daemonSet({ memoryLimit: '1Gi' })));
    await request(app)
      .post('/validate?timeout=1s')
      .set('Content-Type', 'application/json')
      .send(JSON.stringify(admissionReview('CREATE', daemonSet({ memoryLimit: '1Gi' }))))
      .expect(200);
    const [plain, bounded] = contexts;
    assert.equal(plain?.phase, 'validate');
    assert.ok(plain?.deadline !== undefined && plain.deadline >= startedAt + 2000 - 1 && plain.deadline <= performance.now() + 2000);
    assert.ok(bounded?.deadline !== undefined && bounded.deadline <= performance.now() + 800);
  });

  it('settles policies by their failurePolicy when the deadline has passed', async () => {
    const late = buildApp({ evalDeadlineMs: 0 });
    const answer = await post('/validate', admissionReview('CREATE', daemonSet({ memoryLimit: '1Gi' })), late);
    assert.equal(answer.response.allowed, false);
    assert.match(answer.response.status?.message ?? '', /privileged-namespaces: policy could not be evaluated: the evaluation deadline passed/);
  });

  it('refuses (allowed: false, code 500) when the engine itself throws, and counts it', async () => {
    const broken = buildApp({
      reviewFn: () => {
        throw new RangeError('Maximum call stack size exceeded');
      },
    });
    const answer = await post('/validate', admissionReview('CREATE', daemonSet(), { uid: 'uid-crash' }), broken);
    assert.deepEqual(answer.response, {
      uid: 'uid-crash',
      allowed: false,
      status: { code: 500, reason: 'InternalError', message: 'daemonguard could not evaluate the request: Maximum call stack size exceeded' },
    });
    assert.match(await metrics.registry.metrics(), /daemonguard_policy_evaluation_errors_total\{policy=""\} 1/);
  });
});

describe('POST /mutate', () => {
  it('returns a JSONPatch that applies and gives what the policies asked for, and nothing the second time', async () => {
    const object = daemonSet({ memoryLimit: '1Gi' });
    const first = await post('/mutate', admissionReview('CREATE', object, { uid: 'uid-mutate' }));
    assert.equal(first.response.uid, 'uid-mutate');
    assert.equal(first.response.allowed, true);
    const mutated = applyAnswerPatch(object, first);
    const spec = mutated['spec'] as JsonObject;
    assert.deepEqual(spec['updateStrategy'], { rollingUpdate: { maxUnavailable: '10%' } });
    assert.deepEqual((mutated['metadata'] as JsonObject)['annotations'], { 'daemonguard.dev/reviewed': 'true' });
    // Everything else is untouched.
    assert.deepEqual({ ...mutated, spec: { ...spec, updateStrategy: undefined }, metadata: { ...(mutated['metadata'] as JsonObject), annotations: undefined } }, {
      ...object,
      spec: { ...(object['spec'] as JsonObject), updateStrategy: undefined },
      metadata: { ...(object['metadata'] as JsonObject), annotations: undefined },
    });

    // Reinvocation (a new uid, the mutated object): no patch, so no patchType either.
    const second = await post('/mutate', admissionReview('CREATE', mutated, { uid: 'uid-mutate-again' }));
    assert.deepEqual(second.response, { uid: 'uid-mutate-again', allowed: true });
  });

  it('keeps what is set and fills only what is missing', async () => {
    const object = daemonSet({ maxUnavailable: '1' });
    const answer = await post('/mutate', admissionReview('CREATE', object, { apiVersion: 'admission.k8s.io/v1beta1' }));
    assert.equal(answer.apiVersion, 'admission.k8s.io/v1beta1');
    const mutated = applyAnswerPatch(object, answer);
    assert.deepEqual((mutated['spec'] as JsonObject)['updateStrategy'], { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '1' } });
    assert.deepEqual((mutated['metadata'] as JsonObject)['annotations'], { 'daemonguard.dev/reviewed': 'true' });
  });

  it('does not mutate DELETE', async () => {
    const answer = await post('/mutate', admissionReview('DELETE', null, { oldObject: daemonSet() }));
    assert.deepEqual(Object.keys(answer.response).sort(), ['allowed', 'uid']);
  });
});

describe('bad input', () => {
  async function refused(path: string, body: string | Buffer, contentType = 'application/json'): Promise<{ status: number; body: StatusBody }> {
    const answer = await request(app).post(path).set('Content-Type', contentType).send(body);
    assert.match(String(answer.headers['content-type']), /^application\/json/);
    const status = answer.body as StatusBody;
    assert.equal(status.kind, 'Status');
    assert.equal(status.code, answer.status);
    return { status: answer.status, body: status };
  }

  it('answers 400 to a body that is not JSON', async () => {
    const answer = await refused('/validate', '{"apiVersion": "admission.k8s.io/v1", ');
    assert.equal(answer.status, 400);
    assert.equal(answer.body.reason, 'BadRequest');
    assert.match(answer.body.message, /^request body is not valid JSON: /);
  });

  it('answers 400 to an empty body', async () => {
    const answer = await refused('/mutate', '');
    assert.equal(answer.status, 400);
    assert.equal(answer.body.message, 'request body is empty; expected an AdmissionReview');
  });

  it('answers 413 to a body over the default limit, and accepts one just under', async () => {
    const big = Buffer.alloc(DEFAULT_MAX_BODY_BYTES + 1, 0x20);
    const answer = await refused('/validate', big);
    assert.equal(answer.status, 413);
    assert.equal(answer.body.reason, 'RequestEntityTooLarge');
    assert.match(answer.body.message, new RegExp(`limit is ${DEFAULT_MAX_BODY_BYTES} bytes \\(.* MiB, --max-body-bytes\\)`));

    // Just under the limit, in strings each under the string limit.
    const object = daemonSet({ memoryLimit: '1Gi' });
    const piece = 1024 * 1024;
    const pieces = Math.floor((DEFAULT_MAX_BODY_BYTES - 8192) / (piece + 16));
    const annotations: JsonObject = Object.fromEntries(Array.from({ length: pieces }, (_, i) => [`filler-${i}`, 'x'.repeat(piece)]));
    annotations['rest'] = 'x'.repeat(DEFAULT_MAX_BODY_BYTES - 8192 - pieces * (piece + 16));
    (object['metadata'] as JsonObject)['annotations'] = annotations;
    const body = JSON.stringify(admissionReview('CREATE', object, { uid: 'uid-large' }));
    assert.ok(body.length > DEFAULT_MAX_BODY_BYTES - 8192 && body.length <= DEFAULT_MAX_BODY_BYTES, String(body.length));
    const accepted = await request(app).post('/validate').set('Content-Type', 'application/json').send(body).expect(200);
    assert.equal((accepted.body as AnswerBody).response.uid, 'uid-large');
  });

  it('answers 400 with the reason to JSON that is not an AdmissionReview', async () => {
    const answer = await refused('/validate', JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' } }));
    assert.equal(answer.status, 400);
    assert.equal(answer.body.message, 'unsupported apiVersion "v1"; expected admission.k8s.io/v1 or admission.k8s.io/v1beta1');
    const array = await refused('/validate', '[]');
    assert.equal(array.body.message, 'request body is an array, not an AdmissionReview object');
  });

  it('answers 400 to a review nested too deep, before parsing it, and again after parsing when --max-json-depth is raised past 1000', async () => {
    const body = JSON.stringify(admissionReview('CREATE', daemonSet(), { uid: 'uid-deep' })).replace('"spec":{', `"spec":{"x":${'['.repeat(2000)}${']'.repeat(2000)},`);
    const measured = await refused('/validate', body);
    assert.equal(measured.status, 400);
    assert.match(measured.body.message, /^request body is nested more than 1000 levels deep \(at \/request\/object\/spec\/x\/0\/0\/.*; the limit is --max-json-depth=1000/);

    // Raised past what the decoder lets through, the decoder's own walk still refuses it.
    const raised = createRequestListener({
      policies: new StaticPolicyStore(policySet),
      review,
      metrics,
      logger: logs.logger,
      evalDeadlineMs: 2000,
      jsonLimits: { ...DEFAULT_JSON_LIMITS, maxDepth: 5000 },
    });
    const answer = await request(raised).post('/validate').set('Content-Type', 'application/json').send(body).expect(400);
    assert.match((answer.body as StatusBody).message, /^request body is nested more than 1000 levels deep \(at \/request\/object\/spec\/x\/0\/0\/.*; no Kubernetes object is$/);
  });

  it('answers 400 to a review without request.uid', async () => {
    const body = admissionReview('CREATE', daemonSet());
    delete (body['request'] as JsonObject)['uid'];
    const answer = await refused('/validate', JSON.stringify(body));
    assert.equal(answer.status, 400);
    assert.equal(answer.body.message, 'request.uid is missing');
  });

  it('answers 400 to an unknown AdmissionReview apiVersion', async () => {
    const answer = await refused('/mutate', JSON.stringify(admissionReview('CREATE', daemonSet(), { apiVersion: 'admission.k8s.io/v2' })));
    assert.equal(answer.status, 400);
    assert.equal(answer.body.message, 'unsupported apiVersion "admission.k8s.io/v2"; expected admission.k8s.io/v1 or admission.k8s.io/v1beta1');
  });

  it('answers 415 to a body that is not sent as JSON', async () => {
    const answer = await refused('/validate', 'apiVersion: admission.k8s.io/v1', 'application/yaml');
    assert.equal(answer.status, 415);
    assert.match(answer.body.message, /Content-Type is "application\/yaml"/);
  });

  it('answers 405 with Allow to a wrong method, and 404 to an unknown path', async () => {
    const get = await request(app).get('/validate').expect(405);
    assert.equal(get.headers['allow'], 'POST');
    assert.equal((get.body as StatusBody).reason, 'MethodNotAllowed');
    const put = await request(app).put('/mutate').send('{}').expect(405);
    assert.equal(put.headers['allow'], 'POST');
    const missing = await request(app).post('/admit').send('{}').expect(404);
    assert.equal((missing.body as StatusBody).reason, 'NotFound');
    assert.match((missing.body as StatusBody).message, /^no such endpoint: POST \/admit/);
  });

  it('does not let __proto__ or constructor keys pollute prototypes', async () => {
    const text = JSON.stringify(admissionReview('CREATE', daemonSet({ memoryLimit: '1Gi' }), { uid: 'uid-proto' }))
      .replace('"request":{', '"__proto__":{"polluted":"yes"},"request":{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},')
      .replace('"metadata":{', '"metadata":{"__proto__":{"polluted":"yes"},');
    const answer = await request(app).post('/validate').set('Content-Type', 'application/json').send(text).expect(200);
    assert.equal((answer.body as AnswerBody).response.uid, 'uid-proto');
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
    assert.equal((Object.prototype as Record<string, unknown>)['polluted'], undefined);
  });

  it('routes unusual spellings of the review paths through express to the same handler', async () => {
    const body = JSON.stringify(admissionReview('CREATE', daemonSet({ privileged: true, memoryLimit: '1Gi' }), { uid: 'uid-express' }));
    for (const target of [app, createAdmissionApp({ policies: new StaticPolicyStore(policySet), review, metrics, logger: logs.logger, evalDeadlineMs: 2000 })]) {
      for (const path of ['/validate/', '/Validate', '/validate?timeout=10s']) {
        const answer = await request(target).post(path).set('Content-Type', 'application/json').send(body).expect(200);
        assert.equal((answer.body as AnswerBody).response.uid, 'uid-express');
        assert.equal((answer.body as AnswerBody).response.allowed, false);
      }
    }
  });

  it('keeps serving after all of that', async () => {
    const answer = await post('/validate', admissionReview('CREATE', daemonSet({ memoryLimit: '1Gi' }), { uid: 'uid-still-alive' }));
    assert.equal(answer.response.allowed, true);
  });
});

describe('probes, metrics and logs', () => {
  const probes = (notReadyReason: () => string | undefined = () => undefined): RequestListener => createProbeListener({ readiness: { notReadyReason }, metrics, logger: logs.logger });

  it('serves /healthz and /readyz on the probe listener, and /readyz says why it is not ready', async () => {
    const healthz = await request(probes()).get('/healthz').expect(200, 'ok\n');
    assert.equal(healthz.headers['x-powered-by'], undefined);
    assert.equal(healthz.headers['etag'], undefined);
    await request(probes()).get('/readyz').expect(200, 'ok\n');
    await request(probes(() => 'policies are not loaded')).get('/readyz').expect(503, 'not ready: policies are not loaded\n');
    const postProbe = await request(probes()).post('/healthz').send('{}').expect(405);
    assert.equal(postProbe.headers['allow'], 'GET, HEAD');
    await request(probes()).post('/validate').send('{}').expect(404);
    const empty: PolicyStore<PolicySet> = { current: () => undefined };
    const notReady = createAdmissionApp({
      policies: empty,
      review,
      metrics,
      logger: logs.logger,
      evalDeadlineMs: 2000,
    });
    const refused = await request(notReady).post('/validate').set('Content-Type', 'application/json').send(JSON.stringify(admissionReview('CREATE', daemonSet()))).expect(503);
    assert.equal((refused.body as StatusBody).message, 'policies are not loaded yet');
  });

  it('answers HEAD and unusual spellings of the probe paths (routed by express, loaded on first use) as it answers their GET', async () => {
    const listener = probes(() => 'shutting down');
    const head = await request(listener).head('/readyz').expect(503);
    assert.equal(head.headers['content-type'], 'text/plain; charset=utf-8');
    await request(listener).get('/readyz/').expect(503, 'not ready: shutting down\n');
    await request(listener).get('/healthz?verbose').expect(200, 'ok\n');
    const wrong = await request(listener).delete('/metrics').expect(405);
    assert.equal(wrong.headers['allow'], 'GET, HEAD');
  });

  it('serves neither probes nor metrics on the admission port, and says where they are', async () => {
    for (const path of ['/healthz', '/readyz', '/metrics']) {
      const answer = await request(app).get(path).expect(404);
      assert.match((answer.body as StatusBody).message, /this port serves POST \/validate and POST \/mutate \(\/healthz, \/readyz and \/metrics are on the probe port, --probe-address\)$/);
    }
  });

  it('exposes Prometheus metrics with the agreed names', async () => {
    const answer = await request(probes()).get('/metrics').expect(200);
    assert.match(String(answer.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    const text = answer.text;
    assert.match(text, /daemonguard_admission_requests_total\{endpoint="\/validate",decision="allowed"\} \d+/);
    assert.match(text, /daemonguard_admission_requests_total\{endpoint="\/validate",decision="denied"\} \d+/);
    assert.match(text, /daemonguard_admission_requests_total\{endpoint="\/mutate",decision="patched"\} \d+/);
    assert.match(text, /daemonguard_admission_requests_total\{endpoint="\/validate",decision="invalid"\} \d+/);
    assert.match(text, /daemonguard_admission_request_duration_seconds_bucket\{le="0\.005",endpoint="\/validate"\} \d+/);
    assert.match(text, /daemonguard_policy_evaluations_total\{policy="privileged-namespaces",result="fail"\} \d+/);
    assert.match(text, /daemonguard_policy_evaluations_total\{policy="protected-delete",result="skip"\} \d+/);
    assert.match(text, /# TYPE daemonguard_policy_evaluation_errors_total counter/);
    assert.match(text, /# TYPE daemonguard_policies_loaded gauge/);
    assert.match(text, /# TYPE daemonguard_policy_reload_failures_total counter/);
    assert.match(text, /# TYPE daemonguard_tls_certificate_expiry_timestamp_seconds gauge/);
  });

  it('logs one structured line per decision, without the request body', async () => {
    logs.records.length = 0;
    await post('/validate', admissionReview('CREATE', daemonSet({ name: 'logged', privileged: true, hostNetwork: true }), { uid: 'uid-logged' }));
    const decisions = logs.records.filter((record) => record['msg'] === 'admission decision');
    assert.equal(decisions.length, 1);
    const line = decisions[0] as Record<string, unknown>;
    assert.equal(line['uid'], 'uid-logged');
    assert.equal(line['namespace'], 'default');
    assert.equal(line['name'], 'logged');
    assert.equal(line['operation'], 'CREATE');
    assert.equal(line['endpoint'], '/validate');
    assert.equal(line['decision'], 'denied');
    assert.deepEqual(line['failedPolicies'], ['privileged-namespaces', 'host-network', 'memory-limits']);
    assert.equal(typeof line['durationMs'], 'number');
    assert.equal(JSON.stringify(logs.records).includes('registry.example/node-agent'), false);
  });
});

after(() => {
  contexts.length = 0;
});

describe('DaemonSetPolicyExceptions over the wire', () => {
  const EXCEPTIONS = `apiVersion: daemonguard.dev/v1alpha1
kind: DaemonSetPolicyException
metadata: {name: node-agent-privileged, namespace: default}
spec:
  policies: [privileged-namespaces]
  match: {names: [node-agent]}
  reason: The node agent loads a kernel module.
---
apiVersion: daemonguard.dev/v1alpha1
kind: DaemonSetPolicyException
metadata: {name: node-agent-host-network, namespace: default}
spec:
  policies: [host-network]
  match: {names: [node-agent]}
  reason: Until the agent moves to a CNI plugin.
  expires: "2026-01-01T00:00:00Z"
`;

  it('answers with the notice, an audit annotation and a denial only for the expired one; counts both in the metrics', async () => {
    const dir = await temporaryDirectory();
    await writeFiles(dir, { 'policies.yaml': TEST_POLICIES, 'exceptions.yaml': EXCEPTIONS });
    const target = buildApp({ policies: new StaticPolicyStore(await loadPolicySet([dir])) });
    const answer = await post('/validate', admissionReview('CREATE', daemonSet({ namespace: 'default', privileged: true, hostNetwork: true, memoryLimit: '1Gi' })), target);
    assert.equal(answer.response.allowed, false);
    assert.equal(answer.response.status?.message, 'host-network: hostNetwork is not allowed; remove spec.template.spec.hostNetwork');
    assert.deepEqual(answer.response.warnings, [
      'exception default/node-agent-host-network expired at 2026-01-01T00:00:00Z; it no longer applies to host-network',
      'exception default/node-agent-privileged applied to privileged-namespaces',
    ]);
    assert.deepEqual(answer.response.auditAnnotations, {
      'exception.privileged-namespaces': 'default/node-agent-privileged excepted: container "agent" is privileged; privileged containers are allowed only in: kube-system, monitoring (reason: The node agent loads a kernel module.)',
    });
    // The metrics the probe port serves (src/server/probe-server.ts) are this registry's.
    const text = await metrics.registry.metrics();
    assert.match(text, /^daemonguard_exceptions_applied_total\{exception="default\/node-agent-privileged",policy="privileged-namespaces"\} [1-9]\d*$/m);
    assert.match(text, /^daemonguard_exceptions_expired_total\{exception="default\/node-agent-host-network",policy="host-network"\} [1-9]\d*$/m);
  });
});
