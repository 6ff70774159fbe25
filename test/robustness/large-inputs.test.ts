// Inputs at the edge of the server's limits (body size, and the structural limits checked before
// parsing: list length, values, string length, depth), against the built-in policy library plus
// policies that would be expensive on them: past a limit, a 400 that names it; just inside, a decision,
// with memory bounded. Expensive policies stop at the cost budget or the deadline and follow their
// failurePolicy; regexes (RE2) cannot be driven into catastrophic backtracking by user strings (an
// exponential regex over these strings would not finish before the suite's timeout). Nothing here is
// timed: `npm run bench` measures speed.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { JsonObject } from '../../src/common/vocabulary.js';
import { DEFAULT_JSON_LIMITS } from '../../src/server/json-limit-defaults.js';
import { admissionReview, daemonSet } from '../support/server-fixtures.js';
import { answerProblem, startHostileServer, withPeakRss, type HostileServer } from './hostile-fixtures.js';

const EVAL_DEADLINE_MS = 1_000;
/** Peak resident memory above what the process had before the test (bodies are 12 MiB at most). */
const MAX_RSS_GROWTH = 768 * 1024 * 1024;

const EXPENSIVE_POLICIES = `apiVersion: daemonguard.dev/v1alpha1
kind: DaemonSetPolicy
metadata:
  name: quadratic-tolerations
spec:
  failurePolicy: Fail
  validations:
    - expression: >-
        object.spec.template.spec.?tolerations.orValue([]).all(a,
          object.spec.template.spec.tolerations.exists_one(b, a.?key.orValue('') == b.?key.orValue('')))
      message: "toleration keys must be unique"
---
apiVersion: daemonguard.dev/v1alpha1
kind: DaemonSetPolicy
metadata:
  name: quadratic-containers-ignore
spec:
  failurePolicy: Ignore
  validations:
    - expression: >-
        object.spec.template.spec.containers.all(a,
          object.spec.template.spec.containers.filter(b, b.name == a.name).size() == 1)
      message: "container names must be unique"
---
apiVersion: daemonguard.dev/v1alpha1
kind: DaemonSetPolicy
metadata:
  name: annotation-regexes
spec:
  failurePolicy: Fail
  validations:
    - expression: "!object.metadata.?annotations[?'note'].orValue('').matches('^(a+)+$')"
      message: "note must not be all a's"
    - expression: "!object.metadata.?annotations[?'note'].orValue('').matches('(x+x+)+y')"
      message: "note must not match (x+x+)+y"
    - expression: >-
        object.metadata.?annotations[?'pattern'].orValue('') == '' ||
        object.metadata.name.matches(object.metadata.annotations['pattern'])
      message: "name must match the pattern annotation"
`;

let server: HostileServer;

before(async () => {
  server = await startHostileServer({ extraPolicies: EXPENSIVE_POLICIES, evalDeadlineMs: EVAL_DEADLINE_MS });
});

after(async () => {
  await server?.close();
});

interface Answer {
  status: number;
  response: JsonObject | undefined;
  message: string;
}

async function send(endpoint: '/validate' | '/mutate', text: string): Promise<Answer> {
  const answer = await server.post(endpoint, text);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const problem = answerProblem(endpoint, { parsed }, answer);
  assert.equal(problem, undefined, problem);
  const body = answer.json<{ response?: JsonObject; message?: string }>();
  const status = body.response?.['status'] as { message?: string } | undefined;
  return { status: answer.status, response: body.response, message: body.message ?? status?.message ?? '' };
}

function reviewWith(edit: (object: JsonObject, podSpec: JsonObject) => void): string {
  const object = daemonSet({ memoryLimit: '1Gi', namespace: 'monitoring' });
  const podSpec = ((object['spec'] as JsonObject)['template'] as JsonObject)['spec'] as JsonObject;
  edit(object, podSpec);
  return JSON.stringify(admissionReview('CREATE', object));
}

describe('large and deep inputs', { timeout: 120_000 }, () => {
  it('refuses 100,000 levels of nesting, anywhere, with a 400 that says so', async () => {
    const deepArrays = '['.repeat(100_000) + ']'.repeat(100_000);
    const deepObjects = '{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000);
    const { value: results, peakRss } = await withPeakRss(async () => {
      const results: Answer[] = [];
      for (const deep of [deepArrays, deepObjects]) {
        for (const where of ['"@object"', '"@options"']) {
          const text = reviewWith((_object, podSpec) => (podSpec['x'] = '@object')).replace('"options":{', '"options":{"x":"@options",').replace(where, deep).replace(/"@(object|options)"/g, '1');
          for (const endpoint of ['/validate', '/mutate'] as const) results.push(await send(endpoint, text));
        }
        results.push(await send('/validate', deep));
      }
      return results;
    });
    for (const result of results) {
      assert.equal(result.status, 400, result.message);
      assert.match(result.message, /nested more than 1000 levels deep/);
    }
    assert.ok(peakRss - process.memoryUsage.rss() < MAX_RSS_GROWTH);
  });

  it('refuses a string past the string limit with a 400, and answers one just inside it with a decision', async () => {
    const oneString = await send('/validate', JSON.stringify('x'.repeat(6 * 1024 * 1024)));
    assert.equal(oneString.status, 400);
    assert.match(oneString.message, /has a string longer than 1572864 bytes \(at the top-level value\); the limit is --max-json-string-bytes=1572864/);

    const tooLong = await send('/mutate', reviewWith((object) => ((object['metadata'] as JsonObject)['annotations'] = { note: 'a'.repeat(DEFAULT_JSON_LIMITS.maxStringBytes + 1) })));
    assert.equal(tooLong.status, 400);
    assert.match(tooLong.message, /at \/request\/object\/metadata\/annotations\/note/);

    const annotation = reviewWith((object) => ((object['metadata'] as JsonObject)['annotations'] = { note: 'a'.repeat(DEFAULT_JSON_LIMITS.maxStringBytes - 1) + '!' }));
    const mutated = await send('/mutate', annotation);
    assert.equal(mutated.status, 200);
    assert.equal(mutated.response?.['allowed'], true, mutated.message);
    // The regexes run in linear time over 1.5 MiB, within the cost budget: the note is just not all a's.
    const validated = await send('/validate', annotation);
    assert.equal(validated.status, 200);
    assert.equal(validated.response?.['allowed'], true, validated.message);
  });

  it('refuses 50,000 containers at the list limit, and answers as many as the limit allows, the policies it had no time for settled by failurePolicy', async () => {
    const containers = (count: number): string =>
      reviewWith((_object, podSpec) => {
        podSpec['containers'] = Array.from({ length: count }, (_, i) => ({ name: `c${i}`, image: `registry.example/agent:${i}` }));
      });
    const refused = await send('/validate', containers(50_000));
    assert.equal(refused.status, 400);
    assert.match(refused.message, /more than 10000 elements in one list or object \(at \/request\/object\/spec\/template\/spec\/containers\)/);

    const text = containers(DEFAULT_JSON_LIMITS.maxElements);
    const { value: results, peakRss } = await withPeakRss(async () => [await send('/validate', text), await send('/mutate', text)]);
    for (const result of results) assert.equal(result.status, 200);
    const [validated] = results;
    // Whether the deadline stops any policy depends on the machine's load; the DaemonSet itself breaks no
    // rule, so every line of a denial, if there is one, is a policy that could not be evaluated in time.
    for (const line of validated!.message.split('\n').filter((l) => l !== '')) assert.match(line, /policy could not be evaluated: .*(deadline|cost budget)/);
    const warnings = (validated!.response?.['warnings'] as string[] | undefined) ?? [];
    assert.ok(warnings.some((w) => w.startsWith('quadratic-containers-ignore: ignored because')), JSON.stringify(warnings.slice(0, 3)));
    assert.ok(peakRss - process.memoryUsage.rss() < MAX_RSS_GROWTH, `peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB`);
  });

  it('stops a quadratic policy over 10,000 tolerations at the cost budget (failurePolicy Fail denies)', async () => {
    const text = reviewWith((_object, podSpec) => {
      podSpec['tolerations'] = Array.from({ length: 10_000 }, (_, i) => ({ key: `example.com/t${i}`, operator: 'Exists', effect: 'NoSchedule' }));
    });
    for (const endpoint of ['/validate', '/mutate'] as const) {
      const result = await send(endpoint, text);
      assert.equal(result.status, 200);
    }
    const validated = await send('/validate', text);
    assert.equal(validated.response?.['allowed'], false);
    assert.match(validated.message, /quadratic-tolerations: policy could not be evaluated: .*(cost budget exceeded|deadline)/);
  });

  it('runs regexes in linear time on strings built to make backtracking explode', async () => {
    for (const note of ['a'.repeat(100_000) + '!', 'x'.repeat(100_000)]) {
      const result = await send('/validate', reviewWith((object) => ((object['metadata'] as JsonObject)['annotations'] = { note })));
      assert.equal(result.status, 200);
      assert.doesNotMatch(result.message, /could not be evaluated/);
    }
  });

  it('refuses patterns from the object that RE2 does not have, or that are too long to compile cheaply', async () => {
    for (const pattern of ['(a)\\1', '(?=x)', `(${'a|b'.repeat(20_000)})*c`]) {
      const result = await send('/validate', reviewWith((object) => ((object['metadata'] as JsonObject)['annotations'] = { pattern })));
      assert.equal(result.response?.['allowed'], false);
      assert.match(result.message, /annotation-regexes: policy could not be evaluated/);
    }
  });

  it('is still healthy, and answers an ordinary review, after all of that', async () => {
    const result = await send('/validate', reviewWith(() => undefined));
    assert.equal(result.status, 200);
    assert.equal(result.response?.['allowed'], true, result.message);
    assert.equal((await server.probe('/healthz')).status, 200);
  });
});
