// The limits a review body is held to before anything parses it, against the running HTTPS server: each
// structural limit refuses with a 400 that names the limit, its flag and the field path, and is counted;
// no DaemonSet the repository knows (examples, the library's suites, the upstream Pod Security fixtures)
// comes near any of them; a charset other than UTF-8 is a 415; a malformed `?timeout=` is ignored and
// counted; and bodies beyond --max-inflight-bytes wait, then get 429 with Retry-After.

import assert from 'node:assert/strict';
import { request as httpsRequest } from 'node:https';
import { after, before, describe, it } from 'node:test';
import { measureJson } from '../../src/common/json-limits.js';
import type { JsonObject } from '../../src/common/vocabulary.js';
import { DEFAULT_JSON_LIMITS } from '../../src/server/json-limit-defaults.js';
import { DEFAULT_MAX_BODY_BYTES } from '../../src/server/read-body.js';
import { psaFixtureDaemonSets, repositoryDaemonSets } from '../support/daemonset-corpus.js';
import { SKIP_PSS_FIXTURES_ENV } from '../support/pss-fixtures.js';
import { admissionReview, daemonSet } from '../support/server-fixtures.js';
import { answerProblem, startHostileServer, type HostileServer } from './hostile-fixtures.js';

let server: HostileServer;

before(async () => {
  server = await startHostileServer();
});

after(async () => {
  await server?.close();
});

function reviewWith(edit: (object: JsonObject, podSpec: JsonObject) => void): string {
  const object = daemonSet({ memoryLimit: '1Gi', namespace: 'monitoring' });
  edit(object, ((object['spec'] as JsonObject)['template'] as JsonObject)['spec'] as JsonObject);
  return JSON.stringify(admissionReview('CREATE', object));
}

/** The value of one sample of the server's /metrics, 0 when it has not been counted yet. */
async function metric(target: HostileServer, name: string, labels: string): Promise<number> {
  const text = (await target.probe('/metrics')).text;
  const prefix = labels === '' ? `${name} ` : `${name}{${labels}} `;
  const line = text.split('\n').find((l) => l.startsWith(prefix));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

describe('structural limits on the raw body', { timeout: 120_000 }, () => {
  const cases = [
    {
      limit: 'elements',
      reason: 'json-elements',
      body: () => reviewWith((_object, podSpec) => (podSpec['tolerations'] = Array.from({ length: DEFAULT_JSON_LIMITS.maxElements + 1 }, () => ({ operator: 'Exists' })))),
      message: /has more than 10000 elements in one list or object \(at \/request\/object\/spec\/template\/spec\/tolerations\); the limit is --max-json-elements=10000/,
    },
    {
      limit: 'nodes',
      reason: 'json-nodes',
      // 21 containers of 10,000 empty arguments: every list within its limit, 210,000 values in all.
      body: () => reviewWith((_object, podSpec) => (podSpec['containers'] = Array.from({ length: 21 }, (_, i) => ({ name: `c${i}`, image: 'a', args: Array.from({ length: 10_000 }, () => '') })))),
      message: /has more than 200000 JSON values in all \(the one past the limit is at \/request\/object\/spec\/template\/spec\/containers\/19\/args\/\d+\); the limit is --max-json-nodes=200000/,
    },
    {
      limit: 'string bytes',
      reason: 'json-string-bytes',
      body: () => reviewWith((object) => ((object['metadata'] as JsonObject)['annotations'] = { note: 'x'.repeat(DEFAULT_JSON_LIMITS.maxStringBytes + 1) })),
      message: /has a string longer than 1572864 bytes \(at \/request\/object\/metadata\/annotations\/note\); the limit is --max-json-string-bytes=1572864/,
    },
    {
      limit: 'depth',
      reason: 'json-depth',
      body: () => reviewWith((_object, podSpec) => (podSpec['x'] = '@deep')).replace('"@deep"', '['.repeat(1001) + ']'.repeat(1001)),
      message: /is nested more than 1000 levels deep \(at \/request\/object\/spec\/template\/spec\/x\/0\/0\/0\/0\/0\/0\/…\); the limit is --max-json-depth=1000/,
    },
  ];
  for (const { limit, reason, body, message } of cases) {
    it(`refuses a body over the ${limit} limit with a 400 that says which limit and where, on both endpoints, and counts it`, async () => {
      const text = body();
      assert.ok(text.length < DEFAULT_MAX_BODY_BYTES, 'the body is within the body limit: the structural limit is what refuses it');
      for (const endpoint of ['/validate', '/mutate'] as const) {
        const before = await metric(server, 'daemonguard_admission_refusals_total', `endpoint="${endpoint}",reason="${reason}"`);
        const answer = await server.post(endpoint, text);
        assert.equal(answerProblem(endpoint, { parsed: undefined }, answer), undefined);
        assert.equal(answer.status, 400);
        assert.match(answer.json<{ message: string }>().message, message);
        assert.equal(await metric(server, 'daemonguard_admission_refusals_total', `endpoint="${endpoint}",reason="${reason}"`), before + 1);
      }
    });
  }

  it('refuses no DaemonSet the repository knows: examples, library suites, Pod Security fixtures, as CREATE and as UPDATE', async (t) => {
    const { daemonSets } = await repositoryDaemonSets();
    const corpus = [...daemonSets];
    if (process.env[SKIP_PSS_FIXTURES_ENV] === '1') t.diagnostic(`${SKIP_PSS_FIXTURES_ENV}=1: the Pod Security fixtures are left out`);
    else corpus.push(...(await psaFixtureDaemonSets()));
    assert.ok(corpus.length >= 250, `${corpus.length} DaemonSets`);
    let largest = { nodes: 0, bytes: 0, id: '' };
    for (const entry of corpus) {
      for (const review of [admissionReview('CREATE', entry.object), admissionReview('UPDATE', entry.object, { oldObject: entry.object })]) {
        const bytes = Buffer.from(JSON.stringify(review));
        const shape = measureJson(bytes, DEFAULT_JSON_LIMITS);
        assert.equal(shape.violation, undefined, `${entry.id}: ${JSON.stringify(shape.violation)}`);
        assert.ok(bytes.length < DEFAULT_MAX_BODY_BYTES, entry.id);
        if (shape.nodes > largest.nodes) largest = { nodes: shape.nodes, bytes: bytes.length, id: entry.id };
      }
    }
    t.diagnostic(`${corpus.length} DaemonSets; the largest review: ${largest.id} as UPDATE, ${largest.nodes} values, ${largest.bytes} bytes`);
    // Every limit is more than a hundred times what the largest of them needs.
    assert.ok(largest.nodes * 100 < DEFAULT_JSON_LIMITS.maxNodes, `${largest.nodes} values`);
  });
});

describe('Content-Type and query', { timeout: 60_000 }, () => {
  it('answers 415 to any charset but UTF-8, in any case and quoted, and reviews UTF-8', async () => {
    const text = reviewWith(() => undefined);
    for (const contentType of ['application/json; charset=utf-16', 'application/json;charset="UTF-16LE"', 'Application/JSON; Charset=ISO-8859-1', 'application/json; charset=""']) {
      const answer = await server.post('/validate', text, { 'content-type': contentType });
      assert.equal(answer.status, 415, contentType);
      assert.match(answer.json<{ message: string }>().message, /^Content-Type charset is ".*"; an AdmissionReview is read as UTF-8 only/);
    }
    for (const contentType of ['application/json; charset=UTF-8', 'application/json;charset="utf-8"', 'APPLICATION/JSON', 'application/json; foo=bar']) {
      const answer = await server.post('/validate', text, { 'content-type': contentType });
      assert.equal(answer.status, 200, contentType);
    }
    assert.equal(await metric(server, 'daemonguard_admission_refusals_total', 'endpoint="/validate",reason="content-type"'), 4);
  });

  it('ignores a malformed ?timeout= (never a 500), answers the review, and counts it', async () => {
    const malformed = ['timeout=%', 'timeout=%zz&dryRun=1', 'timeout=abc', 'timeout=-1s', 'timeout=0s', 'timeout=', 'a=1&timeout=1e999s'];
    for (const endpoint of ['/validate', '/mutate'] as const) {
      const before = await metric(server, 'daemonguard_admission_malformed_timeout_total', `endpoint="${endpoint}"`);
      for (const query of [...malformed, 'timeout=10s', 'timeout=30']) {
        const text = reviewWith(() => undefined);
        const answer = await server.post(`${endpoint}?${query}`, text);
        assert.equal(answer.status, 200, query);
        assert.equal(answerProblem(endpoint, { parsed: JSON.parse(text) }, answer), undefined, query);
      }
      assert.equal(await metric(server, 'daemonguard_admission_malformed_timeout_total', `endpoint="${endpoint}"`), before + malformed.length);
    }
  });
});

describe('bytes in flight', { timeout: 60_000 }, () => {
  const CAPACITY = 256 * 1024;
  let small: HostileServer;

  before(async () => {
    small = await startHostileServer({ maxInFlightBytes: CAPACITY });
  });

  after(async () => {
    await small?.close();
  });

  /** A review whose body is sent in two halves: the second only when `finish` is called. */
  function halfSent(text: string): { finish(): void; answer: Promise<{ status: number; text: string }> } {
    const body = Buffer.from(text);
    const half = Math.floor(body.length / 2);
    let finish = (): void => undefined;
    const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
      const request = httpsRequest(`${small.server.url}/validate`, {
        method: 'POST',
        ca: small.certificates.ca.certPem,
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': String(body.length) },
      });
      request.on('response', (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      });
      request.on('error', reject);
      request.write(body.subarray(0, half));
      finish = () => request.end(body.subarray(half));
    });
    return { finish: () => finish(), answer };
  }

  const sized = (bytes: number): string => reviewWith((object) => ((object['metadata'] as JsonObject)['annotations'] = { filler: 'x'.repeat(bytes) }));

  it('holds a review that does not fit until room frees up, and answers it', async () => {
    const first = halfSent(sized(200 * 1024));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const second = small.post('/validate', sized(100 * 1024));
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(await metric(small, 'daemonguard_inflight_waiting_requests', ''), 1, 'the second review waits');
    // The own HTTP layer has no room to reserve at once: node's server takes the connection and waits for room.
    assert.equal(await metric(small, 'daemonguard_http_handovers_total', 'reason="busy"'), 1);
    first.finish();
    assert.equal((await first.answer).status, 200);
    assert.equal((await second).status, 200);
  });

  it('refuses with 429 and Retry-After when no room frees up within the wait, counts it, and then serves again', async () => {
    const first = halfSent(sized(200 * 1024));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const refused = await small.post('/mutate', sized(100 * 1024));
    assert.equal(refused.status, 429);
    assert.equal(refused.headers['retry-after'], '1');
    assert.notEqual(refused.headers['connection'], 'close', 'the body was read and thrown away: the connection stays usable');
    assert.match(refused.json<{ message: string }>().message, /^too many request bytes in flight \(no room within 1000 ms\): \d+ of 262144 bytes \(--max-inflight-bytes\) are held by other reviews; retry after 1 s$/);
    assert.equal(await metric(small, 'daemonguard_admission_refusals_total', 'endpoint="/mutate",reason="busy"'), 1);
    first.finish();
    assert.equal((await first.answer).status, 200);
    assert.equal((await small.post('/mutate', sized(100 * 1024))).status, 200);
    assert.equal(await metric(small, 'daemonguard_inflight_request_bytes', ''), 0, 'every reservation was given back');
  });
});
