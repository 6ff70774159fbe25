// The audit's policy reports: one per namespace, result values from the OpenReports enum, summaries
// that count exactly the results, a DaemonSet reference on every result; audited from a real dump.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { REPO_ROOT } from '../../../test/support/cli-process.js';
import { loadPolicySet } from '../../policy/load-policies.js';
import { inventoryFromDocuments } from '../audit-input.js';
import { runAudit, type AuditReport } from '../audit.js';
import { readManifestSources } from '../manifest-reader.js';
import { POLICY_VERDICTS } from '../outcomes.js';
import { REPORT_RESULT_VALUES, auditReports, resultValue, summarizeResults, type ReportResult } from './openreports.js';

const DUMP = join(REPO_ROOT, 'src/cli/testdata/audit/dump.yaml');
const CURRENT = join(REPO_ROOT, 'src/cli/testdata/audit/current-policies.yaml');

const EXCEPTION = join(REPO_ROOT, 'src/cli/testdata/audit/exception.yaml');

async function audit(...policies: string[]): Promise<AuditReport> {
  const documents = await readManifestSources([DUMP], () => Promise.reject(new Error('no stdin here')));
  return runAudit(inventoryFromDocuments(documents), await loadPolicySet(policies), { failOn: 'deny' });
}

describe('audit reports (OpenReports and wgpolicyk8s.io)', () => {
  it('maps every policy verdict onto a value of the OpenReports result enum', () => {
    const mapped = Object.fromEntries(POLICY_VERDICTS.map((verdict) => [verdict, resultValue(verdict)]));
    assert.deepEqual(mapped, { pass: 'pass', deny: 'fail', warn: 'warn', audit: 'warn', skip: 'skip', error: 'error', mutate: 'pass', except: 'skip' });
  });

  it('writes one Report per namespace whose summary counts exactly its results', async () => {
    const report = await audit(CURRENT);
    const reports = auditReports(report, 'openreports');
    assert.deepEqual(reports.map((r) => (r.metadata as { namespace: string }).namespace), ['batch', 'kube-system', 'logging', 'monitoring']);
    for (const document of reports) {
      assert.equal(document.apiVersion, 'openreports.io/v1alpha1');
      assert.equal(document.kind, 'Report');
      assert.equal(document.source, 'daemonguard');
      const results = document.results as unknown as ReportResult[];
      assert.deepEqual(document.summary, summarizeResults(results));
      const counted = Object.values(document.summary as Record<string, number>).reduce((a, b) => a + b, 0);
      assert.equal(counted, results.length);
      for (const result of results) {
        assert.ok(REPORT_RESULT_VALUES.includes(result.result), result.result);
        assert.equal(result.source, 'daemonguard');
        assert.equal(result.resources.length, 1);
        assert.equal(result.resources[0]!.namespace, (document.metadata as { namespace: string }).namespace);
        assert.equal(Number.isInteger(result.timestamp.seconds) && Number.isInteger(result.timestamp.nanos), true);
      }
    }
  });

  it('reports a Deny violation as fail, a Warn one as warn, an unknown namespace as error, each with its rule and message', async () => {
    const report = await audit(CURRENT);
    const all = auditReports(report, 'openreports').flatMap((document) => document.results as unknown as ReportResult[]);
    const of = (name: string, policy: string): ReportResult => all.find((r) => r.resources[0]!.name === name && r.policy === policy)!;
    assert.deepEqual(
      { result: of('node-exporter', 'prod-limits').result, rule: of('node-exporter', 'prod-limits').rule, message: of('node-exporter', 'prod-limits').message, properties: of('node-exporter', 'prod-limits').properties },
      { result: 'fail', rule: 'validations[0]', message: 'every container in a production namespace needs resource limits', properties: { action: 'Deny' } },
    );
    assert.equal(of('fluent-bit', 'team-label').result, 'warn');
    assert.equal(of('fluent-bit', 'prod-limits').result, 'skip', 'logging is env=dev: not selected');
    assert.equal(of('scratch-cleaner', 'prod-limits').result, 'error');
    assert.match(of('scratch-cleaner', 'prod-limits').message!, /namespace "batch" are not known/);
    assert.equal(of('kube-proxy', 'no-privileged').result, 'skip', 'kube-system is excluded today');
    assert.equal(of('kube-proxy', 'no-privileged').rule, 'match');
    assert.deepEqual(report.missingNamespaces, ['batch']);
  });

  it('reports a policy a DaemonSetPolicyException lifts as skip, naming the exception and its reason', async () => {
    const report = await audit(CURRENT, EXCEPTION);
    const monitoring = auditReports(report, 'openreports').find((document) => (document.metadata as { namespace: string }).namespace === 'monitoring')!;
    const lifted = (monitoring.results as unknown as ReportResult[]).find((r) => r.policy === 'prod-limits')!;
    assert.deepEqual(
      { result: lifted.result, rule: lifted.rule, message: lifted.message, properties: lifted.properties },
      { result: 'skip', rule: 'exception', message: 'exception monitoring/node-exporter-limits: limits being sized by the observability team', properties: { exception: 'monitoring/node-exporter-limits' } },
    );
    assert.deepEqual(monitoring.summary, { pass: 2, fail: 0, warn: 0, error: 0, skip: 1 });
    assert.equal(report.results.find((r) => r.name === 'node-exporter')!.admission.allowed, true);
  });

  it('writes the same results as wgpolicyk8s.io/v1alpha2 PolicyReports, with the source on each result', async () => {
    const report = await audit(CURRENT);
    const open = auditReports(report, 'openreports');
    const legacy = auditReports(report, 'policyreport');
    assert.equal(legacy.length, open.length);
    for (const [index, document] of legacy.entries()) {
      assert.equal(document.apiVersion, 'wgpolicyk8s.io/v1alpha2');
      assert.equal(document.kind, 'PolicyReport');
      assert.equal('source' in document, false, 'v1alpha2 has no report-level source');
      assert.deepEqual(document.results, open[index]!.results);
      assert.deepEqual(document.summary, open[index]!.summary);
    }
  });
});
