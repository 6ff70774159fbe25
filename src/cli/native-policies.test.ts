// `daemonguard test` on Kubernetes-native policies, through the real CLI: params from --params,
// notes on stderr, and every output format naming the native policy and binding.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { XMLParser } from 'fast-xml-parser';
import { runCli } from '../../test/support/cli-process.js';
import type { JsonReport } from './report/model.js';

const DIR = 'src/cli/testdata/native';
const BASE = ['test', '-p', `${DIR}/policy.yaml`, '--params', `${DIR}/params.yaml`, `${DIR}/daemonsets.yaml`];
const DENIAL = "ValidatingAdmissionPolicy 'max-containers' with binding 'max-containers-deny' denied request: at most 2 containers (strict)";
const WARNING = "Validation failed for ValidatingAdmissionPolicy 'max-containers' with binding 'max-containers-warn': at most 1 containers (lenient)";

describe('daemonguard test with native policies', () => {
  it('evaluates each binding with its params, in the apiserver\'s words, and notes what it skips (-o json)', async () => {
    const run = await runCli([...BASE, '-o', 'json']);
    assert.equal(run.code, 1, run.stderr);
    const report = JSON.parse(run.stdout) as JsonReport;
    const [two, three] = report.results;
    assert.equal(two!.allowed, true);
    assert.deepEqual(two!.warnings, [WARNING]);
    assert.equal(three!.allowed, false);
    assert.deepEqual(three!.violations.find((v) => v.action === 'Deny'), { policy: 'max-containers/max-containers-deny[policy-params/strict]', message: DENIAL, action: 'Deny', reason: 'Forbidden' });
    assert.deepEqual(three!.warnings, [WARNING]);
    assert.match(run.stderr, /^note: src\/cli\/testdata\/native\/policy.yaml:\d+:\d+: ValidatingAdmissionPolicy "pods-only" matches no apps\/v1 DaemonSet/m);
  });

  it('without --params, the Deny binding refuses for want of its params, the Allow binding does nothing', async () => {
    const run = await runCli(['test', '-p', `${DIR}/policy.yaml`, '-o', 'json', `${DIR}/daemonsets.yaml`]);
    assert.equal(run.code, 1, run.stderr);
    const report = JSON.parse(run.stdout) as JsonReport;
    for (const result of report.results) {
      assert.equal(result.allowed, false);
      assert.deepEqual(result.warnings, []);
      assert.equal(result.violations[0]!.message, "ValidatingAdmissionPolicy 'max-containers' with binding 'max-containers-deny' denied request: failed to configure binding: no params found for policy binding with `Deny` parameterNotFoundAction");
    }
  });

  it('junit and sarif name the native policy, binding and params', async () => {
    const junit = await runCli([...BASE, '-o', 'junit']);
    assert.equal(junit.code, 1, junit.stderr);
    const xml = new XMLParser({ ignoreAttributes: false }).parse(junit.stdout) as Record<string, unknown>;
    assert.ok(JSON.stringify(xml).includes(DENIAL), junit.stdout);
    const sarif = await runCli([...BASE, '-o', 'sarif']);
    const results = (JSON.parse(sarif.stdout) as { runs: { results: { ruleId: string; message: { text: string } }[] }[] }).runs[0]!.results;
    assert.ok(results.some((r) => r.ruleId === 'max-containers/max-containers-deny[policy-params/strict]' && r.message.text.includes(DENIAL)), sarif.stdout);
  });

  it('a native policy daemonguard cannot evaluate is an input error at its line (exit 2), never a silent pass', async () => {
    const run = await runCli(['test', '-p', 'test/e2e/testdata/native/policies', '-p', `${DIR}/../native-broken.yaml`, `${DIR}/daemonsets.yaml`]);
    assert.equal(run.code, 2, run.stdout);
    assert.match(run.stderr, /native-broken\.yaml:\d+:\d+: policy "uses-authorizer" spec\.validations\[0\]\.expression: reads `authorizer`/);
    assert.match(run.stderr, /native-broken\.yaml:\d+:\d+: policy "unknown-field" spec\.validationActions: ValidatingAdmissionPolicy: unknown field "validationActions"/);
    assert.match(run.stderr, /native-broken\.yaml:\d+:\d+: policy "mutating" spec: spec\.reinvocationPolicy is required/);
    assert.match(run.stderr, /native-broken\.yaml:\d+:\d+: policy "mutating" spec\.mutations\[0\]\.jsonPatch\.expression: must evaluate to list\(JSONPatch\)/);
  });
});
