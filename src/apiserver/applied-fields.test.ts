// The field set the CLI gives a plain manifest, against the ones a real kube-apiserver v1.37.2 recorded
// for `kubectl apply --server-side` of the same manifests (copied from its managedFields; the e2e test
// test/e2e/explicit-nulls.e2e.test.ts checks the same against a running apiserver).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { JsonObject } from '../common/vocabulary.js';
import { appliedFieldsEntry } from './applied-fields.js';

/** A manifest that writes null at every depth, as a user may (a Helm value left empty renders so). */
const WITH_NULLS: JsonObject = {
  apiVersion: 'apps/v1',
  kind: 'DaemonSet',
  metadata: { name: 'ssa', namespace: 'nulls', labels: { app: 'agent', x: null }, annotations: { a: null } },
  spec: {
    selector: { matchLabels: { app: 'agent' }, matchExpressions: null },
    updateStrategy: null,
    minReadySeconds: null,
    template: {
      metadata: { labels: { app: 'agent' }, annotations: null },
      spec: {
        hostNetwork: null,
        securityContext: null,
        volumes: null,
        tolerations: [null, { key: 'k', operator: null }],
        nodeSelector: { a: null },
        affinity: { nodeAffinity: null },
        containers: [
          {
            name: 'c',
            image: 'nginx:1.0',
            ports: null,
            args: [null, 'x'],
            command: null,
            resources: { limits: null, requests: { cpu: null } },
            securityContext: { privileged: null, capabilities: { add: null } },
            env: [{ name: 'A', value: null, valueFrom: null }],
            volumeMounts: null,
          },
        ],
        initContainers: null,
      },
    },
  },
};

/** What the apiserver recorded for WITH_NULLS: every field written as null is owned by the applier. */
const RECORDED_WITH_NULLS: JsonObject = {
  'f:metadata': { 'f:annotations': { 'f:a': {} }, 'f:labels': { 'f:app': {}, 'f:x': {} } },
  'f:spec': {
    'f:minReadySeconds': {},
    'f:selector': {},
    'f:template': {
      'f:metadata': { 'f:annotations': {}, 'f:labels': { 'f:app': {} } },
      'f:spec': {
        'f:affinity': { 'f:nodeAffinity': {} },
        'f:containers': {
          'k:{"name":"c"}': {
            '.': {},
            'f:args': {},
            'f:command': {},
            'f:env': { 'k:{"name":"A"}': { '.': {}, 'f:name': {}, 'f:value': {}, 'f:valueFrom': {} } },
            'f:image': {},
            'f:name': {},
            'f:ports': {},
            'f:resources': { 'f:limits': {}, 'f:requests': { 'f:cpu': {} } },
            'f:securityContext': { 'f:capabilities': { 'f:add': {} }, 'f:privileged': {} },
            'f:volumeMounts': {},
          },
        },
        'f:hostNetwork': {},
        'f:initContainers': {},
        'f:nodeSelector': {},
        'f:securityContext': {},
        'f:tolerations': {},
        'f:volumes': {},
      },
    },
    'f:updateStrategy': {},
  },
};

describe('appliedFieldsEntry', () => {
  it('owns the fields a manifest writes as null, at every depth, as server-side apply records them', () => {
    assert.deepEqual(appliedFieldsEntry(WITH_NULLS).fieldsV1, RECORDED_WITH_NULLS);
  });

  it('owns the nodeSelector as a whole, and keys container ports by containerPort and protocol (TCP when left out)', () => {
    const manifest: JsonObject = {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: 'no-nulls' },
      spec: {
        template: {
          spec: {
            nodeSelector: { 'kubernetes.io/os': 'linux' },
            containers: [{ name: 'agent', ports: [{ name: 'metrics', containerPort: 9100 }, { containerPort: 53, protocol: 'UDP' }] }],
          },
        },
      },
    };
    const template = (appliedFieldsEntry(manifest).fieldsV1 as JsonObject)['f:spec'] as JsonObject;
    const pod = ((template['f:template'] as JsonObject)['f:spec'] as JsonObject);
    assert.deepEqual(pod['f:nodeSelector'], {});
    assert.deepEqual((pod['f:containers'] as JsonObject)['k:{"name":"agent"}'], {
      '.': {},
      'f:name': {},
      'f:ports': {
        'k:{"containerPort":9100,"protocol":"TCP"}': { '.': {}, 'f:containerPort': {}, 'f:name': {} },
        'k:{"containerPort":53,"protocol":"UDP"}': { '.': {}, 'f:containerPort': {}, 'f:protocol': {} },
      },
    });
  });
});
