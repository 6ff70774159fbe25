// Parity between `daemonguard test` and the webhook server: every DaemonSet the repository ships as an
// example or as a policy-suite resource is reviewed once by the built CLI (a subprocess, all files at
// once) and once by the real HTTPS server (in-process, real policies, real certificates), through the
// same pipeline the CLI runs in process (/mutate, apply the patch, re-default, /validate), with the
// HTTPS endpoints as its webhooks. Both must give the same decision, the same denial messages, the
// same warnings and the same patch.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, stringify } from 'yaml';
import type { AdmissionResponse } from '../admission/admission-response.js';
import { admit } from '../admission/pipeline.js';
import { buildAdmissionRequest, DEFAULT_NAMESPACE, manifestNamespace } from '../apiserver/admission-request.js';
import { namespaceObject } from '../apiserver/namespace-object.js';
import { isJsonObject, type JsonObject } from '../common/vocabulary.js';
import { review } from '../engine/review.js';
import type { AdmissionRequest, PatchOperation, ReviewPhase } from '../engine/types.js';
import { loadPolicySet } from '../policy/load-policies.js';
import type { PolicySet } from '../policy/types.js';
import { startAdmissionServer, type AdmissionServer } from '../server/admission-server.js';
import { createServerMetrics } from '../server/metrics.js';
import { FileNamespaceCatalog } from '../server/namespace-catalog.js';
import { StaticPolicyStore } from '../server/policy-store.js';
import { callHttps, captureLogger, temporaryDirectory, writeTestCertificates, type TestCertificates } from '../../test/support/server-fixtures.js';
import { collectDaemonSets, isDaemonSet, readManifestSources, type ManifestDocument } from './manifest-reader.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const at = (...parts: string[]): string => path.join(ROOT, ...parts);
const CLI = at('build', 'src', 'cli', 'main.js');
const MIN_DAEMONSETS = 20;

interface CliResult {
  file: string;
  name: string;
  namespace: string;
  allowed: boolean;
  violations: { policy: string; message: string; action: 'Deny' | 'Warn' | 'Audit' }[];
  warnings: string[];
  patch: PatchOperation[];
}

/** The lines of a denial message, as the server writes them (`<policy>: <message>`, one per Deny violation). */
function denialLines(message: string | undefined): Set<string> {
  return new Set((message ?? '').split('\n').filter((line) => line !== ''));
}

function cliDenialLines(result: CliResult): Set<string> {
  const lines = result.violations
    .filter((v) => v.action === 'Deny')
    .map((v) => (v.message.trim() === '' ? `${v.policy}: denied` : `${v.policy}: ${v.message.trim()}`));
  return denialLines(lines.join('\n'));
}

const sorted = (values: Iterable<string>): string[] => [...values].sort();

/**
 * DaemonSets that are not plain manifest files: the objects in examples/*.json (AdmissionReviews) and
 * the inline objects (and namespace overrides) of the policy suites in test/policies/. Each is written
 * to its own file under `dir` so the CLI reads it like any manifest.
 */
async function writeExtraManifests(dir: string): Promise<void> {
  const seen = new Set<string>();
  let index = 0;
  const write = async (prefix: string, object: JsonObject): Promise<void> => {
    const key = JSON.stringify(object);
    if (seen.has(key)) return;
    seen.add(key);
    await writeFile(path.join(dir, `${String(++index).padStart(3, '0')}-${prefix}.yaml`), stringify(object));
  };

  for (const name of (await readdir(at('examples'))).filter((entry) => entry.endsWith('.json')).sort()) {
    const body = JSON.parse(await readFile(at('examples', name), 'utf8')) as JsonObject;
    const request = isJsonObject(body.request) ? body.request : undefined;
    const object = request?.object;
    if (!isDaemonSet(object)) continue;
    // The request's namespace is the one the example is reviewed in.
    const copy = structuredClone(object);
    const metadata = (isJsonObject(copy.metadata) ? copy.metadata : (copy.metadata = {})) as JsonObject;
    if (typeof request?.namespace === 'string' && request.namespace !== '') metadata.namespace = request.namespace;
    await write(`example-${path.basename(name, '.json')}`, copy);
  }

  const suitesDir = at('test', 'policies');
  for (const group of (await readdir(suitesDir, { withFileTypes: true })).filter((entry) => entry.isDirectory()).map((entry) => entry.name).sort()) {
    if (group === 'resources') continue;
    const groupDir = path.join(suitesDir, group);
    for (const file of (await readdir(groupDir)).filter((entry) => /\.ya?ml$/.test(entry)).sort()) {
      for (const document of parseAllDocuments(await readFile(path.join(groupDir, file), 'utf8'))) {
        const suite: unknown = document.toJS();
        if (!isJsonObject(suite) || suite.kind !== 'PolicyTest' || !isJsonObject(suite.spec) || !Array.isArray(suite.spec.resources)) continue;
        for (const resource of suite.spec.resources) {
          if (!isJsonObject(resource)) continue;
          let object: unknown = resource.object;
          if (object === undefined && typeof resource.file === 'string') {
            if (typeof resource.namespace !== 'string') continue; // the plain file is reviewed as it is
            const values = parseAllDocuments(await readFile(path.resolve(groupDir, resource.file), 'utf8')).map((d) => d.toJS() as unknown);
            object = values.find(isDaemonSet);
          }
          if (!isDaemonSet(object)) continue;
          const copy = structuredClone(object);
          if (typeof resource.namespace === 'string') {
            const metadata = (isJsonObject(copy.metadata) ? copy.metadata : (copy.metadata = {})) as JsonObject;
            metadata.namespace = resource.namespace;
          }
          await write(`${group}-${path.basename(file).replace(/\.ya?ml$/, '')}`, copy);
        }
      }
    }
  }
}

describe('daemonguard test and the webhook server agree', () => {
  let dir: string;
  let manifestPaths: string[];
  let daemonSets: ManifestDocument[];
  let certificates: TestCertificates;
  let server: AdmissionServer;
  let catalog: FileNamespaceCatalog;
  let policySet: PolicySet;

  before(async () => {
    dir = await temporaryDirectory('daemonguard-parity-');
    const extra = path.join(dir, 'manifests');
    await mkdir(extra);
    await writeExtraManifests(extra);
    manifestPaths = [extra, at('test', 'policies', 'resources')];
    if (existsSync(at('examples', 'manifests'))) manifestPaths.push(at('examples', 'manifests'));
    daemonSets = collectDaemonSets(await readManifestSources(manifestPaths, () => Promise.reject(new Error('no stdin')))).daemonSets;

    // The server knows every namespace the way the CLI imagines it: the name label and nothing else.
    const namespaces = [...new Set(daemonSets.map((d) => manifestNamespace(d.object) ?? DEFAULT_NAMESPACE))].sort();
    const namespacesFile = path.join(dir, 'namespaces.yaml');
    await writeFile(namespacesFile, stringify({ apiVersion: 'v1', kind: 'List', items: namespaces.map((name) => namespaceObject(name)) }));
    const { logger } = captureLogger('silent');
    catalog = new FileNamespaceCatalog({ file: namespacesFile, logger, pollIntervalMs: 0 });
    await catalog.start();

    certificates = await writeTestCertificates(dir);
    policySet = await loadPolicySet([at('policies')]);
    server = await startAdmissionServer<PolicySet>({
      address: '127.0.0.1',
      port: 0,
      tls: { certFile: certificates.certFile, keyFile: certificates.keyFile },
      tlsWatch: false,
      tlsPollIntervalMs: 0,
      policies: new StaticPolicyStore(policySet),
      review,
      logger,
      metrics: createServerMetrics({ defaultMetrics: false }),
      namespaceObject: (name) => catalog.get(name),
    });
  });

  after(async () => {
    await server?.close(100);
    catalog?.close();
  });

  /** The server's webhook for `phase`, called as the apiserver calls it. */
  async function callWebhook(phase: ReviewPhase, request: AdmissionRequest): Promise<{ response: AdmissionResponse }> {
    const body = JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request });
    const answer = await callHttps(`${server.url}/${phase}`, { ca: certificates.ca.certPem, body });
    assert.equal(answer.status, 200, answer.text);
    const response = answer.json<{ response: AdmissionResponse }>().response;
    assert.equal(response.uid, request.uid);
    if (response.patch !== undefined) assert.equal(response.patchType, 'JSONPatch');
    return { response };
  }

  it(`gives the same decision, denials, warnings and patch for every DaemonSet (at least ${MIN_DAEMONSETS})`, async () => {
    const run = spawnSync(process.execPath, [CLI, 'test', '-p', 'policies', '-o', 'json', '--show-mutated', ...manifestPaths], {
      cwd: ROOT,
      encoding: 'utf8',
      maxBuffer: 256 * 1024 * 1024,
    });
    assert.ok(run.status === 0 || run.status === 1, `daemonguard test exited ${String(run.status)}: ${run.stderr}`);
    const results = (JSON.parse(run.stdout) as { results: CliResult[] }).results;
    assert.equal(results.length, daemonSets.length, 'the CLI reviewed as many DaemonSets as the manifests hold');
    assert.ok(daemonSets.length >= MIN_DAEMONSETS, `only ${daemonSets.length} DaemonSets to compare`);

    const disagreements: string[] = [];
    for (const [i, manifest] of daemonSets.entries()) {
      const cli = results[i]!;
      const namespace = manifestNamespace(manifest.object) ?? DEFAULT_NAMESPACE;
      const metadata = manifest.object.metadata;
      const name = isJsonObject(metadata) && typeof metadata.name === 'string' ? metadata.name : '';
      const where = `${path.relative(ROOT, manifest.file)}:${manifest.line} ${namespace}/${name}`;
      assert.equal(cli.name, name, where);
      assert.equal(cli.namespace, namespace, where);

      const request = buildAdmissionRequest(manifest.object, { operation: 'CREATE', namespace });
      const served = await admit(request, callWebhook);
      const { mutation, validation } = served;
      const serverDenials = new Set([...denialLines(mutation.response.status?.message), ...denialLines(validation.response.status?.message)]);
      const checks: [string, unknown, unknown][] = [
        ['allowed', served.allowed, cli.allowed],
        ['denials', sorted(serverDenials), sorted(cliDenialLines(cli))],
        ['warnings', served.warnings, cli.warnings],
        ['patch', served.patch, cli.patch],
      ];
      for (const [what, fromServer, fromCli] of checks) {
        try {
          assert.deepStrictEqual(fromServer, fromCli);
        } catch {
          disagreements.push(`${where}: ${what} differ\n  server: ${JSON.stringify(fromServer)}\n  cli:    ${JSON.stringify(fromCli)}`);
        }
      }
    }
    console.log(`parity: compared ${daemonSets.length} DaemonSets between daemonguard test and the webhook server`);
    assert.deepStrictEqual(disagreements, [], disagreements.join('\n'));
  });
});
