// serve's own cost, apart from its policies': `npm run bench` also runs `daemonguard serve` with a
// library of one policy whose only validation is `true`. Such a serve does everything serve does for a
// review (TLS, the HTTP server, the review's shape checks, JSON limits, the decision log line, metrics,
// the answer) and next to nothing for policies, so per request, over the floor (bare node:https), its
// CPU time is serve's own work, and daemonguard's CPU time over it is what the policy library costs.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { median } from './bench-processes.js';

export const TRIVIAL_POLICY_NAME = 'serve-floor';

/**
 * The one policy: it matches every review the bench sends (CREATE and UPDATE, any namespace) so that
 * serve decides each one through the engine, and its validation costs a constant.
 */
export const TRIVIAL_POLICY_YAML = `# The webhook bench's serve-with-one-trivial-policy: every review matched, one validation that is always true.
apiVersion: daemonguard.dev/v1alpha1
kind: DaemonSetPolicy
metadata:
  name: ${TRIVIAL_POLICY_NAME}
spec:
  validationActions: [Deny]
  failurePolicy: Fail
  match:
    operations: [CREATE, UPDATE]
    namespaces: ["*"]
  validations:
    - expression: "true"
      message: never denies
`;

/** Writes the one-policy library into `parent` and returns its folder, for serve's --policies. */
export async function writeTrivialPolicyDir(parent: string): Promise<string> {
  const dir = join(parent, 'serve-floor-policies');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, `${TRIVIAL_POLICY_NAME}.yaml`), TRIVIAL_POLICY_YAML);
  return dir;
}

/** One round's server CPU time per request, µs, of the three servers. */
export interface RoundCpu {
  floor: number;
  /** serve with the one trivial policy. */
  trivial: number;
  /** serve with the policy library. */
  daemonguard: number;
}

/** daemonguard's CPU per request over the floor, and how it splits between serve and the policy library. */
export interface CpuSplit {
  /** daemonguard − floor. */
  overFloor: number;
  /** trivial − floor: serve's own work. */
  serve: number;
  /** daemonguard − trivial: the policies'. */
  library: number;
}

/**
 * The split as medians over rounds of each round's differences (the servers of a round run back to
 * back, so a round's differences see the same machine). Three medians taken apart need not add up:
 * with a disturbed round, serve + library can differ from overFloor by a few µs.
 */
export function cpuSplit(rounds: readonly RoundCpu[]): CpuSplit {
  return {
    overFloor: median(rounds.map((r) => r.daemonguard - r.floor)),
    serve: median(rounds.map((r) => r.trivial - r.floor)),
    library: median(rounds.map((r) => r.daemonguard - r.trivial)),
  };
}

/** One round's CPU per request, µs, of the floor, serve with the trivial policy, and the hand-written checks' server. */
export interface RoundCpuOfChecks {
  floor: number;
  trivial: number;
  handWritten: number;
}

/**
 * The share of the floor's throughput a serve whose policy library ran as fast as code written by
 * hand would reach: floor / (trivial + (hand-written − floor)), per round, the median of the rounds.
 * serve's own work is what the trivial policy's serve costs; the checks' work is what the hand-written
 * server costs over the floor (it is the floor plus the checks). Both are measured; their sum is an
 * estimate, since the checks are not run inside serve: it leaves out what each costs the other in
 * the CPU caches, so it errs on the high side. CPU-bound servers answer in inverse proportion to their
 * CPU time per request, so the ratio of CPU times stands for the ratio of throughputs. It tells
 * whether a throughput target above it is one an engine can reach at all, inside this serve.
 */
export function handWrittenInServeShare(rounds: readonly RoundCpuOfChecks[]): number {
  return median(rounds.map((r) => r.floor / (r.trivial + r.handWritten - r.floor)));
}

/** One round's CPU per request, µs, of the floor, serve with its decisions replayed and daemonguard. */
export interface RoundCpuReplayed {
  floor: number;
  trivial: number;
  replayed: number;
  daemonguard: number;
}

/** What the decisions replayed split off: the library's answer over serve's own work, and the evaluation. */
export interface ReplayedSplit {
  /** replayed − trivial: the library's answer (warnings, every policy's outcome counted and logged). */
  answer: number;
  /** daemonguard − replayed: evaluating the policies. */
  evaluation: number;
  /**
   * floor / target − replayed: the CPU per request evaluation may take for serve to reach `target` of
   * the floor's throughput (CPU-bound servers answer in inverse proportion to their CPU per request).
   * At or below zero, no engine reaches the target inside this serve.
   */
  evaluationBudget: number;
}

/** The split by the replayed serve, each part the median of the rounds' values. */
export function replayedSplit(rounds: readonly RoundCpuReplayed[], target: number): ReplayedSplit {
  return {
    answer: median(rounds.map((r) => r.replayed - r.trivial)),
    evaluation: median(rounds.map((r) => r.daemonguard - r.replayed)),
    evaluationBudget: median(rounds.map((r) => r.floor / target - r.replayed)),
  };
}
