// Prometheus metrics for the admission server, on a Registry of their own (never the global one, so that
// several servers in one process — tests, benchmarks — do not share counters).

import { PerformanceObserver, constants as performanceConstants, type PerformanceEntry } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ReviewTurnTotals } from './review-turn.js';
import type { PolicyResult } from '../engine/types.js';
import { leanTallies } from '../engine/lean-pass.js';

/** The decision label of `daemonguard_admission_requests_total`. */
export type RequestDecision = 'allowed' | 'patched' | 'denied' | 'error' | 'invalid';

/**
 * The reason label of `daemonguard_admission_refusals_total`: why a request got no review (each is also
 * counted as decision="invalid" in the requests counter).
 */
export type RefusalReason =
  | 'content-type'
  | 'body-too-large'
  | 'body-incomplete'
  | 'body-empty'
  | 'json-depth'
  | 'json-elements'
  | 'json-nodes'
  | 'json-string-bytes'
  | 'json-syntax'
  | 'not-a-review'
  | 'not-ready'
  | 'busy';

/** What the connections gauge reads when scraped: the admission port's open connections, and those of them the own HTTP layer serves. */
export interface ConnectionsSource {
  connections(): Promise<{ readonly total: number; readonly own: number }>;
}

/** What the in-flight gauges read when scraped. */
export interface InFlightSource {
  readonly reservedBytes: number;
  readonly waiting: number;
  readonly capacityBytes: number;
}

export interface ServerMetrics {
  readonly registry: Registry;
  readonly requests: Counter<'endpoint' | 'decision'>;
  readonly requestDuration: Histogram<'endpoint'>;
  readonly policyEvaluations: Counter<'policy' | 'result'>;
  readonly evaluationErrors: Counter<'policy'>;
  readonly exceptionsApplied: Counter<'exception' | 'policy'>;
  readonly exceptionsExpired: Counter<'exception' | 'policy'>;
  readonly policiesLoaded: Gauge;
  readonly policyReloads: Counter;
  readonly policyReloadFailures: Counter;
  /** Policy sets warmed up before they served (serve's warm-up.ts), by how the warm-up ended. */
  readonly policyWarmUps: Counter<'outcome'>;
  readonly tlsCertificateExpiry: Gauge;
  readonly tlsReloads: Counter;
  readonly tlsReloadFailures: Counter;
  /** 1 while this replica holds the leader Lease (serve --policies-from-cluster or --audit-interval), else 0. */
  readonly leader: Gauge;
  readonly statusWrites: Counter<'result'>;
  readonly refusals: Counter<'endpoint' | 'reason'>;
  readonly malformedTimeouts: Counter<'endpoint'>;
  /** Connections the admission port's own HTTP layer gave to node's HTTP server, by why (review-connections.ts). */
  readonly httpHandovers: Counter<'reason'>;
  /** The gauges of request bytes in flight read this budget from now on. */
  trackInFlight(source: InFlightSource): void;
  /** The connections gauge reads the admission port's connections from now on (admission-server.ts). */
  trackConnections(source: ConnectionsSource): void;
  /** The review-turn counters read these totals from now on (review-turn.ts). */
  trackReviewTurns(source: ReviewTurnTotals): void;
  /** Counts one policy outcome (as a plain number: handed to prom-client when it collects). */
  recordPolicyOutcome(policy: string, result: PolicyResult): void;
  /** Counts one use of an exception (`namespace/name`) for a policy: applied, or matched after it expired. */
  recordException(state: 'applied' | 'expired', exception: string, policy: string): void;
  /** Counts one finished admission request and its latency. */
  recordRequest(endpoint: string, decision: RequestDecision, seconds: number): void;
}

export interface ServerMetricsOptions {
  /** Also export the process_* and nodejs_* metrics prom-client provides (default true). */
  defaultMetrics?: boolean;
  /**
   * With the default metrics, also nodejs_gc_duration_seconds (default false): it is measured by
   * observing every garbage collection, which costs the webhook under load (see collectDefaults).
   */
  gcDurations?: boolean;
}

/** The histogram of garbage-collection pauses (prom-client's default metrics name it so). */
export const GC_DURATION_METRIC = 'nodejs_gc_duration_seconds';

/** The `kind` label of GC_DURATION_METRIC by node's GC kind constant. */
const GC_KINDS = new Map<number, string>([
  [performanceConstants.NODE_PERFORMANCE_GC_MAJOR, 'major'],
  [performanceConstants.NODE_PERFORMANCE_GC_MINOR, 'minor'],
  [performanceConstants.NODE_PERFORMANCE_GC_INCREMENTAL, 'incremental'],
  [performanceConstants.NODE_PERFORMANCE_GC_WEAKCB, 'weakcb'],
]);

/**
 * GC_DURATION_METRIC, every collection counted. prom-client's own observer records the first entry
 * of each batch node delivers, and node delivers the collections of one event-loop turn together (a
 * turn of many reviews under load often holds several): it counted 1 of the 164 collections made
 * in one turn (docs/performance.md, The webhook against the floor). Same name, labels and buckets as prom-client's,
 * so dashboards built on it keep working.
 */
function observeGarbageCollections(registry: Registry): void {
  const histogram = new Histogram({
    name: GC_DURATION_METRIC,
    help: 'Garbage collection pauses in seconds, by kind (major, minor, incremental or weakcb).',
    labelNames: ['kind'] as const,
    buckets: [0.001, 0.01, 0.1, 1, 2, 5],
    registers: [registry],
  });
  const byKind = new Map<string, Histogram.Internal<'kind'>>();
  const record = (entry: PerformanceEntry): void => {
    const kind = GC_KINDS.get((entry as { detail?: { kind?: number } }).detail?.kind ?? -1) ?? 'unknown';
    let child = byKind.get(kind);
    if (child === undefined) byKind.set(kind, (child = histogram.labels({ kind })));
    child.observe(entry.duration / 1000);
  };
  new PerformanceObserver((list) => list.getEntries().forEach(record)).observe({ entryTypes: ['gc'] });
}

/** What PerformanceObserver#observe is given: `{ entryTypes: [...] }` or `{ type }`. */
type ObserveOptions = Parameters<PerformanceObserver['observe']>[0];

function observesGarbageCollection(options: ObserveOptions | undefined): boolean {
  const { type, entryTypes } = (options ?? {}) as { type?: string; entryTypes?: readonly string[] };
  return type === 'gc' || (entryTypes?.includes('gc') ?? false);
}

/**
 * prom-client's default metrics, never with its GC duration histogram, and with ours
 * (observeGarbageCollections) when `gcDurations`. Either comes from a PerformanceObserver of every
 * collection: node then builds an entry per collection, about a hundred a second under load.
 * Measured on the webhook benchmark (small /validate, 10 connections, serve with and without
 * prom-client's observer, A B twice): 98.5–98.9 against 104–105 µs of CPU per review, p99 2.11
 * against 2.35–2.38 ms. prom-client has no option to leave one default metric out, so its observer's
 * registration is refused while its default metrics register, and its histogram, which would stay
 * empty, is removed.
 */
function collectDefaults(registry: Registry, gcDurations: boolean): void {
  const prototype = PerformanceObserver.prototype;
  const observe = Object.getOwnPropertyDescriptor(prototype, 'observe');
  if (observe === undefined || typeof observe.value !== 'function') throw new Error('node:perf_hooks PerformanceObserver has no observe method');
  const original = observe.value as PerformanceObserver['observe'];
  Object.defineProperty(prototype, 'observe', {
    ...observe,
    value: function observeExceptGarbageCollection(this: PerformanceObserver, options: ObserveOptions) {
      if (!observesGarbageCollection(options)) original.call(this, options);
    },
  });
  try {
    collectDefaultMetrics({ register: registry });
  } finally {
    Object.defineProperty(prototype, 'observe', observe);
  }
  registry.removeSingleMetric(GC_DURATION_METRIC);
  if (gcDurations) observeGarbageCollections(registry);
}

/** Latency buckets (seconds): most reviews take well under a millisecond, the deadline is around 2 s. */
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * One series of a labelled counter, counted on the hot path as a plain number and added to the
 * prom-client counter when it collects (a scrape, or anything else reading the registry). prom-client
 * hashes and validates the labels on every inc(), even through a child from labels(); with one count
 * per policy per review that was most of what the metrics cost a review.
 */
interface Tally<L extends string> {
  readonly labels: Readonly<Record<L, string>>;
  count: number;
}

/**
 * The tallies of one counter, in the order their series were first counted (the order prom-client
 * would have created them in, so the exposition lists them as before).
 */
class Tallies<L extends string> {
  private readonly series: Tally<L>[] = [];

  add(labels: Readonly<Record<L, string>>): Tally<L> {
    const tally = { labels, count: 0 };
    this.series.push(tally);
    return tally;
  }

  /** Hands the counts since the last collection to `counter`. */
  flushInto(counter: Counter<L>): void {
    for (const tally of this.series) {
      if (tally.count === 0) continue;
      counter.inc(tally.labels, tally.count);
      tally.count = 0;
    }
  }
}

/** Latencies held per endpoint before they are handed to the histogram (see Latencies). */
const LATENCIES_HELD = 1024;

/**
 * The latencies of one endpoint since the last collection, handed to its histogram child when
 * prom-client collects, or once LATENCIES_HELD are waiting: observe() hashes and validates the labels
 * every time, which costs less in a tight loop than once per review among everything else a review does.
 */
class Latencies {
  private readonly seconds = new Float64Array(LATENCIES_HELD);
  private held = 0;

  constructor(private readonly child: Histogram.Internal<'endpoint'>) {}

  add(seconds: number): void {
    this.seconds[this.held++] = seconds;
    if (this.held === LATENCIES_HELD) this.flush();
  }

  flush(): void {
    for (let i = 0; i < this.held; i++) this.child.observe(this.seconds[i] as number);
    this.held = 0;
  }
}

export function createServerMetrics(options: ServerMetricsOptions = {}): ServerMetrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaults(registry, options.gcDurations ?? false);

  const requestTallies = new Tallies<'endpoint' | 'decision'>();
  const outcomeTallies = new Tallies<'policy' | 'result'>();
  const errorTallies = new Tallies<'policy'>();
  const latenciesByEndpoint = new Map<string, Latencies>();

  const requests = new Counter({
    name: 'daemonguard_admission_requests_total',
    help: 'AdmissionReview requests answered, by endpoint and decision (allowed, patched, denied, error, invalid).',
    labelNames: ['endpoint', 'decision'] as const,
    registers: [registry],
    collect() {
      requestTallies.flushInto(this);
    },
  });
  const requestDuration = new Histogram({
    name: 'daemonguard_admission_request_duration_seconds',
    help: 'Time from the first byte of an AdmissionReview request to its answer being written.',
    labelNames: ['endpoint'] as const,
    buckets: DURATION_BUCKETS,
    registers: [registry],
    collect() {
      for (const latencies of latenciesByEndpoint.values()) latencies.flush();
    },
  });
  const policyEvaluations = new Counter({
    name: 'daemonguard_policy_evaluations_total',
    help: 'Policy evaluations, by policy and result (pass, fail, skip, error).',
    labelNames: ['policy', 'result'] as const,
    registers: [registry],
    collect() {
      outcomeTallies.flushInto(this);
    },
  });
  const evaluationErrors = new Counter({
    name: 'daemonguard_policy_evaluation_errors_total',
    help: 'Evaluation errors, by policy; policy="" counts reviews the engine could not evaluate at all.',
    labelNames: ['policy'] as const,
    registers: [registry],
    collect() {
      errorTallies.flushInto(this);
    },
  });
  const exceptionsApplied = new Counter({
    name: 'daemonguard_exceptions_applied_total',
    help: 'Reviews in which a DaemonSetPolicyException (namespace/name) let a DaemonSet through a policy it failed or could not evaluate.',
    labelNames: ['exception', 'policy'] as const,
    registers: [registry],
  });
  const exceptionsExpired = new Counter({
    name: 'daemonguard_exceptions_expired_total',
    help: 'Reviews in which an expired DaemonSetPolicyException would have applied: the policy was enforced.',
    labelNames: ['exception', 'policy'] as const,
    registers: [registry],
  });
  const policiesLoaded = new Gauge({
    name: 'daemonguard_policies_loaded',
    help: 'Number of policies in the set currently serving.',
    registers: [registry],
  });
  const policyReloads = new Counter({
    name: 'daemonguard_policy_reloads_total',
    help: 'Policy sets loaded successfully after a change (the first load included).',
    registers: [registry],
  });
  const policyReloadFailures = new Counter({
    name: 'daemonguard_policy_reload_failures_total',
    help: 'Policy changes refused because the new set did not load; the previous set keeps serving.',
    registers: [registry],
  });
  const policyWarmUps = new Counter({
    name: 'daemonguard_policy_warm_ups_total',
    help:
      'Policy sets that answered sample reviews before they served (at start, before a reload is swapped in, before a set rebuilt for a change of cluster objects serves); ' +
      'outcome="budget" when --warm-up-budget ran out first.',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const tlsCertificateExpiry = new Gauge({
    name: 'daemonguard_tls_certificate_expiry_timestamp_seconds',
    help: 'Expiry (notAfter, Unix seconds) of the serving certificate in use.',
    registers: [registry],
  });
  const tlsReloads = new Counter({
    name: 'daemonguard_tls_reloads_total',
    help: 'Serving certificate/key pairs loaded after a change on disk.',
    registers: [registry],
  });
  const tlsReloadFailures = new Counter({
    name: 'daemonguard_tls_reload_failures_total',
    help: 'Certificate changes refused (unreadable files, key not matching the certificate); the previous pair keeps serving.',
    registers: [registry],
  });

  const leader = new Gauge({
    name: 'daemonguard_leader',
    help: '1 while this replica holds the leader Lease and writes status and Reports (serve --policies-from-cluster or --audit-interval), else 0.',
    registers: [registry],
  });
  const statusWrites = new Counter({
    name: 'daemonguard_status_writes_total',
    help: 'Status writes to DaemonSetPolicy objects, by result (ok, error); only the leader writes.',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const refusals = new Counter({
    name: 'daemonguard_admission_refusals_total',
    help: 'AdmissionReview requests refused without a review, by endpoint and reason (content-type, body-too-large, json-nodes, busy, ...).',
    labelNames: ['endpoint', 'reason'] as const,
    registers: [registry],
  });
  const malformedTimeouts = new Counter({
    name: 'daemonguard_admission_malformed_timeout_total',
    help: 'Requests whose ?timeout= was not a positive duration; it was ignored and the --eval-deadline applied.',
    labelNames: ['endpoint'] as const,
    registers: [registry],
  });
  const httpHandovers = new Counter({
    name: 'daemonguard_http_handovers_total',
    help: "Connections the admission port's own HTTP layer handed to node's HTTP server, by reason: other-request (not a POST /validate or /mutate with one Content-Length), busy (no room in --max-inflight-bytes at once), slow-head (a head in many reads).",
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  let inFlight: InFlightSource | undefined;
  new Gauge({
    name: 'daemonguard_inflight_request_bytes',
    help: 'Request body bytes reserved by reviews being read or evaluated (see --max-inflight-bytes).',
    registers: [registry],
    collect() {
      this.set(inFlight?.reservedBytes ?? 0);
    },
  });
  new Gauge({
    name: 'daemonguard_inflight_request_bytes_limit',
    help: 'The most request body bytes reviews may reserve at once (--max-inflight-bytes).',
    registers: [registry],
    collect() {
      this.set(inFlight?.capacityBytes ?? 0);
    },
  });
  new Gauge({
    name: 'daemonguard_inflight_waiting_requests',
    help: 'Reviews waiting for room under --max-inflight-bytes; past the queue or the wait they get 429.',
    registers: [registry],
    collect() {
      this.set(inFlight?.waiting ?? 0);
    },
  });

  // Read when scraped, not counted per connection: nothing on the accept path.
  let connections: ConnectionsSource | undefined;
  new Gauge({
    name: 'daemonguard_admission_connections',
    help:
      "Open connections on the admission port, by layer: own (served by its own HTTP layer for reviews) or node (handed to node's HTTP server, or still in their TLS handshake).",
    labelNames: ['layer'] as const,
    registers: [registry],
    async collect() {
      const { total, own } = (await connections?.connections()) ?? { total: 0, own: 0 };
      this.set({ layer: 'own' }, own);
      this.set({ layer: 'node' }, Math.max(0, total - own));
    },
  });

  // Running totals kept by the review turn as plain numbers (no prom-client call per review), handed
  // over when scraped. The first review of a turn starts with the engine's code out of the CPU caches
  // (review-turn.ts), so its time is counted apart: their ratio says how much of the evaluation is that.
  let reviewTurns: ReviewTurnTotals | undefined;
  new Counter({
    name: 'daemonguard_review_turns_total',
    help: 'Event-loop turns that ran reviews; the reviews ready together run back to back in one turn.',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(reviewTurns?.turns ?? 0);
    },
  });
  const byPosition = (counter: Counter<'position'>, first: number, later: number): void => {
    counter.reset();
    counter.inc({ position: 'first' }, first);
    counter.inc({ position: 'later' }, later);
  };
  new Counter({
    name: 'daemonguard_reviews_evaluated_total',
    help: 'Reviews evaluated, by position in their turn: first (the engine starts with its code out of the CPU caches) or later.',
    labelNames: ['position'] as const,
    registers: [registry],
    collect() {
      byPosition(this, reviewTurns?.firstReviews ?? 0, reviewTurns?.laterReviews ?? 0);
    },
  });
  new Counter({
    name: 'daemonguard_review_evaluation_seconds_total',
    help: 'Time spent evaluating reviews and building their answers (not reading, parsing or writing them), by position in their turn.',
    labelNames: ['position'] as const,
    registers: [registry],
    collect() {
      byPosition(this, reviewTurns?.firstSeconds ?? 0, reviewTurns?.laterSeconds ?? 0);
    },
  });

  // The engine's per-policy tallies (plain numbers, counted by every review), read when scraped.
  new Counter({
    name: 'daemonguard_policy_fast_path_total',
    help:
      'Policy evaluations the compiled fast path answered (outcome="answered"), and those it handed to the exact evaluator (outcome="gave_up": ' +
      'a value or construct it does not handle, a CEL error, the budget); since the process started, warm-up reviews included. ' +
      'A policy often gave_up costs more per review.',
    labelNames: ['policy', 'outcome'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [policy, tally] of leanTallies()) {
        this.inc({ policy, outcome: 'answered' }, tally.answered);
        this.inc({ policy, outcome: 'gave_up' }, tally.gaveUp);
      }
    },
  });

  // Keyed by the policy's name, then its result: the names come from the loaded policy set, the same
  // strings every review, so a lookup costs no hashing and no key is built.
  const outcomesByPolicy = new Map<string, Partial<Record<PolicyResult, Tally<'policy' | 'result'>>>>();
  const errorsByPolicy = new Map<string, Tally<'policy'>>();
  const requestsByEndpoint = new Map<string, Partial<Record<RequestDecision, Tally<'endpoint' | 'decision'>>>>();

  return {
    registry,
    requests,
    requestDuration,
    policyEvaluations,
    evaluationErrors,
    exceptionsApplied,
    exceptionsExpired,
    policiesLoaded,
    policyReloads,
    policyReloadFailures,
    policyWarmUps,
    tlsCertificateExpiry,
    tlsReloads,
    tlsReloadFailures,
    leader,
    statusWrites,
    refusals,
    malformedTimeouts,
    httpHandovers,
    trackInFlight(source) {
      inFlight = source;
    },
    trackConnections(source) {
      connections = source;
    },
    trackReviewTurns(source) {
      reviewTurns = source;
    },
    recordPolicyOutcome(policy, result) {
      let byResult = outcomesByPolicy.get(policy);
      if (byResult === undefined) {
        byResult = {};
        outcomesByPolicy.set(policy, byResult);
      }
      (byResult[result] ??= outcomeTallies.add({ policy, result })).count++;
      if (result === 'error') {
        let errors = errorsByPolicy.get(policy);
        if (errors === undefined) {
          errors = errorTallies.add({ policy });
          errorsByPolicy.set(policy, errors);
        }
        errors.count++;
      }
    },
    recordException(state, exception, policy) {
      // Rare (exceptions are few and apply to few DaemonSets): no child cache needed.
      (state === 'applied' ? exceptionsApplied : exceptionsExpired).labels(exception, policy).inc();
    },
    recordRequest(endpoint, decision, seconds) {
      let byDecision = requestsByEndpoint.get(endpoint);
      if (byDecision === undefined) {
        byDecision = {};
        requestsByEndpoint.set(endpoint, byDecision);
      }
      (byDecision[decision] ??= requestTallies.add({ endpoint, decision })).count++;
      let latencies = latenciesByEndpoint.get(endpoint);
      if (latencies === undefined) {
        latencies = new Latencies(requestDuration.labels(endpoint));
        latenciesByEndpoint.set(endpoint, latencies);
      }
      latencies.add(seconds);
    },
  };
}
