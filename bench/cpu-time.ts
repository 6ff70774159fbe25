// CPU time per call of a function, for the in-process benchmarks (bench:engine, int-arithmetic-bench):
// process CPU time rather than wall time, since the machines these run on are shared and noisy.

/** Process CPU time (user + system) in nanoseconds. */
export function cpuNanos(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) * 1000;
}

export interface MeasureOptions {
  rounds: number;
  /** About how long each round runs. */
  roundMillis: number;
  /** Calls before measuring: they also size the rounds. */
  warmUpMillis: number;
}

/** Median nanoseconds of CPU time per call of `fn`, over `rounds` rounds of about `roundMillis` each. */
export function measureCpuPerCall(fn: () => void, { rounds, roundMillis, warmUpMillis }: MeasureOptions): number {
  const start = process.hrtime.bigint();
  const warmUpNanos = BigInt(warmUpMillis) * 1_000_000n;
  let calls = 0;
  while (process.hrtime.bigint() - start < warmUpNanos) {
    fn();
    calls++;
  }
  const perRound = Math.max(1, Math.round((calls / warmUpMillis) * roundMillis));
  const samples: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const t0 = cpuNanos();
    for (let i = 0; i < perRound; i++) fn();
    samples.push((cpuNanos() - t0) / perRound);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)]!;
}
