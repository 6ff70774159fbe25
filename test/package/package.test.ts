// The npm package as a user gets it: `npm pack` of the repository, installed with npm into an empty
// folder outside it, and the installed `daemonguard` run from there, with nothing of the repository
// reachable (no repository folder above it, no repository bin folder on PATH, no npm script
// variables). One install serves every case; `npm test` builds dist/ before the tests run.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join, sep } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPO_ROOT } from '../support/cli-process.js';
import { admissionReview, callHttp, callHttps } from '../support/server-fixtures.js';
import { killPlaygrounds, startPlayground } from '../support/playground-process.js';
import { importedPackage, moduleImports } from './module-imports.js';

const BIN_IN_REPOSITORY = join(REPO_ROOT, 'dist', 'cli', 'main.js');
/** What a published package may hold at its top level: the program, the playground page, the library, the schemas. */
const SHIPPED_TOP_LEVEL = ['dist/', 'playground/', 'policies/', 'schema/', 'package.json', 'README.md', 'LICENSE'];
/** Paths that are test code or test data wherever they sit. */
const TEST_MATERIAL = [/(^|\/)(test|tests|testdata|__tests__|fixtures)\//, /\.test\.[a-z]+(\.map)?$/, /^(build|src|bench|scripts)\//];

interface Run {
  /** As a user would type it, for failure messages. */
  command: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A failed expectation names the command and shows what it printed. */
function describeRun(run: Run): string {
  return `\`${run.command}\` exited with ${run.signal ?? run.code ?? '(still running)'}\n--- stdout ---\n${run.stdout}\n--- stderr ---\n${run.stderr}`;
}

/**
 * The environment of a user's shell: this process's, without what `npm test` adds (npm_package_*,
 * the repository as npm's local prefix, node_modules/.bin folders on PATH) and without settings that
 * would load code or policies from elsewhere.
 */
function userEnvironment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (/^(npm_package_|npm_lifecycle_|DAEMONGUARD_)/.test(name)) continue;
    if (['npm_config_local_prefix', 'INIT_CWD', 'NODE_PATH', 'NODE_OPTIONS', 'NODE_TEST_CONTEXT'].includes(name)) continue;
    env[name] = value;
  }
  env['PATH'] = (process.env['PATH'] ?? '')
    .split(delimiter)
    .filter((dir) => dir !== '' && !dir.startsWith(REPO_ROOT) && !dir.endsWith(`${sep}node_modules${sep}.bin`))
    .join(delimiter);
  env['NO_COLOR'] = '1';
  return env;
}

function run(name: string, file: string, args: readonly string[], cwd: string, timeoutMs: number): Promise<Run> {
  const command = [name, ...args].join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd, env: userEnvironment(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      stderr += `\n(killed after ${timeoutMs} ms)`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ command, code, signal, stdout, stderr });
    });
  });
}

async function freeLoopbackPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  assert.ok(address !== null && typeof address === 'object');
  return address.port;
}

/** A DaemonSet that every built-in policy admits (the defaults still mutate it). */
const COMPLIANT = {
  apiVersion: 'apps/v1',
  kind: 'DaemonSet',
  metadata: { name: 'log-shipper', namespace: 'logging', labels: { app: 'log-shipper' } },
  spec: {
    selector: { matchLabels: { app: 'log-shipper' } },
    template: {
      metadata: { labels: { app: 'log-shipper' } },
      spec: {
        containers: [
          {
            name: 'shipper',
            image: `registry.example.com/log-shipper:1.4.0@sha256:${'0123456789abcdef'.repeat(4)}`,
            resources: { requests: { cpu: '20m', memory: '32Mi' }, limits: { memory: '64Mi' } },
            securityContext: { allowPrivilegeEscalation: false, runAsNonRoot: true, runAsUser: 10001, capabilities: { drop: ['ALL'] } },
          },
        ],
      },
    },
  },
};

/** A privileged node agent in a team namespace: privileged-namespaces denies it. */
const PRIVILEGED = {
  apiVersion: 'apps/v1',
  kind: 'DaemonSet',
  metadata: { name: 'debug-agent', namespace: 'team-a' },
  spec: {
    selector: { matchLabels: { app: 'debug-agent' } },
    template: {
      metadata: { labels: { app: 'debug-agent' } },
      spec: { containers: [{ name: 'agent', image: 'registry.example.com/debug-agent:2.0.1', securityContext: { privileged: true } }] },
    },
  },
};

const NAMESPACES = {
  apiVersion: 'v1',
  kind: 'List',
  items: ['logging', 'team-a'].map((name) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { 'kubernetes.io/metadata.name': name } } })),
};

// A suite that names no policies: it tests the built-in library, the one a user of the package has.
const SUITE = `apiVersion: daemonguard.dev/v1alpha1
kind: PolicyTest
metadata:
  name: installed-library
spec:
  resources:
    - name: compliant
      file: manifests/compliant.json
      expect:
        allowed: true
        policies: {privileged-namespaces: pass, default-seccomp: mutate}
        mutated:
          /spec/template/spec/securityContext/seccompProfile/type: RuntimeDefault
    - name: privileged
      file: manifests/privileged.json
      expect:
        allowed: false
        policies: {privileged-namespaces: deny}
        messages: [privileged containers are allowed only in namespaces kube-system]
`;

describe('the npm package, installed outside the repository', { timeout: 300_000 }, () => {
  let scratch: string;
  /** The user's project: the tarball installed into it, and the files the commands read. */
  let project: string;
  let packedFiles: string[];
  let bin: string;
  let certificates: Promise<Run> | undefined;
  const servers = new Set<ChildProcess>();

  /** `daemonguard ARGS...` as the user runs it: the installed bin, from the project folder. */
  const daemonguard = (args: readonly string[], timeoutMs = 60_000): Promise<Run> => run('daemonguard', bin, args, project, timeoutMs);

  before(async () => {
    assert.ok(existsSync(BIN_IN_REPOSITORY), `${BIN_IN_REPOSITORY} does not exist: build the package first (npm run build; npm test does)`);
    scratch = realpathSync(await mkdtemp(join(tmpdir(), 'daemonguard-package-')));
    assert.ok(!`${scratch}${sep}`.startsWith(`${realpathSync(REPO_ROOT)}${sep}`), `the temporary folder ${scratch} is inside the repository; set TMPDIR elsewhere`);

    // --ignore-scripts: dist/ is already built; prepack would rebuild it under the running tests.
    const packed = await run('npm', 'npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', scratch], REPO_ROOT, 120_000);
    assert.equal(packed.code, 0, describeRun(packed));
    const [summary] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
    assert.ok(summary, `npm pack printed no summary:\n${packed.stdout}`);
    packedFiles = summary.files.map((file) => file.path);

    project = join(scratch, 'project');
    await mkdir(join(project, 'manifests'), { recursive: true });
    await writeFile(join(project, 'package.json'), `${JSON.stringify({ name: 'user-project', private: true })}\n`);
    const installed = await run('npm', 'npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(scratch, summary.filename)], project, 240_000);
    assert.equal(installed.code, 0, describeRun(installed));
    bin = join(project, 'node_modules', '.bin', 'daemonguard');
    assert.ok(existsSync(bin), `npm install did not link ${bin}; package.json "bin" is wrong`);

    await writeFile(join(project, 'manifests', 'compliant.json'), JSON.stringify(COMPLIANT, null, 2));
    await writeFile(join(project, 'manifests', 'privileged.json'), JSON.stringify(PRIVILEGED, null, 2));
    await writeFile(join(project, 'namespaces.json'), JSON.stringify(NAMESPACES, null, 2));
    await writeFile(join(project, 'library.test.yaml'), SUITE);
  });

  after(async () => {
    for (const server of servers) server.kill('SIGKILL');
    killPlaygrounds();
    if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
  });

  it('holds the product only: no tests, test data or build output', () => {
    const outside = packedFiles.filter((path) => !SHIPPED_TOP_LEVEL.some((top) => (top.endsWith('/') ? path.startsWith(top) : path === top)));
    assert.deepEqual(outside, [], `the tarball holds files outside ${SHIPPED_TOP_LEVEL.join(', ')}`);
    const testMaterial = packedFiles.filter((path) => TEST_MATERIAL.some((pattern) => pattern.test(path)));
    assert.deepEqual(testMaterial, [], 'the tarball holds test code or test data');
    for (const needed of ['dist/cli/main.js', 'schema/daemonsetpolicy.schema.json', 'schema/daemonsetpolicyexception.schema.json', 'schema/policytest.schema.json', 'policies/security/privileged-namespaces.yaml', 'playground/index.html', 'playground/playground.js', 'playground/playground.css']) {
      assert.ok(packedFiles.includes(needed), `the tarball lacks ${needed}`);
    }
  });

  it('declares in "dependencies" every package its code imports, and no other', async () => {
    const installedRoot = join(project, 'node_modules', 'daemonguard');
    const manifest = JSON.parse(await readFile(join(installedRoot, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    const declared = new Set(Object.keys(manifest.dependencies ?? {}));
    const imports = await moduleImports(join(installedRoot, 'dist'));
    const undeclared = imports.filter(({ specifier }) => {
      const name = importedPackage(specifier);
      return name !== undefined && !declared.has(name);
    });
    assert.deepEqual(undeclared, [], 'imported by dist/ but not in package.json "dependencies" (a builtin needs the node: prefix)');
    const used = new Set(imports.map(({ specifier }) => importedPackage(specifier)));
    assert.deepEqual([...declared].filter((name) => !used.has(name)), [], 'in "dependencies" but imported nowhere in dist/: remove it, or move it to devDependencies');
  });

  it('--version prints the version in package.json', async () => {
    const { version } = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    const result = await daemonguard(['--version']);
    assert.equal(result.code, 0, describeRun(result));
    assert.equal(result.stdout.trim(), version, describeRun(result));
  });

  it('test, with the built-in library: admits a compliant DaemonSet, denies a privileged one naming the policy', async () => {
    const admitted = await daemonguard(['test', 'manifests/compliant.json']);
    assert.equal(admitted.code, 0, describeRun(admitted));
    assert.match(admitted.stdout, /1 allowed, 0 denied/, describeRun(admitted));

    const denied = await daemonguard(['test', 'manifests/privileged.json']);
    assert.equal(denied.code, 1, describeRun(denied));
    assert.match(denied.stdout, /deny {2}privileged-namespaces: container "agent" is privileged/, describeRun(denied));
  });

  it('verify runs a PolicyTest suite against the built-in library', async () => {
    const result = await daemonguard(['verify', 'library.test.yaml']);
    assert.equal(result.code, 0, describeRun(result));
    assert.match(result.stdout, /1 suite, 2 resources: 2 passed, 0 failed/, describeRun(result));
  });

  it('export writes the built-in library as native policies, naming those that read coverage', async () => {
    const result = await daemonguard(['export', '--format', 'vap']);
    assert.equal(result.code, 1, describeRun(result));
    assert.match(result.stdout, /^kind: ValidatingAdmissionPolicy\nmetadata:\n {2}name: daemonguard-privileged-namespaces$/m, describeRun(result));
    assert.match(result.stderr, /^not exportable: footprint: .*reads `coverage`/m, describeRun(result));
  });

  /** `daemonguard certs` once, for a webhook served on 127.0.0.1; shared by the certs and serve cases. */
  const generateCertificates = (): Promise<Run> => (certificates ??= daemonguard(['certs', '--dir', 'certs', '--ip', '127.0.0.1']));

  it('certs writes a CA and a serving certificate into a folder', async () => {
    const result = await generateCertificates();
    assert.equal(result.code, 0, describeRun(result));
    for (const file of ['ca.crt', 'ca.key', 'tls.crt', 'tls.key', 'ca-bundle.crt']) {
      assert.ok(existsSync(join(project, 'certs', file)), `certs/${file} is missing\n${describeRun(result)}`);
    }
  });

  it('serve answers /readyz on its probe port, reviews over HTTPS with those certificates, and exits cleanly on SIGTERM', async () => {
    const certs = await generateCertificates();
    assert.equal(certs.code, 0, describeRun(certs));
    const port = await freeLoopbackPort();
    const probePort = await freeLoopbackPort();
    const args = [
      'serve', '--address', '127.0.0.1', '--port', String(port), '--probe-address', `:${probePort}`,
      '--tls-cert', 'certs/tls.crt', '--tls-key', 'certs/tls.key', '--namespaces', 'namespaces.json',
    ];
    const child = spawn(bin, args, { cwd: project, env: userEnvironment(), stdio: ['ignore', 'pipe', 'pipe'] });
    servers.add(child);
    const output: Run = { command: `daemonguard ${args.join(' ')}`, code: null, signal: null, stdout: '', stderr: '' };
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output.stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output.stderr += chunk));
    const exited = new Promise<Run>((resolve) =>
      child.on('exit', (code, signal) => {
        servers.delete(child);
        resolve(Object.assign(output, { code, signal }));
      }),
    );

    const ca = await readFile(join(project, 'certs', 'ca.crt'), 'utf8');
    const deadline = Date.now() + 60_000;
    let lastAttempt = '';
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) assert.fail(`${describeRun(await exited)}\n(exited before /readyz answered)`);
      assert.ok(Date.now() < deadline, `${describeRun(output)}\n(/readyz did not answer 200 within 60 s; last: ${lastAttempt})`);
      try {
        const ready = await callHttp(`http://127.0.0.1:${probePort}/readyz`);
        if (ready.status === 200) break;
        lastAttempt = `status ${ready.status}: ${ready.text}`;
      } catch (error) {
        lastAttempt = (error as Error).message;
      }
      await sleep(100);
    }

    const body = JSON.stringify(admissionReview('CREATE', PRIVILEGED, { uid: 'uid-package-test' }));
    const answer = await callHttps(`https://127.0.0.1:${port}/validate`, { ca, body, agent: false });
    assert.equal(answer.status, 200, `${answer.text}\n${describeRun(output)}`);
    const { response } = answer.json<{ response: { uid: string; allowed: boolean; status?: { message?: string } } }>();
    assert.equal(response.uid, 'uid-package-test');
    assert.equal(response.allowed, false, answer.text);
    assert.match(response.status?.message ?? '', /privileged-namespaces: container "agent" is privileged/);

    child.kill('SIGTERM');
    const stopped = await exited;
    assert.deepEqual({ code: stopped.code, signal: stopped.signal }, { code: 0, signal: null }, describeRun(stopped));
  });

  it('playground serves its page from the installed package and reviews a pasted DaemonSet with the built-in library', async () => {
    const playground = await startPlayground({ command: { file: bin, args: [] }, cwd: project, env: userEnvironment() });
    try {
      const page = await fetch(playground.url);
      assert.equal(page.status, 200, playground.output());
      assert.match(await page.text(), /<title>daemonguard playground<\/title>/);
      const script = await fetch(new URL('playground.js', playground.url));
      assert.equal(script.status, 200, playground.output());
      const answer = await fetch(new URL('api/review', playground.url), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ daemonSet: JSON.stringify(PRIVILEGED) }),
      });
      assert.equal(answer.status, 200, playground.output());
      const result = (await answer.json()) as { verdict: string; violations: { policy: string; message: string }[] };
      assert.equal(result.verdict, 'denied');
      assert.ok(result.violations.some((violation) => violation.policy === 'privileged-namespaces' && /container "agent" is privileged/.test(violation.message)), JSON.stringify(result.violations));
    } finally {
      const stopped = await playground.stop();
      assert.deepEqual(stopped, { code: 0, signal: null }, playground.output());
    }
  });
});
