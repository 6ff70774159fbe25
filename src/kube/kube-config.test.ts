// How serve, audit and the informers find their cluster and credentials, with real files: kubeconfigs
// with relative and inline certificates, tokens and token files, $KUBECONFIG with several files, a
// pod's service account directory, and a user authenticated by an exec plugin (handed to
// @kubernetes/client-node). The e2e suites connect with the admin client certificate of a real
// kube-apiserver through the same code.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import type https from 'node:https';
import path from 'node:path';
import { describe, it } from 'node:test';
import { stringify } from 'yaml';
import { temporaryDirectory } from '../../test/support/server-fixtures.js';
import { KubeConfig, KubeConfigError } from './kube-config.js';
import { clusterServer } from './kube-request.js';

function kubeconfig(fields: { clusters?: unknown[]; users?: unknown[]; contexts?: unknown[]; current?: string }): string {
  return stringify({ apiVersion: 'v1', kind: 'Config', clusters: fields.clusters ?? [], users: fields.users ?? [], contexts: fields.contexts ?? [], 'current-context': fields.current });
}

async function applied(config: KubeConfig): Promise<https.RequestOptions & { headers: Record<string, string> }> {
  const options: https.RequestOptions = {};
  await config.applyToHTTPSOptions(options);
  return options as https.RequestOptions & { headers: Record<string, string> };
}

describe('KubeConfig', () => {
  it('reads the CA, client certificate and key from files named relative to the kubeconfig, again on every request', async () => {
    const dir = await temporaryDirectory('kube-config-files');
    await mkdir(path.join(dir, 'pki'));
    await writeFile(path.join(dir, 'pki', 'ca.crt'), 'CA v1');
    await writeFile(path.join(dir, 'pki', 'client.crt'), 'CERT');
    await writeFile(path.join(dir, 'pki', 'client.key'), 'KEY');
    const file = path.join(dir, 'config');
    await writeFile(
      file,
      kubeconfig({
        clusters: [{ name: 'prod', cluster: { server: 'https://10.0.0.1:6443/', 'certificate-authority': 'pki/ca.crt', 'tls-server-name': 'kubernetes' } }],
        users: [{ name: 'admin', user: { 'client-certificate': 'pki/client.crt', 'client-key': 'pki/client.key' } }],
        contexts: [{ name: 'prod', context: { cluster: 'prod', user: 'admin' } }],
        current: 'prod',
      }),
    );
    const config = KubeConfig.fromFiles([file]);
    assert.equal(clusterServer(config), 'https://10.0.0.1:6443', 'without the trailing slash');
    const options = await applied(config);
    assert.equal(String(options.ca), 'CA v1');
    assert.equal(String(options.cert), 'CERT');
    assert.equal(String(options.key), 'KEY');
    assert.equal(options.servername, 'kubernetes');
    assert.equal(options.rejectUnauthorized, undefined, 'verified unless the kubeconfig says otherwise');
    assert.equal(options.headers.Authorization, undefined);
    await writeFile(path.join(dir, 'pki', 'ca.crt'), 'CA v2');
    assert.equal(String((await applied(config)).ca), 'CA v2', 'a rotated file is read on the next request');
  });

  it('decodes inline data, and sends tokens, basic auth and impersonation as kubectl does', async () => {
    const base64 = (text: string): string => Buffer.from(text).toString('base64');
    const config = new KubeConfig({ clusters: [], users: [], contexts: [] });
    assert.throws(() => clusterServer(config), /names no cluster server: set a current context \(--context\), point \$KUBECONFIG/);
    const dir = await temporaryDirectory('kube-config-data');
    const file = path.join(dir, 'config');
    await writeFile(path.join(dir, 'token'), 'file-token\n');
    await writeFile(
      file,
      kubeconfig({
        clusters: [{ name: 'c', cluster: { server: 'https://c', 'certificate-authority-data': base64('CA'), 'insecure-skip-tls-verify': true } }],
        users: [
          { name: 'inline', user: { 'client-certificate-data': base64('CERT'), 'client-key-data': base64('KEY'), token: 'abc', as: 'jane' } },
          { name: 'file', user: { 'token-file': 'token' } },
          { name: 'basic', user: { username: 'bob', password: 'secret' } },
        ],
        contexts: [
          { name: 'inline', context: { cluster: 'c', user: 'inline' } },
          { name: 'file', context: { cluster: 'c', user: 'file' } },
          { name: 'basic', context: { cluster: 'c', user: 'basic' } },
        ],
        current: 'inline',
      }),
    );
    const loaded = KubeConfig.fromFiles([file]);
    const inline = await applied(loaded);
    assert.deepEqual([String(inline.ca), String(inline.cert), String(inline.key)], ['CA', 'CERT', 'KEY']);
    assert.equal(inline.rejectUnauthorized, false);
    assert.equal(inline.headers.Authorization, 'Bearer abc');
    assert.equal(inline.headers['Impersonate-User'], 'jane');
    loaded.useContext('file');
    assert.equal((await applied(loaded)).headers.Authorization, 'Bearer file-token', 'the token file, trimmed');
    loaded.useContext('basic');
    assert.equal((await applied(loaded)).auth, 'bob:secret');
    assert.throws(() => loaded.useContext('nowhere'), /the kubeconfig has no context nowhere \(it has: inline, file, basic\)/);
  });

  it('merges the files of $KUBECONFIG as kubectl does: the first to name an entry or the current context wins, a missing file is skipped', async () => {
    const dir = await temporaryDirectory('kube-config-merge');
    const first = path.join(dir, 'first');
    const second = path.join(dir, 'second');
    await writeFile(first, kubeconfig({ clusters: [{ name: 'shared', cluster: { server: 'https://first' } }], contexts: [{ name: 'one', context: { cluster: 'shared' } }], current: 'one' }));
    await writeFile(
      second,
      kubeconfig({
        clusters: [{ name: 'shared', cluster: { server: 'https://second' } }, { name: 'other', cluster: { server: 'https://other' } }],
        contexts: [{ name: 'two', context: { cluster: 'other' } }],
        current: 'two',
      }),
    );
    const config = KubeConfig.fromDefault({ KUBECONFIG: [first, path.join(dir, 'missing'), second].join(path.delimiter) });
    assert.equal(config.currentContextName(), 'one');
    assert.equal(clusterServer(config), 'https://first');
    assert.deepEqual(config.contextNames(), ['one', 'two']);
    config.useContext('two');
    assert.equal(clusterServer(config), 'https://other');
  });

  it('names the file and the entry of a kubeconfig it cannot use', async () => {
    const dir = await temporaryDirectory('kube-config-bad');
    const file = path.join(dir, 'config');
    await writeFile(file, kubeconfig({ clusters: [{ name: 'ok', cluster: { server: 'https://ok' } }, { name: 'broken', cluster: {} }] }));
    assert.throws(() => KubeConfig.fromFiles([file]), (error: Error) => error instanceof KubeConfigError && error.message === `${file}: clusters[1] (broken) has no cluster.server`);
    await writeFile(file, 'clusters: [');
    assert.throws(() => KubeConfig.fromFiles([file]), new RegExp(`^KubeConfigError: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: not valid YAML`));
    assert.throws(() => KubeConfig.fromFiles([path.join(dir, 'absent')]), /cannot read the kubeconfig .*absent: ENOENT/);
  });

  it('in a pod: the apiserver from KUBERNETES_SERVICE_HOST and _PORT, the mounted CA, the service account token and namespace', async () => {
    const dir = await temporaryDirectory('kube-config-pod');
    await writeFile(path.join(dir, 'token'), 'sa-token');
    await writeFile(path.join(dir, 'ca.crt'), 'CLUSTER CA');
    await writeFile(path.join(dir, 'namespace'), 'daemonguard-system');
    const config = KubeConfig.inCluster({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, dir);
    assert.equal(clusterServer(config), 'https://[fd00::1]:443');
    const options = await applied(config);
    assert.equal(String(options.ca), 'CLUSTER CA');
    assert.equal(options.headers.Authorization, 'Bearer sa-token');
    assert.throws(() => KubeConfig.inCluster({}, dir), /KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set/);
  });

  it('hands a user authenticated by an exec plugin to @kubernetes/client-node, which runs the plugin for the token', async () => {
    const dir = await temporaryDirectory('kube-config-exec');
    const plugin = path.join(dir, 'plugin.mjs');
    await writeFile(plugin, "process.stdout.write(JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token: 'from-plugin' } }));\n");
    const file = path.join(dir, 'config');
    await writeFile(
      file,
      kubeconfig({
        clusters: [{ name: 'c', cluster: { server: 'https://c' } }],
        users: [{ name: 'sso', user: { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: process.execPath, args: [plugin], interactiveMode: 'Never' } } }],
        contexts: [{ name: 'c', context: { cluster: 'c', user: 'sso' } }],
        current: 'c',
      }),
    );
    const options = await applied(KubeConfig.fromFiles([file]));
    assert.equal(options.headers.Authorization, 'Bearer from-plugin');
  });
});
