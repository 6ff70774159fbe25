import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Decision, Violation } from '../engine/types.js';
import {
  admissionReviewAnswer,
  denialMessage,
  patchedResponse,
  patchOfResponse,
  responseFromDecision,
  sanitizeAuditAnnotationKey,
} from './admission-response.js';
import { MAX_TOTAL_WARNING_CHARACTERS, sanitizeWarning, sanitizeWarnings } from './warnings.js';

function decision(overrides: Partial<Decision> = {}): Decision {
  return {
    allowed: true,
    violations: [],
    warnings: [],
    auditAnnotations: {},
    patch: [],
    mutatedObject: null,
    outcomes: [],
    exceptions: [],
    expiredExceptions: [],
    ...overrides,
  };
}

function violation(policy: string, message: string, actions: Violation['actions'], reason = 'Forbidden'): Violation {
  return { policy, validation: 0, message, reason, actions };
}

const UID = 'b5a8a2c1-0000-4000-8000-000000000001';

describe('responseFromDecision', () => {
  it('allows with nothing else when the decision is clean', () => {
    assert.deepEqual(responseFromDecision(UID, decision(), 'validate'), { uid: UID, allowed: true });
  });

  it('denies with 403, the reason, and every Deny violation, each naming its policy', () => {
    const response = responseFromDecision(
      UID,
      decision({
        allowed: false,
        violations: [
          violation('privileged-namespaces', 'container "agent" is privileged; privileged containers are allowed only in: kube-system, monitoring', ['Deny']),
          violation('host-network', 'hostNetwork is not allowed; remove spec.template.spec.hostNetwork', ['Deny']),
          violation('resource-limits', 'container "agent" has no memory limit', ['Warn']),
        ],
        warnings: ['resource-limits: container "agent" has no memory limit'],
      }),
      'validate',
    );
    assert.equal(response.allowed, false);
    assert.equal(response.status?.code, 403);
    assert.equal(response.status?.reason, 'Forbidden');
    assert.equal(
      response.status?.message,
      'privileged-namespaces: container "agent" is privileged; privileged containers are allowed only in: kube-system, monitoring\n' +
        'host-network: hostNetwork is not allowed; remove spec.template.spec.hostNetwork',
    );
    assert.deepEqual(response.warnings, ['resource-limits: container "agent" has no memory limit']);
  });

  it('lets Warn and Audit violations through, as the warnings and audit annotations the engine filed', () => {
    const response = responseFromDecision(
      UID,
      decision({
        allowed: true,
        violations: [violation('limits', 'no memory limit', ['Warn']), violation('tolerations', 'tolerates every taint', ['Audit'])],
        warnings: ['limits: no memory limit', 'limits:  no memory\nlimit'],
        auditAnnotations: { tolerations: 'tolerates every taint' },
      }),
      'validate',
    );
    assert.equal(response.allowed, true);
    assert.equal(response.status, undefined);
    assert.deepEqual(response.warnings, ['limits: no memory limit'], 'each warning once, as the apiserver accepts it');
    assert.deepEqual(response.auditAnnotations, { tolerations: 'tolerates every taint' });
  });

  it('reads back the patch of a mutating answer as the apiserver does', () => {
    const patch = [{ op: 'add' as const, path: '/metadata/labels/a~1b', value: 'c' }];
    assert.deepEqual(patchOfResponse(responseFromDecision(UID, decision({ patch }), 'mutate')), patch);
    assert.deepEqual(patchOfResponse(responseFromDecision(UID, decision({ patch }), 'validate')), []);
  });

  it('answers 403 for every denial and passes the reason on', () => {
    const response = responseFromDecision(UID, decision({ allowed: false, violations: [violation('p', 'bad', ['Deny'], 'Invalid')] }), 'validate');
    assert.deepEqual(response.status, { code: 403, reason: 'Invalid', message: 'p: bad' });
  });

  it('denies when the engine says so even without a Deny violation, naming errored policies', () => {
    const response = responseFromDecision(
      UID,
      decision({ allowed: false, outcomes: [{ policy: 'broken', result: 'error', message: 'no such key: tempalte' }] }),
      'validate',
    );
    assert.equal(response.allowed, false);
    assert.equal(response.status?.message, 'broken: evaluation failed: no such key: tempalte');
  });

  it('never patches on /validate; patches on /mutate only when something changes', () => {
    const patch = [{ op: 'add' as const, path: '/spec/updateStrategy', value: { type: 'RollingUpdate' } }];
    const validating = responseFromDecision(UID, decision({ patch }), 'validate');
    assert.equal(validating.patch, undefined);
    assert.equal(validating.patchType, undefined);
    const mutating = responseFromDecision(UID, decision({ patch }), 'mutate');
    assert.equal(mutating.patchType, 'JSONPatch');
    assert.deepEqual(JSON.parse(Buffer.from(mutating.patch as string, 'base64').toString('utf8')), patch);
    const unchanged = responseFromDecision(UID, decision(), 'mutate');
    assert.equal('patch' in unchanged || 'patchType' in unchanged, false);
    assert.deepEqual(patchedResponse(UID, []), { uid: UID, allowed: true });
  });

  it('does not patch an object it denies', () => {
    const response = responseFromDecision(
      UID,
      decision({ allowed: false, violations: [violation('p', 'no', ['Deny'])], patch: [{ op: 'add', path: '/a', value: 1 }] }),
      'mutate',
    );
    assert.equal(response.patch, undefined);
  });

  it('wraps answers in the version asked, echoing kind', () => {
    assert.deepEqual(admissionReviewAnswer('admission.k8s.io/v1beta1', { uid: UID, allowed: true }), {
      apiVersion: 'admission.k8s.io/v1beta1',
      kind: 'AdmissionReview',
      response: { uid: UID, allowed: true },
    });
  });

  it('keeps audit annotation keys acceptable to the apiserver, including hostile ones', () => {
    assert.equal(sanitizeAuditAnnotationKey('privileged-namespaces'), 'privileged-namespaces');
    assert.equal(sanitizeAuditAnnotationKey('example.com/policy'), 'example.com-policy');
    assert.equal(sanitizeAuditAnnotationKey('/weird key!'), 'weird-key');
    assert.equal(sanitizeAuditAnnotationKey('x'.repeat(80)).length, 63);
    const annotations: Record<string, string> = {};
    Object.defineProperty(annotations, '__proto__', { value: 'value', enumerable: true });
    const response = responseFromDecision(UID, decision({ auditAnnotations: annotations }), 'validate');
    assert.equal(Object.getPrototypeOf(response.auditAnnotations), Object.prototype);
    assert.equal(JSON.stringify(response.auditAnnotations), '{"proto":"value"}');
  });

  it('lists each denial line once', () => {
    assert.equal(denialMessage([violation('p', 'same', ['Deny']), violation('p', 'same', ['Deny'])]), 'p: same');
  });
});

describe('warnings', () => {
  it('removes control characters and newlines, collapsing the spaces they leave', () => {
    assert.equal(sanitizeWarning('line one\nline\ttwo\u0000\u001b[31m red\u2028end'), 'line one line two [31m red end');
  });

  it('cuts warnings at 256 characters with an ellipsis, counting characters rather than UTF-16 units', () => {
    const long = sanitizeWarning('a'.repeat(300));
    assert.equal(Array.from(long).length, 256);
    assert.ok(long.endsWith('…'));
    const emoji = sanitizeWarning('🙂'.repeat(256));
    assert.equal(Array.from(emoji).length, 256);
    assert.ok(!emoji.endsWith('…'));
  });

  it('leaves a clean warning as it is and makes any other clean, whatever its characters', () => {
    // eslint-disable-next-line no-control-regex
    const unclean = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]| {2}|^\s|\s$/;
    const text = fc.string({ unit: fc.oneof(fc.constantFrom(' ', '\t', '\n', '\u0085', '\u00a0', '\u2028', '\ufeff', '\u3000', 'a', 'é', '🙂'), fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code))), maxLength: 300 });
    fc.assert(
      fc.property(text, (raw) => {
        const warning = sanitizeWarning(raw);
        assert.ok(!unclean.test(warning), JSON.stringify(warning));
        assert.ok([...warning].length <= 256);
        assert.equal(sanitizeWarning(warning), warning, 'a clean warning stays as it is');
      }),
      { numRuns: 2000 },
    );
  });

  it('deduplicates after cleaning and drops empty ones', () => {
    assert.deepEqual(sanitizeWarnings(['p: x', 'p:  x', 'p: x\n', '  ', 'q: y']), ['p: x', 'q: y']);
  });

  it('stays within the apiserver total budget, saying how many were left out', () => {
    const many = Array.from({ length: 40 }, (_, index) => `policy-${index}: ${'w'.repeat(200)}`);
    const result = sanitizeWarnings(many);
    const total = result.reduce((sum, warning) => sum + Array.from(warning).length, 0);
    assert.ok(total <= MAX_TOTAL_WARNING_CHARACTERS, `total ${total}`);
    assert.match(result.at(-1) ?? '', /^\d+ more warnings omitted$/);
  });
});
