// Policy reloading with the real loader and real files: good changes swap the set atomically, broken
// ones are refused with file:line, counted, and the last good set keeps answering.

import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import request from 'supertest';
import { review } from '../engine/review.js';
import { loadPolicySet, PolicyLoadError } from '../policy/load-policies.js';
import type { PolicySet } from '../policy/types.js';
import { createAdmissionApp } from './app.js';
import { createServerMetrics } from './metrics.js';
import { NamespaceSourceMissingError, withoutNamespaceSource } from './namespace-requirement.js';
import { WatchedPolicyStore, type WatchedPolicyStoreOptions } from './policy-store.js';
import { admissionReview, BASELINE_HOST_NETWORK_POLICY, captureLogger, daemonSet, temporaryDirectory, TEST_POLICIES, writeFiles } from '../../test/support/server-fixtures.js';

const HOST_PID = `apiVersion: daemonguard.dev/v1alpha1
kind: DaemonSetPolicy
metadata:
  name: host-pid
spec:
  validationActions: [Deny]
  validations:
    - expression: "!object.spec.template.spec.?hostPID.orValue(false)"
      message: "hostPID is not allowed; remove spec.template.spec.hostPID"
`;

/** A typo in a field name: a load error (the CEL is type-checked against the DaemonSet schema). */
const BROKEN = `apiVersion: daemonguard.dev/v1alpha1
kind: DaemonSetPolicy
metadata:
  name: broken
spec:
  validations:
    - expression: "object.spec.tempalte.spec.containers.size() > 0"
`;

const stores: WatchedPolicyStore<PolicySet>[] = [];

afterEach(() => {
  for (const store of stores.splice(0)) store.close();
});

async function startStore(
  files: Record<string, string>,
  options: Partial<WatchedPolicyStoreOptions<PolicySet>> = {},
): Promise<{ dir: string; store: WatchedPolicyStore<PolicySet>; logs: ReturnType<typeof captureLogger>; metrics: ReturnType<typeof createServerMetrics> }> {
  const dir = await temporaryDirectory('daemonguard-policies-');
  await writeFiles(dir, files);
  const logs = captureLogger('info');
  const metrics = createServerMetrics({ defaultMetrics: false });
  const store = new WatchedPolicyStore<PolicySet>({
    paths: [dir],
    load: loadPolicySet,
    logger: logs.logger,
    metrics,
    debounceMs: 50,
    pollIntervalMs: 0,
    ...options,
  });
  stores.push(store);
  await store.start();
  return { dir, store, logs, metrics };
}

async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(50);
  }
  assert.fail(`condition not met within ${timeoutMs} ms`);
}

function names(store: WatchedPolicyStore<PolicySet>): string[] {
  return (store.current()?.policies ?? []).map((policy) => policy.name);
}

describe('WatchedPolicyStore', () => {
  it('loads at start and counts the policies', async () => {
    const { store, metrics } = await startStore({ 'base.yaml': TEST_POLICIES });
    assert.deepEqual(names(store), ['privileged-namespaces', 'host-network', 'memory-limits', 'tolerate-everything', 'protected-delete', 'rollout-defaults']);
    assert.match(await metrics.registry.metrics(), /daemonguard_policies_loaded 6/);
  });

  it('refuses to start on a broken set, with the loader’s file:line problems', async () => {
    const dir = await temporaryDirectory('daemonguard-policies-');
    await writeFiles(dir, { 'broken.yaml': BROKEN });
    const store = new WatchedPolicyStore<PolicySet>({ paths: [dir], load: loadPolicySet, logger: captureLogger('silent').logger, pollIntervalMs: 0 });
    stores.push(store);
    await assert.rejects(store.start(), (error: unknown) => error instanceof PolicyLoadError && /broken\.yaml:7:\d+/.test(error.message));
    assert.equal(store.current(), undefined);
  });

  it('picks up a new policy file through the folder watch', async () => {
    const { dir, store } = await startStore({ 'base.yaml': TEST_POLICIES });
    await writeFile(path.join(dir, 'host-pid.yaml'), HOST_PID);
    await eventually(() => names(store).includes('host-pid'));
  });

  it('picks up changes by polling when no file events arrive', async () => {
    const { dir, store } = await startStore({ 'base.yaml': TEST_POLICIES }, { watch: false, pollIntervalMs: 100 });
    await writeFile(path.join(dir, 'nested-host-pid.yaml'), HOST_PID);
    await eventually(() => names(store).includes('host-pid'));
    await rm(path.join(dir, 'nested-host-pid.yaml'));
    await eventually(() => !names(store).includes('host-pid'));
  });

  it('refuses a broken change, logs it with file:line, counts it, and keeps the last good set', async () => {
    const { dir, store, logs, metrics } = await startStore({ 'base.yaml': TEST_POLICIES });
    const before = store.current();
    await writeFile(path.join(dir, 'broken.yaml'), BROKEN);
    await eventually(async () => /daemonguard_policy_reload_failures_total 1/.test(await metrics.registry.metrics()));
    assert.equal(store.current(), before, 'the same set object keeps serving');
    const refusal = logs.records.find((record) => record['msg'] === 'policy change refused; the last good set keeps serving');
    assert.ok(refusal, 'the refusal is logged');
    assert.ok((refusal['problems'] as string[]).some((line) => line.startsWith(`${path.join(dir, 'broken.yaml')}:7:`)), JSON.stringify(refusal['problems']));
    assert.equal(refusal['level'], 50);

    // Fixing the file brings the new set in.
    await writeFile(path.join(dir, 'broken.yaml'), HOST_PID);
    await eventually(() => names(store).includes('host-pid'));
    assert.match(await metrics.registry.metrics(), /daemonguard_policies_loaded 7/);
  });

  it('refuses an exception for a policy that does not exist, keeps the last good set, and takes it once corrected', async () => {
    const { dir, store, logs, metrics } = await startStore({ 'base.yaml': TEST_POLICIES });
    const before = store.current();
    const exception = (policy: string): string =>
      `apiVersion: daemonguard.dev/v1alpha1\nkind: DaemonSetPolicyException\nmetadata: {name: agent, namespace: default}\nspec:\n  policies: [${policy}]\n  match: {names: [node-agent]}\n  reason: r\n`;
    await writeFile(path.join(dir, 'exception.yaml'), exception('host-networks'));
    await eventually(async () => /daemonguard_policy_reload_failures_total 1/.test(await metrics.registry.metrics()));
    assert.equal(store.current(), before);
    const refusal = logs.records.find((record) => record['msg'] === 'policy change refused; the last good set keeps serving');
    assert.match((refusal?.['problems'] as string[])[0] ?? '', /exception\.yaml:5:\d+: no policy is named "host-networks"; the policies are: host-network, memory-limits/);
    await writeFile(path.join(dir, 'exception.yaml'), exception('host-network'));
    await eventually(() => (store.current()?.exceptions.length ?? 0) === 1);
    const loaded = logs.records.find((record) => record['msg'] === 'policies reloaded');
    assert.deepEqual(loaded?.['exceptions'], ['default/agent']);
  });

  it('keeps answering with the old set while a broken change is on disk', async () => {
    const { dir, store, metrics } = await startStore({ 'base.yaml': TEST_POLICIES });
    const app = createAdmissionApp({
      policies: store,
      review,
      metrics,
      logger: captureLogger('silent').logger,
      evalDeadlineMs: 2000,
    });
    const send = async (): Promise<{ allowed: boolean; status?: { message: string } }> => {
      const answer = await request(app)
        .post('/validate')
        .set('Content-Type', 'application/json')
        .send(JSON.stringify(admissionReview('CREATE', daemonSet({ privileged: true, memoryLimit: '1Gi' }))))
        .expect(200);
      return (answer.body as { response: { allowed: boolean; status?: { message: string } } }).response;
    };
    assert.equal((await send()).allowed, false);

    // Replace the whole file with something broken: the old policies must still deny.
    await writeFile(path.join(dir, 'base.yaml'), TEST_POLICIES.replace('validationActions: [Deny]', 'validationActions: [Deny, Block]'));
    await eventually(async () => /daemonguard_policy_reload_failures_total 1/.test(await metrics.registry.metrics()));
    const during = await send();
    assert.equal(during.allowed, false);
    assert.match(during.status?.message ?? '', /^privileged-namespaces: container "agent" is privileged/);

    // A good change that drops the policy takes effect.
    await writeFile(path.join(dir, 'base.yaml'), HOST_PID);
    await eventually(() => names(store).join() === 'host-pid');
    assert.equal((await send()).allowed, true);
  });

  it('without a namespace source, refuses a reload that adds a policy reading namespaces, as a start would be refused', async () => {
    const { dir, store, logs, metrics } = await startStore({ 'base.yaml': TEST_POLICIES }, { load: withoutNamespaceSource(loadPolicySet) });
    const before = store.current();
    await writeFile(path.join(dir, 'baseline.yaml'), BASELINE_HOST_NETWORK_POLICY);
    await eventually(async () => /daemonguard_policy_reload_failures_total 1/.test(await metrics.registry.metrics()));
    assert.equal(store.current(), before, 'the last good set keeps serving');
    const refusal = logs.records.find((record) => record['msg'] === 'policy change refused; the last good set keeps serving');
    assert.ok(refusal, 'the refusal is logged');

    // A server started on the same files now is refused with the same message.
    const starting = new WatchedPolicyStore<PolicySet>({ paths: [dir], load: withoutNamespaceSource(loadPolicySet), logger: captureLogger('silent').logger, pollIntervalMs: 0 });
    stores.push(starting);
    const refused = await starting.start().then(
      () => assert.fail('the start should have been refused'),
      (error: unknown) => error,
    );
    assert.ok(refused instanceof NamespaceSourceMissingError);
    assert.equal((refusal['err'] as { message: string }).message, refused.message);
    assert.match(refused.message, /^1 policy reads the labels of the request's namespace, but the server was given no namespaces: pass --namespaces FILE .* or --namespaces-from-cluster\n/);
    assert.ok(refused.message.endsWith(`${path.join(dir, 'baseline.yaml')}:1:1: policy "baseline-host-network" selects namespaces by label (spec.match.namespaceSelector)`), refused.message);
  });

  it('prepares each set that loaded before it serves: at start before start() returns, on a reload while the last set still serves', async () => {
    const dir = await temporaryDirectory('daemonguard-policies-');
    await writeFiles(dir, { 'base.yaml': HOST_PID });
    const logs = captureLogger('info');
    const seen: { trigger: string; policies: string[]; servingThen: string[] | undefined; loggedThen: string[] }[] = [];
    const store: WatchedPolicyStore<PolicySet> = new WatchedPolicyStore<PolicySet>({
      paths: [dir],
      load: loadPolicySet,
      logger: logs.logger,
      debounceMs: 50,
      pollIntervalMs: 0,
      prepare: async (next, trigger) => {
        await sleep(20);
        seen.push({
          trigger,
          policies: next.policies.map((policy) => policy.name),
          servingThen: store.current()?.policies.map((policy) => policy.name),
          loggedThen: logs.records.map((record) => String(record['msg'])),
        });
      },
    });
    stores.push(store);
    await store.start();
    assert.equal(seen.length, 1);
    assert.deepEqual([seen[0]!.trigger, seen[0]!.policies, seen[0]!.servingThen], ['start', ['host-pid'], undefined]);
    assert.ok(!seen[0]!.loggedThen.includes('policies loaded'), 'prepared before the set is announced');
    assert.ok(logs.records.some((record) => record['msg'] === 'policies loaded'));

    await writeFile(path.join(dir, 'more.yaml'), TEST_POLICIES);
    await eventually(() => names(store).includes('privileged-namespaces'));
    assert.equal(seen.length, 2);
    assert.equal(seen[1]!.trigger, 'file change');
    assert.ok(seen[1]!.policies.includes('privileged-namespaces'));
    assert.deepEqual(seen[1]!.servingThen, ['host-pid'], 'the last set serves while the next one is prepared');
    assert.ok(seen[1]!.loggedThen.includes('reloading the policy files'));
    assert.ok(!seen[1]!.loggedThen.includes('policies reloaded'));
  });

  it('serves a set whose preparation failed, with a warning, at start and on a reload', async () => {
    const prepare = async (): Promise<void> => {
      throw new Error('warm-up fault');
    };
    const { dir, store, logs } = await startStore({ 'base.yaml': HOST_PID }, { prepare });
    assert.deepEqual(names(store), ['host-pid']);
    await writeFile(path.join(dir, 'more.yaml'), TEST_POLICIES);
    await eventually(() => names(store).includes('privileged-namespaces'));
    const warnings = logs.records.filter((record) => record['msg'] === 'preparing the policy set before it serves failed; it serves anyway');
    assert.deepEqual(
      warnings.map((record) => [record['trigger'], (record['err'] as { message: string }).message, record['level']]),
      [
        ['start', 'warm-up fault', 40],
        ['file change', 'warm-up fault', 40],
      ],
    );
  });
});
