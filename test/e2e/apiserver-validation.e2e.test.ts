// daemonguard's copy of the apiserver's DaemonSet validation (src/apiserver/daemonset-validation.ts)
// against a real kube-apiserver: each invalid DaemonSet of the test data is sent as a server-side
// dry-run create, and the apiserver must refuse it (422) with exactly the field errors daemonguard
// gives — same field paths, same messages. No webhook is registered in this cluster.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { fieldErrorBody, fieldPathString, validateDaemonSet } from '../../src/apiserver/daemonset-validation.js';
import { isJsonObject, type JsonObject } from '../../src/common/vocabulary.js';
import { KubeApi } from './admission-support.js';
import { startCluster, type Cluster } from './cluster/cluster.js';

const CASES = new URL('../../../src/apiserver/testdata/invalid-daemonsets.yaml', import.meta.url);

/** `field: message` of each cause of a Status body. */
function causesOf(body: unknown): string[] {
  const details = isJsonObject(body) && isJsonObject(body.details) ? body.details : {};
  const causes = Array.isArray(details.causes) ? details.causes : [];
  return causes.map((cause) => (isJsonObject(cause) ? `${String(cause.field)}: ${String(cause.message)}` : JSON.stringify(cause)));
}

describe('invalid DaemonSets: daemonguard and the kube-apiserver refuse them alike', () => {
  let cluster: Cluster;
  let api: KubeApi;
  before(async () => {
    cluster = await startCluster();
    api = new KubeApi(cluster);
  });
  after(async () => {
    api?.close();
    await cluster?.stop();
  });

  it('gives each refusal the field path and message the apiserver gives', async () => {
    const cases = parseAllDocuments(readFileSync(CASES, 'utf8')).map((document) => document.toJSON() as JsonObject);
    assert.ok(cases.length >= 14);
    for (const object of cases) {
      const name = (object.metadata as JsonObject).name as string;
      const expected = validateDaemonSet(object).map((error) => `${fieldPathString(error.path)}: ${fieldErrorBody(error)}`);
      assert.ok(expected.length > 0, `${name}: daemonguard finds it invalid`);
      const answer = await api.dryRunCreate('default', object);
      assert.equal(answer.status, 422, `${name}: the apiserver refuses it as invalid`);
      assert.deepEqual([...causesOf(answer.body)].sort(), [...expected].sort(), name);
    }
  });
});
