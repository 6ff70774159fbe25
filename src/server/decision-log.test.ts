import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino, type LoggerOptions } from 'pino';
import { createDecisionLog, DECISION_MESSAGE, millisecondsText, type DecisionLogFields } from './decision-log.js';
import { isoTimeOncePerMillisecond } from './log-destination.js';

/** A pino logger writing into an array; a fixed time so that two lines written apart compare. */
function capture(options: LoggerOptions = {}): { lines: string[]; logger: pino.Logger } {
  const lines: string[] = [];
  const logger = pino({ level: 'info', timestamp: () => ',"time":"2026-12-05T04:00:00.000Z"', ...options }, { write: (line: string) => void lines.push(line) });
  return { lines, logger };
}

const ordinary: DecisionLogFields = {
  uid: '5f1c2d8e-0b7a-4c61-9a53-2f7e6d1b0c44',
  namespace: 'monitoring',
  name: 'node-exporter',
  operation: 'CREATE',
  endpoint: '/validate',
  decision: 'allowed',
  failedPolicies: [],
  exceptions: [],
  dryRun: false,
  warnings: 1,
  patchOperations: 0,
  notEvaluated: undefined,
  durationMs: 1.234,
};

// Names and messages a client controls: quotes, backslashes, control characters, non-ASCII, emoji.
const awkward: DecisionLogFields = {
  ...ordinary,
  uid: 'a"b\\c',
  namespace: 'kube-system\n\t"x"',
  name: 'agent-é-日本-🚀-\u0000-\u001f-\u007f-\u2028',
  decision: 'denied',
  failedPolicies: ['host-namespaces', 'say "no"', 'back\\slash'],
  exceptions: ['calico-system/calico: capabilities', 'ns/ü: p'],
  dryRun: true,
  warnings: 0,
  patchOperations: 3,
  notEvaluated: 'deadline of 2000 ms passed; policies "a" and "b" were not evaluated',
  durationMs: 0,
};

const missing: DecisionLogFields = { ...ordinary, namespace: undefined, name: undefined, durationMs: Number.NaN, decision: 'error' };

describe('createDecisionLog', () => {
  it('writes, character for character, the line pino writes for the same fields', () => {
    const durations = [0.007, 0.5, 12.25, 2000, 1.2345, 1 / 3, -1, Number.POSITIVE_INFINITY].map((durationMs) => ({ ...ordinary, durationMs }));
    for (const fields of [ordinary, awkward, missing, ...durations]) {
      const fast = capture();
      const slow = capture();
      // The template, not pino's walk over the object, writes it.
      fast.logger.info = () => assert.fail('the plain logger went through logger.info');
      createDecisionLog(fast.logger)(fields);
      slow.logger.info(fields, DECISION_MESSAGE);
      assert.equal(fast.lines.length, 1);
      assert.equal(fast.lines[0], slow.lines[0]);
    }
  });

  it('keeps pino\'s level field, time function, bindings of a child and line ending', () => {
    const fast = capture({ timestamp: isoTimeOncePerMillisecond, base: { pid: 7, hostname: 'node-1' } });
    const child = fast.logger.child({ component: 'webhook "a"' });
    createDecisionLog(child)(ordinary);
    const line = fast.lines[0]!;
    assert.ok(line.endsWith('}\n'));
    const parsed = JSON.parse(line) as Record<string, unknown>;
    assert.equal(parsed.level, 30);
    assert.match(String(parsed.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(parsed.pid, 7);
    assert.equal(parsed.hostname, 'node-1');
    assert.equal(parsed.component, 'webhook "a"');
    assert.equal(parsed.msg, DECISION_MESSAGE);
    assert.deepEqual(Object.keys(parsed), ['level', 'time', 'pid', 'hostname', 'component', ...Object.keys(ordinary).filter((key) => key !== 'notEvaluated'), 'msg']);
  });

  it('reads back every field as given, quotes and non-ASCII included', () => {
    const { lines, logger } = capture();
    createDecisionLog(logger)(awkward);
    const parsed = JSON.parse(lines[0]!) as Record<string, unknown>;
    for (const [key, value] of Object.entries(awkward)) assert.deepEqual(parsed[key], value, key);
  });

  it('writes nothing below its level, and follows a level changed later', () => {
    const { lines, logger } = capture({ level: 'warn' });
    const log = createDecisionLog(logger);
    log(ordinary);
    assert.equal(lines.length, 0);
    logger.level = 'info';
    log(ordinary);
    assert.equal(lines.length, 1);
  });

  it('leaves the line to pino when its configuration changes it (formatters, redaction, serializers, mixin, message key)', () => {
    const configurations: LoggerOptions[] = [
      { formatters: { log: (object) => ({ ...object, formatted: true }) } },
      { redact: ['uid'] },
      { serializers: { name: (name: string) => name.toUpperCase() } },
      { mixin: () => ({ mixed: 1 }) },
      { messageKey: 'message' },
      { nestedKey: 'payload' },
      { msgPrefix: '[webhook] ' },
      { formatters: { level: (label) => ({ severity: label.toUpperCase() }) } },
    ];
    for (const options of configurations) {
      const fast = capture(options);
      const slow = capture(options);
      createDecisionLog(fast.logger)(ordinary);
      slow.logger.info(ordinary, DECISION_MESSAGE);
      assert.equal(fast.lines[0], slow.lines[0], JSON.stringify(Object.keys(options)));
    }
  });

  it('lets a multistream have the line from pino, with the level it routes on', () => {
    const info: string[] = [];
    const errors: string[] = [];
    const logger = pino(
      { level: 'info' },
      pino.multistream([
        { level: 'info', stream: { write: (line: string) => void info.push(line) } },
        { level: 'error', stream: { write: (line: string) => void errors.push(line) } },
      ]),
    );
    createDecisionLog(logger)(ordinary);
    assert.equal(info.length, 1);
    assert.equal(errors.length, 0);
    assert.equal((JSON.parse(info[0]!) as { uid: string }).uid, ordinary.uid);
  });
});

describe('millisecondsText', () => {
  it('writes a duration as JSON.stringify does: every thousandth below 1 ms, durations the handler makes, and the rest', () => {
    const values: number[] = [];
    for (let i = 0; i < 1000; i++) values.push(i / 1000, 1 + i / 1000, 7919 + i / 1000);
    // What the handler logs: seconds from performance.now() differences, rounded to microseconds.
    let seed = 12345;
    const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 20_000; i++) values.push(Math.round(random() * 10 ** (1 + (i % 10)) * 1e3) / 1000);
    // Not three decimals, not finite, negative, past the exact range: as JSON.stringify (null for what is not finite).
    values.push(1.2345, 1 / 3, 1e-7, 2 ** 43, 2 ** 43 / 1000 + 0.5, 1e21, -0, -1.5, Number.NaN, Number.POSITIVE_INFINITY, Number.MAX_VALUE);
    for (const value of values) assert.equal(millisecondsText(value), JSON.stringify(value), String(value));
  });
});
