// `daemonguard certs` and `daemonguard manifests` as real subprocesses: what goes to stdout (the
// caBundle, the objects), exit codes, and refusing steps out of order.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { runCli, type CliRun } from '../../test/support/cli-process.js';
import { temporaryDirectory } from '../../test/support/server-fixtures.js';
import type { WebhookConfiguration } from '../deploy/webhook-configurations.js';

/** `daemonguard ARGS` as a subprocess, in `cwd`. */
function daemonguard(args: string[], cwd: string): Promise<CliRun> {
  return runCli(args, { cwd });
}

interface CheckJson {
  failed: boolean;
  rotation: string;
  certificates: { role: string; dnsNames: string[]; ipAddresses: string[]; keyType: string; expiresInDays: number; issuer: string }[];
  findings: { severity: string; message: string }[];
}

describe('daemonguard certs', () => {
  it('creates the folder, prints the caBundle, refuses to overwrite, and checks', async () => {
    const cwd = await temporaryDirectory('daemonguard-certs-cli-');
    const created = await daemonguard(['certs', '--dir', 'certs', '--ip', '127.0.0.1', '--dns', 'webhook.example.com'], cwd);
    assert.equal(created.code, 0, created.stderr);
    const bundle = await readFile(path.join(cwd, 'certs', 'ca-bundle.crt'), 'utf8');
    assert.equal(created.stdout, `${Buffer.from(bundle).toString('base64')}\n`);
    assert.match(created.stderr, /Created a CA and a serving certificate/);

    const again = await daemonguard(['certs', '--dir', 'certs'], cwd);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /already exist.*--force/s);
    assert.equal(again.stdout, '');

    const check = await daemonguard(['certs', '--dir', 'certs', '--check', '-o', 'json'], cwd);
    assert.equal(check.code, 0, check.stdout);
    const report = JSON.parse(check.stdout) as CheckJson;
    const serving = report.certificates.find((c) => c.role === 'serving');
    assert.deepEqual(serving?.dnsNames, [
      'daemonguard',
      'daemonguard.daemonguard-system',
      'daemonguard.daemonguard-system.svc',
      'daemonguard.daemonguard-system.svc.cluster.local',
      'webhook.example.com',
    ]);
    assert.deepEqual(serving?.ipAddresses, ['127.0.0.1']);
    assert.equal(serving?.keyType, 'ECDSA P-256');

    const strict = await daemonguard(['certs', '--dir', 'certs', '--check', '--warn-within', '400'], cwd);
    assert.equal(strict.code, 1);
    assert.match(strict.stdout, /SANs DNS:daemonguard, .*IP:127\.0\.0\.1/);
    assert.match(strict.stdout, /error: .*tls\.crt \(serving\) expires in 364 days.*within 400/);
    assert.match(strict.stdout, /check failed\n$/);

    const otherService = await daemonguard(['certs', '--dir', 'certs', '--check', '--service', 'webhook', '--namespace', 'tools'], cwd);
    assert.equal(otherService.code, 1);
    assert.match(otherService.stdout, /does not cover webhook\.tools\.svc/);

    const missing = await daemonguard(['certs', '--dir', 'nowhere', '--check'], cwd);
    assert.equal(missing.code, 1);
    assert.match(missing.stdout, /tls\.crt is missing/);
  });

  it('walks through renew and a CA rotation, refusing steps out of order', async () => {
    const cwd = await temporaryDirectory('daemonguard-certs-cli-');
    const step = async (args: string[], expectedCode = 0): Promise<CliRun> => {
      const result = await daemonguard(['certs', '--dir', 'certs', ...args], cwd);
      assert.equal(result.code, expectedCode, `${args.join(' ')}: ${result.stderr}`);
      return result;
    };
    const created = await step(['--key-type', 'rsa-2048', '--ip', '127.0.0.1']);
    const renewed = await step(['--renew', '--days', '30']);
    assert.equal(renewed.stdout, created.stdout, 'a renewal keeps the caBundle');
    assert.match(renewed.stderr, /caBundle stays the same/);

    await step(['--finish-ca-rotation'], 2);
    const widened = await step(['--rotate-ca']);
    assert.notEqual(widened.stdout, created.stdout);
    assert.equal(Buffer.from(widened.stdout, 'base64').toString('utf8').match(/BEGIN CERTIFICATE/g)?.length, 2);
    assert.match(widened.stderr, /step 1 of 3/);
    await step(['--rotate-ca'], 2);
    const refused = await step(['--finish-ca-rotation'], 2);
    assert.match(refused.stderr, /still signed by the previous CA/);
    await step(['--renew', '--check'], 2);

    const fromNewCa = await step(['--renew']);
    assert.match(fromNewCa.stderr, /step 2 of 3/);
    const midway = JSON.parse((await step(['--check', '-o', 'json'])).stdout) as CheckJson;
    assert.equal(midway.rotation, 'serving-renewed');
    const serving = midway.certificates.find((c) => c.role === 'serving');
    assert.equal(serving?.keyType, 'RSA 2048', 'a renewal keeps the key type');
    assert.deepEqual(serving?.ipAddresses, ['127.0.0.1'], 'and the names');
    assert.equal(serving?.expiresInDays, 364);

    const finished = await step(['--finish-ca-rotation']);
    assert.equal(Buffer.from(finished.stdout, 'base64').toString('utf8').match(/BEGIN CERTIFICATE/g)?.length, 1);
    assert.equal((JSON.parse((await step(['--check', '-o', 'json'])).stdout) as CheckJson).rotation, 'none');
  });

  it('rejects bad flag values with exit 2', async () => {
    const cwd = await temporaryDirectory('daemonguard-certs-cli-');
    for (const args of [['--ip', 'localhost'], ['--dns', 'not a name'], ['--key-type', 'dsa'], ['--days', '0'], ['--namespace', 'Kube_System']]) {
      const result = await daemonguard(['certs', '--dir', 'certs', ...args], cwd);
      assert.equal(result.code, 2, args.join(' '));
    }
    assert.equal((await daemonguard(['certs'], cwd)).code, 2, '--dir is required');
  });
});

describe('daemonguard manifests', () => {
  function parse(text: string): WebhookConfiguration[] {
    return parseAllDocuments(text).map((document) => document.toJS() as WebhookConfiguration);
  }

  it('renders both configurations for the Service with the caBundle of a certificate folder', async () => {
    const cwd = await temporaryDirectory('daemonguard-manifests-cli-');
    const created = await daemonguard(['certs', '--dir', 'certs'], cwd);
    const result = await daemonguard(['manifests', '--certs-dir', 'certs', '--exclude-namespace', 'monitoring'], cwd);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, '');
    const [validating, mutating] = parse(result.stdout);
    assert.equal(validating?.kind, 'ValidatingWebhookConfiguration');
    assert.equal(mutating?.kind, 'MutatingWebhookConfiguration');
    const webhooks = [...(validating?.webhooks ?? []), ...(mutating?.webhooks ?? [])];
    assert.deepEqual(webhooks.map((w) => [w.name, w.failurePolicy]), [
      ['validate.daemonguard.dev', 'Fail'],
      ['validate-fail-open.daemonguard.dev', 'Ignore'],
      ['mutate.daemonguard.dev', 'Ignore'],
    ]);
    for (const webhook of webhooks) {
      assert.equal(webhook.clientConfig.caBundle, created.stdout.trim());
      assert.deepEqual(webhook.clientConfig.service, { name: 'daemonguard', namespace: 'daemonguard-system', path: webhook.name.startsWith('mutate') ? '/mutate' : '/validate', port: 443 });
    }
    assert.deepEqual(validating?.webhooks[0]?.namespaceSelector.matchExpressions[0]?.values, ['daemonguard-system', 'monitoring', 'kube-system']);
    assert.deepEqual(mutating?.webhooks[0]?.namespaceSelector.matchExpressions[0]?.values, ['daemonguard-system', 'monitoring']);
  });

  it('renders URL webhooks for a server outside the cluster, as JSON', async () => {
    const cwd = await temporaryDirectory('daemonguard-manifests-cli-');
    await daemonguard(['certs', '--dir', 'certs', '--ip', '127.0.0.1'], cwd);
    const result = await daemonguard(
      ['manifests', '--url', 'https://127.0.0.1:8443/', '--ca-bundle-file', 'certs/ca.crt', '--failure-policy', 'Ignore', '--timeout', '3', '-o', 'json'],
      cwd,
    );
    assert.equal(result.code, 0, result.stderr);
    const list = JSON.parse(result.stdout) as { kind: string; items: WebhookConfiguration[] };
    assert.equal(list.kind, 'List');
    const [validating, mutating] = list.items;
    assert.equal(validating?.webhooks.length, 1, 'no separate fail-open webhook when validation fails open anyway');
    assert.equal(validating?.webhooks[0]?.clientConfig.url, 'https://127.0.0.1:8443/validate');
    assert.equal(mutating?.webhooks[0]?.clientConfig.url, 'https://127.0.0.1:8443/mutate');
    assert.equal(validating?.webhooks[0]?.clientConfig.service, undefined);
    assert.equal(validating?.webhooks[0]?.timeoutSeconds, 3);
  });

  it('annotates for cainjector, warns without a caBundle, and refuses bad input', async () => {
    const cwd = await temporaryDirectory('daemonguard-manifests-cli-');
    const injected = await daemonguard(['manifests', '--inject-ca-from', 'daemonguard-system/daemonguard-serving'], cwd);
    assert.equal(injected.code, 0);
    assert.equal(injected.stderr, '');
    assert.deepEqual(parse(injected.stdout)[0]?.metadata.annotations, { 'cert-manager.io/inject-ca-from': 'daemonguard-system/daemonguard-serving' });

    const bare = await daemonguard(['manifests', '--fail-open-namespaces', ''], cwd);
    assert.equal(bare.code, 0);
    assert.match(bare.stderr, /warning: no caBundle given/);
    assert.equal(parse(bare.stdout)[0]?.webhooks.length, 1);

    for (const args of [
      ['--url', 'http://127.0.0.1:8443'],
      ['--url', 'https://127.0.0.1:8443/?x=1'],
      ['--url', 'https://127.0.0.1', '--service', 'other'],
      ['--ca-bundle-file', 'missing.crt'],
      ['--ca-bundle', Buffer.from('not a certificate').toString('base64')],
      ['--timeout', '31'],
      ['--failure-policy', 'Deny'],
      ['--inject-ca-from', 'no-slash'],
    ]) {
      const result = await daemonguard(['manifests', ...args], cwd);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.equal(result.stdout, '');
    }
  });
});
