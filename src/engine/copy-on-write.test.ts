// Mutations copy only the paths they write and share the rest of the object; the CEL view of the
// mutated object reuses the converted values of the shared parts. These tests pin what makes that
// safe: the request's object is never modified, later mutations see earlier ones, and the reused
// conversion is exactly what a fresh one would be.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toCelValue, toCelValueReusing } from '../cel/values.js';
import { loadPolicySet } from '../policy/load-policies.js';
import type { PolicySet } from '../policy/types.js';
import { admissionRequest, daemonSet, policyYaml, writeTree } from '../../test/support/admission-fixtures.js';
import { review } from './review.js';
import type { JsonObject } from './types.js';

async function policies(...documents: string[]): Promise<PolicySet> {
  const root = await writeTree(Object.fromEntries(documents.map((d, i) => [`p${i}.yaml`, d])));
  return loadPolicySet([root]);
}

const SECCOMP = policyYaml(
  'seccomp',
  `
  mutations:
    - name: seccomp
      defaults:
        - path: /spec/template/spec/securityContext/seccompProfile
          value: {type: RuntimeDefault}
`,
);
const PROBES = policyYaml(
  'probes',
  `
  mutations:
    - name: readiness
      defaults:
        - forEach: /spec/template/spec/containers
          path: /readinessProbe
          valueExpression: "{'tcpSocket': {'port': 9100}}"
`,
);
// Reads what the two policies above wrote: only true if it sees both mutations.
const SEES_EARLIER = policyYaml(
  'sees-earlier',
  `
  mutations:
    - name: mark
      when: >-
        object.spec.template.spec.securityContext.seccompProfile.type == 'RuntimeDefault' &&
        object.spec.template.spec.containers.all(c, has(c.readinessProbe))
      defaults:
        - path: /metadata/annotations
          value: {example.com/checked: "true"}
`,
);
const PATCHES = policyYaml(
  'json-patch',
  `
  mutations:
    - name: move-and-copy
      jsonPatch:
        expression: >-
          [{'op': 'copy', 'from': '/metadata/labels', 'path': '/spec/template/metadata/annotations'},
           {'op': 'move', 'from': '/spec/template/spec/containers/1', 'path': '/spec/template/spec/containers/0'},
           {'op': 'remove', 'path': '/spec/template/spec/tolerations/0'}]
`,
);

function sample(): JsonObject {
  return daemonSet({
    // An own `__proto__` key, as JSON.parse makes it: plain data that every copy must keep as such.
    labels: JSON.parse('{"app": "agent", "__proto__": "data"}') as Record<string, string>,
    podSpec: {
      containers: [
        { name: 'a', image: 'example.com/a:1', ports: [{ containerPort: 9100 }] },
        { name: 'b', image: 'example.com/b:1', env: [{ name: 'X', value: '1' }] },
      ],
      tolerations: [{ operator: 'Exists' }],
      volumes: [{ name: 'v', emptyDir: {} }],
    },
  });
}

describe('mutations copy on write', () => {
  it('never modifies the request object, and later mutations see earlier ones', async () => {
    const set = await policies(SECCOMP, PROBES, SEES_EARLIER);
    const object = sample();
    const pristine = structuredClone(object);
    const decision = review(admissionRequest(object), set, { phase: 'mutate' });
    assert.deepEqual(object, pristine);
    assert.deepEqual(
      decision.patch.map((op) => op.path),
      [
        '/spec/template/spec/securityContext',
        '/spec/template/spec/containers/0/readinessProbe',
        '/spec/template/spec/containers/1/readinessProbe',
        '/metadata/annotations',
      ],
    );
    const mutated = decision.mutatedObject as JsonObject;
    // What no mutation touched is shared, not copied.
    const podSpec = (o: JsonObject): JsonObject => ((o.spec as JsonObject).template as JsonObject).spec as JsonObject;
    assert.equal(podSpec(mutated).volumes, podSpec(object).volumes);
    assert.equal((mutated.metadata as JsonObject).labels, (object.metadata as JsonObject).labels);
    assert.notEqual(podSpec(mutated).containers, podSpec(object).containers);
  });

  it('applies move, copy and remove to copies only', async () => {
    const set = await policies(PATCHES);
    const object = sample();
    const pristine = structuredClone(object);
    const decision = review(admissionRequest(object), set, { phase: 'mutate' });
    assert.deepEqual(object, pristine);
    const podSpec = ((decision.mutatedObject!.spec as JsonObject).template as JsonObject).spec as JsonObject;
    assert.deepEqual(
      (podSpec.containers as JsonObject[]).map((c) => c.name),
      ['b', 'a'],
    );
    assert.deepEqual(podSpec.tolerations, []);
    const annotations = ((decision.mutatedObject!.spec as JsonObject).template as JsonObject).metadata as JsonObject;
    assert.equal(Object.getPrototypeOf(annotations.annotations), Object.prototype);
    assert.deepEqual(Object.keys(annotations.annotations as JsonObject), ['app', '__proto__']);
  });
});

describe('toCelValueReusing', () => {
  it('converts exactly as toCelValue does, reusing the values of shared subtrees', () => {
    const previous = sample();
    const previousCel = toCelValue(previous) as Record<string, Record<string, unknown>>;
    const spec = previous.spec as JsonObject;
    // A copy along one path, as a mutation makes it.
    const next: JsonObject = { ...previous, spec: { ...spec, revisionHistoryLimit: 5 } };
    const reused = toCelValueReusing(next, previous, previousCel) as Record<string, Record<string, unknown>>;
    assert.deepEqual(reused, toCelValue(next));
    assert.equal(reused.metadata, previousCel.metadata);
    assert.equal(reused.spec!.template, previousCel.spec!.template);
    assert.equal(reused.spec!.revisionHistoryLimit, 5n);
  });

  it('falls back to a fresh conversion where the shapes differ', () => {
    const previous: JsonObject = { a: [1, 2], b: { constructor: 'x' }, c: 'text' };
    const next: JsonObject = { a: { 0: 1 }, b: { constructor: 'y' }, c: ['text'], d: 1.5 };
    assert.deepEqual(toCelValueReusing(next, previous, toCelValue(previous)), toCelValue(next));
  });
});
