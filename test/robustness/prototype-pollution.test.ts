// `__proto__`, `constructor` and `prototype` keys anywhere in a review — in the envelope, the request,
// the object, labels, annotations, containers, userInfo.extra, options — are data. They cannot change
// the answer to the request that carries them, nor to any later request, nor Object.prototype in the
// server process; not through JSON parsing, decoding, CEL (value conversion, `in`, `has`, optional
// lookups) or the JSON Patch library (mutations whose paths come from user keys).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { JsonObject } from '../../src/common/vocabulary.js';
import { admissionReview, daemonSet, decodePatch } from '../support/server-fixtures.js';
import { answerProblem, startHostileServer, type HostileServer } from './hostile-fixtures.js';

const HOSTILE_KEYS = ['__proto__', 'constructor', 'prototype'] as const;

/** Policies that read user-controlled keys in every way CEL and the patch library can. */
const POLICIES = `apiVersion: daemonguard.dev/v1alpha1
kind: DaemonSetPolicy
metadata:
  name: pp-privileged
spec:
  validationActions: [Deny]
  validations:
    - expression: "!object.spec.template.spec.containers.exists(c, c.?securityContext.?privileged.orValue(false))"
      message: "privileged containers are not allowed"
---
apiVersion: daemonguard.dev/v1alpha1
kind: DaemonSetPolicy
metadata:
  name: pp-keys-are-data
spec:
  validationActions: [Deny]
  validations:
    - expression: >-
        !('constructor' in object.metadata.?labels.orValue({})) &&
        !('toString' in object.metadata.?labels.orValue({})) &&
        !('__proto__' in object.metadata.?labels.orValue({})) &&
        object.metadata.?labels[?'polluted'].orValue('') == '' &&
        !has(object.metadata.labels.hasOwnProperty)
      message: "labels named constructor, toString, __proto__, polluted or hasOwnProperty are refused"
---
apiVersion: daemonguard.dev/v1alpha1
kind: DaemonSetPolicy
metadata:
  name: pp-patch-from-keys
spec:
  failurePolicy: Ignore
  mutations:
    - name: mirror-labels
      when: "has(object.metadata.annotations)"
      jsonPatch:
        expression: >-
          object.metadata.?labels.orValue({}).map(k,
            {'op': 'add', 'path': '/metadata/annotations/mirror.example~1' + jsonpatch.escapeKey(k), 'value': 'seen'})
    - name: user-paths
      when: "has(object.metadata.annotations) && 'patch-path' in object.metadata.annotations"
      jsonPatch:
        expression: "[{'op': 'add', 'path': object.metadata.annotations['patch-path'], 'value': {'polluted': 'yes'}}]"
    - name: default-per-container
      defaults:
        - forEach: /spec/template/spec/containers
          path: /env
          valueExpression: "[{'name': 'CONTAINER', 'value': element.name}]"
`;

let server: HostileServer;

before(async () => {
  server = await startHostileServer({ withoutLibrary: true, extraPolicies: POLICIES });
});

after(async () => {
  await server?.close();
});

const PROTOTYPE_PROBES = ['polluted', 'allowed', 'privileged', 'patch', 'uid', 'isAdmin'];

function assertPrototypesClean(): void {
  for (const key of PROTOTYPE_PROBES) {
    assert.equal(Object.hasOwn(Object.prototype, key), false, `Object.prototype.${key} was set`);
    assert.equal(Object.hasOwn(Array.prototype, key), false, `Array.prototype.${key} was set`);
  }
  assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
}

/** Inserts `"key": value` as the first member of every object in the JSON text whose path matches. */
function withHostileKeys(body: JsonObject, payload: string): string {
  const text = JSON.stringify(body);
  // Every `{` that opens an object gets the hostile members; JSON.parse makes them own properties.
  const members = HOSTILE_KEYS.map((key) => `"${key}":${payload}`).join(',');
  return text.replace(/\{(?=")/g, `{${members},`).replace(/\{\}/g, `{${members}}`);
}

interface Answer {
  allowed: boolean;
  message: string | undefined;
  patch: { op: string; path: string; value?: unknown }[];
  warnings: string[];
}

async function ask(endpoint: '/validate' | '/mutate', text: string): Promise<Answer> {
  const answer = await server.post(endpoint, text);
  const problem = answerProblem(endpoint, { parsed: JSON.parse(text) }, answer);
  assert.equal(problem, undefined, problem);
  const response = answer.json<{ response: { allowed: boolean; status?: { message: string }; patch?: string; warnings?: string[] } }>().response;
  return {
    allowed: response.allowed,
    message: response.status?.message,
    patch: response.patch === undefined ? [] : decodePatch(response.patch),
    warnings: response.warnings ?? [],
  };
}

const privileged = (): JsonObject => admissionReview('CREATE', daemonSet({ privileged: true }));
const compliant = (): JsonObject => {
  const object = daemonSet();
  (object['metadata'] as JsonObject)['annotations'] = { owner: 'team-a' };
  return admissionReview('CREATE', object);
};

describe('prototype pollution', () => {
  let baseline: { privileged: Answer; compliant: Answer; mutate: Answer };

  before(async () => {
    baseline = {
      privileged: await ask('/validate', JSON.stringify(privileged())),
      compliant: await ask('/validate', JSON.stringify(compliant())),
      mutate: await ask('/mutate', JSON.stringify(compliant())),
    };
    assert.equal(baseline.privileged.allowed, false);
    assert.equal(baseline.compliant.allowed, true);
  });

  for (const payload of ['{"polluted":"yes","allowed":true,"privileged":false,"isAdmin":true}', '"yes"', '[{"polluted":"yes"}]', 'null']) {
    it(`hostile keys with ${payload} in every object change neither this answer nor Object.prototype`, async () => {
      // The privileged DaemonSet is still denied: `privileged: false` hidden under __proto__ is not inherited.
      const deniedText = withHostileKeys(privileged(), payload);
      assert.ok(deniedText.includes('"__proto__"'));
      const denied = await ask('/validate', deniedText);
      assert.equal(denied.allowed, false);
      assert.match(denied.message ?? '', /privileged containers are not allowed/);
      assertPrototypesClean();

      // The review decodes: the hostile keys in labels are data, so the CEL policy sees them as labels.
      const labelled = await ask('/validate', withHostileKeys(compliant(), payload));
      assert.equal(labelled.allowed, false);
      assert.match(labelled.message ?? '', /pp-keys-are-data: labels named constructor/);
      assert.doesNotMatch(labelled.message ?? '', /pp-privileged/);
      assertPrototypesClean();

      const mutated = await ask('/mutate', withHostileKeys(compliant(), payload));
      // Mirroring a label named __proto__ is refused by the patch library (failurePolicy Ignore: a warning),
      // never applied to a prototype.
      for (const operation of mutated.patch) assert.doesNotMatch(operation.path, /(^|\/)__proto__(\/|$)/, JSON.stringify(operation));
      assertPrototypesClean();
    });
  }

  it('refuses patch paths through __proto__ or constructor/prototype that come from the object', async () => {
    for (const patchPath of ['/__proto__/polluted', '/metadata/__proto__/polluted', '/constructor/prototype/polluted', '/metadata/annotations/__proto__']) {
      const body = compliant();
      const object = (body['request'] as JsonObject)['object'] as JsonObject;
      ((object['metadata'] as JsonObject)['annotations'] as JsonObject)['patch-path'] = patchPath;
      const answer = await ask('/mutate', JSON.stringify(body));
      assert.equal(answer.allowed, true);
      assert.ok(answer.warnings.some((w) => w.startsWith('pp-patch-from-keys: ignored because')), `${patchPath}: ${JSON.stringify(answer)}`);
      assert.ok(!answer.patch.some((operation) => operation.path === patchPath), patchPath);
      assertPrototypesClean();
    }
  });

  it('answers later requests exactly as before', async () => {
    assert.deepEqual(await ask('/validate', JSON.stringify(privileged())), baseline.privileged);
    assert.deepEqual(await ask('/validate', JSON.stringify(compliant())), baseline.compliant);
    assert.deepEqual(await ask('/mutate', JSON.stringify(compliant())), baseline.mutate);
    assertPrototypesClean();
  });
});
