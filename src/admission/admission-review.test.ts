import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeAdmissionReview } from './admission-review.js';

function review(request: Record<string, unknown>, apiVersion = 'admission.k8s.io/v1'): Record<string, unknown> {
  return { apiVersion, kind: 'AdmissionReview', request };
}

const daemonSet = { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'agent', namespace: 'monitoring' }, spec: {} };

function createRequest(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
    kind: { group: 'apps', version: 'v1', kind: 'DaemonSet' },
    resource: { group: 'apps', version: 'v1', resource: 'daemonsets' },
    requestKind: { group: 'apps', version: 'v1', kind: 'DaemonSet' },
    requestResource: { group: 'apps', version: 'v1', resource: 'daemonsets' },
    name: 'agent',
    namespace: 'monitoring',
    operation: 'CREATE',
    userInfo: { username: 'admin', uid: '014fbff9', groups: ['system:authenticated'], extra: { 'some-key': ['a', 'b'] } },
    object: daemonSet,
    oldObject: null,
    dryRun: false,
    options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
    ...overrides,
  };
}

function rejection(body: unknown): string {
  const result = decodeAdmissionReview(body);
  assert.equal(result.ok, false, 'expected the body to be refused');
  return result.ok ? '' : result.message;
}

describe('decodeAdmissionReview', () => {
  it('decodes a v1 CREATE review into the engine request', () => {
    const result = decodeAdmissionReview(review(createRequest()));
    assert.ok(result.ok);
    assert.equal(result.apiVersion, 'admission.k8s.io/v1');
    assert.equal(result.request.uid, '705ab4f5-6393-11e8-b7cc-42010a800002');
    assert.equal(result.request.operation, 'CREATE');
    assert.deepEqual(result.request.kind, { group: 'apps', version: 'v1', kind: 'DaemonSet' });
    assert.equal(result.request.namespace, 'monitoring');
    assert.equal(result.request.object, daemonSet);
    assert.equal(result.request.oldObject, null);
    assert.equal(result.request.dryRun, false);
    assert.deepEqual(result.request.userInfo.groups, ['system:authenticated']);
  });

  it('keeps the version asked for: v1beta1', () => {
    const result = decodeAdmissionReview(review(createRequest(), 'admission.k8s.io/v1beta1'));
    assert.ok(result.ok);
    assert.equal(result.apiVersion, 'admission.k8s.io/v1beta1');
  });

  it('accepts DELETE with a null object and an oldObject, and an empty name on CREATE (generateName)', () => {
    const deletion = decodeAdmissionReview(review(createRequest({ operation: 'DELETE', object: null, oldObject: daemonSet })));
    assert.ok(deletion.ok);
    assert.equal(deletion.request.object, null);
    assert.equal(deletion.request.oldObject, daemonSet);
    const generated = decodeAdmissionReview(review(createRequest({ name: '' })));
    assert.ok(generated.ok);
    assert.equal(generated.request.name, '');
  });

  it('refuses what is not an AdmissionReview, saying why', () => {
    assert.match(rejection([1, 2]), /request body is an array, not an AdmissionReview/);
    assert.match(rejection('hello'), /request body is the string "hello"/);
    assert.match(rejection(null), /request body is null/);
    assert.match(rejection({ kind: 'AdmissionReview', request: createRequest() }), /apiVersion is missing; expected admission\.k8s\.io\/v1 or admission\.k8s\.io\/v1beta1/);
    assert.match(rejection(review(createRequest(), 'admission.k8s.io/v2')), /unsupported apiVersion "admission\.k8s\.io\/v2"/);
    assert.match(rejection({ apiVersion: 'admission.k8s.io/v1', kind: 'Pod', request: createRequest() }), /kind is "Pod"; expected AdmissionReview/);
    assert.match(rejection({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }), /request is missing/);
    assert.match(rejection(review(createRequest({ uid: undefined }))), /request\.uid is missing/);
    assert.match(rejection(review(createRequest({ uid: '' }))), /request\.uid is empty/);
    assert.match(rejection(review(createRequest({ uid: 42 }))), /request\.uid must be a string, got a number/);
    assert.match(rejection(review(createRequest({ operation: 'PATCH' }))), /request\.operation is the string "PATCH"; expected one of CREATE, UPDATE, DELETE, CONNECT/);
    assert.match(rejection(review(createRequest({ kind: 'DaemonSet' }))), /request\.kind must be an object \{group, version, kind\}/);
    assert.match(rejection(review(createRequest({ resource: undefined }))), /request\.resource is missing/);
    assert.match(rejection(review(createRequest({ object: [1] }))), /request\.object must be an object or null, got an array/);
    assert.match(rejection(review(createRequest({ object: null }))), /request\.object is missing; a CREATE review must carry the object/);
    assert.match(rejection(review(createRequest({ operation: 'UPDATE' }))), /request\.oldObject is missing; an UPDATE review/);
    assert.match(rejection(review(createRequest({ dryRun: 'yes' }))), /request\.dryRun must be a boolean/);
    assert.match(rejection(review(createRequest({ userInfo: { groups: 'admins' } }))), /request\.userInfo\.groups must be an array of strings/);
  });

  it('reports the uid of a review it refuses, when there is one', () => {
    const result = decodeAdmissionReview(review(createRequest({ operation: 'PATCH' })));
    assert.ok(!result.ok);
    assert.equal(result.uid, '705ab4f5-6393-11e8-b7cc-42010a800002');
  });

  it('refuses a body nested deeper than any Kubernetes object, naming where', () => {
    const deep = JSON.stringify(review(createRequest({ object: { ...daemonSet, spec: { x: '@' } } }))).replace('"@"', '['.repeat(100_000) + ']'.repeat(100_000));
    const result = decodeAdmissionReview(JSON.parse(deep));
    assert.ok(!result.ok);
    assert.match(result.message, /^request body is nested more than 1000 levels deep \(at \/request\/object\/spec\/x\/0\/0\//);
    assert.equal(result.uid, '705ab4f5-6393-11e8-b7cc-42010a800002');
  });

  it('treats __proto__ and constructor keys as plain data', () => {
    const text = JSON.stringify(review(createRequest({ userInfo: { username: 'mallory', extra: { 'x': ['y'] } } })))
      .replace('"request":{', '"__proto__":{"polluted":"yes"},"request":{"constructor":{"prototype":{"polluted":"yes"}},')
      .replace('"extra":{', '"extra":{"__proto__":["x"],');
    const hostile = JSON.parse(text) as unknown;
    const result = decodeAdmissionReview(hostile);
    assert.ok(result.ok);
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
    assert.equal(Object.getPrototypeOf(result.request), Object.prototype);
    assert.equal(Object.getPrototypeOf(result.request.userInfo), Object.prototype);
    assert.equal(Object.prototype.hasOwnProperty.call(result.request, 'polluted'), false);
  });
});
