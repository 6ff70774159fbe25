import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { contentTypeProblem, timeoutQuery } from './request-query.js';

describe('contentTypeProblem', () => {
  it('accepts JSON in UTF-8 however it is spelt, and says what is wrong with anything else', () => {
    for (const accepted of [undefined, 'application/json', 'Application/JSON', 'application/json; charset=utf-8', 'application/json;charset="UTF-8"']) {
      assert.equal(contentTypeProblem(accepted), undefined, String(accepted));
    }
    assert.equal(contentTypeProblem('text/plain'), 'Content-Type is "text/plain"; an AdmissionReview is sent as application/json');
    assert.match(contentTypeProblem('application/json; charset=latin1') ?? '', /^Content-Type charset is "latin1"; an AdmissionReview is read as UTF-8 only/);
  });
});

describe('timeoutQuery', () => {
  it('reads each query right, whether it is the same as the last one or not', () => {
    const readings = ['/validate?timeout=10s', '/validate?timeout=10s', '/validate?timeout=5s', '/validate', '/validate?timeout=bogus', '/validate?timeout=bogus', '/validate?x=1', '/validate?timeout=10s'].map(
      (url) => timeoutQuery(url),
    );
    assert.deepEqual(readings, [
      { kind: 'valid', ms: 10_000 },
      { kind: 'valid', ms: 10_000 },
      { kind: 'valid', ms: 5_000 },
      { kind: 'absent' },
      { kind: 'malformed', value: 'bogus' },
      { kind: 'malformed', value: 'bogus' },
      { kind: 'absent' },
      { kind: 'valid', ms: 10_000 },
    ]);
    assert.deepEqual(timeoutQuery(undefined), { kind: 'absent' });
    assert.deepEqual(timeoutQuery('/validate?timeout=1%7A'), { kind: 'malformed', value: '1z' });
    assert.deepEqual(timeoutQuery('/validate?timeout=-1s'), { kind: 'malformed', value: '-1s' });
  });
});
