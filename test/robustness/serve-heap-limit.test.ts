// The real `daemonguard serve`, as deployed: a subprocess under the node flags and environment of the
// image and of deploy/base/deployment.yaml (its young generation size and malloc arenas;
// NODE_OPTIONS=--max-old-space-size=384, the V8 heap limit), with the built-in library. It is
// sent the worst bodies its default limits let through, several at once on /validate and /mutate:
// the most JSON values (empty objects, the costliest value to parse and convert), as CREATE and as
// UPDATE, and the largest body (strings just under the string limit, filling the body limit). Before
// these limits, one 4.5 MB body of empty objects ended the process with "JavaScript heap out of memory".
//
// Asserted: the process survives, every review is answered as designed (a decision, or 429 with
// Retry-After and then a decision when retried), it still answers an ordinary review afterwards, and
// its resident memory comes back near idle. The figures (largest body, peak and after RSS) are printed
// for SECURITY.md, which records them; what this test asserts is their floor (the body sizes sent).

import assert from 'node:assert/strict';
import { Agent } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { measureJson } from '../../src/common/json-limits.js';
import type { JsonObject } from '../../src/common/vocabulary.js';
import { DEFAULT_JSON_LIMITS } from '../../src/server/json-limit-defaults.js';
import { DEFAULT_MAX_BODY_BYTES } from '../../src/server/read-body.js';
import { residentBytes, stopAllServes, type ServeProcess } from '../support/serve-process.js';
import { startShippedServe } from '../support/shipped-node-flags.js';
import { admissionReview, callHttps, daemonSet, type TestCertificates } from '../support/server-fixtures.js';
import { answerProblem } from './hostile-fixtures.js';

/** The least SECURITY.md claims was survived: the largest body sent, in bytes. */
const MINIMUM_LARGEST_BODY = 12_500_000;
/**
 * "Near idle" after the burst, generously: under ordinary load alone `serve` sits at about twice its idle
 * RSS (V8 lets the old generation grow between full collections; see the README's memory figures).
 */
const AFTER_RSS_FACTOR = 3;
/** Copies of each body on each endpoint: 18 reviews, about 80 MB of bodies, more than --max-inflight-bytes holds. */
const COPIES = 3;
/** The most ordinary reviews sent after the burst while waiting for RSS to come back. */
const AFTER_REVIEWS = 10_000;
/** How long the process is left quiet after the burst, for V8's memory reducer, before ordinary reviews are sent. */
const QUIET_WAIT_MS = 30_000;
const MAX_ATTEMPTS = 60;

function podSpecOf(object: JsonObject): JsonObject {
  return ((object['spec'] as JsonObject)['template'] as JsonObject)['spec'] as JsonObject;
}

/**
 * A DaemonSet whose pod spec holds `budget` more values than the plain one, as empty objects in lists
 * no longer than the element limit (env entries of many containers, then tolerations).
 */
function withEmptyObjects(budget: number): JsonObject {
  const object = daemonSet({ memoryLimit: '1Gi', namespace: 'monitoring' });
  const podSpec = podSpecOf(object);
  const perList = DEFAULT_JSON_LIMITS.maxElements;
  const containers = podSpec['containers'] as JsonObject[];
  const template = containers[0] as JsonObject;
  let left = budget;
  const added: JsonObject[] = [];
  // Each extra container costs 4 values of its own (itself, name, image, env) besides its env entries.
  while (left > perList + 4) {
    added.push({ name: `filler-${added.length}`, image: 'registry.example/agent:1', env: Array.from({ length: perList }, () => ({})) });
    left -= perList + 4;
  }
  podSpec['containers'] = [template, ...added];
  podSpec['tolerations'] = Array.from({ length: Math.max(0, left - 1) }, () => ({}));
  return object;
}

/** The review with the most values the node limit allows, built by filling what is left after the rest. */
function mostValues(operation: 'CREATE' | 'UPDATE'): string {
  const build = (budget: number): string => {
    if (operation === 'CREATE') return JSON.stringify(admissionReview('CREATE', withEmptyObjects(budget)));
    return JSON.stringify(admissionReview('UPDATE', withEmptyObjects(budget), { oldObject: withEmptyObjects(budget) }));
  };
  const halves = operation === 'CREATE' ? 1 : 2;
  const base = measureJson(Buffer.from(build(0)), DEFAULT_JSON_LIMITS).nodes;
  const text = build(Math.floor((DEFAULT_JSON_LIMITS.maxNodes - base) / halves));
  const shape = measureJson(Buffer.from(text), DEFAULT_JSON_LIMITS);
  assert.equal(shape.violation, undefined);
  assert.ok(shape.nodes > DEFAULT_JSON_LIMITS.maxNodes - 10, `${shape.nodes} values`);
  return text;
}

/** The largest body: an UPDATE whose object carries long arguments and whose oldObject long annotations, each string just under the string limit. */
function largestBody(): string {
  const piece = DEFAULT_JSON_LIMITS.maxStringBytes - 64;
  const object = daemonSet({ memoryLimit: '1Gi', namespace: 'monitoring' });
  const oldObject = daemonSet({ memoryLimit: '1Gi', namespace: 'monitoring' });
  const base = JSON.stringify(admissionReview('UPDATE', object, { oldObject })).length;
  const pieces = Math.floor((DEFAULT_MAX_BODY_BYTES - base - 4096) / (piece + 32));
  const inArgs = Math.ceil(pieces / 2);
  (podSpecOf(object)['containers'] as JsonObject[])[0]!['args'] = Array.from({ length: inArgs }, (_, i) => `--flag${i}=${'x'.repeat(piece - 10)}`);
  (oldObject['metadata'] as JsonObject)['annotations'] = Object.fromEntries(Array.from({ length: pieces - inArgs }, (_, i) => [`example.com/note-${i}`, 'y'.repeat(piece)]));
  // And one more string with what room is left, up to a few hundred bytes short of the body limit.
  const annotations = (oldObject['metadata'] as JsonObject)['annotations'] as JsonObject;
  annotations['example.com/rest'] = '';
  annotations['example.com/rest'] = 'z'.repeat(DEFAULT_MAX_BODY_BYTES - JSON.stringify(admissionReview('UPDATE', object, { oldObject })).length - 256);
  const text = JSON.stringify(admissionReview('UPDATE', object, { oldObject }));
  assert.equal(measureJson(Buffer.from(text), DEFAULT_JSON_LIMITS).violation, undefined);
  assert.ok(text.length <= DEFAULT_MAX_BODY_BYTES && text.length > DEFAULT_MAX_BODY_BYTES - 1024, `${text.length} bytes`);
  return text;
}

let served: ServeProcess;
let certificates: TestCertificates;

before(async () => {
  ({ served, certificates } = await startShippedServe('daemonguard-heap-'));
});

after(async () => {
  await stopAllServes();
});

interface Sent {
  name: string;
  endpoint: '/validate' | '/mutate';
  text: string;
}

interface Outcome {
  status: number;
  attempts: number;
  busy: number;
}

/** Sends until the answer is not a 429 (following Retry-After), checking every answer against the protocol. */
async function sendUntilAnswered({ endpoint, text }: Sent): Promise<Outcome> {
  let busy = 0;
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    const answer = await callHttps(`${served.url}${endpoint}`, { ca: certificates.ca.certPem, agent: false, body: text, timeoutMs: 120_000 });
    if (answer.status === 429) {
      busy++;
      assert.equal(answer.headers['retry-after'], '1');
      await sleep(Number(answer.headers['retry-after']) * 1000);
      continue;
    }
    assert.equal(answerProblem(endpoint, { parsed: JSON.parse(text) }, answer), undefined);
    return { status: answer.status, attempts: attempt, busy };
  }
  throw new Error(`${endpoint}: still 429 after ${MAX_ATTEMPTS} attempts`);
}

async function sampleRss(until: Promise<unknown>): Promise<number> {
  let peak = residentBytes(served.pid) ?? 0;
  let done = false;
  void until.finally(() => (done = true));
  while (!done) {
    peak = Math.max(peak, residentBytes(served.pid) ?? 0);
    await sleep(20);
  }
  return peak;
}

const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

describe(`serve under the deployed heap limit, sent the worst bodies its limits allow`, { timeout: 600_000 }, () => {
  it('survives them all at once, answers each, and comes back near idle', async (t) => {
    const ordinary = JSON.stringify(admissionReview('CREATE', daemonSet({ memoryLimit: '1Gi', namespace: 'monitoring' })));
    for (const endpoint of ['/validate', '/mutate'] as const) assert.equal((await sendUntilAnswered({ name: 'ordinary', endpoint, text: ordinary })).status, 200);
    await sleep(1_000);
    const idle = residentBytes(served.pid) ?? 0;

    const bodies = { 'most values, CREATE': mostValues('CREATE'), 'most values, UPDATE': mostValues('UPDATE'), 'largest body, UPDATE': largestBody() };
    const sends: Sent[] = [];
    for (const [name, text] of Object.entries(bodies)) {
      for (const endpoint of ['/validate', '/mutate'] as const) for (let copy = 0; copy < COPIES; copy++) sends.push({ name, endpoint, text });
    }
    const all = Promise.all(sends.map(sendUntilAnswered));
    const peak = await sampleRss(all);
    const outcomes = await all;

    assert.equal(served.child.exitCode, null, `the server exited: ${served.stderr().slice(-2000)}`);
    for (const [index, outcome] of outcomes.entries()) assert.equal(outcome.status, 200, `${sends[index]!.name} on ${sends[index]!.endpoint}`);
    assert.equal((await sendUntilAnswered({ name: 'ordinary', endpoint: '/validate', text: ordinary })).status, 200);

    // Back near idle. What the burst left is garbage, which V8 frees at its next full collection. Once
    // the process is quiet, V8's memory reducer runs one (it waits about 8 s after a full collection,
    // and the burst ran several): that is waited for first, with no traffic. Should it not come, ordinary
    // reviews keep coming, as in a cluster, until the old generation's growth brings one (or
    // AFTER_REVIEWS have been answered). Serve's ordinary reviews grow the old generation slowly (the
    // decision line no longer leaves a number's string behind), so they alone may take long to.
    let afterRss = residentBytes(served.pid) ?? 0;
    const ceiling = idle * AFTER_RSS_FACTOR;
    const quietSince = Date.now();
    while (afterRss > ceiling && Date.now() - quietSince < QUIET_WAIT_MS) {
      await sleep(250);
      afterRss = residentBytes(served.pid) ?? 0;
    }
    const quietSeconds = (Date.now() - quietSince) / 1000;
    const agent = new Agent({ keepAlive: true, ca: certificates.ca.certPem });
    let ordinaryAfter = 0;
    try {
      while (afterRss > ceiling && ordinaryAfter < AFTER_REVIEWS) {
        for (let i = 0; i < 50; i++, ordinaryAfter++) {
          const answer = await callHttps(`${served.url}/validate`, { agent, body: ordinary });
          assert.equal(answer.status, 200);
        }
        afterRss = residentBytes(served.pid) ?? 0;
      }
    } finally {
      agent.destroy();
    }
    const largest = Math.max(...Object.values(bodies).map((text) => Buffer.byteLength(text)));
    const busy = outcomes.reduce((sum, o) => sum + o.busy, 0);
    const line =
      `${sends.length} reviews at once (${Object.entries(bodies).map(([name, text]) => `${name}: ${Buffer.byteLength(text)} B`).join('; ')}), ` +
      `${busy} answers of 429 before they got in; RSS idle ${mib(idle)}, peak ${mib(peak)}, after ${mib(afterRss)} (${quietSeconds.toFixed(1)} s quiet, then ${ordinaryAfter} ordinary reviews)`;
    t.diagnostic(line);
    console.log(`heap-limit run: ${line}`);
    assert.ok(afterRss <= ceiling, `RSS after the burst ${mib(afterRss)}, idle ${mib(idle)}`);
    assert.ok(largest >= MINIMUM_LARGEST_BODY, `largest body ${largest} B`);
  });
});
