// `daemonguard serve`: the admission webhook server. Flags have DAEMONGUARD_* environment equivalents,
// so the same image runs from a Deployment's env or args. Wiring only: the server lives in src/server.

import path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { pino, type Logger } from 'pino';
import { setCelEngine, type CelEngine } from '../cel/program.js';
import { packageFile } from '../common/package-root.js';
import { review } from '../engine/review.js';
import { loadPolicySet } from '../policy/load-policies.js';
import type { PolicySet } from '../policy/types.js';
import { DEFAULT_EVAL_DEADLINE_MS, DEFAULT_SHUTDOWN_GRACE_MS, startAdmissionServer, type AdmissionServer } from '../server/admission-server.js';
import { formatDuration, parseDuration } from '../server/duration.js';
import { createServerMetrics } from '../server/metrics.js';
import { FileNamespaceCatalog, type NamespaceSource } from '../server/namespace-catalog.js';
import { NamespaceSourceMissingError, withoutNamespaceSource } from '../server/namespace-requirement.js';
import { WatchedPolicyStore } from '../server/policy-store.js';
import type { TlsFiles } from '../server/tls-material.js';

/** Without --policies: the built-in library shipped in the package, wherever the server runs from. */
export const DEFAULT_POLICY_PATHS: readonly string[] = [packageFile('policies')];
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export interface ServeOptions {
  address: string;
  engine: CelEngine;
  port: number;
  tlsCert?: string;
  tlsKey?: string;
  clientCa?: string;
  policies?: string[];
  namespaces?: string;
  namespacesFromCluster?: boolean;
  evalDeadline: number;
  shutdownGrace: number;
  watchInterval: number;
  logLevel: (typeof LOG_LEVELS)[number];
  logRequestBodies?: boolean;
  certsDir: string;
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidArgumentError('expected a port number between 0 and 65535.');
  }
  return port;
}

function parseDurationFlag(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined || ms < 0) throw new InvalidArgumentError('expected a duration such as 500ms, 2s or 1m.');
  return ms;
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
    .summary('run the admission webhook server (HTTPS: /validate, /mutate, /healthz, /readyz, /metrics)')
    .description(
      'Run the admission webhook. POST /validate and /mutate answer AdmissionReview admission.k8s.io/v1 and v1beta1; ' +
        'GET /healthz, /readyz and /metrics serve probes and Prometheus metrics.\n\n' +
        'Policies and TLS files are watched and reloaded without a restart; a broken policy change is refused and the ' +
        'last good set keeps serving. Without --tls-cert/--tls-key, a development CA and a certificate for localhost, ' +
        '127.0.0.1 and ::1 are generated into --certs-dir.\n\n' +
        'SIGTERM stops accepting connections, lets reviews in flight finish, and exits within --shutdown-grace.',
    )
    .addOption(new Option('--address <host>', 'address to listen on').env('DAEMONGUARD_ADDRESS').default('0.0.0.0'))
    .addOption(new Option('--port <port>', 'HTTPS port').env('DAEMONGUARD_PORT').default(8443).argParser(parsePort))
    .addOption(new Option('--tls-cert <file>', 'serving certificate, PEM (reloaded when the file changes)').env('DAEMONGUARD_TLS_CERT'))
    .addOption(new Option('--tls-key <file>', 'private key of the serving certificate, PEM').env('DAEMONGUARD_TLS_KEY'))
    .addOption(new Option('--client-ca <file>', 'require client certificates signed by this CA, PEM').env('DAEMONGUARD_CLIENT_CA'))
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
      new Option('--engine <engine>', 'how CEL runs: compiled to JavaScript, or on the interpreter it is tested against (for debugging)')
        .choices(['compiled', 'interpreted'])
        .default('compiled'),
    )
    .addOption(
      new Option('--eval-deadline <duration>', 'time the policies get per review; keep it well under the webhook timeoutSeconds')
        .env('DAEMONGUARD_EVAL_DEADLINE')
        .default(DEFAULT_EVAL_DEADLINE_MS, formatDuration(DEFAULT_EVAL_DEADLINE_MS))
        .argParser(parseDurationFlag),
    )
    .addOption(
      new Option('--shutdown-grace <duration>', 'on SIGTERM, how long reviews in flight may take before connections are cut')
        .env('DAEMONGUARD_SHUTDOWN_GRACE')
        .default(DEFAULT_SHUTDOWN_GRACE_MS, formatDuration(DEFAULT_SHUTDOWN_GRACE_MS))
        .argParser(parseDurationFlag),
    )
    .addOption(
      new Option('--watch-interval <duration>', 'how often policy and TLS files are re-read in case a file event was missed; 0 = never')
        .env('DAEMONGUARD_WATCH_INTERVAL')
        .default(10_000, '10s')
        .argParser(parseDurationFlag),
    )
    .addOption(new Option('--log-level <level>', 'log level').env('DAEMONGUARD_LOG_LEVEL').choices(LOG_LEVELS).default('info'))
    .addOption(
      new Option('--log-request-bodies', 'log every AdmissionReview body at debug level (bodies hold whole objects: keep off in production)').env(
        'DAEMONGUARD_LOG_REQUEST_BODIES',
      ),
    )
    .addOption(
      new Option('--certs-dir <dir>', 'where development certificates are kept when --tls-cert/--tls-key are not given')
        .env('DAEMONGUARD_CERTS_DIR')
        .default('certs'),
    )
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  $ daemonguard serve --address 127.0.0.1                       # dev certificates in ./certs\n' +
        '  $ daemonguard serve --tls-cert /tls/tls.crt --tls-key /tls/tls.key --policies /etc/daemonguard/policies\n' +
        '  $ DAEMONGUARD_PORT=9443 DAEMONGUARD_EVAL_DEADLINE=1s daemonguard serve\n',
    )
    .action(async (options: ServeOptions, command: Command) => {
      setCelEngine(options.engine);
      if ((options.tlsCert === undefined) !== (options.tlsKey === undefined)) {
        command.error('error: --tls-cert and --tls-key go together: give both, or neither for development certificates', { exitCode: 2 });
      }
      let running: RunningServe;
      try {
        running = await startServe(options);
      } catch (error) {
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

/** Starts the server as the flags describe and installs the signal handlers. */
export async function startServe(options: ServeOptions): Promise<RunningServe> {
  const destination = pino.destination({ dest: 1, sync: false });
  const logger = pino({ level: options.logLevel, timestamp: pino.stdTimeFunctions.isoTime }, destination);
  const metrics = createServerMetrics();

  let tls: TlsFiles;
  if (options.tlsCert !== undefined && options.tlsKey !== undefined) {
    tls = { certFile: options.tlsCert, keyFile: options.tlsKey };
  } else {
    // Loaded only here: the certificate library (@peculiar/x509 and its ASN.1 stack) is a few MB of
    // resident memory that a server given its certificate never needs.
    const { ensureDevCertificates } = await import('../certs/dev-certificates.js');
    const dev = await ensureDevCertificates(options.certsDir);
    tls = { certFile: dev.certFile, keyFile: dev.keyFile };
    logger.info(
      { generated: dev.generated, caCertificate: dev.caCertFile, certificate: dev.certFile, key: dev.keyFile },
      dev.generated === 'none'
        ? `using development certificates from ${options.certsDir}; trust ${dev.caCertFile} (curl --cacert ${dev.caCertFile})`
        : `generated development certificates in ${options.certsDir}; trust ${dev.caCertFile} (curl --cacert ${dev.caCertFile})`,
    );
  }
  if (options.clientCa !== undefined) tls.clientCaFile = options.clientCa;

  const paths = (options.policies ?? [...DEFAULT_POLICY_PATHS]).map((entry) => path.resolve(entry));
  const namespaceSource = options.namespaces !== undefined || options.namespacesFromCluster === true;
  const load = namespaceSource ? loadPolicySet : withoutNamespaceSource(loadPolicySet);
  const policies = new WatchedPolicyStore<PolicySet>({ paths, load, logger, metrics, pollIntervalMs: options.watchInterval });
  try {
    await policies.start();
  } catch (error) {
    destination.flushSync();
    const outcome = error instanceof NamespaceSourceMissingError ? 'the server was not started' : 'the policies did not load, so the server was not started';
    throw new Error(`${outcome}:\n${(error as Error).message}`, { cause: error });
  }

  let namespaces: NamespaceSource | undefined;
  if (options.namespaces !== undefined) {
    namespaces = new FileNamespaceCatalog({ file: options.namespaces, logger, pollIntervalMs: options.watchInterval });
  } else if (options.namespacesFromCluster === true) {
    // Loaded only here: @kubernetes/client-node keeps about 20 MB of module source and code resident.
    const { ClusterNamespaceCatalog } = await import('../kube/namespace-informer.js');
    namespaces = new ClusterNamespaceCatalog({ logger });
  }
  if (namespaces !== undefined) {
    try {
      await namespaces.start();
    } catch (error) {
      policies.close();
      destination.flushSync();
      const source = options.namespaces === undefined ? 'from the cluster' : `in ${options.namespaces}`;
      throw new Error(`the namespaces ${source} did not load: ${(error as Error).message}`, { cause: error });
    }
  }

  let server: AdmissionServer;
  try {
    server = await startAdmissionServer<PolicySet>({
      address: options.address,
      port: options.port,
      tls,
      policies,
      review,
      logger,
      metrics,
      evalDeadlineMs: options.evalDeadline,
      logRequestBodies: options.logRequestBodies === true,
      tlsPollIntervalMs: options.watchInterval,
      ...(namespaces === undefined ? {} : { namespaceObject: (name: string) => namespaces.get(name) }),
    });
  } catch (error) {
    policies.close();
    namespaces?.close();
    destination.flushSync();
    throw error;
  }

  const stopped = new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      // Close first, then log: whoever reads the log line can rely on the listener being gone.
      const closing = server.close(options.shutdownGrace);
      logger.info({ signal, graceMs: options.shutdownGrace }, 'shutting down: no new connections, finishing reviews in flight');
      void closing.then(() => {
        policies.close();
        namespaces?.close();
        process.off('SIGTERM', stop);
        process.off('SIGINT', stop);
        logger.info('shut down');
        destination.flushSync();
        // Should anything still hold the event loop open, do not outlive the grace period by much.
        setTimeout(() => process.exit(process.exitCode ?? 0), 1_000).unref();
        resolve();
      });
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  return { server, logger, stopped };
}
