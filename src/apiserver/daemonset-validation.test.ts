import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { daemonSet } from '../../test/support/admission-fixtures.js';
import type { JsonObject } from '../common/vocabulary.js';
import { fieldErrorBody, fieldPathString, formatFieldError, validateDaemonSet } from './daemonset-validation.js';

// Source files are not copied to build/: read the test data from the source tree.
const CASES = new URL('../../../src/apiserver/testdata/invalid-daemonsets.yaml', import.meta.url);
const GOLDEN = new URL('../../../src/apiserver/testdata/invalid-daemonsets.golden.json', import.meta.url);
const DEFAULTS_GOLDEN = new URL('../../../src/apiserver/testdata/apiserver-defaults.golden.json', import.meta.url);

function podSpecOf(object: JsonObject): JsonObject {
  return ((object.spec as JsonObject).template as JsonObject).spec as JsonObject;
}

function messages(object: JsonObject): string[] {
  return validateDaemonSet(object).map(formatFieldError);
}

describe('validateDaemonSet', () => {
  it('gives, in order, the field errors a real kube-apiserver (v1.37.2) refused each invalid DaemonSet with', () => {
    const cases = parseAllDocuments(readFileSync(CASES, 'utf8')).map((document) => document.toJSON() as JsonObject);
    const golden = JSON.parse(readFileSync(GOLDEN, 'utf8')) as Record<string, string[]>;
    assert.ok(cases.length >= 14);
    for (const object of cases) {
      const name = (object.metadata as JsonObject).name as string;
      assert.ok(golden[name], `${name} has recorded errors`);
      assert.deepEqual(messages(object), golden[name], name);
    }
  });

  it('finds nothing wrong in DaemonSets the apiserver stored', () => {
    assert.deepEqual(validateDaemonSet(daemonSet()), []);
    const stored = JSON.parse(readFileSync(DEFAULTS_GOLDEN, 'utf8')) as { cases: { input: JsonObject; webhookObject: JsonObject }[] };
    for (const testCase of stored.cases) {
      assert.deepEqual(validateDaemonSet(testCase.input), []);
      assert.deepEqual(validateDaemonSet(testCase.webhookObject), []);
    }
  });

  it('matches selectors as labels.Selector does: NotIn and DoesNotExist accept a missing label', () => {
    const object = daemonSet();
    (object.spec as JsonObject).selector = {
      matchLabels: { app: 'node-exporter' },
      matchExpressions: [
        { key: 'tier', operator: 'NotIn', values: ['web'] },
        { key: 'canary', operator: 'DoesNotExist' },
        { key: 'app', operator: 'Exists' },
      ],
    };
    ((object.spec as JsonObject).template as JsonObject).metadata = { labels: { app: 'node-exporter' } };
    assert.deepEqual(messages(object), []);
  });

  it('reads an absent or empty restartPolicy as the default, Always', () => {
    const object = daemonSet();
    podSpecOf(object).restartPolicy = '';
    assert.deepEqual(messages(object), []);
  });

  it('does not count unnamed init containers as duplicates of each other', () => {
    const object = daemonSet();
    podSpecOf(object).initContainers = [{ image: 'a' }, { image: 'b' }];
    assert.deepEqual(messages(object), ['spec.template.spec.initContainers[0].name: Required value', 'spec.template.spec.initContainers[1].name: Required value']);
  });

  it('prints paths, bodies and Go-escaped label values as the apiserver does', () => {
    assert.equal(fieldPathString(['spec', 'template', 'spec', 'containers', 2, 'name']), 'spec.template.spec.containers[2].name');
    assert.equal(fieldErrorBody({ path: [], type: 'Required value', detail: '' }), 'Required value');
    const object = daemonSet();
    ((object.spec as JsonObject).template as JsonObject).metadata = { labels: { b: 'x', a: '<&>' } };
    assert.deepEqual(messages(object), ['spec.template.metadata.labels: Invalid value: {"a":"\\u003c\\u0026\\u003e","b":"x"}: `selector` does not match template `labels`']);
  });
});
