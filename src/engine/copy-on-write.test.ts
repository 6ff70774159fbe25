// Mutations copy only the paths they write and share the rest of the object; the CEL values of the
// shared parts, converted by identity (celOfJson), carry over to the mutated object. These tests pin
// what makes that safe: the request's object is never modified, later mutations see earlier ones,
// and the conversion by identity is exactly what a fresh one would be.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { celOfJson, toCelValue } from '../cel/values.js';
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

  it('sets a default beside an own __proto__ key as a member, and refuses one that writes a __proto__ key as before', async () => {
    const beside = policyYaml('beside', `
  mutations:
    - name: label
      defaults:
        - path: /metadata/labels/tier
          value: node
        - path: /metadata/labels/__proto__
          value: other
`);
    const through = policyYaml('through', `
  failurePolicy: Fail
  mutations:
    - name: label
      defaults:
        - path: /metadata/labels/__proto__
          value: x
`);
    const object = sample();
    const pristine = structuredClone(object);
    const decision = review(admissionRequest(object), await policies(beside), { phase: 'mutate' });
    assert.deepEqual(object, pristine);
    const labels = (decision.mutatedObject!.metadata as JsonObject).labels as JsonObject;
    // The own `__proto__` key was there (data, not null): only `tier` is added, last, as a member.
    assert.deepEqual(Object.keys(labels), ['app', '__proto__', 'tier']);
    assert.equal(Object.getPrototypeOf(labels), Object.prototype);
    assert.deepEqual(decision.patch, [{ op: 'add', path: '/metadata/labels/tier', value: 'node' }]);
    // A name the patch library will not write through: the same refusal as any patch's.
    const plain = sample();
    (plain.metadata as JsonObject).labels = { app: 'agent' };
    const refused = review(admissionRequest(plain), await policies(through), { phase: 'mutate' });
    assert.equal(refused.outcomes[0]?.result, 'error');
    assert.match(refused.outcomes[0]?.message ?? '', /banned for security reasons/);
    assert.deepEqual(refused.patch, []);
  });

  it('writes a default whose value holds a __proto__ key as data, in the patch and in the object', async () => {
    const set = await policies(
      policyYaml(
        'holder',
        `
  mutations:
    - name: selector
      defaults:
        - path: /spec/template/metadata/annotations
          value: {"__proto__": {"polluted": "yes"}, "kept": "1"}
`,
      ),
    );
    const object = sample();
    delete (((object.spec as JsonObject).template as JsonObject).metadata as JsonObject).annotations;
    const decision = review(admissionRequest(object), set, { phase: 'mutate' });
    const written = (((decision.mutatedObject!.spec as JsonObject).template as JsonObject).metadata as JsonObject).annotations as JsonObject;
    for (const value of [written, decision.patch[0]?.value as JsonObject]) {
      assert.equal(Object.getPrototypeOf(value), Object.prototype);
      assert.deepEqual(Object.keys(value), ['__proto__', 'kept']);
      assert.deepEqual(Object.getOwnPropertyDescriptor(value, '__proto__')?.value, { polluted: 'yes' });
    }
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  });
});

describe('celOfJson', () => {
  it('converts exactly as toCelValue does, converting a subtree shared by two objects once', () => {
    const previous = sample();
    const converted = new Map<object, unknown>();
    const previousCel = celOfJson(previous, converted) as Record<string, Record<string, unknown>>;
    const spec = previous.spec as JsonObject;
    // A copy along one path, as a mutation makes it.
    const next: JsonObject = { ...previous, spec: { ...spec, revisionHistoryLimit: 5 } };
    assert.deepEqual(celOfJson(next, converted), toCelValue(next));
    assert.equal(celOfJson(next.metadata, converted), celOfJson(previous.metadata, converted));
    assert.equal(celOfJson(spec.template, converted), celOfJson((next.spec as JsonObject).template, converted));
    assert.deepEqual(celOfJson((next.spec as JsonObject).revisionHistoryLimit, converted), 5n);
    assert.deepEqual(previousCel, toCelValue(previous));
  });

  it('gives a CEL value back unchanged, whatever an operation returned for a part of the JSON', () => {
    const converted = new Map<object, unknown>();
    const map = toCelValue({ constructor: 'x' });
    assert.ok(map instanceof Map);
    assert.equal(celOfJson(map, converted), map);
    assert.equal(celOfJson(7n, converted), 7n);
    assert.equal(celOfJson(1.5, converted), 1.5);
    assert.equal(celOfJson(2 ** 63, converted), 2 ** 63);
  });
});
