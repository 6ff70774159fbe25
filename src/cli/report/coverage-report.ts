// How `daemonguard coverage` and `daemonguard test --nodes` show a DaemonSet's coverage: the JSON
// object scripts read (issue #17's shape) and the human block.
import type { Coverage } from '../../coverage/coverage.js';

export interface CoverageJson {
  nodes: { total: number; scheduled: string[]; excluded: { node: string; reason: string }[] };
  footprint: { pod: { cpu: string; memory: string }; total: { cpu: string; memory: string } };
  unfit: { node: string; reason: string }[];
}

export function coverageJson(coverage: Coverage): CoverageJson {
  const { pod, total } = coverage.footprint;
  return {
    nodes: {
      total: coverage.totalNodes,
      scheduled: coverage.scheduled.map((n) => n.name),
      excluded: coverage.excluded.map((n) => ({ node: n.name, reason: n.reason })),
    },
    footprint: { pod: { cpu: pod.cpu.toString(), memory: pod.memory.toString() }, total: { cpu: total.cpu.toString(), memory: total.memory.toString() } },
    unfit: coverage.unfit.map((n) => ({ node: n.name, reason: n.reason })),
  };
}

/** The table of `daemonguard coverage`: one block per DaemonSet, each excluded and unfit node with its reason. */
export function coverageBlock(heading: string, coverage: Coverage): string[] {
  const lines = [heading];
  const { pod, total } = coverage.footprint;
  const scheduled = coverage.scheduled.map((n) => n.name);
  lines.push(`  runs on ${scheduled.length} of ${coverage.totalNodes} nodes${scheduled.length > 0 ? `: ${scheduled.join(', ')}` : ''}`);
  const width = Math.max(0, ...[...coverage.excluded, ...coverage.unfit].map((n) => n.name.length));
  if (coverage.excluded.length > 0) {
    lines.push('  excluded:');
    for (const n of coverage.excluded) lines.push(`    ${n.name.padEnd(width)}  ${n.reason}`);
  }
  if (coverage.unfit.length > 0) {
    lines.push("  unfit (the pod is created but can never be scheduled):");
    for (const n of coverage.unfit) lines.push(`    ${n.name.padEnd(width)}  ${n.reason}`);
  }
  lines.push(`  footprint: ${pod.cpu.toString()} CPU, ${pod.memory.toString()} memory per pod; ${total.cpu.toString()} CPU, ${total.memory.toString()} memory on ${scheduled.length} nodes`);
  return lines;
}
