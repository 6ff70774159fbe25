// The playground's API and command line, through a real `daemonguard playground` process: the page's
// files and headers, reviews of the examples' DaemonSets as `daemonguard test` reviews them, pasted
// policies and their errors, the webhook's limits, the loopback rule and the flags.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO_ROOT, runCli } from '../support/cli-process.js';
import { callHttps } from '../support/server-fixtures.js';
import { BROKEN_POLICY, killPlaygrounds, PLAYGROUND_NODES_FILE, startPlayground, startPlaygroundWithExamples, type PastedExamples, type PlaygroundProcess } from '../support/playground-process.js';


interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** One HTTP request with full control of the headers (fetch would set Host and Content-Type itself). */
function call(url: string, options: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers ?? {}, agent: false }, (response) => {
      let text = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, text }));
    });
    request.on('error', reject);
    request.end(options.body);
  });
}

interface ReviewAnswer {
  verdict: 'allowed' | 'denied' | 'invalid';
  problems: { source: string; line: number; column: number; message: string; field?: string; policy?: string }[];
  policies: string[];
  violations: { policy: string; message: string; actions: string[] }[];
  warnings: string[];
  patch: { op: string; path: string }[];
  object?: Record<string, unknown>;
  mutated?: Record<string, unknown>;
  coverage?: { totalNodes: number; scheduled: { name: string }[]; excluded: { name: string; reason: string }[] };
}

function postReview(base: string, body: unknown): Promise<Answer> {
  return call(new URL('api/review', base).href, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

async function review(base: string, body: unknown): Promise<ReviewAnswer> {
  const answer = await postReview(base, body);
  assert.equal(answer.status, 200, answer.text);
  return JSON.parse(answer.text) as ReviewAnswer;
}

describe('daemonguard playground: the API', { timeout: 180_000 }, () => {
  let playground: PlaygroundProcess;
  let compliant: string;
  let privileged: string;
  let kubectlApply: string;

  before(async () => {
    let examples: PastedExamples;
    ({ playground, examples } = await startPlaygroundWithExamples(['--nodes', PLAYGROUND_NODES_FILE, '--namespaces', join(REPO_ROOT, 'examples', 'namespaces.yaml'), '--max-body-bytes', String(256 * 1024)]));
    ({ compliant, privileged, kubectlApply } = examples);
  });
  after(async () => {
    await playground?.stop();
    killPlaygrounds();
  });

  it('listens on 127.0.0.1 by default and serves the page, its script and stylesheet with a same-origin-only policy', async () => {
    assert.match(playground.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    for (const [path, type] of [['', 'text/html'], ['playground.js', 'text/javascript'], ['playground.css', 'text/css']] as const) {
      const answer = await call(new URL(path, playground.url).href);
      assert.equal(answer.status, 200, path);
      assert.ok(String(answer.headers['content-type']).startsWith(type), `${path}: ${answer.headers['content-type']}`);
      assert.match(String(answer.headers['content-security-policy']), /^default-src 'self'/);
      assert.equal(answer.headers['x-content-type-options'], 'nosniff');
    }
    const page = await call(playground.url);
    assert.match(page.text, /<script type="module" src="playground.js"><\/script>/);
    // Nothing but the page's own files: no path reaches the file system.
    for (const path of ['../package.json', '%2e%2e/package.json', 'playground/index.html', 'policies/']) {
      assert.equal((await call(`${playground.url}${path}`)).status, 404, path);
    }
  });

  it('GET /api/policies lists the built-in library, and how many nodes the server has', async () => {
    const answer = await call(new URL('api/policies', playground.url).href);
    assert.equal(answer.status, 200);
    const { policies, nodes, namespaces } = JSON.parse(answer.text) as { policies: { name: string; mutates: boolean }[]; nodes: number; namespaces: string[] };
    const names = policies.map((policy) => policy.name);
    for (const name of ['privileged-namespaces', 'host-namespaces', 'default-seccomp']) assert.ok(names.includes(name), `${name} is missing from ${names.join(', ')}`);
    assert.equal(policies.find((policy) => policy.name === 'default-seccomp')?.mutates, true);
    assert.equal(nodes, 3);
    assert.ok(namespaces.includes('kube-system'), namespaces.join(', '));
  });

  it('reviews as `daemonguard test` does: the same verdict, violations and patch', async () => {
    for (const [name, text] of [['create-compliant.json', compliant], ['create-privileged.json', privileged], ['create-kubectl-apply.json', kubectlApply]] as const) {
      // No labels given: the --namespaces file's would apply, which `test` without --namespace-labels does not know.
      const answer = await review(playground.url, { daemonSet: text, namespaceLabels: {} });
      const cli = await runCli(['test', '-o', 'json', '-'], { input: text });
      const report = JSON.parse(cli.stdout) as { results: { allowed: boolean; violations: { policy: string; message: string }[]; patch?: unknown[] }[] };
      const [expected] = report.results;
      assert.ok(expected, cli.stdout + cli.stderr);
      assert.equal(answer.verdict, expected.allowed ? 'allowed' : 'denied', name);
      assert.deepEqual(answer.violations.map((v) => `${v.policy}: ${v.message}`), expected.violations.map((v) => `${v.policy}: ${v.message}`), name);
      if (expected.patch !== undefined) assert.deepEqual(answer.patch, expected.patch, name);
    }
  });

  it('shows a denial by policy, a mutation as a patch and the object before and after it', async () => {
    const denied = await review(playground.url, { daemonSet: privileged });
    assert.equal(denied.verdict, 'denied');
    const denying = denied.violations.filter((violation) => violation.actions.includes('Deny')).map((violation) => violation.policy);
    assert.ok(denying.includes('host-namespaces'), denying.join(', '));

    const mutated = await review(playground.url, { daemonSet: kubectlApply });
    assert.equal(mutated.verdict, 'allowed');
    assert.ok(mutated.patch.some((operation) => operation.op === 'add' && operation.path === '/spec/template/spec/securityContext/seccompProfile'), JSON.stringify(mutated.patch));
    const spec = (object: Record<string, unknown> | undefined): Record<string, unknown> => ((object?.spec as Record<string, unknown>).template as { spec: Record<string, unknown> }).spec;
    assert.equal((spec(mutated.object).securityContext as Record<string, unknown>).seccompProfile, undefined);
    assert.deepEqual((spec(mutated.mutated).securityContext as Record<string, unknown>).seccompProfile, { type: 'RuntimeDefault' });
  });

  it('runs only the built-in policies chosen, and says which name is unknown', async () => {
    const chosen = await review(playground.url, { daemonSet: privileged, policies: ['host-namespaces'] });
    assert.deepEqual(chosen.policies, ['host-namespaces']);
    assert.deepEqual([...new Set(chosen.violations.map((violation) => violation.policy))], ['host-namespaces']);
    assert.deepEqual(chosen.patch, []);

    const unknown = await review(playground.url, { daemonSet: privileged, policies: ['no-such-policy'] });
    assert.equal(unknown.verdict, 'invalid');
    assert.match(unknown.problems[0]?.message ?? '', /no policy named "no-such-policy"/);
  });

  it('compiles pasted policies from their text, and points a broken one at its line, column and field', async () => {
    const broken = await review(playground.url, { daemonSet: privileged, policies: BROKEN_POLICY });
    assert.equal(broken.verdict, 'invalid');
    assert.equal(broken.problems.length, 1, JSON.stringify(broken.problems));
    const [problem] = broken.problems;
    assert.equal(problem?.source, 'policies');
    assert.equal(problem?.line, 7);
    assert.equal(problem?.field, 'spec.validations[0].expression');
    assert.equal(problem?.policy, 'no-host-network');
    assert.match(problem?.message ?? '', /CEL syntax error/);

    const fixed = await review(playground.url, { daemonSet: privileged, policies: BROKEN_POLICY.replace('hostNetwork ==', 'hostNetwork != true') });
    assert.equal(fixed.verdict, 'denied');
    assert.deepEqual(fixed.policies, ['no-host-network']);
    assert.deepEqual(fixed.violations.map((violation) => violation.message), ['hostNetwork is not allowed']);
  });

  it('a path in a pasted text is text: policies are never read from the server’s files', async () => {
    const answer = await review(playground.url, { daemonSet: privileged, policies: join(REPO_ROOT, 'policies') });
    assert.equal(answer.verdict, 'invalid');
    assert.match(answer.problems[0]?.message ?? '', /not a policy/);
  });

  it('computes the coverage on the server’s --nodes, or on nodes pasted with the review', async () => {
    const answer = await review(playground.url, { daemonSet: compliant });
    assert.equal(answer.coverage?.totalNodes, 3);
    // The DaemonSet controller does not look at the OS: without a nodeSelector, the Windows node gets a pod too.
    assert.deepEqual(answer.coverage?.scheduled.map((node) => node.name), ['worker-1', 'windows-1']);
    assert.deepEqual(answer.coverage?.excluded.map((node) => node.name), ['control-plane-1']);
    assert.match(answer.coverage?.excluded[0]?.reason ?? '', /node-role\.kubernetes\.io\/control-plane/);

    const pasted = await review(playground.url, { daemonSet: compliant, nodes: 'apiVersion: v1\nkind: Node\nmetadata:\n  name: only-node\n' });
    assert.deepEqual(pasted.coverage?.scheduled.map((node) => node.name), ['only-node']);
  });

  it('says where a pasted DaemonSet is wrong: YAML syntax, the apiserver’s validation, an UPDATE without its old object', async () => {
    const syntax = await review(playground.url, { daemonSet: 'apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: [unclosed\n' });
    assert.equal(syntax.verdict, 'invalid');
    assert.equal(syntax.problems[0]?.source, 'daemonSet');
    assert.ok((syntax.problems[0]?.line ?? 0) >= 4, JSON.stringify(syntax.problems));

    const noSelector = await review(playground.url, { daemonSet: 'apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: x\nspec:\n  template: {}\n' });
    assert.equal(noSelector.verdict, 'invalid');
    assert.match(noSelector.problems[0]?.message ?? '', /^the kube-apiserver would reject this: spec\.template/);
    assert.ok(noSelector.problems.every((problem) => problem.line >= 5), JSON.stringify(noSelector.problems));

    const update = await review(playground.url, { daemonSet: compliant, operation: 'UPDATE' });
    assert.equal(update.verdict, 'invalid');
    assert.equal(update.problems[0]?.source, 'oldObject');

    const withOld = await review(playground.url, { daemonSet: compliant, operation: 'UPDATE', oldObject: compliant });
    assert.equal(withOld.verdict, 'allowed');
  });

  it('holds hostile input to the webhook’s limits: body size, JSON depth, YAML depth and aliases', async () => {
    const tooLarge = await postReview(playground.url, { daemonSet: 'x'.repeat(300 * 1024) });
    assert.equal(tooLarge.status, 413, tooLarge.text);
    assert.match(tooLarge.text, /the limit is 262144 bytes/);

    const deepJson = await call(new URL('api/review', playground.url).href, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"daemonSet":${'['.repeat(2000)}${']'.repeat(2000)}}` });
    assert.equal(deepJson.status, 400);
    assert.match(deepJson.text, /depth limit/);

    const deepYaml = await review(playground.url, { daemonSet: `apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: x, labels: ${'['.repeat(1500)}${']'.repeat(1500)}}\n` });
    assert.equal(deepYaml.verdict, 'invalid');
    assert.match(deepYaml.problems[0]?.message ?? '', /nested/);

    const laughs = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
    for (let level = 1; level < 9; level++) laughs.push(`${String.fromCharCode(97 + level)}: &${String.fromCharCode(97 + level)} [${Array(10).fill(`*${String.fromCharCode(96 + level)}`).join(',')}]`);
    const aliases = await review(playground.url, { daemonSet: laughs.join('\n') });
    assert.equal(aliases.verdict, 'invalid');
    assert.equal(aliases.problems[0]?.source, 'daemonSet');
  });

  it('refuses requests a web page elsewhere could send: other hosts, other content types, unknown fields, wrong methods', async () => {
    const rebound = await call(playground.url, { headers: { host: 'attacker.example' } });
    assert.equal(rebound.status, 421);
    const form = await call(new URL('api/review', playground.url).href, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ daemonSet: compliant }) });
    assert.equal(form.status, 415);
    const unknown = await postReview(playground.url, { daemonSet: compliant, file: '/etc/passwd' });
    assert.equal(unknown.status, 400);
    assert.match((JSON.parse(unknown.text) as { error: string }).error, /unknown field "file"/);
    const notJson = await call(new URL('api/review', playground.url).href, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"daemonSet": ' });
    assert.equal(notJson.status, 400);
    assert.match(notJson.text, /not valid JSON/);
    assert.equal((await call(new URL('api/review', playground.url).href)).status, 405);
    assert.equal((await call(new URL('api/nothing', playground.url).href)).status, 404);
  });

  it('the evaluation deadline settles policies by their failurePolicy, as the webhook does; the default body limit is 2 MiB', async () => {
    const hurried = await startPlayground({ args: ['--eval-deadline', '0ms'] });
    try {
      const answer = await review(hurried.url, { daemonSet: compliant });
      assert.equal(answer.verdict, 'denied');
      assert.match(answer.violations.map((violation) => violation.message).join('\n'), /deadline/);
      const tooLarge = await postReview(hurried.url, { daemonSet: 'x'.repeat(2 * 1024 * 1024) });
      assert.equal(tooLarge.status, 413, tooLarge.text);
      assert.match(tooLarge.text, /the limit is 2097152 bytes \(2 MiB, --max-body-bytes\)/);
    } finally {
      await hurried.stop();
    }
  });
});

describe('daemonguard playground: the command line', { timeout: 120_000 }, () => {
  after(() => killPlaygrounds());

  it('refuses an address other machines reach unless it serves HTTPS: a usage error, exit 2', async () => {
    for (const address of ['0.0.0.0', '192.0.2.10', '::']) {
      const result = await runCli(['playground', '--address', address]);
      assert.equal(result.code, 2, `${address}: ${result.stdout}${result.stderr}`);
      assert.match(result.stderr, /reachable from other machines: .*--tls-cert and --tls-key/);
      assert.match(result.stderr, /Usage: daemonguard playground/);
    }
  });

  it('prints the usage and exits 2 on a bad flag', async () => {
    for (const args of [['--port', 'eighty'], ['--eval-deadline', 'soon'], ['--tls-cert', 'a.crt'], ['--no-such-flag'], ['--max-body-bytes', '12']]) {
      const result = await runCli(['playground', ...args]);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stdout}${result.stderr}`);
      assert.match(result.stderr, /error: |Usage:/, args.join(' '));
    }
  });

  it('exits 2 naming the file when --nodes, --policies or the TLS files cannot be read', async () => {
    const nodes = await runCli(['playground', '--port', '0', '--nodes', 'no-such-nodes.yaml']);
    assert.equal(nodes.code, 2, nodes.stderr);
    assert.match(nodes.stderr, /no-such-nodes\.yaml/);
    const policies = await runCli(['playground', '--port', '0', '--policies', 'no-such-policies']);
    assert.equal(policies.code, 2, policies.stderr);
    assert.match(policies.stderr, /no-such-policies/);
    const tls = await runCli(['playground', '--port', '0', '--tls-cert', 'no-such.crt', '--tls-key', 'no-such.key']);
    assert.equal(tls.code, 2, tls.stderr);
    assert.match(tls.stderr, /no-such\.crt.*check --tls-cert and --tls-key/);
  });

  it('serves HTTPS on a non-loopback address when given a certificate and key', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'daemonguard-playground-'));
    try {
      const certs = await runCli(['certs', '--dir', folder, '--ip', '127.0.0.1']);
      assert.equal(certs.code, 0, certs.stderr);
      const served = await startPlayground({ args: ['--address', '0.0.0.0', '--tls-cert', join(folder, 'tls.crt'), '--tls-key', join(folder, 'tls.key')] });
      try {
        assert.match(served.url, /^https:\/\/0\.0\.0\.0:\d+\/$/);
        const port = new URL(served.url).port;
        const page = await callHttps(`https://127.0.0.1:${port}/`, { ca: await readFile(join(folder, 'ca.crt'), 'utf8'), agent: false });
        assert.equal(page.status, 200);
        assert.match(page.text, /daemonguard playground/);
      } finally {
        await served.stop();
      }
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });
});
