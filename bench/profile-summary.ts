// Reads a V8 .cpuprofile (node --cpu-prof) and says where the time went: self time by function, and
// by part of the program (our modules, CEL, logging, metrics, node's HTTP/TLS, the garbage collector).
//
//   node build/bench/profile-summary.js FILE.cpuprofile [--top 25]
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  /** Sampled time outside (idle), in milliseconds. */
  busyMs: number;
  idleMs: number;
  functions: { name: string; where: string; selfMs: number; share: number }[];
  areas: { area: string; selfMs: number; share: number }[];
}

/** The part of the program a frame belongs to, for the per-area table. */
function areaOf(frame: ProfileNode['callFrame']): string {
  const { url, functionName } = frame;
  if (url === '') {
    if (functionName === '(garbage collector)') return 'garbage collector';
    if (functionName === '(program)') return 'V8 and native code (program)';
    if (functionName === '(idle)') return 'idle';
    if (functionName === 'JSON.parse' || functionName === 'parse') return 'JSON.parse / JSON.stringify';
    if (functionName === 'stringify') return 'JSON.parse / JSON.stringify';
    return `native: ${functionName || '(anonymous)'}`;
  }
  const module = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (module) return `node_modules/${module[1]}`;
  const ours = /\/build\/(src\/[^/]+)\//.exec(url);
  if (ours) return ours[1]!;
  if (url.startsWith('node:')) {
    if (/node:internal\/(http|_http)|node:_http|node:http/.test(url)) return 'node: http';
    if (/tls|crypto/.test(url)) return 'node: tls';
    if (/stream/.test(url)) return 'node: streams';
    if (/net|socket/.test(url)) return 'node: net';
    return 'node: other internals';
  }
  return url.replace(/^file:\/\//, '');
}

export function summarizeProfile(file: string, top = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  for (const node of profile.nodes) byId.set(node.id, node);
  const selfMicros = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    selfMicros.set(id, (selfMicros.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const functions = new Map<string, { name: string; where: string; micros: number }>();
  const areas = new Map<string, number>();
  let busy = 0;
  let idle = 0;
  for (const [id, micros] of selfMicros) {
    const frame = byId.get(id)!.callFrame;
    if (frame.functionName === '(idle)') {
      idle += micros;
      continue;
    }
    busy += micros;
    const where = frame.url === '' ? '' : `${frame.url.replace(/^.*\/(build|node_modules)\//, '$1/').replace(/^node:/, 'node:')}:${frame.lineNumber + 1}`;
    const key = `${frame.functionName}\u0000${where}`;
    const entry = functions.get(key) ?? { name: frame.functionName || '(anonymous)', where, micros: 0 };
    entry.micros += micros;
    functions.set(key, entry);
    const area = areaOf(frame);
    areas.set(area, (areas.get(area) ?? 0) + micros);
  }
  return {
    busyMs: busy / 1000,
    idleMs: idle / 1000,
    functions: [...functions.values()]
      .sort((a, b) => b.micros - a.micros)
      .slice(0, top)
      .map((entry) => ({ name: entry.name, where: entry.where, selfMs: entry.micros / 1000, share: entry.micros / busy })),
    areas: [...areas.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([area, micros]) => ({ area, selfMs: micros / 1000, share: micros / busy })),
  };
}

export function formatProfileSummary(summary: ProfileSummary): string {
  const lines = [
    `CPU profile: ${summary.busyMs.toFixed(0)} ms busy, ${summary.idleMs.toFixed(0)} ms idle (self time; shares of busy time)`,
    '',
    '| area | self ms | share |',
    '|---|---:|---:|',
    ...summary.areas.map((area) => `| ${area.area} | ${area.selfMs.toFixed(0)} | ${(area.share * 100).toFixed(1)} % |`),
    '',
    '| function | where | self ms | share |',
    '|---|---|---:|---:|',
    ...summary.functions.map((fn) => `| ${fn.name} | ${fn.where} | ${fn.selfMs.toFixed(0)} | ${(fn.share * 100).toFixed(1)} % |`),
  ];
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = process.argv[2];
  if (file === undefined) {
    process.stderr.write('usage: profile-summary FILE.cpuprofile [--top N]\n');
    process.exit(2);
  }
  const topIndex = process.argv.indexOf('--top');
  console.log(formatProfileSummary(summarizeProfile(file, topIndex > 0 ? Number(process.argv[topIndex + 1]) : 25)));
}
