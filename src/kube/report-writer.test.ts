// The content digest that lets the background audit skip a Report the cluster already holds.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { JsonObject } from '../common/vocabulary.js';
import { contentDigest } from './report-writer.js';

function report(seconds: number, result: string): JsonObject {
  return {
    apiVersion: 'openreports.io/v1alpha1',
    kind: 'Report',
    metadata: { name: 'daemonguard-audit', namespace: 'dev', resourceVersion: String(seconds) },
    source: 'daemonguard',
    summary: { pass: result === 'pass' ? 1 : 0, fail: result === 'fail' ? 1 : 0, warn: 0, error: 0, skip: 0 },
    results: [{ source: 'daemonguard', policy: 'p', rule: 'validations', result, timestamp: { seconds, nanos: 0 }, resources: [{ kind: 'DaemonSet', name: 'a' }] }],
  };
}

describe('contentDigest', () => {
  it('ignores the audit time and the metadata, and changes with any result', () => {
    assert.equal(contentDigest(report(1, 'pass')), contentDigest(report(2, 'pass')));
    assert.notEqual(contentDigest(report(1, 'pass')), contentDigest(report(1, 'fail')));
  });
});
