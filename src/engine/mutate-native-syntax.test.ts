import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fastJsonPatch from 'fast-json-patch';
import type { Operation as FastPatchOperation } from 'fast-json-patch';
import { loadPolicySet, PolicyLoadError } from '../policy/load-policies.js';
import type { PolicySet } from '../policy/types.js';
import { admissionRequest, daemonSet, policyYaml, writeTree } from '../../test/support/admission-fixtures.js';
import { review } from './review.js';
import type { JsonObject } from './types.js';

async function policies(...documents: string[]): Promise<PolicySet> {
  const root = await writeTree(Object.fromEntries(documents.map((d, i) => [`p${i}.yaml`, d])));
  return loadPolicySet([root]);
}

const SIDECAR = policyYaml(
  'inject-proxy',
  `
  mutations:
    - name: proxy
      applyConfiguration:
        expression: >-
          Object{
            metadata: Object.metadata{labels: {'mesh': 'on'}},
            spec: Object.spec{template: Object.spec.template{spec: Object.spec.template.spec{
              containers: [Object.spec.template.spec.containers{name: 'proxy', image: 'mesh/proxy:1', ports: [Object.spec.template.spec.containers.ports{containerPort: 15001}]}]
            }}}
          }
`,
);

describe('mutations: MutatingAdmissionPolicy syntax in DaemonSetPolicies', () => {
  it('applyConfiguration merges an Object{...} as server-side apply does, as RFC 6902 operations, idempotently', async () => {
    const set = await policies(SIDECAR);
    const object = daemonSet();
    const decision = review(admissionRequest(object), set, { phase: 'mutate' });
    assert.deepEqual(decision.patch, [
      { op: 'add', path: '/metadata/labels/mesh', value: 'on' },
      { op: 'add', path: '/spec/template/spec/containers/1', value: { name: 'proxy', image: 'mesh/proxy:1', ports: [{ containerPort: 15001 }] } },
    ]);
    const applied = fastJsonPatch.applyPatch(structuredClone(object), decision.patch as FastPatchOperation[], true, false).newDocument as JsonObject;
    assert.deepEqual(applied, decision.mutatedObject);
    assert.deepEqual(review(admissionRequest(applied), set, { phase: 'mutate' }).patch, []);
  });

  it('an applyConfiguration that sets an atomic list fails the policy with the apiserver\'s reason', async () => {
    const set = await policies(
      policyYaml(
        'tolerate-all',
        `
  failurePolicy: Fail
  mutations:
    - name: tolerations
      applyConfiguration:
        expression: "Object{spec: Object.spec{template: Object.spec.template{spec: Object.spec.template.spec{tolerations: [{'operator': 'Exists'}]}}}}"
`,
      ),
    );
    const decision = review(admissionRequest(daemonSet()), set, { phase: 'mutate' });
    assert.equal(decision.allowed, false);
    assert.match(JSON.stringify(decision), /may not mutate atomic arrays, maps or structs: \.spec\.template\.spec\.tolerations/);
  });

  it('an applyConfiguration must return Object{...}', async () => {
    const set = await policies(
      policyYaml(
        'plain-map',
        `
  mutations:
    - name: labels
      applyConfiguration:
        expression: "{'metadata': {'labels': {'a': 'b'}}}"
`,
      ),
    );
    const decision = review(admissionRequest(daemonSet()), set, { phase: 'mutate' });
    assert.match(JSON.stringify(decision), /must return an Object\{\.\.\.\} apply configuration/);
  });

  it('jsonPatch accepts JSONPatch{...} objects next to maps', async () => {
    const set = await policies(
      policyYaml(
        'label-node-role',
        `
  mutations:
    - name: role
      when: "!('node-role.kubernetes.io/agent' in object.metadata.labels)"
      jsonPatch:
        expression: >-
          [
            JSONPatch{op: 'add', path: '/metadata/labels/' + jsonpatch.escapeKey('node-role.kubernetes.io/agent'), value: 'true'},
            {'op': 'replace', 'path': '/spec/template/spec/containers/0/image', 'value': 'agent:2'}
          ]
`,
      ),
    );
    const decision = review(admissionRequest(daemonSet()), set, { phase: 'mutate' });
    assert.deepEqual(decision.patch, [
      { op: 'add', path: '/metadata/labels/node-role.kubernetes.io~1agent', value: 'true' },
      { op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'agent:2' },
    ]);
  });

  it('a misspelt type or field in an applyConfiguration is a load error naming the file, the field and the name', async () => {
    await assert.rejects(
      policies(
        policyYaml(
          'typo',
          `
  mutations:
    - name: typo
      applyConfiguration:
        expression: "Object{spec: Object.spec{tempalte: Object.spec.template{}}}"
`,
        ),
      ),
      (error: unknown) => error instanceof PolicyLoadError && /applyConfiguration\.expression/.test(error.message) && /has no field 'tempalte'/.test(error.message) && /p0\.yaml/.test(error.message),
    );
  });
});
