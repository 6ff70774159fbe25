import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fastJsonPatch from 'fast-json-patch';
import type { Operation as FastPatchOperation } from 'fast-json-patch';
import { daemonSet } from '../../test/support/admission-fixtures.js';
import { ApplyConfigurationError, applyConfiguration, diffOperations } from './apply-configuration.js';
import type { JsonObject } from './types.js';

function podSpec(object: JsonObject): JsonObject {
  return ((object.spec as JsonObject).template as JsonObject).spec as JsonObject;
}

/** The merge, and proof that the operations diffOperations reports produce exactly the merged object. */
function apply(live: JsonObject, configuration: JsonObject): JsonObject {
  const merged = applyConfiguration(live, configuration);
  const operations = diffOperations(live, merged);
  const patched = fastJsonPatch.applyPatch(structuredClone(live), operations as FastPatchOperation[], true, false).newDocument;
  assert.deepEqual(patched, merged);
  return merged;
}

const template = (spec: JsonObject): JsonObject => ({ spec: { template: { spec } } });

describe('ApplyConfiguration merge (server-side apply semantics)', () => {
  it('merges maps key by key and structs field by field, keeping what the configuration does not name', () => {
    const merged = apply(daemonSet(), { metadata: { labels: { team: 'obs' }, annotations: { 'a/b': 'c' } }, spec: { minReadySeconds: 5 } });
    assert.deepEqual((merged.metadata as JsonObject).labels, { app: 'node-exporter', team: 'obs' });
    assert.deepEqual((merged.metadata as JsonObject).annotations, { 'a/b': 'c' });
    assert.equal((merged.spec as JsonObject).minReadySeconds, 5);
    assert.deepEqual((merged.spec as JsonObject).selector, { matchLabels: { app: 'node-exporter' } });
  });

  it('merges listType=map lists by their keys: containers by name, ports by containerPort and protocol (defaulted to TCP)', () => {
    const merged = apply(
      daemonSet(),
      template({
        containers: [
          { name: 'agent', imagePullPolicy: 'Always', ports: [{ containerPort: 9100, hostPort: 9100 }, { containerPort: 9100, protocol: 'UDP' }] },
          { name: 'sidecar', image: 'proxy:1' },
        ],
      }),
    );
    assert.deepEqual(podSpec(merged).containers, [
      {
        name: 'agent',
        image: 'quay.io/prometheus/node-exporter:v1.8.2',
        imagePullPolicy: 'Always',
        ports: [{ name: 'metrics', containerPort: 9100, hostPort: 9100 }, { containerPort: 9100, protocol: 'UDP' }],
      },
      { name: 'sidecar', image: 'proxy:1' },
    ]);
  });

  it('orders merged list items as structured-merge-diff does (typed/merge.go visitListItems)', () => {
    const live = daemonSet({ podSpec: { containers: [{ name: 'a' }, { name: 'b' }, { name: 'c' }] } });
    const merged = apply(live, template({ containers: [{ name: 'c', image: 'x' }, { name: 'a', image: 'y' }, { name: 'd' }] }));
    assert.deepEqual(
      (podSpec(merged).containers as JsonObject[]).map((c) => c.name),
      ['b', 'c', 'a', 'd'],
    );
  });

  it('unions listType=set lists', () => {
    const live = daemonSet();
    (live.metadata as JsonObject).finalizers = ['a', 'b'];
    const merged = apply(live, { metadata: { finalizers: ['b', 'c'] } });
    assert.deepEqual((merged.metadata as JsonObject).finalizers, ['a', 'b', 'c']);
  });

  it('refuses to set atomic lists, maps and structs, naming every one (the apiserver refuses them too)', () => {
    assert.throws(
      () => applyConfiguration(daemonSet(), { spec: { selector: { matchLabels: { x: 'y' } }, template: { spec: { tolerations: [], nodeSelector: { a: 'b' }, containers: [{ name: 'agent', args: ['-v'] }] } } } }),
      (error: unknown) =>
        error instanceof ApplyConfigurationError &&
        error.message ===
          'invalid ApplyConfiguration: may not mutate atomic arrays, maps or structs: .spec.selector, .spec.template.spec.tolerations, .spec.template.spec.nodeSelector, .spec.template.spec.containers[0].args',
    );
  });

  it('refuses undeclared fields and values of the wrong kind, with their path', () => {
    assert.throws(() => applyConfiguration(daemonSet(), { spec: { replicas: 2 } }), /^ApplyConfigurationError: failed to convert patch object to typed object: \.spec\.replicas: field not declared in schema$/);
    assert.throws(() => applyConfiguration(daemonSet(), { spec: { minReadySeconds: 'x' } }), /\.spec\.minReadySeconds: expected int, got string/);
    assert.throws(
      () => applyConfiguration(daemonSet(), template({ containers: [{ name: 'a' }, null] })),
      /\.spec\.template\.spec\.containers: element 1: associative list with keys may not have a null element/,
    );
  });

  it('refuses null values, listing every field (the apiserver cannot convert them)', () => {
    assert.throws(
      () => applyConfiguration(daemonSet(), { metadata: { annotations: { gone: null } }, spec: { minReadySeconds: null } }),
      (error: unknown) =>
        error instanceof ApplyConfigurationError &&
        error.message === 'failed to convert patch object to typed object: errors:\n  .metadata.annotations.gone: expected string, got null\n  .spec.minReadySeconds: expected int, got null',
    );
  });

  it('refuses two items with the same key', () => {
    assert.throws(() => applyConfiguration(daemonSet(), template({ containers: [{ name: 'a' }, { name: 'a' }] })), /containers: duplicate entries for key/);
  });

  it('is idempotent: applying the same configuration to its result changes nothing', () => {
    const configuration = template({ containers: [{ name: 'sidecar', image: 'proxy:1', env: [{ name: 'A', value: '1' }] }] });
    const once = apply(daemonSet(), configuration);
    assert.deepEqual(diffOperations(once, applyConfiguration(once, configuration)), []);
  });

  it('keeps a `__proto__` key an ordinary member', () => {
    const merged = applyConfiguration(daemonSet(), JSON.parse('{"metadata": {"labels": {"__proto__": "x"}}}') as JsonObject);
    assert.equal(Object.getPrototypeOf((merged.metadata as JsonObject).labels), Object.prototype);
    assert.equal(Object.hasOwn((merged.metadata as JsonObject).labels as JsonObject, '__proto__'), true);
  });
});
