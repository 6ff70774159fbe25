// bench:cli — wall-clock time of `daemonguard test` on 1,000 DaemonSet manifests (one file each) with
// the built-in policies, as a user runs it: a fresh process, policy loading and compilation included.
//   npm run bench:cli [-- --manifests 1000 --runs 3 --policies policies]
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { CLI_BIN, REPO_ROOT } from '../test/support/cli-process.js';

function flag(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index > 0 && process.argv[index + 1] ? process.argv[index + 1]! : fallback;
}

const MANIFESTS = Number(flag('manifests', '1000'));
const RUNS = Number(flag('runs', '3'));
const TARGET_MS = 2000;
const builtIn = join(REPO_ROOT, 'policies');
const POLICIES = flag('policies', existsSync(builtIn) ? builtIn : join(REPO_ROOT, 'src/cli/testdata/policies'));

/** A realistic spread: node agents with probes, resources, hostPath volumes; some privileged, some :latest. */
function manifest(i: number): Record<string, unknown> {
  const name = `agent-${i}`;
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name, namespace: i % 3 === 0 ? 'kube-system' : 'monitoring', labels: { app: name } },
    spec: {
      selector: { matchLabels: { app: name } },
      updateStrategy: i % 5 === 0 ? { type: 'OnDelete' } : { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '10%' } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          hostNetwork: i % 7 === 0,
          tolerations: [{ operator: 'Exists' }],
          containers: [{
            name: 'agent',
            image: i % 4 === 0 ? `registry.example.com/agent:latest` : `registry.example.com/agent:1.${i % 10}.0`,
            ports: [{ name: 'metrics', containerPort: 9100 }],
            resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '128Mi' } },
            securityContext: i % 6 === 0 ? { privileged: true } : { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false },
            livenessProbe: { httpGet: { path: '/healthz', port: 9100 } },
            volumeMounts: [{ name: 'root', mountPath: '/host', readOnly: true }],
          }],
          volumes: [{ name: 'root', hostPath: { path: '/' } }],
        },
      },
    },
  };
}

const dir = await mkdtemp(join(tmpdir(), 'daemonguard-bench-'));
try {
  await mkdir(join(dir, 'manifests'));
  for (let i = 0; i < MANIFESTS; i++) await writeFile(join(dir, 'manifests', `ds-${String(i).padStart(5, '0')}.yaml`), stringify(manifest(i)));
  const times: number[] = [];
  const cpu: number[] = [];
  let summary = '';
  for (let run = 0; run < RUNS; run++) {
    // bash's `time` gives the child's CPU time too: on a busy machine, wall time alone misleads.
    const output = join(dir, 'report.json');
    const script = `TIMEFORMAT='%R %U %S'; time "${process.execPath}" "${CLI_BIN}" test -p "${POLICIES}" -o json "${dir}/manifests" > "${output}"`;
    const result = spawnSync('bash', ['-c', script], { encoding: 'utf8' });
    const timing = /([\d.]+) ([\d.]+) ([\d.]+)\s*$/.exec(result.stderr);
    if (!timing || (result.status !== 0 && result.status !== 1)) throw new Error(`daemonguard test exited ${result.status}: ${result.stderr}`);
    times.push(Number(timing[1]) * 1000);
    cpu.push((Number(timing[2]) + Number(timing[3])) * 1000);
    summary = JSON.stringify((JSON.parse(await readFile(output, 'utf8')) as { summary: unknown }).summary);
  }
  const best = Math.min(...times);
  const median = [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
  console.log(`daemonguard test: ${MANIFESTS} DaemonSet manifests (one file each), policies ${POLICIES}`);
  console.log(`summary ${summary}`);
  const medianCpu = [...cpu].sort((a, b) => a - b)[Math.floor(cpu.length / 2)]!;
  console.log(`wall: ${times.map((t) => `${Math.round(t)} ms`).join(', ')}; best ${Math.round(best)} ms, median ${Math.round(median)} ms, ${(median / MANIFESTS).toFixed(2)} ms per manifest`);
  console.log(`cpu (user+sys): ${cpu.map((t) => `${Math.round(t)} ms`).join(', ')}; median ${Math.round(medianCpu)} ms`);
  console.log(`target < ${TARGET_MS} ms: ${median < TARGET_MS ? 'met' : 'MISSED'}`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
