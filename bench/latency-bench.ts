// npm run bench:latency — what a user waits for when DaemonSet writes are rare: the latency of single
// reviews, never of a loaded server, against the floor (bench/floor-server.ts) measured in the same run.
//
//   first:   the first review after readiness (/readyz 200) of a freshly started server, /validate small,
//            on a new connection (TLS handshake included) and on a connection opened before it (keep-alive);
//            a fresh server per sample.
//   rare:    reviews spaced --spacing-ms apart (each server gets one per spacing; nothing else runs in
//            between), /validate and /mutate, small and large, on a new connection each (as a
//            kube-apiserver may do) and on one kept-alive connection. The first review of each kind is
//            left out of these (it is in `first of each kind`).
//   reload:  a policy file is changed, the "policies reloaded" log line awaited, and the next review
//            (/validate small, kept-alive connection) timed; not for the floor, which has no policies.
//
// Client times come from a minimal HTTP/1.1 client over node:tls (connect → secureConnect → answer's last
// byte); the server's own part is the `durationMs` of its decision log line (from the request's first
// byte handled to the answer written), so what is left is TLS, the network stack and HTTP parsing.
//
//   npm run bench:latency [-- --quick] [--rounds R] [--requests N] [--spacing-ms MS] [--policies DIR]
//                            [--generated N]      (N generated policies with distinct expressions instead of the library)
//                            [--variant-args "A"] [--variant-node-flags "F"]  (a second daemonguard, e.g. "--warm-up-budget 0")
//                            [--baseline DIR]     (the second daemonguard from another build, as npm run bench takes it)
//   npm run bench:latency -- --cluster [--rounds R]   (serve --policies-from-cluster against a real
//                            kube-apiserver, with and without its warm-up: bench/latency-cluster.ts)
//
// Medians and worst cases are reported, ratios are daemonguard / floor of the medians; nothing is asserted.
import { cp, mkdtemp, readdir, readFile, rm, writeFile, appendFile } from 'node:fs/promises';
import { connect, type TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ensureDevCertificates } from '../src/certs/dev-certificates.js';
import { machineDescription, median, sleep, startFloor, startServe, type RunningServer, type TlsFiles } from './bench-processes.js';
import { BUILT_IN_POLICIES, NAMESPACES_YAML, reviewBodies, type PayloadName } from './webhook-payloads.js';

type Endpoint = 'validate' | 'mutate';
type Mode = 'new connection' | 'keep-alive';

function flag(name: string): string | undefined {
  const index = process.argv.indexOf(`--${name}`);
  return index > 0 ? process.argv[index + 1] : undefined;
}

const QUICK = process.argv.includes('--quick');
const ROUNDS = Number(flag('rounds') ?? (QUICK ? 2 : 3));
const REQUESTS = Number(flag('requests') ?? (QUICK ? 3 : 8));
const SPACING_MS = Number(flag('spacing-ms') ?? 1500);
const GENERATED = flag('generated') === undefined ? undefined : Number(flag('generated'));
const VARIANT_ARGS = flag('variant-args')?.split(' ').filter((arg) => arg !== '');
const VARIANT_NODE_FLAGS = flag('variant-node-flags')?.split(' ').filter((arg) => arg !== '');
const BASELINE = flag('baseline');

/** One HTTP/1.1 connection over TLS, timed by hand. */
class Connection {
  private buffered = Buffer.alloc(0);
  private waiting: (() => void) | undefined;
  private closed = false;

  private constructor(private readonly socket: TLSSocket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      this.waiting?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiting?.();
    });
    socket.on('error', () => undefined);
  }

  static open(url: string, ca: Buffer): Promise<{ connection: Connection; handshakeMs: number }> {
    const { hostname, port } = new URL(url);
    const started = performance.now();
    return new Promise((resolvePromise, reject) => {
      const socket = connect({ host: hostname, port: Number(port), ca, servername: 'localhost', ALPNProtocols: ['http/1.1'] }, () =>
        resolvePromise({ connection: new Connection(socket), handshakeMs: performance.now() - started }),
      );
      socket.once('error', reject);
    });
  }

  get usable(): boolean {
    return !this.closed;
  }

  /** Sends one POST and waits for the whole answer; `ms` from the write to the answer's last byte. */
  async post(path: string, body: string): Promise<{ ms: number; status: number; body: string }> {
    const bytes = Buffer.from(body, 'utf8');
    const head = `POST ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${bytes.length}\r\n\r\n`;
    this.buffered = Buffer.alloc(0);
    const started = performance.now();
    this.socket.write(Buffer.concat([Buffer.from(head, 'latin1'), bytes]));
    for (;;) {
      const end = this.buffered.indexOf('\r\n\r\n');
      if (end >= 0) {
        const headers = this.buffered.subarray(0, end).toString('latin1');
        const length = Number(/content-length:\s*(\d+)/i.exec(headers)?.[1] ?? Number.NaN);
        if (this.buffered.length >= end + 4 + length) {
          const ms = performance.now() - started;
          const status = Number(/^HTTP\/1\.1 (\d+)/.exec(headers)?.[1] ?? 0);
          return { ms, status, body: this.buffered.subarray(end + 4, end + 4 + length).toString('utf8') };
        }
      }
      if (this.closed) throw new Error(`the connection closed before the answer to ${path} was complete`);
      await new Promise<void>((wake) => (this.waiting = wake));
      this.waiting = undefined;
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

interface Sample {
  /** Client time: connect (new connection) or write (keep-alive) to the answer's last byte. */
  totalMs: number;
  /** The TLS handshake's share (new connection only). */
  handshakeMs: number;
  /** The server's own timing from its decision log (daemonguard only). */
  serverMs: number;
}

interface Target {
  readonly server: RunningServer;
  /** serve's log file (undefined for the floor). */
  readonly logFile?: string;
  readonly policyDir?: string;
  keepAlive?: Connection;
}

const ca = (tls: TlsFiles): Buffer => readFileSync(tls.caFile);
let uidCounter = 0;

/** The decision line's durationMs for `uid`, waiting for the batched log to reach the file. */
async function serverDuration(logFile: string | undefined, uid: string): Promise<number> {
  if (logFile === undefined) return Number.NaN;
  const deadline = performance.now() + 3_000;
  while (performance.now() < deadline) {
    const text = await readFile(logFile, 'utf8');
    const at = text.indexOf(`"uid":"${uid}"`);
    if (at >= 0) {
      const lineEnd = text.indexOf('\n', at);
      const match = /"durationMs":([\d.]+)/.exec(text.slice(at, lineEnd < 0 ? undefined : lineEnd));
      if (match) return Number(match[1]);
    }
    await sleep(20);
  }
  return Number.NaN;
}

async function send(target: Target, tls: TlsFiles, mode: Mode, endpoint: Endpoint, payload: PayloadName): Promise<Sample> {
  const uid = `latency-${process.pid}-${++uidCounter}`;
  const [body] = reviewBodies(payload, 1, uid);
  const sentUid = (JSON.parse(body!) as { request: { uid: string } }).request.uid;
  let handshakeMs = 0;
  let connection: Connection;
  if (mode === 'keep-alive') {
    if (target.keepAlive === undefined || !target.keepAlive.usable) target.keepAlive = (await Connection.open(target.server.url, ca(tls))).connection;
    connection = target.keepAlive;
  } else {
    const opened = await Connection.open(target.server.url, ca(tls));
    connection = opened.connection;
    handshakeMs = opened.handshakeMs;
  }
  const answer = await connection.post(`/${endpoint}?timeout=10s`, body!);
  if (mode === 'new connection') connection.close();
  if (answer.status !== 200 || !answer.body.includes(sentUid)) throw new Error(`${target.server.name} /${endpoint} ${payload}: HTTP ${answer.status}: ${answer.body.slice(0, 200)}`);
  return { totalMs: handshakeMs + answer.ms, handshakeMs, serverMs: await serverDuration(target.logFile, sentUid) };
}

interface Variant {
  name: string;
  start(work: string, tls: TlsFiles, namespacesFile: string, policies: string, index: number): Promise<Target>;
}

function daemonguardVariant(name: string, extraArgs: string[] = [], nodeFlags: string[] = [], cli?: string): Variant {
  return {
    name,
    async start(work, tls, namespacesFile, policies, index) {
      // A copy of its own, so that a reload of one server's files leaves the others alone.
      const policyDir = join(work, `${name}-${index}-policies`);
      await cp(policies, policyDir, { recursive: true });
      const logFile = join(work, `${name}-${index}.log`);
      const server = await startServe({ tls, policies: policyDir, namespacesFile, logFile, nodeFlags, extraArgs, name, ...(cli === undefined ? {} : { cli }) });
      return { server, logFile, policyDir };
    },
  };
}

const floorVariant: Variant = { name: 'floor', start: async (_work, tls) => ({ server: await startFloor(tls) }) };

/** `count` policies, each with an expression of its own (as a real large library has), so none shares compiled code with another. */
async function generatePolicies(dir: string, count: number): Promise<void> {
  const checks = [
    (i: number) => `object.spec.template.spec.containers.all(c, c.name != 'forbidden-${i}' && !c.?securityContext.?privileged.orValue(false))`,
    (i: number) => `request.namespace == 'kube-system' || !object.spec.template.spec.?hostNetwork.orValue(false) || object.metadata.name == 'allowed-${i}'`,
    (i: number) => `object.spec.template.spec.containers.all(c, c.image.contains(':') && !c.image.endsWith(':latest-${i}'))`,
    (i: number) => `object.spec.template.spec.containers.all(c, !has(c.resources) || !has(c.resources.requests) || size(c.resources.requests) < ${i + 3})`,
  ];
  for (let i = 0; i < count; i++) {
    const text = [
      'apiVersion: daemonguard.dev/v1alpha1',
      'kind: DaemonSetPolicy',
      'metadata:',
      `  name: generated-${i}`,
      'spec:',
      '  validations:',
      `    - expression: ${JSON.stringify(checks[i % checks.length]!(i))}`,
      `      message: generated check ${i} failed`,
      '',
    ].join('\n');
    await writeFile(join(dir, `generated-${String(i).padStart(4, '0')}.yaml`), text);
  }
}

/** The first file a reload can be triggered by: a comment appended to it changes its digest, not its meaning. */
async function firstPolicyFile(dir: string): Promise<string> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const file = entries.find((entry) => entry.isFile() && entry.name.endsWith('.yaml'));
  if (file === undefined) throw new Error(`no .yaml file under ${dir}`);
  return join(file.parentPath, file.name);
}

async function countLines(logFile: string, message: string): Promise<number> {
  return (await readFile(logFile, 'utf8')).split('\n').filter((line) => line.includes(`"msg":"${message}"`)).length;
}

async function waitForLines(logFile: string, message: string, count: number, timeoutMs = 120_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while ((await countLines(logFile, message)) < count) {
    if (performance.now() > deadline) throw new Error(`no "${message}" line in ${logFile} within ${timeoutMs} ms`);
    await sleep(25);
  }
}

async function lastWarmUpMs(logFile: string): Promise<string> {
  const lines = (await readFile(logFile, 'utf8')).split('\n').filter((line) => line.includes('"msg":"policy set warm'));
  const last = lines.at(-1);
  return last === undefined ? 'no warm-up' : `${/"durationMs":(\d+)/.exec(last)?.[1]} ms, ${/"reviews":(\d+)/.exec(last)?.[1]} reviews`;
}

const fmt = (value: number): string => (Number.isFinite(value) ? value.toFixed(2) : 'n/a');
const worst = (values: number[]): number => (values.length === 0 ? Number.NaN : Math.max(...values));

function describe(samples: Sample[]): { total: string; server: string; handshake: string; medianTotal: number } {
  const totals = samples.map((sample) => sample.totalMs);
  const servers = samples.map((sample) => sample.serverMs).filter(Number.isFinite);
  const handshakes = samples.map((sample) => sample.handshakeMs).filter((ms) => ms > 0);
  return {
    total: `${fmt(median(totals))} (${fmt(worst(totals))})`,
    server: servers.length === 0 ? '–' : `${fmt(median(servers))} (${fmt(worst(servers))})`,
    handshake: handshakes.length === 0 ? '–' : fmt(median(handshakes)),
    medianTotal: median(totals),
  };
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'daemonguard-latency-bench-'));
  const running: Target[] = [];
  try {
    const certs = await ensureDevCertificates(join(work, 'certs'));
    const tls: TlsFiles = { caFile: certs.caCertFile, certFile: certs.certFile, keyFile: certs.keyFile };
    const namespacesFile = join(work, 'namespaces.yaml');
    await writeFile(namespacesFile, NAMESPACES_YAML);
    let policies = flag('policies') ?? BUILT_IN_POLICIES;
    if (GENERATED !== undefined) {
      policies = join(work, 'generated');
      await cp(BUILT_IN_POLICIES, policies, { recursive: true });
      await generatePolicies(policies, GENERATED);
    }
    const variants: Variant[] = [floorVariant, daemonguardVariant('daemonguard')];
    if (VARIANT_ARGS !== undefined || VARIANT_NODE_FLAGS !== undefined) variants.push(daemonguardVariant('variant', VARIANT_ARGS, VARIANT_NODE_FLAGS));
    if (BASELINE !== undefined) variants.push(daemonguardVariant('baseline', [], [], join(resolve(BASELINE), 'src', 'cli', 'main.js')));
    const started = performance.now();
    const progress = (what: string): boolean => process.stderr.write(`${what} (${((performance.now() - started) / 1000).toFixed(0)} s)\n`);

    // 1. The first review after readiness: a fresh server per sample, servers taking turns.
    const first = new Map<string, Sample[]>();
    const startWarmUps = new Map<string, string[]>();
    let index = 0;
    for (let round = 0; round < ROUNDS; round++) {
      for (const mode of ['new connection', 'keep-alive'] as const) {
        for (const variant of variants) {
          const target = await variant.start(work, tls, namespacesFile, policies, index++);
          running.push(target);
          // Opened before the review: on a kept-alive connection the handshake is not the review's.
          if (mode === 'keep-alive') target.keepAlive = (await Connection.open(target.server.url, ca(tls))).connection;
          const key = `${variant.name}|${mode}`;
          first.set(key, [...(first.get(key) ?? []), await send(target, tls, mode, 'validate', 'small')]);
          if (target.logFile !== undefined) startWarmUps.set(variant.name, [...(startWarmUps.get(variant.name) ?? []), await lastWarmUpMs(target.logFile)]);
          target.keepAlive?.close();
          await target.server.stop();
          running.pop();
        }
      }
      progress(`first reviews: round ${round + 1}/${ROUNDS}`);
    }

    // 2. Rare reviews on one long-running server per variant.
    const targets: Target[] = [];
    for (const variant of variants) {
      const target = await variant.start(work, tls, namespacesFile, policies, index++);
      targets.push(target);
      running.push(target);
    }
    const kinds = (['validate', 'mutate'] as const).flatMap((endpoint) => (['small', 'large'] as const).map((payload) => ({ endpoint, payload })));
    const firstOfKind = new Map<string, Sample>();
    const rare = new Map<string, Sample[]>();
    for (const { endpoint, payload } of kinds) {
      for (let v = 0; v < variants.length; v++) {
        firstOfKind.set(`${variants[v]!.name}|${endpoint}|${payload}`, await send(targets[v]!, tls, 'keep-alive', endpoint, payload));
        await sleep(SPACING_MS / variants.length);
      }
    }
    for (let n = 0; n < REQUESTS; n++) {
      for (const { endpoint, payload } of kinds) {
        for (const mode of ['new connection', 'keep-alive'] as const) {
          for (let v = 0; v < variants.length; v++) {
            const key = `${variants[v]!.name}|${mode}|${endpoint}|${payload}`;
            rare.set(key, [...(rare.get(key) ?? []), await send(targets[v]!, tls, mode, endpoint, payload)]);
            await sleep(SPACING_MS / variants.length);
          }
        }
      }
      progress(`rare reviews: ${n + 1}/${REQUESTS}`);
    }

    // 3. The first review after a reload (daemonguard only).
    const reload = new Map<string, Sample[]>();
    const reloadTimes = new Map<string, number[]>();
    const warmUps = new Map<string, string[]>();
    for (let round = 0; round < ROUNDS; round++) {
      for (let v = 0; v < variants.length; v++) {
        const target = targets[v]!;
        if (target.logFile === undefined || target.policyDir === undefined) continue;
        const name = variants[v]!.name;
        const before = await countLines(target.logFile, 'policies reloaded');
        const changed = performance.now();
        await appendFile(await firstPolicyFile(target.policyDir), `\n# latency bench reload ${round}\n`);
        await waitForLines(target.logFile, 'policies reloaded', before + 1);
        reloadTimes.set(name, [...(reloadTimes.get(name) ?? []), performance.now() - changed]);
        reload.set(name, [...(reload.get(name) ?? []), await send(target, tls, 'keep-alive', 'validate', 'small')]);
        warmUps.set(name, [...(warmUps.get(name) ?? []), await lastWarmUpMs(target.logFile)]);
        await sleep(SPACING_MS);
      }
    }

    const lines: string[] = [];
    const what = GENERATED !== undefined ? `the built-in library and ${GENERATED} generated policies` : (flag('policies') ?? 'the built-in policy library');
    lines.push(`Rare-review latency: daemonguard serve (${what}) against the floor (bare node:https), single requests`);
    lines.push('');
    lines.push(`machine: ${machineDescription()}`);
    lines.push(
      `method: ${ROUNDS} fresh server(s) per first-review case; ${REQUESTS} rare reviews per case, one every ${SPACING_MS} ms per server, servers taking turns; ` +
        `ms, median (worst); server = durationMs of the decision log line; handshake = TLS connect to secureConnect`,
    );
    const names = variants.map((variant) => variant.name);
    lines.push(`servers: ${names.join(', ')}${VARIANT_ARGS || VARIANT_NODE_FLAGS ? ` (variant: serve ${VARIANT_ARGS?.join(' ') ?? ''} node ${VARIANT_NODE_FLAGS?.join(' ') ?? ''})` : ''}`);
    lines.push('');
    const header = `| case | mode | ${names.map((name) => `${name} total`).join(' | ')} | ${names.slice(1).map((name) => `${name} server`).join(' | ')} | handshake (floor / ${names.slice(1).join(' / ')}) | ${names.slice(1).map((name) => `${name}/floor`).join(' | ')} |`;
    lines.push(header);
    lines.push(`|${'---|'.repeat(header.split('|').length - 2)}`);
    const row = (label: string, mode: string, samplesOf: (name: string) => Sample[]): void => {
      const described = names.map((name) => describe(samplesOf(name)));
      lines.push(
        `| ${label} | ${mode} | ${described.map((d) => d.total).join(' | ')} | ${described.slice(1).map((d) => d.server).join(' | ')} | ${described.map((d) => d.handshake).join(' / ')} | ` +
          `${described.slice(1).map((d) => `${fmt(d.medianTotal / described[0]!.medianTotal)}×`).join(' | ')} |`,
      );
    };
    for (const mode of ['new connection', 'keep-alive'] as const) row('first after ready, /validate small', mode, (name) => first.get(`${name}|${mode}`) ?? []);
    for (const { endpoint, payload } of kinds) row(`first of kind, /${endpoint} ${payload}`, 'keep-alive', (name) => [firstOfKind.get(`${name}|${endpoint}|${payload}`)!]);
    for (const { endpoint, payload } of kinds) {
      for (const mode of ['new connection', 'keep-alive'] as const) row(`rare, /${endpoint} ${payload}`, mode, (name) => rare.get(`${name}|${mode}|${endpoint}|${payload}`) ?? []);
    }
    lines.push('');
    for (const name of names.slice(1)) lines.push(`warm-ups at start, ${name}: ${(startWarmUps.get(name) ?? []).join('; ')}`);
    for (const name of names.slice(1)) {
      const samples = reload.get(name) ?? [];
      const d = describe(samples);
      lines.push(
        `first review after a reload, ${name}: ${d.total} ms total, ${d.server} ms in the server; file change to "policies reloaded" ${fmt(median(reloadTimes.get(name) ?? []))} ms (median); warm-ups: ${(warmUps.get(name) ?? []).join('; ')}`,
      );
    }
    console.log(lines.join('\n'));
  } finally {
    for (const target of running) target.keepAlive?.close();
    await Promise.all(running.map((target) => target.server.stop()));
    await rm(work, { recursive: true, force: true });
  }
}

if (process.argv.includes('--cluster')) {
  const { clusterLatency } = await import('./latency-cluster.js');
  await clusterLatency(ROUNDS);
} else {
  await main();
}
