import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { admissionRequest, daemonSet } from '../../test/support/admission-fixtures.js';
import type { Decision } from '../engine/types.js';
import { answerAdmissionReview } from './webhook-answer.js';

const warned: Decision = {
  allowed: true,
  violations: [{ policy: 'p', validation: 0, message: 'careful', reason: 'Invalid', actions: ['Warn'] }],
  warnings: ['p: careful'],
  auditAnnotations: {},
  patch: [{ op: 'add', path: '/metadata/annotations', value: {} }],
  mutatedObject: null,
  outcomes: [],
  exceptions: [],
  expiredExceptions: [],
};

describe('answerAdmissionReview', () => {
  it('answers in the version asked, for the phase asked, with the Decision behind it', () => {
    const request = admissionRequest(daemonSet());
    const mutating = answerAdmissionReview({ ok: true, apiVersion: 'admission.k8s.io/v1beta1', request }, () => warned, { phase: 'mutate' });
    assert.equal(mutating.answer.apiVersion, 'admission.k8s.io/v1beta1');
    assert.equal(mutating.answer.response.uid, request.uid);
    assert.deepEqual(mutating.answer.response.warnings, ['p: careful']);
    assert.equal(mutating.answer.response.patchType, 'JSONPatch');
    assert.equal(mutating.decision, warned);
    const validating = answerAdmissionReview({ ok: true, apiVersion: 'admission.k8s.io/v1', request }, () => warned, { phase: 'validate' });
    assert.equal(validating.answer.response.patch, undefined);
  });

  it('turns an engine fault into a refusal that says so, and hands the fault back for the logs', () => {
    const request = admissionRequest(daemonSet());
    const fault = new Error('boom');
    const answered = answerAdmissionReview({ ok: true, apiVersion: 'admission.k8s.io/v1', request }, () => {
      throw fault;
    }, { phase: 'validate' });
    assert.equal(answered.decision, undefined);
    assert.equal(answered.failure, fault);
    assert.deepEqual(answered.answer.response, {
      uid: request.uid,
      allowed: false,
      status: { code: 500, reason: 'InternalError', message: 'daemonguard could not evaluate the request: boom' },
    });
  });
});
