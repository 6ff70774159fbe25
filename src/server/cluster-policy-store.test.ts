// Cluster policies load one object at a time: a broken version keeps the last good one serving, a
// name also loaded from files is refused in status, and statuses say where the problem is.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import type { PolicySet } from '../policy/types.js';
import { ClusterPolicyStore, objectText, type ClusterObject } from './cluster-policy-store.js';
import { statusToWrite } from './object-status.js';
import { StaticPolicyStore } from './policy-store.js';
import { captureLogger } from '../../test/support/server-fixtures.js';
import { loadPolicySet } from '../policy/load-policies.js';
import { writeTree } from '../../test/support/admission-fixtures.js';

function policyObject(name: string, generation: number, expression: string, extra: Record<string, unknown> = {}): ClusterObject {
  return {
    apiVersion: 'daemonguard.dev/v1alpha1',
    kind: 'DaemonSetPolicy',
    metadata: {
      name,
      uid: `uid-${name}`,
      generation,
      annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"a": "long copy"}' },
    },
    spec: { validationActions: ['Deny'], validations: [{ expression, message: `${name} v${generation}` }], ...extra },
    status: {},
  };
}

function messages(set: PolicySet | undefined): string[] {
  return (set?.policies ?? []).map((policy) => `${policy.name}: ${policy.validations[0]?.message ?? ''}`);
}

function store(files?: PolicySet): ClusterPolicyStore {
  return new ClusterPolicyStore({ namespaceSource: false, logger: captureLogger().logger, ...(files === undefined ? {} : { files: new StaticPolicyStore(files) }) });
}

describe('ClusterPolicyStore', () => {
  it('serves nothing until the objects were listed once, then the listed ones, sorted by name', async () => {
    const policies = store();
    assert.equal(policies.current(), undefined);
    await policies.update([policyObject('zeta', 1, 'true'), policyObject('alpha', 1, 'true')]);
    assert.deepEqual(messages(policies.current()), ['alpha: alpha v1', 'zeta: zeta v1']);
    await policies.update([policyObject('zeta', 1, 'true')]);
    assert.deepEqual(messages(policies.current()), ['zeta: zeta v1']);
  });

  it('adds the last audit’s impact to each enforced policy’s status: zero for a policy the audit found no violator of, none before an audit', async () => {
    const policies = store();
    await policies.update([policyObject('seen', 1, 'true'), policyObject('clean', 1, 'true'), policyObject('broken', 1, 'object.nope')]);
    assert.equal(policies.statuses().get('seen')!.impact, undefined);
    policies.setImpact(new Map([['seen', { wouldDeny: 3, wouldWarn: 0, sample: ['a/x', 'b/y', 'c/z'] }]]));
    assert.deepEqual(policies.statuses().get('seen')!.impact, { wouldDeny: 3, wouldWarn: 0, sample: ['a/x', 'b/y', 'c/z'] });
    assert.deepEqual(policies.statuses().get('clean')!.impact, { wouldDeny: 0, wouldWarn: 0, sample: [] });
    // Not enforced: no impact to claim.
    assert.equal(policies.statuses().get('broken')!.impact, undefined);
  });

  it('keeps the last good version of a policy whose new version does not type-check, and says why in its status', async () => {
    const policies = store();
    await policies.update([policyObject('checks', 1, 'object.spec.template.spec.containers.size() > 0')]);
    await policies.update([policyObject('checks', 2, 'object.spec.tempalte.spec.containers.size() > 0')]);
    assert.deepEqual(messages(policies.current()), ['checks: checks v1']);
    const status = policies.statuses().get('checks')!;
    assert.equal(status.ready, false);
    assert.equal(status.reason, 'LoadFailed');
    assert.equal(status.observedGeneration, 2);
    assert.equal(status.expressions, 1);
    assert.match(status.message, /^generation 2 does not load .*Generation 1 keeps being enforced\./);
    const [, line, column] = /spec\.validations\[0\]\.expression \(line (\d+), column (\d+)\): no such field "tempalte"/.exec(status.message)!;
    // The line and column are those of the misspelt field in the rendering the loader read.
    const rendered = objectText(policyObject('checks', 2, 'object.spec.tempalte.spec.containers.size() > 0')).split('\n');
    assert.equal(rendered[Number(line) - 1]!.slice(Number(column) - 1).startsWith('tempalte'), true, rendered[Number(line) - 1]);
    assert.match(status.message, /object\.spec\.tempalte\.spec\.containers\.size\(\) > 0\n\s+\^/);
  });

  it('serves nothing for a policy that never loaded, and quotes the line of a schema error with a caret', async () => {
    const policies = store();
    await policies.update([policyObject('bad', 1, 'true', { validationActions: ['Block'] })]);
    assert.deepEqual(messages(policies.current()), []);
    const status = policies.statuses().get('bad')!;
    assert.match(status.message, /No version of this policy loaded, so it is not enforced\./);
    // Line 7 of the rendering is the list item under spec.validationActions.
    const text = objectText(policyObject('bad', 1, 'true', { validationActions: ['Block'] }));
    assert.equal(text.split('\n')[6], '    - Block');
    assert.match(status.message, /spec\.validationActions\[0\] \(line 7, column 7\): must be one of: Deny, Warn, Audit\n {2}\s{4}- Block\n {2}\s{6}\^/);
  });

  it('renders what the loader reads without kubectl’s last-applied copy, with keys sorted', () => {
    const text = objectText(policyObject('checks', 1, 'true'));
    assert.doesNotMatch(text, /last-applied/);
    assert.deepEqual(Object.keys(parse(text) as object), ['apiVersion', 'kind', 'metadata', 'spec']);
    assert.deepEqual(parse(text).metadata, { name: 'checks' });
  });

  it('refuses a policy that reads namespaces when the server has none, and counts expressions of one that loads', async () => {
    const policies = store();
    await policies.update([
      policyObject('by-label', 1, 'true', { match: { namespaceSelector: { matchLabels: { team: 'a' } } } }),
      policyObject('counted', 1, 'true', { matchConditions: [{ name: 'c', expression: 'true' }], variables: [{ name: 'v', expression: '1' }] }),
    ]);
    assert.deepEqual(messages(policies.current()), ['counted: counted v1']);
    assert.match(policies.statuses().get('by-label')!.message, /selects namespaces by label \(spec\.match\.namespaceSelector\), but the server was given no namespaces/);
    assert.equal(policies.statuses().get('counted')!.expressions, 3);
  });

  it('lets the file win when a name is defined in a file and in the cluster, and says so in the object’s status', async () => {
    const dir = await writeTree({
      'file.yaml': 'apiVersion: daemonguard.dev/v1alpha1\nkind: DaemonSetPolicy\nmetadata:\n  name: shared\nspec:\n  validations:\n    - expression: "true"\n      message: from the file\n',
    });
    const files = await loadPolicySet([dir]);
    const policies = store(files);
    await policies.update([policyObject('shared', 1, 'true'), policyObject('own', 1, 'true')]);
    assert.deepEqual(messages(policies.current()), ['shared: from the file', 'own: own v1']);
    const status = policies.statuses().get('shared')!;
    assert.equal(status.reason, 'DuplicateName');
    assert.match(status.message, /also loaded from .*file\.yaml:1; the file's version is enforced/);
  });
});

describe('ClusterPolicyStore with exceptions', () => {
  const exception = (name: string, namespace: string, policies: string[]): ClusterObject => ({
    apiVersion: 'daemonguard.dev/v1alpha1',
    kind: 'DaemonSetPolicyException',
    metadata: { name, namespace, generation: 1 },
    spec: { policies, match: { names: ['calico-node'] }, reason: 'reviewed' },
  });

  it('waits for both lists, serves exceptions by namespace/name, and says which named policies are not loaded', async () => {
    const policies = new ClusterPolicyStore({ namespaceSource: false, logger: captureLogger().logger, exceptions: true });
    await policies.update([policyObject('checks', 1, 'true')]);
    assert.equal(policies.current(), undefined, 'exceptions not listed yet');
    await policies.updateExceptions([exception('calico', 'kube-system', ['checks']), exception('typo', 'kube-system', ['checks', 'chekcs'])]);
    assert.deepEqual(policies.current()?.exceptions.map((e) => e.id), ['kube-system/calico', 'kube-system/typo']);
    const statuses = policies.exceptionStatuses();
    assert.equal(statuses.get('kube-system/calico')?.ready, true);
    assert.equal(statuses.get('kube-system/typo')?.reason, 'UnknownPolicy');
    assert.match(statuses.get('kube-system/typo')!.message, /names "chekcs", which is not loaded .* It applies to checks\./);
  });

  it('keeps the last good version of an exception whose change is refused', async () => {
    const policies = new ClusterPolicyStore({ namespaceSource: false, logger: captureLogger().logger, exceptions: true });
    await policies.update([policyObject('checks', 1, 'true')]);
    await policies.updateExceptions([exception('calico', 'kube-system', ['checks'])]);
    await policies.updateExceptions([{ ...exception('calico', 'kube-system', ['checks']), metadata: { name: 'calico', namespace: 'kube-system', generation: 2 }, spec: { policies: ['checks'], match: {}, reason: 'x' } }]);
    assert.deepEqual(policies.current()?.exceptions.map((e) => e.id), ['kube-system/calico']);
    const status = policies.exceptionStatuses().get('kube-system/calico')!;
    assert.equal(status.reason, 'LoadFailed');
    assert.match(status.message, /Generation 1 keeps being enforced\.\nspec\.match \(line \d+, column \d+\): give names, objectSelector or both/);
  });
});

describe('ClusterPolicyStore with spec.paramsFrom', () => {
  const ports = (generation: number): ClusterObject =>
    policyObject('ports', generation, 'object.spec.template.spec.containers.all(c, c.?ports.orValue([]).all(p, p.?hostPort.orValue(0) in params.allowedPorts))', {
      params: { allowedPorts: [9100] },
      paramsFrom: { configMap: 'ports-params' },
    });
  const allowed = (set: PolicySet | undefined): unknown => (set?.policies[0]?.document.spec.params as { allowedPorts?: unknown } | undefined)?.allowedPorts;

  it('overrides params with the ConfigMap’s values read as YAML, type-checked again; a bad value keeps the last good version', async () => {
    const policies = new ClusterPolicyStore({ namespaceSource: false, logger: captureLogger().logger, paramsNamespace: 'daemonguard-system' });
    await policies.update([ports(1)]);
    assert.equal(policies.current(), undefined, 'ConfigMaps not listed yet');
    await policies.updateConfigMaps([{ metadata: { name: 'ports-params' }, data: { allowedPorts: '[9100, 9256]' } }]);
    assert.deepEqual(allowed(policies.current()), [9100, 9256]);
    assert.equal(policies.statuses().get('ports')?.ready, true);

    // A string where the expression needs a list: `in` over a string does not type-check.
    await policies.updateConfigMaps([{ metadata: { name: 'ports-params' }, data: { allowedPorts: 'all' } }]);
    assert.deepEqual(allowed(policies.current()), [9100, 9256]);
    assert.match(policies.statuses().get('ports')!.message, /Generation 1 keeps being enforced\.\nspec\.validations\[0\]\.expression/);

    await policies.updateConfigMaps([{ metadata: { name: 'ports-params' }, data: { alowedPorts: '[1]' } }]);
    assert.match(policies.statuses().get('ports')!.message, /spec\.paramsFrom\.configMap \(line \d+, column \d+\): ConfigMap daemonguard-system\/ports-params has key "alowedPorts", which is not a parameter of spec\.params \(declared: allowedPorts\)\n {2}\s+configMap: ports-params\n\s+\^/);
    await policies.updateConfigMaps([]);
    assert.match(policies.statuses().get('ports')!.message, /ConfigMap daemonguard-system\/ports-params does not exist/);
    assert.deepEqual(allowed(policies.current()), [9100, 9256]);
  });

  it('applies spec.params as written while an optional ConfigMap does not exist', async () => {
    const policies = new ClusterPolicyStore({ namespaceSource: false, logger: captureLogger().logger, paramsNamespace: 'daemonguard-system' });
    const optional = ports(1);
    (optional.spec as { paramsFrom: { optional?: boolean } }).paramsFrom.optional = true;
    await policies.update([optional]);
    await policies.updateConfigMaps([]);
    assert.deepEqual(allowed(policies.current()), [9100]);
    assert.equal(policies.statuses().get('ports')?.ready, true);
    await policies.updateConfigMaps([{ metadata: { name: 'ports-params' }, data: { allowedPorts: '[22]' } }]);
    assert.deepEqual(allowed(policies.current()), [22]);
  });

  it('is refused in a policy file, which has no ConfigMaps to read', async () => {
    const dir = await writeTree({ 'p.yaml': 'apiVersion: daemonguard.dev/v1alpha1\nkind: DaemonSetPolicy\nmetadata:\n  name: p\nspec:\n  params: {a: 1}\n  paramsFrom: {configMap: x}\n' });
    await assert.rejects(loadPolicySet([dir]), /p\.yaml:7:\d+: policy "p" spec\.paramsFrom: paramsFrom is read only from DaemonSetPolicy objects in a cluster/);
  });
});

/** A warm-up (serve's `prepare`) held open until the test lets it finish, recording each set it was given. */
function heldWarmUp(): { prepare: (next: PolicySet, trigger: string) => Promise<void>; calls: { set: PolicySet; trigger: string }[]; finish: () => void } {
  const calls: { set: PolicySet; trigger: string }[] = [];
  let finishing: (() => void)[] = [];
  return {
    calls,
    prepare: (set, trigger) => {
      calls.push({ set, trigger });
      return new Promise<void>((resolve) => finishing.push(resolve));
    },
    finish: () => {
      const pending = finishing;
      finishing = [];
      for (const resolve of pending) resolve();
    },
  };
}

/** Resolves once `condition` holds (loading a policy yields to the event loop), or fails after 10 s. */
async function until(what: string, condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`${what} did not happen within 10 s`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('ClusterPolicyStore with a warm-up', () => {
  it('serves the first set only once it was warmed up (so /readyz waits), and a rebuilt set only after its own warm-up; the last one serves meanwhile', async () => {
    const warmUp = heldWarmUp();
    const policies = new ClusterPolicyStore({ namespaceSource: false, logger: captureLogger().logger, prepare: warmUp.prepare });
    const listed = policies.update([policyObject('alpha', 1, 'true')]);
    await until('the first warm-up', () => warmUp.calls.length === 1);
    assert.equal(warmUp.calls[0]!.trigger, 'start');
    assert.deepEqual(messages(warmUp.calls[0]!.set), ['alpha: alpha v1']);
    assert.equal(policies.isSynced, true);
    assert.equal(policies.current(), undefined, 'listed, but not served before its warm-up');
    warmUp.finish();
    await listed;
    assert.equal(policies.current(), warmUp.calls[0]!.set, 'the very set that was warmed up serves');

    const changed = policies.update([policyObject('alpha', 2, 'true')]);
    let settled = false;
    void changed.then(() => (settled = true));
    await until('the second warm-up', () => warmUp.calls.length === 2);
    assert.equal(warmUp.calls[1]!.trigger, 'DaemonSetPolicy change');
    assert.deepEqual(messages(policies.current()), ['alpha: alpha v1'], 'the last set serves while the new one warms up');
    assert.equal(settled, false, 'the update settles (and status is written) only once its set serves');
    assert.equal(policies.isSettled, false, 'periodic status writes wait too');
    warmUp.finish();
    await changed;
    assert.equal(policies.isSettled, true);
    assert.equal(policies.current(), warmUp.calls[1]!.set);
    assert.deepEqual(messages(policies.current()), ['alpha: alpha v2']);

    // A change that changes nothing (a status write) is not warmed up again.
    await policies.update([policyObject('alpha', 2, 'true')]);
    assert.equal(warmUp.calls.length, 2);
  });

  it('warms a burst of queued changes up once, for the last of them, and every caller waits for that set', async () => {
    const warmUp = heldWarmUp();
    const policies = new ClusterPolicyStore({ namespaceSource: false, logger: captureLogger().logger, prepare: warmUp.prepare });
    const first = policies.update([policyObject('a', 1, 'true')]);
    await until('the first warm-up', () => warmUp.calls.length === 1);
    const burst = [
      policies.update([policyObject('a', 1, 'true'), policyObject('b', 1, 'true')]),
      policies.update([policyObject('a', 1, 'true'), policyObject('b', 1, 'true'), policyObject('c', 1, 'true')]),
      policies.update([policyObject('a', 1, 'true'), policyObject('b', 1, 'true'), policyObject('c', 1, 'true'), policyObject('d', 1, 'true')]),
    ];
    warmUp.finish();
    await first;
    // The three changes apply one after the other; only the last is built and warmed up.
    await until('the burst’s warm-up', () => warmUp.calls.length === 2);
    assert.deepEqual(messages(warmUp.calls[1]!.set), ['a: a v1', 'b: b v1', 'c: c v1', 'd: d v1']);
    assert.deepEqual(messages(policies.current()), ['a: a v1']);
    warmUp.finish();
    await Promise.all(burst);
    assert.deepEqual(messages(policies.current()), ['a: a v1', 'b: b v1', 'c: c v1', 'd: d v1']);
  });

  it('a warm-up that fails is logged, and its set serves anyway', async () => {
    const { logger, records } = captureLogger();
    const policies = new ClusterPolicyStore({ namespaceSource: false, logger, prepare: () => Promise.reject(new Error('sample review threw')) });
    await policies.update([policyObject('alpha', 1, 'true')]);
    assert.deepEqual(messages(policies.current()), ['alpha: alpha v1']);
    const warning = records.find((line) => line['msg'] === 'preparing the policy set before it serves failed; it serves anyway');
    assert.ok(warning, 'the failure is logged');
    assert.equal(warning['trigger'], 'start');
  });

  it('a set rebuilt for new files alone serves at once (their own store warmed them up), with the cluster’s policies in it', async () => {
    const dir = await writeTree({ 'f.yaml': 'apiVersion: daemonguard.dev/v1alpha1\nkind: DaemonSetPolicy\nmetadata:\n  name: from-file\nspec:\n  validations:\n    - expression: "true"\n      message: file v1\n' });
    let files = await loadPolicySet([dir]);
    const warmUp = heldWarmUp();
    const policies = new ClusterPolicyStore({ namespaceSource: false, logger: captureLogger().logger, prepare: warmUp.prepare, files: { current: () => files } });
    const listed = policies.update([policyObject('alpha', 1, 'true')]);
    await until('the first warm-up', () => warmUp.calls.length === 1);
    warmUp.finish();
    await listed;
    assert.deepEqual(messages(policies.current()), ['from-file: file v1', 'alpha: alpha v1']);
    files = await loadPolicySet([dir]);
    assert.equal(policies.current()?.policies[0], files.policies[0]);
    assert.equal(warmUp.calls.length, 1);
  });
});

describe('statusToWrite', () => {
  const desired = { observedGeneration: 2, ready: true, reason: 'Loaded', message: 'ok', expressions: 3 };
  const now = new Date('2026-12-04T10:00:00.123Z');

  it('writes nothing when the stored status says the same', () => {
    const body = statusToWrite({}, desired, now)!;
    assert.equal(body.conditions[0]!.lastTransitionTime, '2026-12-04T10:00:00Z');
    assert.equal(statusToWrite(body, desired, new Date()), undefined);
  });

  it('keeps the transition time while the condition’s status stays, and moves it when it flips', () => {
    const stored = statusToWrite({}, desired, now)!;
    const later = new Date('2026-12-04T11:00:00Z');
    assert.equal(statusToWrite(stored, { ...desired, observedGeneration: 3 }, later)!.conditions[0]!.lastTransitionTime, '2026-12-04T10:00:00Z');
    assert.equal(statusToWrite(stored, { ...desired, ready: false, reason: 'LoadFailed' }, later)!.conditions[0]!.lastTransitionTime, '2026-12-04T11:00:00Z');
  });
});
