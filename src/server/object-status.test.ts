// statusToWrite and a policy's impact: written when the audit's counts change, and only then.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { statusToWrite, type ObjectStatus } from './object-status.js';

const LOADED: ObjectStatus = { observedGeneration: 2, ready: true, reason: 'Loaded', message: 'loaded and type-checked; enforced', expressions: 3 };
const NOW = new Date('2026-12-04T12:00:00Z');

describe('statusToWrite with impact', () => {
  it('writes the impact when it is new or changed, and nothing when the stored status says the same', () => {
    const impact = { wouldDeny: 2, wouldWarn: 2, sample: ['dev/a', 'dev/b'] };
    const first = statusToWrite(undefined, { ...LOADED, impact }, NOW);
    assert.deepEqual(first?.impact, impact);
    assert.equal(statusToWrite(first, { ...LOADED, impact: { ...impact, sample: [...impact.sample] } }, NOW), undefined);
    const fewer = statusToWrite(first, { ...LOADED, impact: { wouldDeny: 1, wouldWarn: 1, sample: ['dev/a'] } }, new Date('2026-12-04T13:00:00Z'));
    assert.deepEqual(fewer?.impact, { wouldDeny: 1, wouldWarn: 1, sample: ['dev/a'] });
    // Ready did not flip: the condition keeps its transition time.
    assert.equal(fewer?.conditions[0]?.lastTransitionTime, first?.conditions[0]?.lastTransitionTime);
  });

  it('before any audit (no impact) a stored impact is left as it is', () => {
    const stored = statusToWrite(undefined, { ...LOADED, impact: { wouldDeny: 0, wouldWarn: 0, sample: [] } }, NOW);
    assert.equal(statusToWrite(stored, LOADED, NOW), undefined);
  });
});
