// The command line of `npm run bench` (bench/webhook-bench.ts), parsed into what the run does, apart from
// the run so that a test can check it: which servers take turns, which cases, how long. An unknown flag,
// a flag without its value or a bad number is a UsageError (the bench prints the usage and exits 2)
// rather than a run of several minutes measuring something else than asked.

export type Endpoint = 'validate' | 'mutate';
export type Payload = 'small' | 'large';

export interface Case {
  endpoint: Endpoint;
  payload: Payload;
  connections: number;
}

export interface WebhookBenchOptions {
  quick: boolean;
  rounds: number;
  seconds: number;
  /** Case ids asked for with --only, or undefined for the default set. */
  only?: string[];
  profile: boolean;
  /** --node-flag, in order: after the shipped flags, for serve's node. */
  nodeFlags: string[];
  /** --baseline-node-flag, in order: after the shipped flags, for the baseline's node. */
  baselineNodeFlags: string[];
  plainNode: boolean;
  /** --policies DIR: the library serve loads instead of the built-in one. */
  policies?: string;
  /** --baseline DIR: another build serving in the same rounds. */
  baseline?: string;
  /** The hand-written server takes its turn: not with --no-hand-written, nor with --policies (its checks are the built-in library's). */
  handWritten: boolean;
  /** serve with one trivial policy, serve with its decisions replayed and (with the hand-written server) serve with the hand-written checks take their turns: not with --no-serve-floor. */
  serveFloor: boolean;
}

export const USAGE = `usage: node build/bench/webhook-bench.js [--quick] [--rounds N] [--seconds S] [--only CASE,...] [--profile]
         [--node-flag F ...] [--no-hand-written] [--no-serve-floor] [--policies DIR]
         [--baseline DIR] [--baseline-node-flag F ...] [--plain-node]
cases: ${allCases().map(caseId).join(', ')}`;

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function caseId(c: Case): string {
  return `${c.endpoint}-${c.payload}-c${c.connections}`;
}

/** Every case the bench knows, in the order it runs them. */
export function allCases(): Case[] {
  const all: Case[] = [];
  for (const payload of ['small', 'large'] as const) {
    for (const connections of [10, 50]) {
      for (const endpoint of ['validate', 'mutate'] as const) all.push({ endpoint, payload, connections });
    }
  }
  return all;
}

const SWITCHES = new Set(['quick', 'profile', 'plain-node', 'no-hand-written', 'no-serve-floor']);
const VALUED = new Set(['rounds', 'seconds', 'only', 'node-flag', 'baseline-node-flag', 'policies', 'baseline']);
/** Flags that may be given more than once (each adds a node flag); the others once only. */
const REPEATABLE = new Set(['node-flag', 'baseline-node-flag']);

function positive(name: string, text: string | undefined, integer: boolean): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new UsageError(`--${name} ${text}: expected a positive ${integer ? 'whole number' : 'number'}`);
  }
  return value;
}

/** Parses the bench's arguments (process.argv.slice(2)). */
export function parseWebhookBenchArgs(argv: readonly string[]): WebhookBenchOptions {
  const switches = new Set<string>();
  const values = new Map<string, string[]>();
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index]!;
    const name = arg.startsWith('--') ? arg.slice(2) : undefined;
    if (name !== undefined && SWITCHES.has(name)) {
      switches.add(name);
    } else if (name !== undefined && VALUED.has(name)) {
      // The value is taken as it is, even when it starts with "--": node flags do.
      const value = argv[index + 1];
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
      const list = values.get(name) ?? [];
      if (list.length > 0 && !REPEATABLE.has(name)) throw new UsageError(`--${name} given twice (${list[0]}, ${value})`);
      values.set(name, [...list, value]);
      index++;
    } else {
      throw new UsageError(`unknown argument ${arg}`);
    }
  }
  const one = (name: string): string | undefined => values.get(name)?.[0];
  const quick = switches.has('quick');
  const policies = one('policies');
  const only = one('only')?.split(',').filter((id) => id !== '');
  if (only !== undefined) {
    const known = new Set(allCases().map(caseId));
    const unknown = only.filter((id) => !known.has(id));
    if (only.length === 0) throw new UsageError(`--only ${one('only')}: no case named`);
    if (unknown.length > 0) throw new UsageError(`--only ${one('only')}: no such case ${unknown.join(', ')}`);
  }
  return {
    quick,
    rounds: positive('rounds', one('rounds'), true) ?? (quick ? 2 : 3),
    seconds: positive('seconds', one('seconds'), false) ?? (quick ? 1 : 5),
    ...(only === undefined ? {} : { only }),
    profile: switches.has('profile'),
    nodeFlags: values.get('node-flag') ?? [],
    baselineNodeFlags: values.get('baseline-node-flag') ?? [],
    plainNode: switches.has('plain-node'),
    ...(policies === undefined ? {} : { policies }),
    ...(one('baseline') === undefined ? {} : { baseline: one('baseline') }),
    handWritten: !switches.has('no-hand-written') && policies === undefined,
    // Kept with --policies: serve with one trivial policy is serve's own cost whatever the library,
    // and the split then says what that library's policies cost over it.
    serveFloor: !switches.has('no-serve-floor'),
  };
}

/** The cases to run: --only's, in the bench's order; with --quick the target cases and the two most telling others; else all. */
export function selectedCases(options: Pick<WebhookBenchOptions, 'only' | 'quick'>): Case[] {
  const all = allCases();
  if (options.only !== undefined) {
    const wanted = new Set(options.only);
    return all.filter((c) => wanted.has(caseId(c)));
  }
  // --quick: the two target cases, /validate with the large payload, and with 50 connections.
  if (options.quick) return all.filter((c) => (c.payload === 'small' && c.connections === 10) || (c.endpoint === 'validate' && c.connections === (c.payload === 'small' ? 50 : 10)));
  return all;
}
