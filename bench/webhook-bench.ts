// npm run bench — the webhook against the physical floor of this machine.
//
// In one run, on the same payloads and certificates: (a) the floor, a bare node:https server that reads
// the AdmissionReview, parses it and answers "allowed" with its uid (bench/floor-server.ts); (b)
// `daemonguard serve` with the whole built-in policy library, on /validate and /mutate; (c) the same
// library's checks written by hand in plain JavaScript, served by a bare node:https server with the
// floor's settings (bench/hand-written/server.ts, answering with serve's bytes): what a webhook doing the
// library's work costs without an engine; (d) `daemonguard serve` as in (b) but with a library of one
// policy whose only validation is `true` (bench/serve-floor.ts): serve's own cost (TLS, express, the
// review's shape checks, JSON limits, logging, metrics, the answer) over the floor, which splits
// daemonguard's CPU per request over the floor into serve's part and the policy library's; (e) `daemonguard
// serve` as in (b) with its decisions replayed (bench/replayed-review.ts): every review answered with the
// decision the engine made for the first one like it, so it pays for everything but the evaluation (the
// library's answer included: its warnings, every policy's outcome in metrics, the longer log line), the
// least any engine could cost inside this serve; (f) `daemonguard serve` as in (b) deciding with the library
// written by hand (bench/hand-written-review.ts): what serve would cost with an engine as fast as plain
// JavaScript, measured inside serve rather than estimated from (c) and (d). A load generator in a process of its own (autocannon, HTTPS
// keep-alive) drives each with 10 and 50 connections, small (~5 KB) and large (~60 KB) reviews, the
// servers taking turns (D A B C D A B C) because the machine is shared and noisy. Reported: medians of
// requests/s, p50, p99, and the server's own CPU time per request (/proc utime+stime over the requests
// served, steadier than requests/s on a busy machine), with the ratios daemonguard / floor,
// daemonguard / hand-written and trivial serve / floor, and the split's differences, taken within each
// round (adjacent runs) and then their median. The trivial serve runs just before the floor, so that
// floor and daemonguard stay adjacent as before it was added.
//
//   npm run bench [-- --quick] [--rounds N] [--seconds S] [--only validate-small-c10,...] [--profile] [--node-flag F ...]
//                    [--no-hand-written]  (leave the hand-written server out)
//                    [--no-serve-floor] (leave serve with one trivial policy, serve with its decisions replayed and serve with the hand-written checks out)
//                    [--policies DIR]   (another policy library instead of the built-in one; the
//                                        hand-written server, which has the built-in library's checks, is left out;
//                                        serve with one trivial policy stays: serve's own cost does not depend on
//                                        the library, and the split then says what DIR's policies cost; so does
//                                        serve with its decisions replayed, replaying DIR's decisions)
//                    [--baseline DIR]   (also serve from another build, e.g. a copy of build/ made
//                                        before a change, kept inside the repository so that it finds
//                                        node_modules; measured in the same rounds, A B A B)
//                    [--baseline-node-flag F ...]  (flags for the baseline's node only: with
//                                        `--baseline build`, the same build under other V8 settings)
//                    [--plain-node]     (serve on bare `node`, without the flags it ships with)
//
// serve (and the baseline) run as the product runs them: with the node flags of the image's ENTRYPOINT
// and the deployment's NODE_OPTIONS, and the image's environment (test/support/shipped-node-flags.ts,
// as npm run bench:memory does); --node-flag and --baseline-node-flag add flags after those (node takes
// the last of a repeated flag, so `--max-semi-space-size=8` replaces the image's size, and
// `--no-single-threaded-gc` undoes the image's `--single-threaded-gc`). serve with one trivial policy
// runs with serve's flags and environment (not the baseline's; never under --profile). The floor and the hand-written
// server always run on bare node: they are floors, not products.
// --profile runs serve under `node --cpu-prof` and prints where its time went (bench/profile-summary.ts).
// Numbers are reported, never asserted. A bad argument prints the usage and exits 2.
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureDevCertificates } from '../src/certs/dev-certificates.js';
import { residentBytes } from '../test/support/serve-process.js';
import { imageEnvironment, shippedNodeFlags } from '../test/support/shipped-node-flags.js';
import {
  httpsRequest,
  machineDescription,
  median,
  processCpuMicros,
  runLoad,
  startFloor,
  startHandWritten,
  startServe,
  type RunningServer,
  type TlsFiles,
} from './bench-processes.js';
import type { LoadResult, LoadSpec } from './load-client.js';
import { formatProfileSummary, summarizeProfile } from './profile-summary.js';
import { reviewTurnSample, reviewTurnTotals, type ReviewTurnSample, type ServeTotals } from './review-turn-sample.js';
import { cpuSplit, handWrittenInServeShare, replayedSplit, writeTrivialPolicyDir, type CpuSplit, type ReplayedSplit } from './serve-floor.js';
import { USAGE, UsageError, caseId, parseWebhookBenchArgs, selectedCases, type Case, type Endpoint, type WebhookBenchOptions } from './webhook-bench-options.js';
import { BUILT_IN_POLICIES, NAMESPACES_YAML, reviewBodies, type PayloadName } from './webhook-payloads.js';

interface Measurement {
  requestsPerSecond: number;
  p50: number;
  p99: number;
  /** Server CPU time per answered request, µs (NaN without /proc). */
  cpuPerRequest: number;
  ok: number;
  failed: number;
  /** serve's review-turn metrics over the round (servers with a probe port whose build has them). */
  turns?: ReviewTurnSample;
}

function parseArgs(): WebhookBenchOptions {
  try {
    return parseWebhookBenchArgs(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`webhook-bench: ${error.message}\n${USAGE}\n`);
    process.exit(2);
  }
}

const OPTIONS = parseArgs();
const QUICK = OPTIONS.quick;
const PLAIN_NODE = OPTIONS.plainNode;
/** What serve runs with where it ships (none with --plain-node). */
const SHIPPED_FLAGS = PLAIN_NODE ? [] : shippedNodeFlags();
const SHIPPED_ENVIRONMENT: NodeJS.ProcessEnv = PLAIN_NODE ? {} : imageEnvironment();
/** `--node-flag <flag>` (repeatable): a flag for serve's node, to compare V8 settings (bench:memory takes the same). */
const NODE_FLAGS = [...SHIPPED_FLAGS, ...OPTIONS.nodeFlags];
const BASELINE_NODE_FLAGS = [...SHIPPED_FLAGS, ...OPTIONS.baselineNodeFlags];
const PROFILE = OPTIONS.profile;
/** The hand-written server has the built-in library's checks only: with another library it has nothing to compare. */
const HAND_WRITTEN = OPTIONS.handWritten;
const SERVE_FLOOR = OPTIONS.serveFloor;
const ROUNDS = OPTIONS.rounds;
const SECONDS = OPTIONS.seconds;
const WARMUP_SECONDS = QUICK ? 1.5 : 4;
/** Bodies per payload, each with its own uid; every connection cycles through them. */
const BODIES = 16;
/** The throughput target of the small reviews at 10 connections, as a share of the floor's. */
const TARGET_SHARE = 0.7;
/** The --import module that makes a serve replay its decisions (bench/replay-decisions.ts). */
const REPLAY_DECISIONS = fileURLToPath(new URL('./replay-decisions.js', import.meta.url));
/** The --import module that makes a serve decide with the library written by hand (bench/hand-written-engine.ts). */
const HAND_WRITTEN_ENGINE = fileURLToPath(new URL('./hand-written-engine.js', import.meta.url));

interface Answer {
  apiVersion?: string;
  kind?: string;
  response?: { uid?: string; allowed?: boolean; patch?: string; patchType?: string; warnings?: string[]; status?: { message?: string } };
}

/** One review through each server, checked the way the kube-apiserver checks it; returns what daemonguard decided. */
async function checkAnswers(server: RunningServer, caFile: string, endpoint: Endpoint, payload: PayloadName): Promise<string> {
  const [body] = reviewBodies(payload, 1, `check-${server.name}-${endpoint}`);
  const sent = JSON.parse(body!) as { request: { uid: string } };
  const answer = await httpsRequest(`${server.url}/${endpoint}?timeout=10s`, 'POST', body, caFile);
  const parsed = JSON.parse(answer.body) as Answer;
  const response = parsed.response;
  const problems: string[] = [];
  if (answer.status !== 200) problems.push(`HTTP ${answer.status}`);
  if (parsed.apiVersion !== 'admission.k8s.io/v1' || parsed.kind !== 'AdmissionReview') problems.push('apiVersion/kind not echoed');
  if (response?.uid !== sent.request.uid) problems.push(`uid ${response?.uid} instead of ${sent.request.uid}`);
  if (typeof response?.allowed !== 'boolean') problems.push('no allowed');
  if (endpoint === 'validate' && response?.patch !== undefined) problems.push('a validating answer with a patch');
  if ((response?.patch === undefined) !== (response?.patchType === undefined)) problems.push('patch without patchType or the reverse');
  if (problems.length > 0) throw new Error(`${server.name} /${endpoint} ${payload}: a bad answer (${problems.join('; ')}): ${answer.body.slice(0, 300)}`);
  const parts = [response!.allowed ? 'allowed' : `denied (${response!.status?.message?.split('\n')[0]})`];
  if (response!.patch !== undefined) {
    const operations = JSON.parse(Buffer.from(response!.patch, 'base64').toString('utf8')) as { path: string }[];
    parts.push(`patch of ${operations.length} operation${operations.length === 1 ? '' : 's'} (${operations.map((op) => op.path).join(', ')})`);
  }
  if (response!.warnings?.length) parts.push(`${response!.warnings.length} warning(s)`);
  return parts.join(', ');
}

/** A server's whole answer to one review, its uid left out: to hold a stand-in's answers to serve's, byte for byte. */
async function responseWithoutUid(server: RunningServer, caFile: string, endpoint: Endpoint, payload: PayloadName): Promise<string> {
  const [body] = reviewBodies(payload, 1, `response-${server.name}-${endpoint}`);
  const answer = await httpsRequest(`${server.url}/${endpoint}?timeout=10s`, 'POST', body, caFile);
  const response = (JSON.parse(answer.body) as Answer).response ?? {};
  return JSON.stringify({ ...response, uid: undefined });
}

/** The review-turn totals on a server's /metrics, or undefined (no probe port, or a build without them). */
async function scrapeReviewTurns(server: RunningServer): Promise<ServeTotals | undefined> {
  if (server.probeUrl === undefined) return undefined;
  const answer = await fetch(`${server.probeUrl}/metrics`).catch(() => undefined);
  return answer?.ok === true ? reviewTurnTotals(await answer.text()) : undefined;
}

async function measure(server: RunningServer, spec: LoadSpec): Promise<Measurement> {
  // Scraped outside the CPU window: the scrape's own work is not counted against the reviews.
  const turnsBefore = await scrapeReviewTurns(server);
  const cpuBefore = processCpuMicros(server.pid);
  const result: LoadResult = await runLoad(spec);
  const cpuAfter = processCpuMicros(server.pid);
  const turnsAfter = turnsBefore === undefined ? undefined : await scrapeReviewTurns(server);
  if (result.failed > 0) throw new Error(`${server.name}: ${result.failed} requests failed during ${spec.mix.map((m) => m.path).join(', ')}`);
  const cpu = cpuBefore === undefined || cpuAfter === undefined ? Number.NaN : (cpuAfter - cpuBefore) / result.ok;
  const measurement: Measurement = { requestsPerSecond: result.requestsPerSecond, p50: result.p50, p99: result.p99, cpuPerRequest: cpu, ok: result.ok, failed: result.failed };
  if (turnsBefore !== undefined && turnsAfter !== undefined) measurement.turns = reviewTurnSample(turnsBefore, turnsAfter);
  return measurement;
}

/** `value` with `digits` decimals; a negative value that rounds to zero prints as zero, not "-0". */
const fixed = (value: number, digits: number): string => (Number.isFinite(value) ? value.toFixed(digits).replace(/^-(0(\.0+)?)$/, '$1') : 'n/a');
/** The median over rounds of one measure. */
const med = (list: readonly Measurement[], pick: (m: Measurement) => number): number => median(list.map(pick));
/** The median of the rounds' ratios of one measure, `over` / `under` (adjacent runs of the same round). */
const roundRatio = (over: readonly Measurement[], under: readonly Measurement[], pick: (m: Measurement) => number): number =>
  median(under.map((m, i) => pick(over[i]!) / pick(m)));
const mb = (bytes: number | undefined): string => (bytes === undefined ? 'n/a' : `${(bytes / 1024 / 1024).toFixed(0)} MB`);

async function main(): Promise<void> {
  const cases = selectedCases(OPTIONS);
  const work = await mkdtemp(join(tmpdir(), 'daemonguard-webhook-bench-'));
  const servers: RunningServer[] = [];
  try {
    const certs = await ensureDevCertificates(join(work, 'certs'));
    const tls: TlsFiles = { caFile: certs.caCertFile, certFile: certs.certFile, keyFile: certs.keyFile };
    const namespacesFile = join(work, 'namespaces.yaml');
    await writeFile(namespacesFile, NAMESPACES_YAML);
    const bodiesFile = (payload: PayloadName): string => join(work, `${payload}.json`);
    const sizes: Record<string, number> = {};
    for (const payload of ['small', 'large'] as const) {
      const bodies = reviewBodies(payload, BODIES, `bench-${process.pid}`);
      sizes[payload] = Buffer.byteLength(bodies[0]!);
      await writeFile(bodiesFile(payload), JSON.stringify(bodies));
    }

    const profileDir = join(work, 'profile');
    if (PROFILE) await mkdir(profileDir);
    const floor = await startFloor(tls);
    servers.push(floor);
    const serve = await startServe({
      tls,
      policies: OPTIONS.policies ?? BUILT_IN_POLICIES,
      namespacesFile,
      logFile: join(work, 'serve.log'),
      nodeFlags: [...NODE_FLAGS, ...(PROFILE ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [])],
      env: SHIPPED_ENVIRONMENT,
    });
    servers.push(serve);
    const idleRss = residentBytes(serve.pid);
    const baselineDir = OPTIONS.baseline;
    const baseline =
      baselineDir === undefined
        ? undefined
        : await startServe({
            tls,
            policies: OPTIONS.policies ?? BUILT_IN_POLICIES,
            namespacesFile,
            logFile: join(work, 'baseline.log'),
            cli: join(resolve(baselineDir), 'src', 'cli', 'main.js'),
            name: 'baseline',
            nodeFlags: BASELINE_NODE_FLAGS,
            env: SHIPPED_ENVIRONMENT,
          });
    if (baseline !== undefined) servers.push(baseline);
    const handWritten = HAND_WRITTEN ? await startHandWritten(tls, namespacesFile) : undefined;
    if (handWritten !== undefined) servers.push(handWritten);
    // serve's own cost: the same serve (this build, serve's node flags and environment) with one trivial policy.
    const trivial = SERVE_FLOOR
      ? await startServe({
          tls,
          policies: await writeTrivialPolicyDir(work),
          namespacesFile,
          logFile: join(work, 'serve-trivial.log'),
          name: 'serve-one-trivial-policy',
          nodeFlags: NODE_FLAGS,
          env: SHIPPED_ENVIRONMENT,
        })
      : undefined;
    if (trivial !== undefined) servers.push(trivial);
    /** serve as daemonguard runs (build, node flags, environment, library), with a stand-in for its engine given to node's --import. */
    const startWithEngineStandIn = (name: string, module: string): Promise<RunningServer> =>
      startServe({
        tls,
        policies: OPTIONS.policies ?? BUILT_IN_POLICIES,
        namespacesFile,
        logFile: join(work, `${name}.log`),
        name,
        nodeFlags: [...NODE_FLAGS, `--import=${module}`],
        env: SHIPPED_ENVIRONMENT,
      });
    // The least an engine could cost: the same serve, its decisions replayed (bench/replayed-review.ts).
    const replayed = SERVE_FLOOR ? await startWithEngineStandIn('serve-decisions-replayed', REPLAY_DECISIONS) : undefined;
    if (replayed !== undefined) servers.push(replayed);
    // What serve would cost with an engine as fast as plain JavaScript: the same serve deciding with the
    // library written by hand (bench/hand-written-review.ts; the built-in library only, as HAND_WRITTEN),
    // inside its process and its CPU caches.
    const handWrittenEngine = SERVE_FLOOR && HAND_WRITTEN ? await startWithEngineStandIn('serve-hand-written-checks', HAND_WRITTEN_ENGINE) : undefined;
    if (handWrittenEngine !== undefined) servers.push(handWrittenEngine);
    const trivialIdleRss = trivial === undefined ? undefined : residentBytes(trivial.pid);

    const decisions: string[] = [];
    for (const endpoint of ['validate', 'mutate'] as const) {
      for (const payload of ['small', 'large'] as const) {
        await checkAnswers(floor, tls.caFile, endpoint, payload);
        const decided = await checkAnswers(serve, tls.caFile, endpoint, payload);
        decisions.push(`/${endpoint} ${payload}: ${decided}`);
        if (baseline !== undefined) await checkAnswers(baseline, tls.caFile, endpoint, payload);
        if (trivial !== undefined) {
          // Denied or patched, it would be measured doing more than serve's own work.
          const trivially = await checkAnswers(trivial, tls.caFile, endpoint, payload);
          if (trivially !== 'allowed') throw new Error(`/${endpoint} ${payload}: serve with one trivial policy answered "${trivially}", not a plain "allowed"`);
        }
        if (replayed !== undefined) {
          // Its second answer is a replayed one: it must be the engine's.
          await checkAnswers(replayed, tls.caFile, endpoint, payload);
          const replay = await checkAnswers(replayed, tls.caFile, endpoint, payload);
          if (replay !== decided) throw new Error(`/${endpoint} ${payload}: serve with its decisions replayed answered "${replay}", daemonguard "${decided}"`);
        }
        if (handWrittenEngine !== undefined) {
          const own = await responseWithoutUid(serve, tls.caFile, endpoint, payload);
          const byHand = await responseWithoutUid(handWrittenEngine, tls.caFile, endpoint, payload);
          if (byHand !== own) throw new Error(`/${endpoint} ${payload}: serve with the hand-written checks answered ${byHand.slice(0, 300)}, daemonguard ${own.slice(0, 300)}`);
        }
        if (handWritten !== undefined) {
          // A baseline that decided otherwise would be measured doing other work.
          const byHand = await checkAnswers(handWritten, tls.caFile, endpoint, payload);
          if (byHand !== decided) throw new Error(`/${endpoint} ${payload}: the hand-written server decided "${byHand}", daemonguard "${decided}"`);
        }
      }
    }

    const loadSpec = (server: RunningServer, c: Case, seconds: number): LoadSpec => ({
      url: server.url,
      connections: c.connections,
      seconds,
      mix: [{ path: `/${c.endpoint}`, bodiesFile: bodiesFile(c.payload) }],
    });
    // Warm-up: the JIT settles on every path before anything is measured.
    let reviews = 0;
    for (const server of [floor, serve, ...[baseline, handWritten, trivial, replayed, handWrittenEngine].filter((s): s is RunningServer => s !== undefined)]) {
      const result = await runLoad({
        url: server.url,
        connections: 10,
        seconds: WARMUP_SECONDS,
        mix: (['validate', 'mutate'] as const).flatMap((endpoint) => (['small', 'large'] as const).map((payload) => ({ path: `/${endpoint}`, bodiesFile: bodiesFile(payload) }))),
      });
      if (server === serve) reviews += result.ok;
    }

    const runs = new Map<
      string,
      {
        floor: Measurement[];
        daemonguard: Measurement[];
        baseline: Measurement[];
        handWritten: Measurement[];
        trivial: Measurement[];
        replayed: Measurement[];
        handWrittenEngine: Measurement[];
      }
    >();
    for (const c of cases) runs.set(caseId(c), { floor: [], daemonguard: [], baseline: [], handWritten: [], trivial: [], replayed: [], handWrittenEngine: [] });
    const started = performance.now();
    for (let round = 0; round < ROUNDS; round++) {
      for (const c of cases) {
        const entry = runs.get(caseId(c))!;
        // Before the floor, so that the floor and daemonguard stay adjacent.
        if (replayed !== undefined) entry.replayed.push(await measure(replayed, loadSpec(replayed, c, SECONDS)));
        if (handWrittenEngine !== undefined) entry.handWrittenEngine.push(await measure(handWrittenEngine, loadSpec(handWrittenEngine, c, SECONDS)));
        if (trivial !== undefined) entry.trivial.push(await measure(trivial, loadSpec(trivial, c, SECONDS)));
        entry.floor.push(await measure(floor, loadSpec(floor, c, SECONDS)));
        const measured = await measure(serve, loadSpec(serve, c, SECONDS));
        entry.daemonguard.push(measured);
        reviews += measured.ok;
        if (handWritten !== undefined) entry.handWritten.push(await measure(handWritten, loadSpec(handWritten, c, SECONDS)));
        if (baseline !== undefined) entry.baseline.push(await measure(baseline, loadSpec(baseline, c, SECONDS)));
      }
      process.stderr.write(`round ${round + 1}/${ROUNDS} done (${((performance.now() - started) / 1000).toFixed(0)} s)\n`);
    }
    const loadedRss = residentBytes(serve.pid);

    const lines: string[] = [];
    lines.push(
      `Webhook benchmark: daemonguard serve (${OPTIONS.policies ?? 'built-in policy library'}) against the floor (bare node:https: read, JSON.parse, answer allowed)` +
        (handWritten === undefined ? '' : ' and against the library written by hand (the same checks in plain JavaScript behind the floor\'s server)') +
        (trivial === undefined ? '' : ', with serve\'s own cost (serve with one trivial policy) in the same rounds'),
    );
    lines.push('');
    lines.push(`machine: ${machineDescription()}`);
    lines.push(
      `method: ${ROUNDS} round(s) × ${SECONDS} s per case and server, ${replayed === undefined ? '' : 'serve with its decisions replayed, '}${handWrittenEngine === undefined ? '' : 'serve with the hand-written checks, '}${trivial === undefined ? '' : 'serve with one trivial policy, '}floor, daemonguard${handWritten === undefined ? '' : ', hand-written'}${baseline === undefined ? '' : ', baseline'} taking turns, load from autocannon ` +
        `in its own process (HTTPS keep-alive); medians over rounds; each ratio is the median of the rounds' daemonguard/floor ` +
        `(or daemonguard/hand-written${trivial === undefined ? '' : ', trivial/floor'}${replayed === undefined ? '' : ', replayed/floor'}) ratios`,
    );
    const environment = Object.entries(SHIPPED_ENVIRONMENT).map(([key, value]) => `${key}=${value}`);
    const describeFlags = (flags: readonly string[]): string => (flags.length === 0 ? 'bare node' : `node ${flags.join(' ')}`);
    lines.push(
      `serve runs as ${describeFlags(NODE_FLAGS)}${environment.length > 0 ? ` with ${environment.join(' ')}` : ''}` +
        (PLAIN_NODE ? ' (--plain-node)' : " (the image's ENTRYPOINT and the deployment's NODE_OPTIONS)") +
        (baseline === undefined ? '' : `; the baseline as ${describeFlags(BASELINE_NODE_FLAGS)}`) +
        (trivial === undefined
          ? ''
          : `, serve with one trivial policy${replayed === undefined ? '' : ', serve with its decisions replayed'}${handWrittenEngine === undefined ? '' : ', serve with the hand-written checks'} the same`) +
        `; the floor${handWritten === undefined ? '' : ' and the hand-written server'} on bare node`,
    );
    lines.push(`payloads: small ${(sizes.small! / 1024).toFixed(1)} KB (CREATE, node-exporter, monitoring: PSS baseline), large ${(sizes.large! / 1024).toFixed(1)} KB (UPDATE, cilium agent, kube-system)`);
    lines.push(`daemonguard answers: ${decisions.join('; ')}`);
    lines.push('');
    lines.push('| endpoint | payload | conns | floor req/s | daemonguard req/s | throughput ratio | floor p50 ms | dg p50 ms | floor p99 ms | dg p99 ms | p99 ratio | floor CPU µs/req | dg CPU µs/req | CPU ratio |');
    lines.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    const ratios = new Map<string, { throughput: number; p99: number; cpu: number }>();
    for (const c of cases) {
      const { floor: a, daemonguard: b } = runs.get(caseId(c))!;
      const ratio = { throughput: roundRatio(b, a, (m) => m.requestsPerSecond), p99: roundRatio(b, a, (m) => m.p99), cpu: roundRatio(b, a, (m) => m.cpuPerRequest) };
      ratios.set(caseId(c), ratio);
      lines.push(
        `| /${c.endpoint} | ${c.payload} | ${c.connections} | ${fixed(med(a, (m) => m.requestsPerSecond), 0)} | ${fixed(med(b, (m) => m.requestsPerSecond), 0)} | ${fixed(ratio.throughput, 2)} | ` +
          `${fixed(med(a, (m) => m.p50), 2)} | ${fixed(med(b, (m) => m.p50), 2)} | ${fixed(med(a, (m) => m.p99), 2)} | ${fixed(med(b, (m) => m.p99), 2)} | ${fixed(ratio.p99, 2)}× | ` +
          `${fixed(med(a, (m) => m.cpuPerRequest), 0)} | ${fixed(med(b, (m) => m.cpuPerRequest), 0)} | ${fixed(ratio.cpu, 2)}× |`,
      );
    }
    const handWrittenRatios = new Map<string, { throughput: number; cpu: number }>();
    if (handWritten !== undefined) {
      lines.push('');
      lines.push(
        'against the hand-written checks (the library written by hand in plain JavaScript, no engine, behind a bare node:https server like the floor; ' +
          "same answers, byte for byte), measured right after daemonguard in every round; ratios are the medians of the rounds' ratios:",
      );
      lines.push('');
      lines.push('| endpoint | payload | conns | hand-written req/s | daemonguard req/s | throughput ratio | hand-written / floor | hand-written p99 ms | dg p99 ms | p99 ratio | hand-written CPU µs/req | dg CPU µs/req | CPU ratio |');
      lines.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
      for (const c of cases) {
        const { daemonguard: b, handWritten: h, floor } = runs.get(caseId(c))!;
        const ratio = { throughput: roundRatio(b, h, (m) => m.requestsPerSecond), cpu: roundRatio(b, h, (m) => m.cpuPerRequest) };
        handWrittenRatios.set(caseId(c), ratio);
        const p99Ratio = roundRatio(b, h, (m) => m.p99);
        const toFloor = roundRatio(h, floor, (m) => m.requestsPerSecond);
        lines.push(
          `| /${c.endpoint} | ${c.payload} | ${c.connections} | ${fixed(med(h, (m) => m.requestsPerSecond), 0)} | ${fixed(med(b, (m) => m.requestsPerSecond), 0)} | ${fixed(ratio.throughput, 2)} | ` +
            `${fixed(toFloor, 2)} | ${fixed(med(h, (m) => m.p99), 2)} | ${fixed(med(b, (m) => m.p99), 2)} | ${fixed(p99Ratio, 2)}× | ` +
            `${fixed(med(h, (m) => m.cpuPerRequest), 0)} | ${fixed(med(b, (m) => m.cpuPerRequest), 0)} | ${fixed(ratio.cpu, 2)}× |`,
        );
      }
    }
    const splits = new Map<string, { toFloor: number; split: CpuSplit; withHandWritten: number | undefined }>();
    if (trivial !== undefined) {
      lines.push('');
      lines.push(
        "serve's own cost: serve with one policy whose only validation is `true` (same build, node flags and environment as daemonguard), measured just before the floor " +
          "in every round; its ratios to the floor and the split of daemonguard's CPU per request over the floor are the medians of the rounds' values " +
          '(serve = trivial − floor, policy library = daemonguard − trivial; medians taken apart need not add up exactly)' +
          (handWritten === undefined
            ? ':'
            : "; 'with hand-written-fast checks' estimates what serve would reach if its library cost what the hand-written checks cost over the floor: " +
              "floor / (trivial + hand-written − floor), the median of the rounds' values (an upper estimate: the two costs are measured apart, so neither slows the other's code in the caches):"),
      );
      lines.push('');
      lines.push(
        '| endpoint | payload | conns | trivial req/s | trivial / floor | trivial p99 ms | p99 ratio to the floor | floor CPU µs/req | trivial CPU µs/req | dg CPU µs/req | dg over the floor µs/req | serve µs/req | policy library µs/req |' +
          (handWritten === undefined ? '' : ' with hand-written-fast checks / floor |'),
      );
      lines.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|' + (handWritten === undefined ? '' : '---:|'));
      for (const c of cases) {
        const { trivial: t, floor: a, daemonguard: b, handWritten: h } = runs.get(caseId(c))!;
        const toFloor = roundRatio(t, a, (m) => m.requestsPerSecond);
        // Each round's servers side by side (the hand-written server's when it ran).
        const rounds = a.map((m, i) => ({ floor: m.cpuPerRequest, trivial: t[i]!.cpuPerRequest, daemonguard: b[i]!.cpuPerRequest, handWritten: h[i]?.cpuPerRequest ?? Number.NaN }));
        const split = cpuSplit(rounds);
        const withHandWritten = handWritten === undefined ? undefined : handWrittenInServeShare(rounds);
        splits.set(caseId(c), { toFloor, split, withHandWritten });
        lines.push(
          `| /${c.endpoint} | ${c.payload} | ${c.connections} | ${fixed(med(t, (m) => m.requestsPerSecond), 0)} | ${fixed(toFloor, 2)} | ` +
            `${fixed(med(t, (m) => m.p99), 2)} | ${fixed(roundRatio(t, a, (m) => m.p99), 2)}× | ` +
            `${fixed(med(a, (m) => m.cpuPerRequest), 0)} | ${fixed(med(t, (m) => m.cpuPerRequest), 0)} | ${fixed(med(b, (m) => m.cpuPerRequest), 0)} | ` +
            `${fixed(split.overFloor, 0)} | ${fixed(split.serve, 0)} | ${fixed(split.library, 0)} |` +
            (withHandWritten === undefined ? '' : ` ${fixed(withHandWritten, 2)} |`),
        );
      }
    }
    const replays = new Map<string, ReplayedSplit>();
    if (replayed !== undefined) {
      lines.push('');
      lines.push(
        'serve with its decisions replayed (bench/replayed-review.ts: the same serve, build, node flags and library, whose review() returns the decision the engine made ' +
          "for the first review of the same object): everything serve does but evaluating, so the least any engine could cost inside it; measured first in every round. " +
          "answer = replayed − trivial (the library's warnings, outcomes counted and logged), evaluation = daemonguard − replayed, and the evaluation budget is what " +
          `evaluation may cost for serve to reach ${TARGET_SHARE.toFixed(2)} of the floor's throughput, floor / ${TARGET_SHARE.toFixed(2)} − replayed (medians of the rounds' values):`,
      );
      lines.push('');
      lines.push('| endpoint | payload | conns | replayed req/s | replayed / floor | replayed p99 ms | p99 ratio to the floor | floor CPU µs/req | replayed CPU µs/req | answer µs/req | evaluation µs/req | evaluation budget µs/req |');
      lines.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
      for (const c of cases) {
        const { replayed: r, trivial: t, floor: a, daemonguard: b } = runs.get(caseId(c))!;
        const split = replayedSplit(
          a.map((m, i) => ({ floor: m.cpuPerRequest, trivial: t[i]!.cpuPerRequest, replayed: r[i]!.cpuPerRequest, daemonguard: b[i]!.cpuPerRequest })),
          TARGET_SHARE,
        );
        replays.set(caseId(c), split);
        lines.push(
          `| /${c.endpoint} | ${c.payload} | ${c.connections} | ${fixed(med(r, (m) => m.requestsPerSecond), 0)} | ${fixed(roundRatio(r, a, (m) => m.requestsPerSecond), 2)} | ` +
            `${fixed(med(r, (m) => m.p99), 2)} | ${fixed(roundRatio(r, a, (m) => m.p99), 2)}× | ${fixed(med(a, (m) => m.cpuPerRequest), 0)} | ${fixed(med(r, (m) => m.cpuPerRequest), 0)} | ` +
            `${fixed(split.answer, 0)} | ${fixed(split.evaluation, 0)} | ${fixed(split.evaluationBudget, 0)} |`,
        );
      }
    }
    const handWrittenEngineShares = new Map<string, number>();
    if (handWrittenEngine !== undefined) {
      lines.push('');
      lines.push(
        'serve with the hand-written checks as its engine (bench/hand-written-review.ts: the same serve, build, node flags and library, whose review() decides with the ' +
          "library written by hand; its answers the engine's, byte for byte): what serve would reach with an engine as fast as plain JavaScript, measured inside serve " +
          "and its CPU caches; measured right after the replayed serve in every round. checks = it − replayed (medians of the rounds' values):",
      );
      lines.push('');
      lines.push('| endpoint | payload | conns | req/s | / floor | p99 ms | p99 ratio to the floor | floor CPU µs/req | CPU µs/req | checks µs/req | dg CPU / its CPU |');
      lines.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
      for (const c of cases) {
        const { handWrittenEngine: h, replayed: r, floor: a, daemonguard: b } = runs.get(caseId(c))!;
        const share = roundRatio(h, a, (m) => m.requestsPerSecond);
        handWrittenEngineShares.set(caseId(c), share);
        // The replayed serve ran in every round beside it (both come with the serve floor).
        const checks = fixed(median(h.map((m, i) => m.cpuPerRequest - r[i]!.cpuPerRequest)), 0);
        lines.push(
          `| /${c.endpoint} | ${c.payload} | ${c.connections} | ${fixed(med(h, (m) => m.requestsPerSecond), 0)} | ${fixed(share, 2)} | ${fixed(med(h, (m) => m.p99), 2)} | ` +
            `${fixed(roundRatio(h, a, (m) => m.p99), 2)}× | ${fixed(med(a, (m) => m.cpuPerRequest), 0)} | ${fixed(med(h, (m) => m.cpuPerRequest), 0)} | ${checks} | ` +
            `${fixed(roundRatio(b, h, (m) => m.cpuPerRequest), 2)}× |`,
        );
      }
    }
    if (baseline !== undefined) {
      lines.push('');
      lines.push(`against the baseline build (${baselineDir}), measured right after daemonguard in every round; ratios are the medians of the rounds' daemonguard/baseline ratios:`);
      lines.push('');
      lines.push(
        '| endpoint | payload | conns | baseline req/s | daemonguard req/s | baseline p99 ms | dg p99 ms | p99 ratio | p99 ratio to the floor, baseline | baseline CPU µs/req | dg CPU µs/req | CPU ratio | CPU ratio by round | p99 ratio by round |',
      );
      lines.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|');
      for (const c of cases) {
        const { daemonguard: b, baseline: a, floor } = runs.get(caseId(c))!;
        // Each round's ratio as well as their median: on a shared machine one disturbed round moves a
        // median of three, and the spread tells a difference from the noise.
        const cpuRatios = a.map((m, i) => b[i]!.cpuPerRequest / m.cpuPerRequest);
        const p99Ratios = a.map((m, i) => b[i]!.p99 / m.p99);
        const cpuRatio = median(cpuRatios);
        const p99Ratio = median(p99Ratios);
        const byRound = (ratios: number[]): string => ratios.map((ratio) => fixed(ratio, 2)).join(' ');
        const baselineP99ToFloor = roundRatio(a, floor, (m) => m.p99);
        lines.push(
          `| /${c.endpoint} | ${c.payload} | ${c.connections} | ${fixed(med(a, (m) => m.requestsPerSecond), 0)} | ${fixed(med(b, (m) => m.requestsPerSecond), 0)} | ` +
            `${fixed(med(a, (m) => m.p99), 2)} | ${fixed(med(b, (m) => m.p99), 2)} | ${fixed(p99Ratio, 2)}× | ${fixed(baselineP99ToFloor, 2)}× | ` +
            `${fixed(med(a, (m) => m.cpuPerRequest), 0)} | ${fixed(med(b, (m) => m.cpuPerRequest), 0)} | ${fixed(cpuRatio, 2)}× | ${byRound(cpuRatios)} | ${byRound(p99Ratios)} |`,
        );
      }
    }
    const withTurns = cases.filter((c) => runs.get(caseId(c))!.daemonguard.every((m) => m.turns !== undefined));
    if (withTurns.length > 0) {
      // The other serves whose review turns were read in every round, beside daemonguard's.
      const others = (
        [
          { series: 'baseline', label: 'baseline', server: baseline },
          { series: 'handWrittenEngine', label: 'hand-written checks', server: handWrittenEngine },
        ] as const
      ).filter(({ series, server }) => server !== undefined && withTurns.every((c) => runs.get(caseId(c))![series].every((m) => m.turns !== undefined)));
      lines.push('');
      lines.push(
        "inside serve, from its review-turn metrics (/metrics before and after each round): µs per review, its evaluation and its answer's building, " +
          'the first review of an event-loop turn (its code out of the CPU caches) apart from the later ones; medians of the rounds' +
          (others.length > 0 ? `; ${others.map((o) => o.label).join(' and ')} the same way, and daemonguard's mean over theirs (median of the rounds' ratios):` : ':'),
      );
      lines.push('');
      lines.push(
        '| endpoint | payload | conns | first of a turn µs | later µs | mean µs | reviews per turn | policy evaluations the lean tier gave up, per review |' +
          others.map((o) => ` ${o.label} first µs | ${o.label} later µs | ${o.label} mean µs | mean ratio to ${o.label} |`).join(''),
      );
      lines.push('|---|---|---:|---:|---:|---:|---:|---:|' + '---:|---:|---:|---:|'.repeat(others.length));
      const turnsOf = (list: readonly Measurement[], pick: (t: ReviewTurnSample) => number): number => med(list, (m) => pick(m.turns!));
      for (const c of withTurns) {
        const entry = runs.get(caseId(c))!;
        const b = entry.daemonguard;
        lines.push(
          `| /${c.endpoint} | ${c.payload} | ${c.connections} | ${fixed(turnsOf(b, (t) => t.firstMicros), 1)} | ${fixed(turnsOf(b, (t) => t.laterMicros), 1)} | ` +
            `${fixed(turnsOf(b, (t) => t.meanMicros), 1)} | ${fixed(turnsOf(b, (t) => t.reviewsPerTurn), 1)} | ${fixed(turnsOf(b, (t) => t.leanGaveUpPerReview), 2)} |` +
            others
              .map(({ series }) => {
                const a = entry[series];
                return (
                  ` ${fixed(turnsOf(a, (t) => t.firstMicros), 1)} | ${fixed(turnsOf(a, (t) => t.laterMicros), 1)} | ${fixed(turnsOf(a, (t) => t.meanMicros), 1)} | ` +
                  `${fixed(median(a.map((m, i) => b[i]!.turns!.meanMicros / m.turns!.meanMicros)), 2)}× |`
                );
              })
              .join(''),
        );
      }
    }
    lines.push('');
    lines.push(
      `memory (daemonguard serve, resident): ${mb(idleRss)} idle with the library loaded, ${mb(loadedRss)} after ${reviews.toLocaleString('en-US')} reviews (npm run bench:memory follows it over 100,000)` +
        (trivialIdleRss === undefined ? '' : `; serve with one trivial policy: ${mb(trivialIdleRss)} idle`),
    );
    const targetLines: string[] = [];
    for (const endpoint of ['validate', 'mutate'] as const) {
      const ratio = ratios.get(`${endpoint}-small-c10`);
      if (ratio === undefined) continue;
      const replay = replays.get(`${endpoint}-small-c10`);
      targetLines.push(
        `${endpoint}: throughput ${fixed(ratio.throughput, 2)} of the floor (target ≥ ${TARGET_SHARE.toFixed(2)}: ${ratio.throughput >= TARGET_SHARE ? 'met' : 'missed'}), ` +
          `p99 ${fixed(ratio.p99, 2)}× the floor's (target ≤ 2×: ${ratio.p99 <= 2 ? 'met' : 'missed'}), CPU per request ${fixed(ratio.cpu, 2)}× the floor's` +
          (replay === undefined ? '' : `; evaluation ${fixed(replay.evaluation, 0)} µs per request against a budget of ${fixed(replay.evaluationBudget, 0)} at the target`),
      );
    }
    if (targetLines.length > 0) lines.push(`targets (small payload, 10 connections): ${targetLines.join('; ')}`);

    if (PROFILE) {
      await serve.stop();
      const [file] = (await readdir(profileDir)).filter((name) => name.endsWith('.cpuprofile'));
      if (file !== undefined) {
        const kept = join(process.cwd(), 'bench-serve.cpuprofile');
        await copyFile(join(profileDir, file), kept);
        lines.push('');
        lines.push(`profile of daemonguard serve, start-up included (kept in ${kept}; open it in Chrome DevTools or VS Code):`);
        lines.push(formatProfileSummary(summarizeProfile(kept)));
      }
    }
    const headline = ratios.get('validate-small-c10');
    lines.push('');
    lines.push(
      headline === undefined
        ? 'throughput ratio vs floor: n/a (validate, small, c10) — not measured in this run'
        : `throughput ratio vs floor: ${fixed(headline.throughput, 2)} (validate, small, c10)`,
    );
    if (handWritten !== undefined) {
      const byHand = handWrittenRatios.get('validate-small-c10');
      lines.push(
        byHand === undefined
          ? 'throughput ratio vs hand-written: n/a (validate, small, c10) — not measured in this run'
          : `throughput ratio vs hand-written: ${fixed(byHand.throughput, 2)} (validate, small, c10)`,
      );
    }
    if (trivial !== undefined) {
      const own = splits.get('validate-small-c10');
      lines.push(
        own === undefined
          ? 'serve with one trivial policy vs floor: n/a (validate, small, c10) — not measured in this run'
          : `serve with one trivial policy vs floor: ${fixed(own.toFloor, 2)} (validate, small, c10)`,
      );
      if (own !== undefined) {
        lines.push(
          `CPU per request over the floor: ${fixed(own.split.overFloor, 0)} µs = serve ${fixed(own.split.serve, 0)} µs + policy library ${fixed(own.split.library, 0)} µs (validate, small, c10; medians of the rounds)`,
        );
        if (own.withHandWritten !== undefined) {
          lines.push(`serve with hand-written-fast checks vs floor, estimated: ${fixed(own.withHandWritten, 2)} (validate, small, c10; the throughput target's reach inside serve)`);
        }
      }
    }
    const replay = replays.get('validate-small-c10');
    if (replay !== undefined) {
      lines.push(
        `serve with its decisions replayed: evaluation ${fixed(replay.evaluation, 0)} µs per request, ${fixed(replay.evaluationBudget, 0)} µs left for it at ${TARGET_SHARE.toFixed(2)} of the floor (validate, small, c10; medians of the rounds)`,
      );
    }
    const byHandInServe = handWrittenEngineShares.get('validate-small-c10');
    if (byHandInServe !== undefined) {
      lines.push(`serve with the hand-written checks as its engine vs floor: ${fixed(byHandInServe, 2)} (validate, small, c10; measured: the throughput target's reach for any engine inside serve)`);
    }
    console.log(lines.join('\n'));
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
    await rm(work, { recursive: true, force: true });
  }
}

await main();
