// The impact a DaemonSetPolicy's status shows, from a real audit of the audit tests' cluster dump:
// a Warn policy counts what Deny would refuse, an Audit one warns about none of it, and an excepted
// DaemonSet is not counted.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { temporaryDirectory } from '../../test/support/server-fixtures.js';
import { loadPolicySet } from '../policy/load-policies.js';
import { impactByPolicy, IMPACT_SAMPLE_SIZE } from './audit-impact.js';
import { inventoryFromDocuments } from './audit-input.js';
import { runAudit } from './audit.js';
import { readManifestSources } from './manifest-reader.js';

const TESTDATA = path.resolve('src/cli/testdata/audit');
const DUMP = path.join(TESTDATA, 'dump.yaml');

interface Listed {
  kind?: string;
  metadata: { name: string; namespace: string; labels?: Record<string, string> };
  items?: Listed[];
}

/** The DaemonSets of the dump without a team label: what team-label fails, read from the fixture itself. */
async function unlabelled(): Promise<string[]> {
  const objects = parseAllDocuments(await readFile(DUMP, 'utf8')).flatMap((document) => {
    const object = document.toJS() as Listed;
    return object.items ?? [object];
  });
  return objects.filter((o) => o.kind === 'DaemonSet' && o.metadata.labels?.team === undefined).map((o) => `${o.metadata.namespace}/${o.metadata.name}`).sort();
}

async function auditedImpact(policyFiles: string[]): Promise<ReturnType<typeof impactByPolicy>> {
  const policySet = await loadPolicySet(policyFiles);
  const inventory = inventoryFromDocuments(await readManifestSources([DUMP], () => Promise.reject(new Error('no stdin'))));
  return impactByPolicy(await runAudit(inventory, policySet, { failOn: 'deny' }));
}

describe('impactByPolicy', () => {
  it('counts a Warn policy’s violators as what Deny would refuse, and as warned now', async () => {
    const expected = await unlabelled();
    assert.ok(expected.length > 0, 'the dump has a DaemonSet without a team label');
    const impacts = await auditedImpact([path.join(TESTDATA, 'current-policies.yaml')]);
    assert.deepEqual(impacts.get('team-label'), { wouldDeny: expected.length, wouldWarn: expected.length, sample: expected.slice(0, IMPACT_SAMPLE_SIZE) });
  });

  it('an Audit policy would deny the same DaemonSets but warns about none; an exception takes its DaemonSet out', async () => {
    const dir = await temporaryDirectory('daemonguard-impact-');
    const policies = await readFile(path.join(TESTDATA, 'current-policies.yaml'), 'utf8');
    await writeFile(path.join(dir, 'policies.yaml'), policies.replace('validationActions: [Warn]', 'validationActions: [Audit]'));
    const expected = await unlabelled();
    const impacts = await auditedImpact([path.join(dir, 'policies.yaml')]);
    assert.deepEqual(impacts.get('team-label'), { wouldDeny: expected.length, wouldWarn: 0, sample: expected.slice(0, IMPACT_SAMPLE_SIZE) });

    const withoutException = impacts.get('prod-limits');
    await writeFile(path.join(dir, 'exception.yaml'), await readFile(path.join(TESTDATA, 'exception.yaml'), 'utf8'));
    const excepted = (await auditedImpact([dir])).get('prod-limits');
    assert.ok(withoutException !== undefined && withoutException.sample.includes('monitoring/node-exporter'), JSON.stringify(withoutException));
    assert.equal(excepted?.sample.includes('monitoring/node-exporter') ?? false, false);
    assert.equal(excepted?.wouldDeny ?? 0, withoutException.wouldDeny - 1);
  });
});
