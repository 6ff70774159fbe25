// `daemonguard serve`: the admission webhook server. Flags have DAEMONGUARD_* environment equivalents,
// so the same image runs from a Deployment's env or args. Wiring only: the server lives in src/server.

import os from 'node:os';
import path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { pino, type Logger } from 'pino';
import { setCelEngine, type CelEngine } from '../cel/program.js';
import { packageFile } from '../common/package-root.js';
import { parseQuantity } from '../common/quantity.js';
import { review } from '../engine/review.js';
import { loadPolicySet } from '../policy/load-policies.js';
import type { PolicySet } from '../policy/types.js';
import { DEFAULT_EVAL_DEADLINE_MS, DEFAULT_SHUTDOWN_GRACE_MS, HTTP_LAYERS, startAdmissionServer, type AdmissionServer, type HttpLayer } from '../server/admission-server.js';
import { formatDuration, parseDuration } from '../server/duration.js';
import { parseDurationFlag, parsePort } from './options.js';
import { DEFAULT_MAX_INFLIGHT_BYTES } from '../server/inflight-budget.js';
import { DEFAULT_JSON_LIMITS } from '../server/json-limit-defaults.js';
import { createServerMetrics } from '../server/metrics.js';
import { BatchedLogDestination, isoTimeOncePerMillisecond } from '../server/log-destination.js';
import type { NodeSource } from '../common/node-source.js';
import { FileNamespaceCatalog, type NamespaceSource } from '../server/namespace-catalog.js';
import { NamespaceSourceMissingError, withoutNamespaceSource } from '../server/namespace-requirement.js';
import { WatchedPolicyStore, type PolicyStore } from '../server/policy-store.js';
import { DEFAULT_WARM_UP_BUDGET_MS, warmUpPolicySet } from '../server/warm-up.js';
import { DEFAULT_MAX_BODY_BYTES } from '../server/read-body.js';
import type { ClusterNamespaceCatalog } from '../kube/namespace-informer.js';
import type { ServeAudit } from './serve-audit.js';
import { ServeLifecycle, SHUTDOWN_MARGIN_MS, StartupInterrupted } from './serve-lifecycle.js';
import type { ClusterPolicies } from './cluster-policies.js';
import type { TlsFiles } from '../server/tls-material.js';
import { DEFAULT_TLS_PROFILE, parseTlsCipherSuites, parseTlsMinVersion, TLS12_SUITE_NAMES, tlsProfileFrom, TlsSettingError, type CipherSuiteChoice, type TlsMinVersion } from '../server/tls-profile.js';

/** Without --policies: the built-in library shipped in the package, wherever the server runs from. */
export const DEFAULT_POLICY_PATHS: readonly string[] = [packageFile('policies')];
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** The probe port when --probe-address is not given. */
export const DEFAULT_PROBE_PORT = 8081;

/** --probe-address: `[host]:port`; an empty host means the admission port's --address. */
export interface ProbeAddress {
  host?: string;
  port: number;
}

export interface ServeOptions {
  address: string;
  engine: CelEngine;
  httpLayer: HttpLayer;
  port: number;
  probeAddress: ProbeAddress;
  tlsCert?: string;
  tlsKey?: string;
  clientCa?: string;
  tlsMinVersion: TlsMinVersion;
  /** The suites named by --tls-cipher-suites (Go names in, OpenSSL names for TLS 1.2 out). */
  tlsCipherSuites?: CipherSuiteChoice;
  policies?: string[];
  namespaces?: string;
  namespacesFromCluster?: boolean;
  nodesFromCluster?: boolean;
  policiesFromCluster?: boolean;
  nativeParamsFromCluster?: boolean;
  leaderElectionNamespace: string;
  leaderElectionIdentity: string;
  leaseDuration: number;
  evalDeadline: number;
  shutdownGrace: number;
  watchInterval: number;
  logLevel: (typeof LOG_LEVELS)[number];
  logRequestBodies?: boolean;
  /** --gc-duration-metric: export nodejs_gc_duration_seconds (observing every garbage collection). */
  gcDurationMetric?: boolean;
  certsDir: string;
  auditInterval: number;
  auditNiceness: number;
  auditDutyCycle: number;
  maxBodyBytes: number;
  maxJsonDepth: number;
  maxJsonElements: number;
  maxJsonNodes: number;
  maxJsonStringBytes: number;
  maxInflightBytes: number;
  /** --warm-up-budget: how long a loaded policy set may spend on sample reviews before it serves; 0 = no warm-up. */
  warmUpBudget: number;
}

function parseProbeAddress(value: string): ProbeAddress {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value.trim());
  const port = Number(match?.[3]);
  if (match === null || port > 65535) throw new InvalidArgumentError('expected [host]:port, such as :8081, 0.0.0.0:8081, 127.0.0.1:8081 or [::1]:8081.');
  const host = match[1] ?? match[2] ?? '';
  return host === '' ? { port } : { host, port };
}

/** Turns a TLS setting's refusal into a usage error (exit 2, the flag named by commander). */
function tlsFlag<T>(parse: (value: string) => T): (value: string) => T {
  return (value) => {
    try {
      return parse(value);
    } catch (error) {
      if (error instanceof TlsSettingError) throw new InvalidArgumentError(error.message);
      throw error;
    }
  };
}

function parseLeaseDuration(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined || ms < 3_000) throw new InvalidArgumentError('expected a duration of at least 3s, such as 15s.');
  return ms;
}

/** A size in bytes: a plain number or a Kubernetes quantity (8Mi, 1536Ki, 8M). */
function parseByteSize(value: string): number {
  let bytes: number;
  try {
    bytes = parseQuantity(value.trim()).asApproximateFloat();
  } catch {
    bytes = Number.NaN;
  }
  if (!Number.isSafeInteger(bytes) || bytes < 1) throw new InvalidArgumentError('expected a size in bytes such as 8Mi, 1536Ki or 8388608.');
  return bytes;
}

function parsePositiveCount(value: string): number {
  const count = Number(value.trim());
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(count) || count < 1) throw new InvalidArgumentError('expected a whole number of at least 1.');
  return count;
}

/** How a byte figure is shown in --help: 8Mi rather than 8388608 when it is a whole number of KiB or MiB. */
function parseNiceness(value: string): number {
  const niceness = Number(value);
  if (!/^\d+$/.test(value.trim()) || niceness > 19) throw new InvalidArgumentError('expected a whole number from 0 (as the webhook) to 19 (lowest priority).');
  return niceness;
}

function parseDutyCycle(value: string): number {
  const fraction = Number(value);
  if (value.trim() === '' || !Number.isFinite(fraction) || fraction < 0.05 || fraction > 1) throw new InvalidArgumentError('expected a fraction from 0.05 to 1, such as 0.5 (1: no pauses).');
  return fraction;
}

function formatByteSize(bytes: number): string {
  if (bytes % 2 ** 20 === 0) return `${bytes / 2 ** 20}Mi`;
  if (bytes % 2 ** 10 === 0) return `${bytes / 2 ** 10}Ki`;
  return String(bytes);
}

/** `--policies a --policies b,c` and DAEMONGUARD_POLICIES=a,b all add up. */
function collectPaths(value: string, previous: string[] | undefined): string[] {
  const added = value
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  if (added.length === 0) throw new InvalidArgumentError('expected a file or folder.');
  return [...(previous ?? []), ...added];
}

export function registerServeCommand(program: Command): Command {
  return program
    .command('serve')
    .summary('run the admission webhook server (HTTPS: /validate, /mutate; HTTP probe port: /healthz, /readyz, /metrics)')
    .description(
      'Run the admission webhook. POST /validate and /mutate on the HTTPS port answer AdmissionReview admission.k8s.io/v1 ' +
        'and v1beta1; GET /healthz, /readyz and /metrics are served over plain HTTP on the probe port (--probe-address), ' +
        'which never asks for a client certificate.\n\n' +
        'Policies and TLS files are watched and reloaded without a restart; a broken policy change is refused and the ' +
        'last good set keeps serving. Without --tls-cert/--tls-key, a development CA and a certificate for localhost, ' +
        '127.0.0.1 and ::1 are generated into --certs-dir.\n\n' +
        'SIGTERM (or SIGINT) stops accepting connections, lets reviews in flight finish, releases the leader Lease, and exits 0; ' +
        `during start-up it stops the start instead. Either way the process exits within --shutdown-grace plus ${formatDuration(SHUTDOWN_MARGIN_MS)}.\n\n` +
        'SIGHUP reloads the policies, the TLS files and the --namespaces file at once (as a change to them would), and never stops the server.',
    )
    .addOption(new Option('--address <host>', 'address to listen on').env('DAEMONGUARD_ADDRESS').default('0.0.0.0'))
    .addOption(new Option('--port <port>', 'HTTPS port').env('DAEMONGUARD_PORT').default(8443).argParser(parsePort))
    .addOption(
      new Option('--probe-address <[host]:port>', 'plain-HTTP listener for /healthz, /readyz and /metrics; an empty host means --address')
        .env('DAEMONGUARD_PROBE_ADDRESS')
        .default({ port: DEFAULT_PROBE_PORT }, `:${DEFAULT_PROBE_PORT}`)
        .argParser(parseProbeAddress),
    )
    .addOption(new Option('--tls-cert <file>', 'serving certificate, PEM (reloaded when the file changes)').env('DAEMONGUARD_TLS_CERT'))
    .addOption(new Option('--tls-key <file>', 'private key of the serving certificate, PEM').env('DAEMONGUARD_TLS_KEY'))
    .addOption(new Option('--client-ca <file>', 'require client certificates signed by this CA, PEM (on the HTTPS port only)').env('DAEMONGUARD_CLIENT_CA'))
    .addOption(
      new Option('--tls-min-version <version>', 'lowest TLS version accepted: VersionTLS12 or VersionTLS13 (the kube-apiserver\'s names)')
        .env('DAEMONGUARD_TLS_MIN_VERSION')
        .default(DEFAULT_TLS_PROFILE.minVersion, 'VersionTLS12')
        .argParser(tlsFlag(parseTlsMinVersion)),
    )
    .addOption(
      new Option(
        '--tls-cipher-suites <names>',
        `TLS 1.2 cipher suites, comma-separated, by the kube-apiserver's names; allowed (and the default): ${TLS12_SUITE_NAMES.join(', ')}. ` +
          'TLS 1.3 suites are always enabled; a list of TLS 1.3 names alone goes with --tls-min-version VersionTLS13',
      )
        .env('DAEMONGUARD_TLS_CIPHER_SUITES')
        .argParser(tlsFlag(parseTlsCipherSuites)),
    )
    .addOption(
      new Option('--policies <path>', 'policy file or folder; repeat or separate with commas (default: the built-in library)')
        .env('DAEMONGUARD_POLICIES')
        .argParser(collectPaths),
    )
    .addOption(
      new Option('--namespaces <file>', 'Namespace objects (kubectl get namespaces -o yaml) for namespaceSelector and namespaceObject; watched')
        .env('DAEMONGUARD_NAMESPACES')
        .conflicts('namespacesFromCluster'),
    )
    .addOption(
      new Option('--namespaces-from-cluster', 'list and watch Namespace objects in the cluster (service account in a pod, else KUBECONFIG); needs get/list/watch on namespaces')
        .env('DAEMONGUARD_NAMESPACES_FROM_CLUSTER'),
    )
    .addOption(
      new Option('--nodes-from-cluster', 'list and watch Node objects in the cluster, for policies that read `coverage` (null without); needs get/list/watch on nodes')
        .env('DAEMONGUARD_NODES_FROM_CLUSTER'),
    )
    .addOption(
      new Option(
        '--native-params-from-cluster',
        "read native policies' params (objects of their spec.paramKind) from the cluster, listed and watched; needs list/watch on that resource (deploy/components/native-params)",
      ).env('DAEMONGUARD_NATIVE_PARAMS_FROM_CLUSTER'),
    )
    .addOption(
      new Option(
        '--policies-from-cluster',
        'also enforce the DaemonSetPolicy objects in the cluster (CRD in deploy/); without --policies, only those. One replica at a time writes their status (leader Lease)',
      ).env('DAEMONGUARD_POLICIES_FROM_CLUSTER'),
    )
    .addOption(
      new Option('--leader-election-namespace <namespace>', 'namespace of the leader Lease (with --policies-from-cluster or --audit-interval)')
        .env('POD_NAMESPACE')
        .default('daemonguard-system'),
    )
    .addOption(
      new Option('--leader-election-identity <name>', 'this replica\'s name in the leader Lease (with --policies-from-cluster or --audit-interval)')
        .env('POD_NAME')
        .default(os.hostname(), 'the host name'),
    )
    .addOption(
      new Option('--lease-duration <duration>', 'how long a leader that stopped renewing blocks the others (with --policies-from-cluster or --audit-interval)')
        .env('DAEMONGUARD_LEASE_DURATION')
        .default(15_000, '15s')
        .argParser(parseLeaseDuration),
    )
    .addOption(
      new Option('--engine <engine>', 'how CEL runs: compiled to JavaScript, or on the interpreter it is tested against (for debugging)')
        .choices(['compiled', 'interpreted'])
        .default('compiled'),
    )
    .addOption(
      new Option(
        '--http-layer <layer>',
        'who reads the reviews: `own` answers POST /validate and /mutate with a Content-Length body itself and leaves every other request to node\'s HTTP server; `node` leaves all of them to node (about a third more CPU per small review, measured by npm run bench)',
      )
        .env('DAEMONGUARD_HTTP_LAYER')
        .choices(HTTP_LAYERS)
        .default('own'),
    )
    .addOption(
      new Option('--eval-deadline <duration>', 'time the policies get per review; keep it well under the webhook timeoutSeconds')
        .env('DAEMONGUARD_EVAL_DEADLINE')
        .default(DEFAULT_EVAL_DEADLINE_MS, formatDuration(DEFAULT_EVAL_DEADLINE_MS))
        .argParser(parseDurationFlag),
    )
    .addOption(
      new Option('--shutdown-grace <duration>', `on SIGTERM, how long reviews in flight may take before connections are cut; the whole shutdown takes at most this plus ${formatDuration(SHUTDOWN_MARGIN_MS)}`)
        .env('DAEMONGUARD_SHUTDOWN_GRACE')
        .default(DEFAULT_SHUTDOWN_GRACE_MS, formatDuration(DEFAULT_SHUTDOWN_GRACE_MS))
        .argParser(parseDurationFlag),
    )
    .addOption(
      new Option(
        '--warm-up-budget <duration>',
        'before the server is ready, and before a reloaded or rebuilt policy set (files or --policies-from-cluster) replaces the serving one, the set answers sample DaemonSet reviews ' +
          '(no decision logged or counted) so that V8 compiles it then rather than during the first real review; at most this long; 0 = no warm-up',
      )
        .env('DAEMONGUARD_WARM_UP_BUDGET')
        .default(DEFAULT_WARM_UP_BUDGET_MS, formatDuration(DEFAULT_WARM_UP_BUDGET_MS))
        .argParser(parseDurationFlag),
    )
    .addOption(
      new Option('--watch-interval <duration>', 'how often policy and TLS files are re-read in case a file event was missed; 0 = never')
        .env('DAEMONGUARD_WATCH_INTERVAL')
        .default(10_000, '10s')
        .argParser(parseDurationFlag),
    )
    .addOption(
      new Option('--audit-interval <duration>', 'audit every DaemonSet in the cluster this often (and soon after a policy, an exception, or a DaemonSet\'s or Namespace\'s spec, labels or annotations change) and keep one OpenReports Report per namespace, on the replica holding the leader Lease; judged on a worker thread of lower priority; 0 = off. Needs list and watch on daemonsets and namespaces, list/create/update/delete on reports.openreports.io, and the leader Lease')
        .env('DAEMONGUARD_AUDIT_INTERVAL')
        .default(0, '0 (off)')
        .argParser(parseDurationFlag),
    )
    .addOption(
      new Option('--audit-niceness <n>', 'niceness added to the audit worker thread (0 to 19, Linux), so that on a busy CPU the webhook goes first; at 19 the worker also asks for the SCHED_IDLE policy (with chrt, where installed)')
        .env('DAEMONGUARD_AUDIT_NICENESS')
        .default(19)
        .argParser(parseNiceness),
    )
    .addOption(
      new Option('--audit-duty-cycle <fraction>', 'share of the time the audit worker may compute while an audit runs (0.05 to 1); below 1 it pauses after each batch of 50 DaemonSets in proportion to the batch')
        .env('DAEMONGUARD_AUDIT_DUTY_CYCLE')
        .default(0.5)
        .argParser(parseDutyCycle),
    )
    .addOption(new Option('--log-level <level>', 'log level').env('DAEMONGUARD_LOG_LEVEL').choices(LOG_LEVELS).default('info'))
    .addOption(
      new Option('--log-request-bodies', 'log every AdmissionReview body at debug level (bodies hold whole objects: keep off in production)').env(
        'DAEMONGUARD_LOG_REQUEST_BODIES',
      ),
    )
    .addOption(
      new Option(
        '--gc-duration-metric',
        'also export nodejs_gc_duration_seconds on /metrics; it observes every garbage collection, which under load costs 3-5 % more CPU per review and a longer p99 (off: the other process_* and nodejs_* metrics are exported)',
      ).env('DAEMONGUARD_GC_DURATION_METRIC'),
    )
    .addOption(
      new Option('--max-body-bytes <size>', 'largest AdmissionReview body accepted; larger ones get 413')
        .env('DAEMONGUARD_MAX_BODY_BYTES')
        .default(DEFAULT_MAX_BODY_BYTES, formatByteSize(DEFAULT_MAX_BODY_BYTES))
        .argParser(parseByteSize),
    )
    .addOption(
      new Option('--max-json-depth <n>', 'deepest nesting of objects and lists in a review; deeper gets 400')
        .env('DAEMONGUARD_MAX_JSON_DEPTH')
        .default(DEFAULT_JSON_LIMITS.maxDepth)
        .argParser(parsePositiveCount),
    )
    .addOption(
      new Option('--max-json-elements <n>', 'most elements in one list (or members in one object) of a review; more gets 400')
        .env('DAEMONGUARD_MAX_JSON_ELEMENTS')
        .default(DEFAULT_JSON_LIMITS.maxElements)
        .argParser(parsePositiveCount),
    )
    .addOption(
      new Option('--max-json-nodes <n>', 'most JSON values in a whole review (object and oldObject together); more gets 400')
        .env('DAEMONGUARD_MAX_JSON_NODES')
        .default(DEFAULT_JSON_LIMITS.maxNodes)
        .argParser(parsePositiveCount),
    )
    .addOption(
      new Option('--max-json-string-bytes <size>', 'longest string in a review, in bytes; longer gets 400')
        .env('DAEMONGUARD_MAX_JSON_STRING_BYTES')
        .default(DEFAULT_JSON_LIMITS.maxStringBytes, formatByteSize(DEFAULT_JSON_LIMITS.maxStringBytes))
        .argParser(parseByteSize),
    )
    .addOption(
      new Option('--max-inflight-bytes <size>', 'request body bytes held at once across reviews; past it reviews wait up to 1s, then get 429')
        .env('DAEMONGUARD_MAX_INFLIGHT_BYTES')
        .default(DEFAULT_MAX_INFLIGHT_BYTES, formatByteSize(DEFAULT_MAX_INFLIGHT_BYTES))
        .argParser(parseByteSize),
    )
    .addOption(
      new Option('--certs-dir <dir>', 'where development certificates are kept when --tls-cert/--tls-key are not given')
        .env('DAEMONGUARD_CERTS_DIR')
        .default('certs'),
    )
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  $ daemonguard serve --address 127.0.0.1                       # dev certificates in ./certs; probes on 127.0.0.1:8081\n' +
        '  $ daemonguard serve --tls-cert /tls/tls.crt --tls-key /tls/tls.key --policies /etc/daemonguard/policies\n' +
        '  $ DAEMONGUARD_PORT=9443 DAEMONGUARD_EVAL_DEADLINE=1s daemonguard serve\n',
    )
    .action(async (options: ServeOptions, command: Command) => {
      setCelEngine(options.engine);
      if ((options.tlsCert === undefined) !== (options.tlsKey === undefined)) {
        command.error('error: --tls-cert and --tls-key go together: give both, or neither for development certificates', { exitCode: 2 });
      }
      try {
        tlsProfileFrom(options.tlsMinVersion, options.tlsCipherSuites);
      } catch (error) {
        if (!(error instanceof TlsSettingError)) throw error;
        command.error(`error: ${error.message}`, { exitCode: 2 });
      }
      let running: RunningServe;
      try {
        running = await startServe(options);
      } catch (error) {
        // A signal during start-up: a stop like any other (exit 0), once what start-up acquired is released.
        if (error instanceof StartupInterrupted) return error.stopped;
        // Nothing was served: say why in one message (a broken policy lists file:line:col) and exit 2.
        process.stderr.write(`error: ${(error as Error).message}\n`);
        process.exitCode = 2;
        return;
      }
      await running.stopped;
    });
}

export interface RunningServe {
  server: AdmissionServer;
  logger: Logger;
  /** Resolves once a SIGTERM/SIGINT shutdown has completed. */
  stopped: Promise<void>;
}

/**
 * Starts the server as the flags describe. SIGTERM and SIGINT are handled from the first line on
 * (src/cli/serve-lifecycle.ts): during start-up they stop it, release what it acquired, and make this
 * reject with StartupInterrupted; any other failure releases the same and rejects with the error.
 */
export async function startServe(options: ServeOptions): Promise<RunningServe> {
  const destination = new BatchedLogDestination();
  const logger = pino({ level: options.logLevel, timestamp: isoTimeOncePerMillisecond }, destination);
  const lifecycle = new ServeLifecycle({ logger, graceMs: options.shutdownGrace, flushLogs: () => destination.flushSync(), flushLogsInOrder: () => destination.flushInOrder() });
  try {
    return await startWithin(lifecycle, options, logger);
  } catch (error) {
    if (!(error instanceof StartupInterrupted)) await lifecycle.abandon();
    throw error;
  }
}

/** startServe's steps: every await is a lifecycle stage, and everything that must be closed again is registered as acquired. */
async function startWithin(lifecycle: ServeLifecycle, options: ServeOptions, logger: Logger): Promise<RunningServe> {
  const metrics = createServerMetrics({ gcDurations: options.gcDurationMetric === true });

  let tls: TlsFiles;
  if (options.tlsCert !== undefined && options.tlsKey !== undefined) {
    tls = { certFile: options.tlsCert, keyFile: options.tlsKey };
  } else {
    const dev = await lifecycle.stage('development certificates', async () => {
      // Loaded only here: the certificate library (@peculiar/x509 and its ASN.1 stack) is a few MB of
      // resident memory that a server given its certificate never needs.
      const { ensureDevCertificates } = await import('../certs/dev-certificates.js');
      return ensureDevCertificates(options.certsDir);
    });
    tls = { certFile: dev.certFile, keyFile: dev.keyFile };
    logger.info(
      { generated: dev.generated, caCertificate: dev.caCertFile, certificate: dev.certFile, key: dev.keyFile },
      dev.generated === 'none'
        ? `using development certificates from ${options.certsDir}; trust ${dev.caCertFile} (curl --cacert ${dev.caCertFile})`
        : `generated development certificates in ${options.certsDir}; trust ${dev.caCertFile} (curl --cacert ${dev.caCertFile})`,
    );
  }
  if (options.clientCa !== undefined) tls.clientCaFile = options.clientCa;

  // From the cluster, files are read only when named: the built-in library is installed as objects there.
  const fromCluster = options.policiesFromCluster === true;
  const paths = (options.policies ?? (fromCluster ? [] : [...DEFAULT_POLICY_PATHS])).map((entry) => path.resolve(entry));
  const namespaceSource = options.namespaces !== undefined || options.namespacesFromCluster === true;
  // Native policies' params from the cluster: the objects seen so far go into every load, and a
  // change to them reloads the set (which keeps serving the last good one if that fails).
  let nativeParams: import('../kube/native-params-watch.js').NativeParamsWatch | undefined;
  if (options.nativeParamsFromCluster === true) {
    const [{ NativeParamsWatch }, { defaultKubeConfig }] = await lifecycle.stage('native params', () =>
      Promise.all([import('../kube/native-params-watch.js'), import('../kube/cluster-catalog.js')]),
    );
    const watch = new NativeParamsWatch({ kubeConfig: defaultKubeConfig(), logger, onChange: () => void files?.reload('native params change') });
    lifecycle.acquired('native params watches', () => watch.close());
    nativeParams = watch;
  }
  const loadWithParams = async (policyPaths: string[]): Promise<PolicySet> => {
    const set = await loadPolicySet(policyPaths, { params: nativeParams?.documents() });
    nativeParams?.watch(set.paramKinds ?? []);
    return set;
  };
  const load = namespaceSource ? loadWithParams : withoutNamespaceSource(loadWithParams);
  const jsonLimits = {
    maxDepth: options.maxJsonDepth,
    maxElements: options.maxJsonElements,
    maxNodes: options.maxJsonNodes,
    maxStringBytes: options.maxJsonStringBytes,
  };
  const warmUp = async (next: PolicySet, trigger: string): Promise<void> => {
    const report = await warmUpPolicySet(next, { review, budgetMs: options.warmUpBudget, evalDeadlineMs: options.evalDeadline, jsonLimits });
    metrics.policyWarmUps.labels(report.complete ? 'complete' : 'budget').inc();
    logger.info(
      { trigger, policies: next.policies.length, reviews: report.reviews, withErrors: report.withErrors, durationMs: Math.round(report.durationMs), complete: report.complete },
      report.complete ? 'policy set warmed up' : `policy set warm-up stopped at --warm-up-budget (${formatDuration(options.warmUpBudget)})`,
    );
  };
  const warmUpOption = options.warmUpBudget > 0 ? { prepare: warmUp } : {};
  const files =
    paths.length === 0
      ? undefined
      : new WatchedPolicyStore<PolicySet>({ paths, load, logger, metrics, pollIntervalMs: options.watchInterval, ...warmUpOption });
  if (files !== undefined) {
    lifecycle.acquired('policy file watches', () => files.close());
    try {
      await lifecycle.stage('policies', () => files.start());
    } catch (error) {
      if (error instanceof StartupInterrupted) throw error;
      const outcome = error instanceof NamespaceSourceMissingError ? 'the server was not started' : 'the policies did not load, so the server was not started';
      throw new Error(`${outcome}:\n${(error as Error).message}`, { cause: error });
    }
  }
  let cluster: ClusterPolicies | undefined;
  if (fromCluster) {
    // Loaded only here, like the namespace informer: what a server from files never runs.
    const { startClusterPolicies } = await lifecycle.stage('cluster policies', () => import('./cluster-policies.js'));
    const started = startClusterPolicies({
      ...(files === undefined ? {} : { files }),
      namespaceSource,
      leaseNamespace: options.leaderElectionNamespace,
      identity: options.leaderElectionIdentity,
      leaseDurationMs: options.leaseDuration,
      logger,
      metrics,
      ...warmUpOption,
    });
    lifecycle.acquired('cluster policy watches and the leader Lease', () => started.close());
    cluster = started;
  }
  const policies: PolicyStore<PolicySet> = cluster?.store ?? (files as WatchedPolicyStore<PolicySet>);

  let namespaces: NamespaceSource | undefined;
  // Kept apart from `namespaces` so that SIGHUP can reload the file (the cluster informer has nothing to re-read).
  let namespacesFile: FileNamespaceCatalog | undefined;
  // The cluster informer, when it is the source: the background audit reads (and follows) it too.
  let clusterNamespaces: ClusterNamespaceCatalog | undefined;
  if (options.namespaces !== undefined) {
    namespacesFile = new FileNamespaceCatalog({ file: options.namespaces, logger, pollIntervalMs: options.watchInterval });
    namespaces = namespacesFile;
  } else if (options.namespacesFromCluster === true) {
    // Loaded only here: a server reading its namespaces from a file never runs it.
    const { ClusterNamespaceCatalog } = await lifecycle.stage('namespaces', () => import('../kube/namespace-informer.js'));
    namespaces = clusterNamespaces = new ClusterNamespaceCatalog({ logger });
  }
  if (namespaces !== undefined) {
    const catalog = namespaces;
    lifecycle.acquired('namespace watch', () => catalog.close());
    try {
      await lifecycle.stage('namespaces', () => catalog.start());
    } catch (error) {
      if (error instanceof StartupInterrupted) throw error;
      const source = options.namespaces === undefined ? 'from the cluster' : `in ${options.namespaces}`;
      throw new Error(`the namespaces ${source} did not load: ${(error as Error).message}`, { cause: error });
    }
  }

  let nodes: NodeSource | undefined;
  if (options.nodesFromCluster === true) {
    const catalog = await lifecycle.stage('nodes', async () => {
      const { ClusterNodeCatalog } = await import('../kube/node-informer.js');
      return new ClusterNodeCatalog({ logger });
    });
    lifecycle.acquired('node watch', () => catalog.close());
    try {
      await lifecycle.stage('nodes', () => catalog.start());
    } catch (error) {
      if (error instanceof StartupInterrupted) throw error;
      throw new Error(`the nodes from the cluster did not load: ${(error as Error).message}`, { cause: error });
    }
    nodes = catalog;
  }

  // Prepared before the server starts (its module loads and its kubeconfig is read here), and started
  // once start-up is over: see below.
  let audit: ServeAudit | undefined;
  if (options.auditInterval > 0) {
    try {
      audit = await lifecycle.stage('background audit', async () => {
        const { prepareServeAudit } = await import('./serve-audit.js');
        return prepareServeAudit({
          logger,
          metrics,
          policies,
          intervalMs: options.auditInterval,
          niceness: options.auditNiceness,
          dutyCycle: options.auditDutyCycle,
          leaseNamespace: options.leaderElectionNamespace,
          identity: options.leaderElectionIdentity,
          leaseDurationMs: options.leaseDuration,
          ...(cluster === undefined ? {} : { cluster }),
          ...(clusterNamespaces === undefined ? {} : { clusterNamespaces }),
        });
      });
    } catch (error) {
      if (error instanceof StartupInterrupted) throw error;
      throw new Error(`the background audit (--audit-interval) could not start: ${(error as Error).message}`, { cause: error });
    }
    // Registered after the cluster policies, so released before them: a Report write in progress ends
    // before the Lease it follows is released.
    const prepared = audit;
    lifecycle.acquired('background audit', () => prepared.close());
  }

  const server = await lifecycle.stage('listen', () =>
    startAdmissionServer<PolicySet>({
      address: options.address,
      port: options.port,
      probe: { address: options.probeAddress.host ?? options.address, port: options.probeAddress.port },
      tls,
      tlsProfile: tlsProfileFrom(options.tlsMinVersion, options.tlsCipherSuites),
      policies,
      review,
      logger,
      metrics,
      evalDeadlineMs: options.evalDeadline,
      httpLayer: options.httpLayer,
      logRequestBodies: options.logRequestBodies === true,
      maxBodyBytes: options.maxBodyBytes,
      jsonLimits,
      maxInFlightBytes: options.maxInflightBytes,
      tlsPollIntervalMs: options.watchInterval,
      ...(namespaces === undefined ? {} : { namespaceObject: (name: string) => namespaces.get(name) }),
      ...(nodes === undefined ? {} : { nodes: () => nodes.nodes() }),
    }),
    // A signal while the listener came up: it is closed at once, reviews are not taken for the second before the exit.
    (late) => late.close(0),
  );
  // Released first on a stop: no new connections, reviews in flight finish (cut at the grace period).
  lifecycle.acquired('admission server (reviews in flight)', (signal) => {
    // Close first, then log: whoever reads the log line can rely on the listener being gone.
    const closing = server.close(options.shutdownGrace);
    logger.info({ signal, graceMs: options.shutdownGrace }, 'shutting down: no new connections, finishing reviews in flight');
    return closing;
  });

  // /readyz may answer 200 from here on (once the policies are in), and a kubelet or a test that sees it
  // may send SIGTERM at once: nothing is awaited from here to the end of this function, so such a signal
  // finds the server running. What starts after the server (the background audit) was prepared before
  // it and starts synchronously.

  // SIGHUP, which would end the process by default, asks for a reload: what a change to the files
  // would do, now (say, after editing a file on a mount where file events get lost). Never a stop.
  // One reload after another: each reads the files as they are after its signal.
  let reloads = Promise.resolve();
  lifecycle.running(() => {
    logger.info({ signal: 'SIGHUP' }, 'reload requested: reading the policies, the TLS files and the namespaces file again');
    reloads = reloads.then(async () => {
      const [refusal, certificate, namespaceFile] = await Promise.all([files?.reload('SIGHUP'), server.tls.reload('SIGHUP'), namespacesFile?.reload('SIGHUP')]);
      logger.info(
        { signal: 'SIGHUP', policies: refusal === undefined ? 'reloaded' : 'refused', tls: certificate, ...(namespaceFile === undefined ? {} : { namespaces: namespaceFile }) },
        'reload on SIGHUP done',
      );
    });
  });

  audit?.start();
  return { server, logger, stopped: lifecycle.stopped };
}
