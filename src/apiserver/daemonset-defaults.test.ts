import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { daemonSet } from '../../test/support/admission-fixtures.js';
import type { JsonObject } from '../engine/types.js';
import { applyApiserverDefaults, TEMPLATE_GENERATION_ANNOTATION, unknownDaemonSetFields } from './daemonset-defaults.js';

// Source files are not copied to build/: read the golden file from the source tree.
const GOLDEN = new URL('../../../src/apiserver/testdata/apiserver-defaults.golden.json', import.meta.url);

interface GoldenCase {
  name: string;
  namespace: string;
  input: JsonObject;
  webhookObject: JsonObject;
}

function podSpec(object: JsonObject): JsonObject {
  return ((object.spec as JsonObject).template as JsonObject).spec as JsonObject;
}

describe('applyApiserverDefaults', () => {
  it('gives exactly the object a real kube-apiserver (v1.37.2) sent its mutating webhook', () => {
    const golden = JSON.parse(readFileSync(GOLDEN, 'utf8')) as { cases: GoldenCase[] };
    assert.ok(golden.cases.length >= 3);
    for (const testCase of golden.cases) {
      assert.deepEqual(applyApiserverDefaults(testCase.input, { namespace: testCase.namespace }), testCase.webhookObject, testCase.name);
    }
  });

  it('defaults the update strategy, history limit and pod template', () => {
    const result = applyApiserverDefaults(daemonSet());
    const spec = result.spec as JsonObject;
    assert.deepEqual(spec.updateStrategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } });
    assert.equal(spec.revisionHistoryLimit, 10);
    const pod = podSpec(result);
    assert.equal(pod.restartPolicy, 'Always');
    assert.equal(pod.terminationGracePeriodSeconds, 30);
    assert.equal(pod.dnsPolicy, 'ClusterFirst');
    assert.equal(pod.schedulerName, 'default-scheduler');
    assert.deepEqual(pod.securityContext, {});
    assert.equal(pod.serviceAccountName, undefined);
    const [container] = pod.containers as JsonObject[];
    assert.equal(container!.terminationMessagePath, '/dev/termination-log');
    assert.equal(container!.terminationMessagePolicy, 'File');
    assert.equal(container!.imagePullPolicy, 'IfNotPresent');
    assert.deepEqual(container!.resources, {});
    assert.deepEqual((container!.ports as JsonObject[])[0], { name: 'metrics', containerPort: 9100, protocol: 'TCP' });
    assert.deepEqual(result.status, { currentNumberScheduled: 0, numberMisscheduled: 0, desiredNumberScheduled: 0, numberReady: 0 });
    assert.equal(((result.metadata as JsonObject).annotations as JsonObject)[TEMPLATE_GENERATION_ANNOTATION], '0');
  });

  it('keeps explicit values, including pointer zeros, and leaves OnDelete without rollingUpdate', () => {
    const input = daemonSet({ spec: { revisionHistoryLimit: 0, updateStrategy: { type: 'OnDelete' } }, podSpec: { terminationGracePeriodSeconds: 0 } });
    const result = applyApiserverDefaults(input);
    assert.deepEqual((result.spec as JsonObject).updateStrategy, { type: 'OnDelete' });
    assert.equal((result.spec as JsonObject).revisionHistoryLimit, 0);
    assert.equal(podSpec(result).terminationGracePeriodSeconds, 0);
  });

  it('defaults imagePullPolicy from the tag: Always for latest or untagged, IfNotPresent for tags and digests', () => {
    const images = ['nginx', 'nginx:latest', 'nginx:1.27', `nginx@sha256:${'b'.repeat(64)}`];
    const input = daemonSet({ podSpec: { containers: images.map((image, i) => ({ name: `c${i}`, image })) } });
    const policies = (podSpec(applyApiserverDefaults(input)).containers as JsonObject[]).map((c) => c.imagePullPolicy);
    assert.deepEqual(policies, ['Always', 'Always', 'IfNotPresent', 'IfNotPresent']);
  });

  it('defaults probes, volumes and env field references', () => {
    const input = daemonSet({
      podSpec: {
        containers: [{
          name: 'agent',
          image: 'agent:1',
          livenessProbe: { httpGet: { port: 8080 } },
          env: [{ name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }],
        }],
        volumes: [
          { name: 'root', hostPath: { path: '/' } },
          { name: 'config', configMap: { name: 'c' } },
          { name: 'creds', secret: { secretName: 's' } },
          { name: 'scratch', emptyDir: {} },
        ],
      },
    });
    const pod = podSpec(applyApiserverDefaults(input));
    const [container] = pod.containers as JsonObject[];
    assert.deepEqual(container!.livenessProbe, { httpGet: { path: '/', port: 8080, scheme: 'HTTP' }, timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1, failureThreshold: 3 });
    assert.deepEqual(container!.env, [{ name: 'NODE', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'spec.nodeName' } } }]);
    assert.deepEqual(pod.volumes, [
      { name: 'root', hostPath: { path: '/', type: '' } },
      { name: 'config', configMap: { name: 'c', defaultMode: 420 } },
      { name: 'creds', secret: { secretName: 's', defaultMode: 420 } },
      { name: 'scratch', emptyDir: {} },
    ]);
  });

  it('does not copy limits to requests in a pod template (only Pods get that)', () => {
    const input = daemonSet({ podSpec: { containers: [{ name: 'a', image: 'a:1', resources: { limits: { cpu: '0.5', memory: '1024Mi' } } }] } });
    const [container] = podSpec(applyApiserverDefaults(input)).containers as JsonObject[];
    assert.deepEqual(container!.resources, { limits: { cpu: '500m', memory: '1Gi' } });
  });

  it('drops omitempty zero values the way Go re-encodes the object', () => {
    const input = daemonSet({ spec: { minReadySeconds: 0 }, podSpec: { hostNetwork: false, nodeSelector: {}, tolerations: [] } });
    const result = applyApiserverDefaults(input);
    assert.equal('minReadySeconds' in (result.spec as JsonObject), false);
    const pod = podSpec(result);
    for (const key of ['hostNetwork', 'nodeSelector', 'tolerations']) assert.equal(key in pod, false, key);
  });

  it('fills in the namespace of the request and is pure', () => {
    const input = daemonSet();
    delete (input.metadata as JsonObject).namespace;
    const snapshot = structuredClone(input);
    const result = applyApiserverDefaults(input, { namespace: 'monitoring' });
    assert.equal((result.metadata as JsonObject).namespace, 'monitoring');
    assert.deepEqual(input, snapshot);
    assert.deepEqual(applyApiserverDefaults(result, { namespace: 'monitoring' }), result, 'idempotent');
  });

  it('reports fields an apps/v1 DaemonSet does not have', () => {
    const input = daemonSet({ podSpec: { contianers: [] } });
    assert.deepEqual(unknownDaemonSetFields(input), ['/spec/template/spec/contianers']);
  });
});
