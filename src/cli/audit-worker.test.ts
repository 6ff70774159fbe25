// The background audit's worker thread, run for real (node:worker_threads): it judges DaemonSets as the
// in-process audit does, follows a new policy set, and when it dies (out of its capped heap, or past a
// batch's deadline) the batch fails with a clear error, the death is logged and counted, and the
// next batch gets a new worker.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { parse } from 'yaml';
import { captureLogger } from '../../test/support/server-fixtures.js';
import { POLICIES_DIR, repoRoot } from '../../test/support/library-paths.js';
import { isJsonObject, type JsonObject } from '../common/vocabulary.js';
import { loadPolicySet } from '../policy/load-policies.js';
import type { PolicySet } from '../policy/types.js';
import { auditDaemonSet, findingOf, type AuditFinding } from './audit.js';
import { AuditWorker, AuditWorkerError } from './audit-worker.js';

const TESTDATA = join(repoRoot(), 'src/cli/testdata/audit');

function dump(): { daemonSets: JsonObject[]; namespaces: Map<string, JsonObject> } {
  const list = parse(readFileSync(join(TESTDATA, 'dump.yaml'), 'utf8')) as { items: JsonObject[] };
  const name = (object: JsonObject, field: string): string => String((object.metadata as JsonObject)[field]);
  return {
    daemonSets: list.items.filter((item) => item.kind === 'DaemonSet'),
    namespaces: new Map(list.items.filter((item) => item.kind === 'Namespace').map((item) => [name(item, 'name'), item])),
  };
}

function namespacesOf(daemonSets: readonly JsonObject[], known: ReadonlyMap<string, JsonObject>): Map<string, JsonObject | null> {
  return new Map(daemonSets.map((object) => {
    const namespace = isJsonObject(object.metadata) ? String(object.metadata.namespace) : '';
    return [namespace, known.get(namespace) ?? null];
  }));
}

async function inProcess(policySet: PolicySet, daemonSets: readonly JsonObject[], namespaces: ReadonlyMap<string, JsonObject>): Promise<AuditFinding[]> {
  const findings: AuditFinding[] = [];
  for (const object of daemonSets) findings.push(findingOf(await auditDaemonSet({ file: '<cluster>', line: 0, object }, policySet, namespaces)));
  return findings;
}

const restarts = async (registry: Registry): Promise<number> => (await registry.getSingleMetric('daemonguard_audit_worker_restarts_total')!.get()).values[0]?.value ?? 0;

describe('AuditWorker', () => {
  const workers: AuditWorker[] = [];
  after(async () => {
    for (const worker of workers) await worker.close();
  });
  const { daemonSets, namespaces } = dump();

  it('judges a batch exactly as the in-process audit does, with the built-in library and with a small set', async () => {
    const { logger, records } = captureLogger();
    const worker = new AuditWorker({ logger });
    workers.push(worker);
    for (const policySet of [await loadPolicySet([POLICIES_DIR]), await loadPolicySet([join(TESTDATA, 'current-policies.yaml')])]) {
      const expected = await inProcess(policySet, daemonSets, namespaces);
      const found = await worker.evaluate(policySet, daemonSets, namespacesOf(daemonSets, namespaces));
      assert.deepEqual(found, expected);
      assert.equal(found.length, daemonSets.length);
    }
    // The small set fails something: the comparison is not between two empty lists.
    const small = await worker.evaluate(await loadPolicySet([join(TESTDATA, 'current-policies.yaml')]), daemonSets, namespacesOf(daemonSets, namespaces));
    assert.ok(small.some((finding) => !finding.admission.allowed));
    const started = records.filter((record) => record['msg'] === 'audit worker thread started');
    assert.equal(started.length, 1, 'one thread served every batch and both policy sets');
    if (existsSync('/proc/thread-self')) {
      // Linux: the thread runs at a lower priority than the event loop (niceness 19 by default).
      const priority = started[0]!['priority'] as { tid?: number; niceness?: number; policy?: string; idleError?: string };
      assert.ok(priority.tid !== undefined && priority.tid !== process.pid, JSON.stringify(priority));
      assert.equal(priority.niceness, 19, JSON.stringify(priority));
      // SCHED_IDLE where chrt is there to ask for it; otherwise the log says why not.
      assert.ok(priority.policy === 'idle' || priority.idleError !== undefined, JSON.stringify(priority));
    }
  });

  it('a worker that runs out of its capped heap fails the batch, is logged and counted, and the next batch gets a new one', async () => {
    const { logger, records } = captureLogger();
    const registry = new Registry();
    const worker = new AuditWorker({ logger, registry, maxHeapMiB: 48, restartDelayMs: 10 });
    workers.push(worker);
    const policySet = await loadPolicySet([join(TESTDATA, 'current-policies.yaml')]);
    assert.equal((await worker.evaluate(policySet, daemonSets, namespacesOf(daemonSets, namespaces))).length, daemonSets.length);
    // 100 DaemonSets, each with a distinct 1 MiB annotation: more than the worker may hold at once.
    const huge = Array.from({ length: 100 }, (_, i) => {
      const copy = structuredClone(daemonSets[0]!);
      (copy.metadata as JsonObject).annotations = { filler: `${i}`.padEnd(1 << 20, 'x') };
      return copy;
    });
    await assert.rejects(worker.evaluate(policySet, huge, namespacesOf(huge, namespaces)), (error: Error) => {
      assert.ok(error instanceof AuditWorkerError, String(error));
      assert.match(error.message, /the audit worker (failed|thread exited)/);
      return true;
    });
    assert.equal(worker.alive, false);
    assert.equal(await restarts(registry), 1);
    const died = records.find((record) => record['msg']?.toString().startsWith('audit worker thread died'));
    assert.ok(died, 'the death is logged');
    assert.equal(died['level'], 50);
    // The server (this thread) is untouched, and the next batch is judged by a new worker.
    assert.deepEqual(await worker.evaluate(policySet, daemonSets, namespacesOf(daemonSets, namespaces)), await inProcess(policySet, daemonSets, namespaces));
    assert.equal(records.filter((record) => record['msg'] === 'audit worker thread started').length, 2);
  });

  it('a batch past its deadline stops the worker with an error that says so, and the restart waits out a pause first', async () => {
    const { logger } = captureLogger();
    const registry = new Registry();
    const worker = new AuditWorker({ logger, registry, batchTimeoutMs: 1, restartDelayMs: 200 });
    workers.push(worker);
    const policySet = await loadPolicySet([POLICIES_DIR]);
    const many = Array.from({ length: 40 }, () => daemonSets[0]!);
    await assert.rejects(worker.evaluate(policySet, many, namespacesOf(many, namespaces)), /the audit worker took longer than 1 ms over a batch of 40 DaemonSets; it is restarted/);
    const started = Date.now();
    await assert.rejects(worker.evaluate(policySet, many, namespacesOf(many, namespaces)), AuditWorkerError);
    assert.ok(Date.now() - started >= 190, 'the restart waited out the pause');
    assert.equal(await restarts(registry), 2);
  });

  it('refuses to start after close', async () => {
    const worker = new AuditWorker({ logger: captureLogger().logger });
    await worker.close();
    await assert.rejects(worker.evaluate(await loadPolicySet([join(TESTDATA, 'current-policies.yaml')]), [], new Map()), /the audit worker was stopped/);
  });
});
