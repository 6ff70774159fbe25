// The upstream Pod Security Standards fixtures (kubernetes/pod-security-admission, testdata v1.37,
// shared in ../shared/fixtures/psa) against pod-security-baseline and pod-security-restricted:
// each fixture Pod is wrapped into a DaemonSet's pod template; every pass/ file must be admitted
// and every fail/ file refused at its level, with a message that names the control the fixture
// exercises. Each is reviewed twice: as written, and as the apiserver defaults it.
//
// Restricted is checked with pod-security-restricted alone (it carries every Baseline control),
// and it must also refuse every Baseline fail/ fixture.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { reviewAdmission, type ReviewedAdmission } from '../../src/admission/pipeline.js';
import { buildAdmissionRequest } from '../../src/apiserver/admission-request.js';
import { namespaceObject } from '../../src/apiserver/namespace-object.js';
import { isJsonObject, type JsonObject } from '../../src/common/vocabulary.js';
import { loadPolicySet } from '../../src/policy/load-policies.js';
import type { PolicySet } from '../../src/policy/types.js';
import { POLICIES_DIR, PSA_FIXTURES_DIR } from '../support/library-paths.js';

const VERSION = 'v1.37';
const LEVELS = ['baseline', 'restricted'] as const;
type Level = (typeof LEVELS)[number];

/** Fixture file name prefix -> the control (as named in the standard) its failure must name, per level. */
const CONTROLS: [RegExp, string, string?][] = [
  [/^allowprivilegeescalation/, 'Privilege Escalation'],
  [/^apparmorprofile/, 'AppArmor'],
  [/^capabilities_/, 'Capabilities'],
  [/^hostnamespaces/, 'Host Namespaces'],
  [/^hostpathvolumes/, 'HostPath Volumes', 'Volume Types'],
  [/^hostports/, 'Host Ports'],
  [/^hostprobesandhostlifecycle/, 'Host Probes / Lifecycle Hooks'],
  [/^privileged/, 'Privileged Containers'],
  [/^procmount/, '/proc Mount Type'],
  [/^restrictedvolumes/, 'Volume Types'],
  [/^runasnonroot/, 'Running as Non-root'],
  [/^runasuser/, 'Running as Non-root user'],
  [/^seccompprofile_/, 'Seccomp'],
  [/^selinuxoptions/, 'SELinux'],
  [/^sysctls/, 'Sysctls'],
  [/^windowshostprocess/, 'HostProcess'],
];

function controlOf(file: string, level: Level): string {
  const entry = CONTROLS.find(([pattern]) => pattern.test(file));
  assert.ok(entry, `no control is known for fixture ${file}: add it to CONTROLS`);
  return level === 'restricted' && entry[2] ? entry[2] : entry[1];
}

interface Fixture {
  level: Level;
  expect: 'pass' | 'fail';
  file: string;
  daemonSet: JsonObject;
}

/** The fixture Pod's labels, annotations and spec as a DaemonSet's pod template. */
function wrap(pod: JsonObject): JsonObject {
  const metadata = isJsonObject(pod.metadata) ? pod.metadata : {};
  const name = String(metadata.name ?? 'fixture').replace(/_/g, '-');
  const labels = { ...(isJsonObject(metadata.labels) ? metadata.labels : {}), 'daemonguard.dev/fixture': name };
  const template: JsonObject = { metadata: { labels }, spec: pod.spec ?? {} };
  if (isJsonObject(metadata.annotations)) (template.metadata as JsonObject).annotations = metadata.annotations;
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name, namespace: 'psa' },
    spec: { selector: { matchLabels: { 'daemonguard.dev/fixture': name } }, template },
  };
}

async function readFixtures(level: Level): Promise<Fixture[]> {
  const fixtures: Fixture[] = [];
  for (const expect of ['pass', 'fail'] as const) {
    const dir = join(PSA_FIXTURES_DIR, level, VERSION, expect);
    for (const file of (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort()) {
      const pod = parse(await readFile(join(dir, file), 'utf8')) as JsonObject;
      fixtures.push({ level, expect, file, daemonSet: wrap(pod) });
    }
  }
  return fixtures;
}

const labels = (level: Level) => ({ 'pod-security.kubernetes.io/enforce': level });

/** Reviewed as written (no defaults) and as the CLI and the cluster see it (apiserver defaults). */
async function decisions(daemonSet: JsonObject, set: PolicySet, level: Level): Promise<[string, ReviewedAdmission][]> {
  const context = { namespaceObject: namespaceObject('psa', labels(level)) };
  const defaulted = buildAdmissionRequest(daemonSet, { operation: 'CREATE', namespace: 'psa' });
  const raw = { ...defaulted, object: daemonSet };
  return [
    ['as written', await reviewAdmission(raw, set, context)],
    ['as defaulted', await reviewAdmission(defaulted, set, context)],
  ];
}

const present = existsSync(PSA_FIXTURES_DIR);

describe(`Pod Security Standards fixtures ${VERSION}`, { skip: present ? false : `no fixtures at ${PSA_FIXTURES_DIR} (the shared folder beside the repository)` }, async () => {
  if (!present) return;
  const counts: Record<string, number> = {};
  for (const level of LEVELS) {
    const set = await loadPolicySet([join(POLICIES_DIR, 'pod-security', `pod-security-${level}.yaml`)]);
    const fixtures = await readFixtures(level);
    it(`${level}: every pass/ fixture is admitted, every fail/ fixture refused naming its control`, async (t) => {
      assert.ok(fixtures.length > 0, `no fixtures for ${level}`);
      for (const fixture of fixtures) {
        for (const [form, decision] of await decisions(fixture.daemonSet, set, level)) {
          const where = `${level}/${VERSION}/${fixture.expect}/${fixture.file} (${form})`;
          assert.ok(!decision.outcomes.some((o) => o.result === 'error' || o.result === 'skip'), `${where}: ${JSON.stringify(decision.outcomes)}`);
          if (fixture.expect === 'pass') {
            assert.equal(decision.allowed, true, `${where} must be admitted: ${decision.violations.map((v) => v.message).join(' | ')}`);
          } else {
            assert.equal(decision.allowed, false, `${where} must be refused`);
            const control = controlOf(fixture.file, level);
            assert.ok(decision.violations.some((v) => v.message.startsWith(`${control}: `)), `${where}: no message names "${control}": ${decision.violations.map((v) => v.message).join(' | ')}`);
          }
        }
      }
      const pass = fixtures.filter((f) => f.expect === 'pass').length;
      counts[level] = fixtures.length;
      t.diagnostic(`${level} ${VERSION}: ${fixtures.length} fixtures (${pass} pass, ${fixtures.length - pass} fail), each reviewed as written and as defaulted`);
    });
  }

  it('restricted also refuses every baseline fail/ fixture', async (t) => {
    const set = await loadPolicySet([join(POLICIES_DIR, 'pod-security', 'pod-security-restricted.yaml')]);
    const fixtures = (await readFixtures('baseline')).filter((f) => f.expect === 'fail');
    for (const fixture of fixtures) {
      for (const [form, decision] of await decisions(fixture.daemonSet, set, 'restricted')) {
        assert.equal(decision.allowed, false, `baseline/${VERSION}/fail/${fixture.file} (${form}) must be refused by pod-security-restricted`);
      }
    }
    t.diagnostic(`restricted refuses all ${fixtures.length} baseline fail/ fixtures`);
  });

  it('reports the count', (t) => {
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    t.diagnostic(`PSS fixtures ${VERSION}: ${total} (baseline ${counts.baseline ?? 0}, restricted ${counts.restricted ?? 0}), all as expected`);
    assert.ok(total > 0);
  });
});
