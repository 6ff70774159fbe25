// host-path judges what the node resolves, not how a path is spelled. These properties generate
// spellings of paths that give the node away (extra slashes, "." segments, a trailing "/", /var/run
// for /run, /proc/<pid>/root and cwd prefixes, folders holding the dangerous path) and check that the
// whole library refuses each, as an unprivileged DaemonSet in an ordinary namespace; and that the
// same spellings of what CSI node plugins and CNI agents mount stay allowed in kube-system.
//
// DAEMONGUARD_FUZZ_RUNS sets the number of inputs per property (default 200).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { reviewAdmission } from '../../src/admission/pipeline.js';
import { buildAdmissionRequest } from '../../src/apiserver/admission-request.js';
import { namespaceObject } from '../../src/apiserver/namespace-object.js';
import { loadPoliciesForCli } from '../../src/cli/load-policy-set.js';
import { policyReports } from '../../src/cli/outcomes.js';
import type { JsonObject } from '../../src/engine/types.js';
import { POLICIES_DIR } from '../support/library-paths.js';

const RUNS = Math.max(1, Number(process.env['DAEMONGUARD_FUZZ_RUNS'] ?? 200));
const library = await loadPoliciesForCli([POLICIES_DIR]);

/** A path that gives the node away, and whether a read-only mount of it would be harmless. */
interface Dangerous {
  path: string;
  readOnlySuffices: boolean;
}

const DANGEROUS: readonly Dangerous[] = [
  { path: '/proc', readOnlySuffices: true },
  { path: '/proc/sys/kernel', readOnlySuffices: true },
  { path: '/proc/sysrq-trigger', readOnlySuffices: true },
  { path: '/sys/kernel', readOnlySuffices: true },
  { path: '/var/lib/kubelet/plugins', readOnlySuffices: true },
  { path: '/var/lib/kubelet/device-plugins', readOnlySuffices: true },
  { path: '/opt/cni/bin', readOnlySuffices: true },
  { path: '/usr/libexec/kubernetes/kubelet-plugins/volume/exec', readOnlySuffices: true },
  { path: '/var/lib/containerd', readOnlySuffices: true },
  { path: '/', readOnlySuffices: false },
  { path: '/etc/kubernetes/pki', readOnlySuffices: false },
  { path: '/var/lib/kubelet/pki', readOnlySuffices: false },
  { path: '/var/lib/kubelet/pods', readOnlySuffices: false },
  { path: '/run/containerd/containerd.sock', readOnlySuffices: false },
  { path: '/run/docker.sock', readOnlySuffices: false },
  { path: '/run/dockershim.sock', readOnlySuffices: false },
  { path: '/run/crio/crio.sock', readOnlySuffices: false },
  { path: '/run/systemd/private', readOnlySuffices: false },
  { path: '/dev', readOnlySuffices: false },
  { path: '/dev/sda', readOnlySuffices: false },
];

/**
 * What CSI node plugins and CNI agents mount in kube-system (writable unless marked), and host-path's
 * verdict on the same mount from an unprivileged DaemonSet in team-a.
 */
const LEGITIMATE: readonly { path: string; readOnly: boolean; inTeamA: 'pass' | 'deny' }[] = [
  { path: '/var/lib/kubelet', readOnly: false, inTeamA: 'deny' },
  { path: '/var/lib/kubelet/plugins/ebs.csi.aws.com', readOnly: false, inTeamA: 'deny' },
  { path: '/var/lib/kubelet/plugins_registry', readOnly: false, inTeamA: 'deny' },
  { path: '/dev', readOnly: false, inTeamA: 'deny' },
  { path: '/opt/cni/bin', readOnly: false, inTeamA: 'deny' },
  { path: '/etc/cni/net.d', readOnly: false, inTeamA: 'pass' },
  { path: '/run/xtables.lock', readOnly: false, inTeamA: 'pass' },
  { path: '/run/calico', readOnly: false, inTeamA: 'pass' },
  { path: '/sys/fs/bpf', readOnly: false, inTeamA: 'deny' },
  { path: '/proc/sys/net', readOnly: false, inTeamA: 'deny' },
  { path: '/proc', readOnly: true, inTeamA: 'pass' },
  { path: '/lib/modules', readOnly: true, inTeamA: 'pass' },
];

const segmentsOf = (path: string): string[] => path.split('/').filter((s) => s !== '');

/** The folder holding a path, `levels` up (never above the root). */
function parentOf(path: string, levels: number): string {
  const segments = segmentsOf(path);
  return '/' + segments.slice(0, Math.max(0, segments.length - levels)).join('/');
}

/** A prefix that the node resolves to its root: /proc/<pid>/root, /proc/self/cwd, /proc/1/task/7/root, ... */
const rootLink = fc
  .record({
    process: fc.oneof(fc.constantFrom('self', 'thread-self', '1'), fc.integer({ min: 2, max: 4_194_304 }).map(String)),
    task: fc.option(fc.integer({ min: 1, max: 99_999 }).map(String), { nil: undefined }),
    link: fc.constantFrom('root', 'cwd'),
  })
  .map(({ process, task, link }) => ['proc', process, ...(task === undefined ? [] : ['task', task]), link]);

/** Spellings of one path that the node resolves to the same place. */
function spellingOf(path: string): fc.Arbitrary<string> {
  return fc
    .record({
      throughProc: fc.array(rootLink, { maxLength: 2 }),
      varRun: fc.boolean(),
      dots: fc.array(fc.nat({ max: 12 }), { maxLength: 3 }),
      slashes: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 16, maxLength: 16 }),
      trailing: fc.constantFrom('', '/', '/.', '//'),
    })
    .map(({ throughProc, varRun, dots, slashes, trailing }) => {
      let segments = segmentsOf(path);
      if (varRun && segments[0] === 'run') segments = ['var', ...segments];
      segments = [...throughProc.flat(), ...segments];
      for (const at of dots) segments.splice(Math.min(at, segments.length), 0, '.');
      const spelled = segments.map((segment, i) => '/'.repeat(slashes[i % slashes.length]!) + segment).join('');
      return (spelled === '' ? '/' : spelled) + trailing;
    });
}

function daemonSet(namespace: string, path: string, readOnly: boolean, privileged: boolean): JsonObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'agent', namespace },
    spec: {
      selector: { matchLabels: { app: 'agent' } },
      template: {
        metadata: { labels: { app: 'agent' } },
        spec: {
          containers: [
            {
              name: 'agent',
              image: 'example.com/agent:1.0',
              ...(privileged ? { securityContext: { privileged: true } } : {}),
              volumeMounts: [{ name: 'host', mountPath: '/host', readOnly }],
            },
          ],
          volumes: [{ name: 'host', hostPath: { path } }],
        },
      },
    },
  };
}

async function review(object: JsonObject, namespace: string): Promise<{ allowed: boolean; hostPath: string; messages: string[] }> {
  // The namespace as the apiserver knows it, with no Pod Security labels.
  const admission = await reviewAdmission(buildAdmissionRequest(object, { operation: 'CREATE', namespace }), library, { namespaceObject: namespaceObject(namespace) });
  const hostPath = policyReports(admission, library).find((r) => r.policy === 'host-path')!;
  return { allowed: admission.allowed, hostPath: hostPath.verdict, messages: admission.violations.map((v) => `${v.policy}: ${v.message}`) };
}

describe('host-path on spellings of dangerous paths', () => {
  it('refuses every spelling of a dangerous path, or of a folder holding it, in team-a', async () => {
    const input = fc
      .record({
        target: fc.constantFrom(...DANGEROUS),
        levelsUp: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 4 }) }),
        readOnly: fc.boolean(),
      })
      .chain(({ target, levelsUp, readOnly }) =>
        spellingOf(parentOf(target.path, levelsUp)).map((spelled) => ({
          spelled,
          // Where read-only suffices, the dangerous mount is the writable one.
          readOnly: target.readOnlySuffices ? false : readOnly,
        })),
      );
    await fc.assert(
      fc.asyncProperty(input, async ({ spelled, readOnly }) => {
        const verdict = await review(daemonSet('team-a', spelled, readOnly, false), 'team-a');
        assert.equal(verdict.allowed, false, `${spelled} (readOnly: ${readOnly}) was allowed`);
        assert.equal(verdict.hostPath, 'deny', `${spelled} (readOnly: ${readOnly}): host-path did not deny\n${verdict.messages.join('\n')}`);
      }),
      { numRuns: RUNS },
    );
  });

  it('allows every spelling of what CSI node plugins and CNI agents mount, in kube-system', async () => {
    const input = fc.constantFrom(...LEGITIMATE).chain(({ path, readOnly }) => spellingOf(path).map((spelled) => ({ spelled, readOnly })));
    await fc.assert(
      fc.asyncProperty(input, async ({ spelled, readOnly }) => {
        const verdict = await review(daemonSet('kube-system', spelled, readOnly, true), 'kube-system');
        assert.equal(verdict.hostPath, 'pass', `${spelled} (readOnly: ${readOnly}) in kube-system:\n${verdict.messages.join('\n')}`);
        assert.equal(verdict.allowed, true, `${spelled} (readOnly: ${readOnly}) in kube-system:\n${verdict.messages.join('\n')}`);
      }),
      { numRuns: RUNS },
    );
  });

  it('keeps the node-sensitive ones among them out of team-a', async () => {
    for (const { path, readOnly, inTeamA } of LEGITIMATE) {
      const verdict = await review(daemonSet('team-a', path, readOnly, false), 'team-a');
      assert.equal(verdict.hostPath, inTeamA, `${path} (readOnly: ${readOnly}) in team-a:\n${verdict.messages.join('\n')}`);
    }
  });
});
