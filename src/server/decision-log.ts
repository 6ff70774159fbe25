// The one log line per admission decision ("admission decision"), built as a single template string.
//
// pino builds a line by walking the object it is given, key by key, and concatenating what each value
// becomes; for this line, written once per review, that cost about 4 µs of CPU per small review under
// load (an A/B run of `serve` with one trivial policy: 71 against 67 µs with the object only passed
// to JSON.stringify). The fields here are fixed, so the line is written the way pino would write it —
// the same level field, time, bindings (pid, hostname, a child's), keys in the same order, the same
// message — and handed to pino's own destination. The parts that are pino's come from the logger
// through `pino.symbols`, which pino exports for this kind of use. A logger configured in a way that
// would change the line (a log formatter, a mixin, hooks, serializers or redaction of these keys, a
// nested key, a message prefix, a multistream wanting metadata) gets the object through logger.info
// instead, as before. decision-log.test.ts compares both ways on the same decisions.

import { pino, type Logger } from 'pino';
import type { RequestDecision } from './metrics.js';

/** What the decision line says, in this order. */
export interface DecisionLogFields {
  uid: string;
  namespace: string | undefined;
  name: string | undefined;
  operation: string;
  endpoint: string;
  decision: RequestDecision;
  failedPolicies: readonly string[];
  exceptions: readonly string[];
  dryRun: boolean;
  warnings: number;
  patchOperations: number;
  notEvaluated: string | undefined;
  durationMs: number;
}

export const DECISION_MESSAGE = 'admission decision';
const INFO = 30;
const FIELD_NAMES: readonly (keyof DecisionLogFields)[] = [
  'uid',
  'namespace',
  'name',
  'operation',
  'endpoint',
  'decision',
  'failedPolicies',
  'exceptions',
  'dryRun',
  'warnings',
  'patchOperations',
  'notEvaluated',
  'durationMs',
];

const symbols = pino.symbols;
/** Not in pino's type declarations, though pino exports it with the others. */
const msgPrefixSym = (symbols as unknown as Record<string, symbol | undefined>).msgPrefixSym;

interface PinoInternals {
  [key: symbol]: unknown;
}

/** Whether pino, configured as `logger` is, writes the decision line exactly as decisionLine() does. */
function writesPlainLines(logger: Logger): boolean {
  const internals = logger as unknown as PinoInternals;
  const formatters = internals[symbols.formattersSym] as { log?: unknown } | undefined;
  const hooks = internals[symbols.hooksSym] as { logMethod?: unknown; streamWrite?: unknown } | undefined;
  const serializers = (internals[symbols.serializersSym] ?? {}) as Record<string, unknown>;
  const stringifiers = (internals[symbols.stringifiersSym] ?? {}) as Record<string | symbol, unknown>;
  const levels = internals[symbols.lsCacheSym] as Record<number, unknown> | undefined;
  return (
    formatters !== undefined &&
    formatters.log === undefined &&
    hooks !== undefined &&
    hooks.logMethod === undefined &&
    hooks.streamWrite === undefined &&
    internals[symbols.mixinSym] === undefined &&
    internals[symbols.messageKeySym] === 'msg' &&
    (msgPrefixSym === undefined || internals[msgPrefixSym] === undefined) &&
    !internals[symbols.nestedKeySym] &&
    typeof internals[symbols.chindingsSym] === 'string' &&
    typeof internals[symbols.timeSym] === 'function' &&
    typeof internals[symbols.endSym] === 'string' &&
    typeof levels?.[INFO] === 'string' &&
    FIELD_NAMES.every((key) => serializers[key] === undefined && stringifiers[key] === undefined) &&
    stringifiers[symbols.wildcardFirstSym] === undefined &&
    serializers.msg === undefined &&
    stringifiers.msg === undefined
  );
}

const stringMember = (key: string, value: string | undefined): string => (value === undefined ? '' : `,"${key}":${JSON.stringify(value)}`);
const listMember = (key: string, value: readonly string[]): string => (value.length === 0 ? `,"${key}":[]` : `,"${key}":${JSON.stringify(value)}`);
/** pino writes a number that is not finite as null. */
const numberMember = (key: string, value: number): string => `,"${key}":${Number.isFinite(value) ? value : null}`;

/** The fraction part JavaScript prints for 0–999 thousandths: '', '.001', ..., '.5', ..., '.999'. */
const THOUSANDTHS: readonly string[] = Array.from({ length: 1000 }, (_, i) => (i === 0 ? '' : `.${String(i).padStart(3, '0')}`.replace(/0+$/, '')));
/** Past this, a double's step is no longer far below a thousandth, and the shortest form could be shorter. */
const MAX_EXACT_THOUSANDTHS = 2 ** 43;

/**
 * A duration in milliseconds as JSON.stringify writes it (as pino would), built from integers when it
 * has at most three decimals (the handler rounds it so). Why: V8 keeps the string of every fractional
 * number it prints in its number-to-string cache, an old-generation table, so each review's unique
 * duration became a string promoted to the old generation: under the webhook benchmark's load that
 * was most of the old generation's growth (0.27 MB/s of its 0.29, measured with the line built and
 * not written), which is what brings serve's full collections (about one every 10 s under that load;
 * every 40 s or so without it). The whole part is an integer, whose strings that cache also keeps but
 * which take few values.
 */
export function millisecondsText(ms: number): string {
  const thousandths = Math.round(ms * 1000);
  if (!(ms >= 0) || thousandths > MAX_EXACT_THOUSANDTHS || thousandths / 1000 !== ms) return Number.isFinite(ms) ? JSON.stringify(ms) : 'null';
  const whole = Math.floor(thousandths / 1000);
  return `${whole}${THOUSANDTHS[thousandths - whole * 1000]!}`;
}

/** The members of the line after pino's level, time and bindings, before its message. */
export function decisionMembers(fields: DecisionLogFields): string {
  return (
    `,"uid":${JSON.stringify(fields.uid)}` +
    stringMember('namespace', fields.namespace) +
    stringMember('name', fields.name) +
    `,"operation":${JSON.stringify(fields.operation)}` +
    `,"endpoint":${JSON.stringify(fields.endpoint)}` +
    `,"decision":"${fields.decision}"` +
    listMember('failedPolicies', fields.failedPolicies) +
    listMember('exceptions', fields.exceptions) +
    `,"dryRun":${fields.dryRun}` +
    numberMember('warnings', fields.warnings) +
    numberMember('patchOperations', fields.patchOperations) +
    stringMember('notEvaluated', fields.notEvaluated) +
    `,"durationMs":${millisecondsText(fields.durationMs)}`
  );
}

/** Writes decision lines through `logger` (at info level, as logger.info would). */
export function createDecisionLog(logger: Logger): (fields: DecisionLogFields) => void {
  if (!writesPlainLines(logger)) return (fields) => logger.info(fields, DECISION_MESSAGE);
  const internals = logger as unknown as PinoInternals;
  const message = `,"msg":${JSON.stringify(DECISION_MESSAGE)}`;
  return (fields) => {
    if (!logger.isLevelEnabled('info')) return;
    const stream = internals[symbols.streamSym] as { write(line: string): unknown; [key: symbol]: unknown };
    // A multistream records each line's level and object for its streams: let pino do it.
    if (stream[symbols.needsMetadataGsym] === true) {
      logger.info(fields, DECISION_MESSAGE);
      return;
    }
    const time = (internals[symbols.timeSym] as () => string)();
    const levels = internals[symbols.lsCacheSym] as Record<number, string>;
    stream.write(levels[INFO] + time + (internals[symbols.chindingsSym] as string) + decisionMembers(fields) + message + (internals[symbols.endSym] as string));
  };
}
