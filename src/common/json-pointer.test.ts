import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { escapePointerSegment, formatPointer, parsePointer } from './json-pointer.js';

describe('JSON pointers (RFC 6901)', () => {
  it('escapes "~" as ~0 and "/" as ~1, and leaves other keys as they are', () => {
    assert.equal(escapePointerSegment('node-role.kubernetes.io/control-plane'), 'node-role.kubernetes.io~1control-plane');
    assert.equal(escapePointerSegment('a~b/c~1'), 'a~0b~1c~01');
    assert.equal(escapePointerSegment('seccompProfile'), 'seccompProfile');
    assert.equal(formatPointer(['spec', 'template', 0, 'a/b']), '/spec/template/0/a~1b');
    assert.equal(formatPointer([]), '');
  });

  it('reads back every pointer it writes, whatever the keys hold', () => {
    const key = fc.string({ unit: fc.constantFrom('~', '/', '0', '1', 'a', '.', '-', ' ', 'é'), maxLength: 8 });
    fc.assert(
      fc.property(fc.array(key, { maxLength: 6 }), (segments) => {
        assert.deepEqual(parsePointer(formatPointer(segments)), segments);
      }),
      { numRuns: 2000 },
    );
  });
});
