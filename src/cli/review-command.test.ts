// `daemonguard review`, run as a real subprocess: the AdmissionReview answer the server would send.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { daemonSet } from '../../test/support/admission-fixtures.js';
import type { JsonObject } from '../engine/types.js';
import { runCli } from '../../test/support/cli-process.js';

const POLICIES = 'src/cli/testdata/policies';

function admissionReview(object: JsonObject, apiVersion = 'admission.k8s.io/v1'): string {
  const metadata = object.metadata as JsonObject;
  return JSON.stringify({
    apiVersion,
    kind: 'AdmissionReview',
    request: {
      uid: '7f0b2a4e-0000-4000-8000-000000000001',
      kind: { group: 'apps', version: 'v1', kind: 'DaemonSet' },
      resource: { group: 'apps', version: 'v1', resource: 'daemonsets' },
      name: metadata.name,
      namespace: metadata.namespace,
      operation: 'CREATE',
      userInfo: { username: 'alice', groups: ['system:authenticated'] },
      object,
      oldObject: null,
      dryRun: false,
    },
  });
}

interface Answer {
  apiVersion: string;
  kind: string;
  response: { uid: string; allowed: boolean; status?: { code: number; message: string }; patchType?: string; patch?: string; warnings?: string[]; auditAnnotations?: Record<string, string> };
}

describe('daemonguard review', () => {
  it('answers /validate: echoes version and uid, no patch, Audit as annotations', async () => {
    const run = await runCli(['review', '-p', POLICIES, '-'], { input: admissionReview(daemonSet({ podSpec: { volumes: [{ name: 'root', hostPath: { path: '/' } }] } })) });
    assert.equal(run.code, 0, run.stderr);
    const answer = JSON.parse(run.stdout) as Answer;
    assert.equal(answer.apiVersion, 'admission.k8s.io/v1');
    assert.equal(answer.kind, 'AdmissionReview');
    assert.equal(answer.response.uid, '7f0b2a4e-0000-4000-8000-000000000001');
    assert.equal(answer.response.allowed, true);
    assert.equal(answer.response.patch, undefined);
    assert.equal(answer.response.patchType, undefined);
    assert.deepEqual(answer.response.auditAnnotations, { 'audit-host-path': 'mounts a hostPath' });
  });

  it('answers /mutate with a base64 JSON patch', async () => {
    const run = await runCli(['review', '-p', POLICIES, '--endpoint', 'mutate', '-'], { input: admissionReview(daemonSet()) });
    assert.equal(run.code, 0, run.stderr);
    const answer = JSON.parse(run.stdout) as Answer;
    assert.equal(answer.response.patchType, 'JSONPatch');
    assert.deepEqual(JSON.parse(Buffer.from(answer.response.patch!, 'base64').toString('utf8')), [{ op: 'add', path: '/metadata/labels/daemonguard.dev~1reviewed', value: 'true' }]);
  });

  it('denies with 403 and the policy message, in the version asked (v1beta1), exit 1', async () => {
    const privileged = daemonSet({ podSpec: { containers: [{ name: 'a', image: 'a:1', securityContext: { privileged: true } }] } });
    const run = await runCli(['review', '-p', POLICIES, '-'], { input: admissionReview(privileged, 'admission.k8s.io/v1beta1') });
    assert.equal(run.code, 1);
    const answer = JSON.parse(run.stdout) as Answer;
    assert.equal(answer.apiVersion, 'admission.k8s.io/v1beta1');
    assert.equal(answer.response.allowed, false);
    assert.equal(answer.response.status!.code, 403);
    assert.equal(answer.response.status!.message, 'no-privileged: a container is privileged');
  });

  it('uses --namespace-labels for namespaceSelector policies', async () => {
    const hostNetwork = daemonSet({ namespace: 'infra', podSpec: { hostNetwork: true } });
    const plain = await runCli(['review', '-p', POLICIES, '-'], { input: admissionReview(hostNetwork) });
    assert.equal(plain.code, 0);
    const labelled = await runCli(['review', '-p', POLICIES, '--namespace-labels', 'team=infra', '-'], { input: admissionReview(hostNetwork) });
    assert.equal(labelled.code, 1);
    assert.match((JSON.parse(labelled.stdout) as Answer).response.status!.message, /infra-admins/);
  });

  it('--nodes gives policies `coverage` as the server with --nodes-from-cluster would: a DaemonSet landing on a control-plane node is warned about', async () => {
    const everywhere = daemonSet({ namespace: 'monitoring', podSpec: { tolerations: [{ operator: 'Exists' }] } });
    const policy = ['-p', 'policies/security/control-plane-coverage.yaml'];
    const withoutNodes = await runCli(['review', ...policy, '-'], { input: admissionReview(everywhere) });
    assert.equal(withoutNodes.code, 0, withoutNodes.stderr);
    assert.equal((JSON.parse(withoutNodes.stdout) as Answer).response.warnings, undefined, 'without the nodes, coverage is null and the policy passes');

    const withNodes = await runCli(['review', ...policy, '--nodes', 'src/cli/testdata/coverage/nodes.yaml', '-'], { input: admissionReview(everywhere) });
    assert.equal(withNodes.code, 0, withNodes.stderr);
    const warnings = (JSON.parse(withNodes.stdout) as Answer).response.warnings ?? [];
    assert.equal(warnings.length, 1, JSON.stringify(warnings));
    assert.match(warnings[0]!, /^control-plane-coverage: .*cp-1/);
  });

  it('--nodes: a file without nodes is an input error, and a flag clash is a usage error (exit 2 both)', async () => {
    const input = admissionReview(daemonSet());
    const noNodes = await runCli(['review', '-p', POLICIES, '--nodes', 'src/cli/testdata/coverage/agent.yaml', '-'], { input });
    assert.equal(noNodes.code, 2);
    assert.match(noNodes.stderr, /src\/cli\/testdata\/coverage\/agent\.yaml: holds no Node objects/);
    const both = await runCli(['review', '-p', POLICIES, '--nodes', 'src/cli/testdata/coverage/nodes.yaml', '--nodes-from-cluster', '-'], { input });
    assert.equal(both.code, 2);
    assert.match(both.stderr, /--nodes and --nodes-from-cluster exclude each other/);
    assert.match(both.stderr, /Usage: daemonguard review/);
    const stdinTwice = await runCli(['review', '-p', POLICIES, '--nodes', '-', '-'], { input });
    assert.equal(stdinTwice.code, 2);
    assert.match(stdinTwice.stderr, /stdin can hold the nodes or/);
  });

  it('refuses a body that is not an AdmissionReview (exit 2), naming the field', async () => {
    const run = await runCli(['review', '-p', POLICIES, '-'], { input: JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'x' } }) });
    assert.equal(run.code, 2);
    assert.match(run.stderr, /<stdin>: not an AdmissionReview the server would answer: request\.operation is missing/);
    const endpoint = await runCli(['review', '--endpoint', 'delete', '-']);
    assert.equal(endpoint.code, 2);
    assert.match(endpoint.stderr, /--endpoint must be one of: validate, mutate/);
  });
});
