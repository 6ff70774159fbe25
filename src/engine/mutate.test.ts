import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fastJsonPatch from 'fast-json-patch';
import type { Operation as FastPatchOperation } from 'fast-json-patch';
import { loadPolicySet } from '../policy/load-policies.js';
import type { PolicySet } from '../policy/types.js';
import { admissionRequest, daemonSet, policyYaml, writeTree } from '../../test/support/admission-fixtures.js';
import { review } from './review.js';
import type { Decision, JsonObject } from './types.js';

async function policies(...documents: string[]): Promise<PolicySet> {
  const root = await writeTree(Object.fromEntries(documents.map((d, i) => [`p${i}.yaml`, d])));
  return loadPolicySet([root]);
}

/**
 * Applies a decision's patch the way the kube-apiserver does (strict: `add` needs its parent,
 * `remove`/`replace` need their path), checks the result is what the engine says, and proves
 * idempotence: reviewing the mutated object yields no patch at all.
 */
function assertAppliesAndIsIdempotent(object: JsonObject, decision: Decision, set: PolicySet): JsonObject {
  const applied = fastJsonPatch.applyPatch(structuredClone(object), decision.patch as FastPatchOperation[], true, false).newDocument;
  assert.deepEqual(applied, decision.mutatedObject);
  const again = review(admissionRequest(applied as JsonObject), set, { phase: 'mutate' });
  assert.deepEqual(again.patch, [], `not idempotent: a second review patched ${JSON.stringify(again.patch)}`);
  return applied as JsonObject;
}

const ROLLING_UPDATE = policyYaml(
  'default-rolling-update',
  `
  mutations:
    - name: max-unavailable
      when: "object.spec.?updateStrategy.?type.orValue('RollingUpdate') == 'RollingUpdate'"
      defaults:
        - path: /spec/updateStrategy/rollingUpdate/maxUnavailable
          value: "10%"
        - path: /spec/updateStrategy/rollingUpdate/maxSurge
          value: 0
`,
);

describe('mutations: declarative defaults', () => {
  it('creates missing parents in the operation itself, and composes two defaults under one missing parent', async () => {
    const set = await policies(ROLLING_UPDATE);
    const object = daemonSet();
    const decision = review(admissionRequest(object), set, { phase: 'mutate' });
    assert.deepEqual(decision.patch, [
      { op: 'add', path: '/spec/updateStrategy', value: { rollingUpdate: { maxUnavailable: '10%' } } },
      { op: 'add', path: '/spec/updateStrategy/rollingUpdate/maxSurge', value: 0 },
    ]);
    const applied = assertAppliesAndIsIdempotent(object, decision, set);
    assert.deepEqual((applied.spec as JsonObject).updateStrategy, { rollingUpdate: { maxUnavailable: '10%', maxSurge: 0 } });
    assert.deepEqual(decision.outcomes, [{ policy: 'default-rolling-update', result: 'pass', patchOperations: 2 }]);
  });

  it('never overwrites a value the user set, and honours `when`', async () => {
    const set = await policies(ROLLING_UPDATE);
    const userSet = daemonSet({ spec: { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 2, maxSurge: 0 } } } });
    assert.deepEqual(review(admissionRequest(userSet), set, { phase: 'mutate' }).patch, []);
    const onDelete = daemonSet({ spec: { updateStrategy: { type: 'OnDelete' } } });
    assert.deepEqual(review(admissionRequest(onDelete), set, { phase: 'mutate' }).patch, []);
  });

  it('escapes "/" and "~" in keys as ~1 and ~0', async () => {
    const set = await policies(
      policyYaml('labels', `
      mutations:
        - name: role-label
          defaults:
            - path: /metadata/labels/node-role.kubernetes.io~1control-plane
              value: ""
            - path: /metadata/annotations/a~0b
              value: tilde
      `),
    );
    const object = daemonSet();
    const decision = review(admissionRequest(object), set, { phase: 'mutate' });
    assert.deepEqual(decision.patch, [
      { op: 'add', path: '/metadata/labels/node-role.kubernetes.io~1control-plane', value: '' },
      { op: 'add', path: '/metadata/annotations', value: { 'a~b': 'tilde' } },
    ]);
    const applied = assertAppliesAndIsIdempotent(object, decision, set);
    assert.equal(((applied.metadata as JsonObject).labels as JsonObject)['node-role.kubernetes.io/control-plane'], '');
  });

  it('forEach defaults every list element, computing values with CEL from the element', async () => {
    const set = await policies(
      policyYaml('default-probes', `
      mutations:
        - name: readiness
          defaults:
            - forEach: /spec/template/spec/containers
              path: /readinessProbe
              valueExpression: |
                element.?ports.orValue([]).size() > 0
                  ? {'tcpSocket': {'port': element.ports[0].containerPort}}
                  : dyn(null)
      `),
    );
    const object = daemonSet({
      podSpec: {
        containers: [
          { name: 'exporter', image: 'x:1', ports: [{ containerPort: 9100 }] },
          { name: 'sidecar', image: 'y:1' },
          { name: 'probed', image: 'z:1', ports: [{ containerPort: 8080 }], readinessProbe: { httpGet: { path: '/ready', port: 8080 } } },
          { name: 'pusher', image: 'w:1', ports: [{ containerPort: 9091 }] },
        ],
      },
    });
    const decision = review(admissionRequest(object), set, { phase: 'mutate' });
    assert.deepEqual(decision.patch, [
      { op: 'add', path: '/spec/template/spec/containers/0/readinessProbe', value: { tcpSocket: { port: 9100 } } },
      { op: 'add', path: '/spec/template/spec/containers/3/readinessProbe', value: { tcpSocket: { port: 9091 } } },
    ]);
    assertAppliesAndIsIdempotent(object, decision, set);
  });

  it('refuses a default whose path runs into a value that is not an object or past the end of a list, naming where', async () => {
    const set = await policies(
      policyYaml('through-scalar', `
      failurePolicy: Fail
      mutations:
        - name: privileged
          defaults:
            - forEach: /spec/template/spec/containers
              path: /securityContext/privileged
              valueExpression: "element.name == 'agent'"
      `),
      policyYaml('past-end', `
      failurePolicy: Fail
      mutations:
        - name: second-port
          defaults:
            - forEach: /spec/template/spec/containers
              path: /ports/3/name
              value: metrics
      `),
    );
    const object = daemonSet({
      podSpec: {
        containers: [
          { name: 'agent', image: 'x:1', securityContext: { privileged: false }, ports: [{ containerPort: 9100, name: 'm' }] },
          { name: 'odd', image: 'y:1', securityContext: 'privileged', ports: [{ containerPort: 8080 }] },
        ],
      },
    });
    const decision = review(admissionRequest(object), set, { phase: 'mutate' });
    assert.equal(decision.allowed, false);
    const messages = decision.violations.map((v) => v.message).join('\n');
    assert.match(messages, /cannot set \/securityContext\/privileged: \/spec\/template\/spec\/containers\/1\/securityContext is not an object/);
    assert.match(messages, /cannot set \/ports\/3\/name: \/spec\/template\/spec\/containers\/0\/ports\/3 is past the end of the list/);
    assert.deepEqual(decision.patch, []);
  });
});

describe('mutations: jsonPatch expressions', () => {
  const LABEL_PATCH = policyYaml(
    'owner-label',
    `
    mutations:
      - name: owner
        when: "!has(object.metadata.labels) || !('daemonguard.dev/owner' in object.metadata.labels)"
        jsonPatch:
          expression: |
            has(object.metadata.labels)
              ? [{'op': 'add', 'path': '/metadata/labels/' + jsonpatch.escapeKey('daemonguard.dev/owner'), 'value': request.userInfo.username}]
              : [{'op': 'add', 'path': '/metadata/labels', 'value': {'daemonguard.dev/owner': request.userInfo.username}}]
  `,
  );

  it('applies CEL-built operations, escaped with jsonpatch.escapeKey, idempotently', async () => {
    const set = await policies(LABEL_PATCH);
    const object = daemonSet();
    const decision = review(admissionRequest(object), set, { phase: 'mutate' });
    assert.deepEqual(decision.patch, [{ op: 'add', path: '/metadata/labels/daemonguard.dev~1owner', value: 'alice' }]);
    assertAppliesAndIsIdempotent(object, decision, set);
    const unlabelled = daemonSet();
    delete (unlabelled.metadata as JsonObject).labels;
    const second = review(admissionRequest(unlabelled), set, { phase: 'mutate' });
    assert.deepEqual(second.patch, [{ op: 'add', path: '/metadata/labels', value: { 'daemonguard.dev/owner': 'alice' } }]);
    assertAppliesAndIsIdempotent(unlabelled, second, set);
  });

  it('refuses `test` operations and patches that would not apply, by failurePolicy, leaving no partial patch', async () => {
    const set = await policies(
      policyYaml('tester', `
      failurePolicy: Ignore
      mutations:
        - name: test-op
          jsonPatch:
            expression: "[{'op': 'test', 'path': '/metadata/name', 'value': 'x'}]"
      `),
      policyYaml('orphan', `
      failurePolicy: Fail
      mutations:
        - name: missing-parent
          jsonPatch:
            expression: "[{'op': 'add', 'path': '/metadata/labels/a', 'value': 'b'}, {'op': 'add', 'path': '/spec/nope/deeper', 'value': 1}]"
      `),
    );
    const decision = review(admissionRequest(daemonSet()), set, { phase: 'mutate' });
    assert.deepEqual(decision.patch, []);
    assert.match(decision.warnings[0]!, /^tester: ignored because .*"test" operations are refused/);
    assert.equal(decision.allowed, false);
    assert.match(decision.violations[0]!.message, /patch add \/spec\/nope\/deeper does not apply/);
  });

  it('refuses replace and remove of inherited names (constructor, toString) as the apiserver would', async () => {
    const patches = [
      "{'op': 'replace', 'path': '/metadata/labels/constructor', 'value': 'x'}",
      "{'op': 'remove', 'path': '/metadata/labels/toString'}",
      "{'op': 'add', 'path': '/metadata/constructor/name', 'value': 'x'}",
    ];
    const set = await policies(
      ...patches.map((patch, i) =>
        policyYaml(`inherited-${i}`, `
        failurePolicy: Ignore
        mutations:
          - name: inherited
            jsonPatch:
              expression: "[${patch}]"
        `),
      ),
    );
    const decision = review(admissionRequest(daemonSet()), set, { phase: 'mutate' });
    assert.deepEqual(decision.patch, []);
    assert.match(decision.warnings[0]!, /patch replace \/metadata\/labels\/constructor does not apply: \/metadata\/labels\/constructor does not exist/);
    assert.match(decision.warnings[1]!, /patch remove \/metadata\/labels\/toString does not apply/);
    assert.match(decision.warnings[2]!, /patch add \/metadata\/constructor\/name does not apply: \/metadata\/constructor does not exist/);
    assert.equal(Object.prototype.hasOwnProperty.call(Object.prototype, 'name'), false);
  });

  it('does not mutate on DELETE (there is no object)', async () => {
    const set = await policies(policyYaml('always', `
    match:
      operations: [CREATE, UPDATE, DELETE]
    mutations:
      - name: x
        defaults:
          - path: /spec/revisionHistoryLimit
            value: 5
    `));
    const decision = review(admissionRequest(null, { operation: 'DELETE', oldObject: daemonSet() }), set, { phase: 'mutate' });
    assert.deepEqual(decision.patch, []);
    assert.equal(decision.mutatedObject, null);
  });
});

describe('mutations and the request', () => {
  it('the request object is never modified', async () => {
    const set = await policies(ROLLING_UPDATE);
    const object = daemonSet();
    const before = structuredClone(object);
    review(admissionRequest(object), set, { phase: 'mutate' });
    assert.deepEqual(object, before);
  });
});
