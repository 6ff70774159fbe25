// The upstream Pod Security Standards fixtures (test/testdata/<level>/v1.37 of the Go module
// k8s.io/pod-security-admission, read from the e2e build's module cache: test/support/pss-fixtures.ts)
// against pod-security-baseline and pod-security-restricted:
// each fixture Pod is wrapped into a DaemonSet's pod template; every pass/ file must be admitted
// and every fail/ file refused at its level, with a message that names the control the fixture
// exercises. Each is reviewed twice: as written, and as the apiserver defaults it.
//
// Restricted is checked with pod-security-restricted alone (it carries every Baseline control),
// and it must also refuse every Baseline fail/ fixture.
//
// Reading the fixtures needs Go (and the Go module proxy, the first time). Without it the test fails,
// saying what to install; DAEMONGUARD_SKIP_PSS_FIXTURES=1 skips it on purpose (CI never sets it).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { reviewAdmission, type ReviewedAdmission } from '../../src/admission/pipeline.js';
import { buildAdmissionRequest } from '../../src/apiserver/admission-request.js';
import { namespaceObject } from '../../src/apiserver/namespace-object.js';
import type { JsonObject } from '../../src/common/vocabulary.js';
import { loadPolicySet } from '../../src/policy/load-policies.js';
import type { PolicySet } from '../../src/policy/types.js';
import { POLICIES_DIR } from '../support/library-paths.js';
import { PSS_FIXTURE_COUNT, PSS_LEVELS, PSS_VERSION as VERSION, readPssFixtures, SKIP_PSS_FIXTURES_ENV, type PssFixture, type PssLevel as Level } from '../support/pss-fixtures.js';

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

/** The fixture's DaemonSet in the namespace the tests review it in. */
function inNamespace(fixture: PssFixture): JsonObject {
  return { ...fixture.daemonSet, metadata: { ...(fixture.daemonSet.metadata as JsonObject), namespace: 'psa' } };
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

const optedOut = process.env[SKIP_PSS_FIXTURES_ENV] === '1';

describe(`Pod Security Standards fixtures ${VERSION}`, { skip: optedOut ? `${SKIP_PSS_FIXTURES_ENV}=1: the upstream fixtures were not read` : false }, async () => {
  if (optedOut) return;
  const all = await readPssFixtures().catch((error: unknown) => {
    throw new Error(`${error instanceof Error ? error.message : String(error)}\n(${SKIP_PSS_FIXTURES_ENV}=1 skips this test on purpose.)`);
  });
  const counts: Record<string, number> = {};
  for (const level of PSS_LEVELS) {
    const set = await loadPolicySet([join(POLICIES_DIR, 'pod-security', `pod-security-${level}.yaml`)]);
    const fixtures = all.filter((fixture) => fixture.level === level);
    it(`${level}: every pass/ fixture is admitted, every fail/ fixture refused naming its control`, async (t) => {
      assert.ok(fixtures.length > 0, `no fixtures for ${level}`);
      for (const fixture of fixtures) {
        for (const [form, decision] of await decisions(inNamespace(fixture), set, level)) {
          const where = `${fixture.id} (${form})`;
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
    const fixtures = all.filter((f) => f.level === 'baseline' && f.expect === 'fail');
    for (const fixture of fixtures) {
      for (const [form, decision] of await decisions(inNamespace(fixture), set, 'restricted')) {
        assert.equal(decision.allowed, false, `${fixture.id} (${form}) must be refused by pod-security-restricted`);
      }
    }
    t.diagnostic(`restricted refuses all ${fixtures.length} baseline fail/ fixtures`);
  });

  it(`reviews every fixture the module holds (at least ${PSS_FIXTURE_COUNT})`, (t) => {
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    t.diagnostic(`PSS fixtures ${VERSION}: ${total} (baseline ${counts.baseline ?? 0}, restricted ${counts.restricted ?? 0}), all as expected`);
    assert.equal(total, all.length, 'every fixture read was reviewed');
    assert.ok(total >= PSS_FIXTURE_COUNT, `only ${total} fixtures were read; ${PSS_FIXTURE_COUNT} expected`);
  });
});
