// The playground page in a real browser: headless Chromium (Debian's package, installed by
// scripts/ensure-chromium.sh when missing) driven through playwright-core, against a real
// `daemonguard playground` process. Three DaemonSets of examples/ are pasted (allowed, denied, mutated),
// a broken policy is pasted, and what the page shows is asserted; each state is saved as a screenshot
// (build/screenshots/playground, or $DAEMONGUARD_SCREENSHOTS).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { REPO_ROOT } from '../support/cli-process.js';
import { BROKEN_POLICY, killPlaygrounds, PLAYGROUND_NODES_FILE, startPlaygroundWithExamples, type PastedExamples, type PlaygroundProcess } from '../support/playground-process.js';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOTS = process.env['DAEMONGUARD_SCREENSHOTS'] ?? join(REPO_ROOT, 'build', 'screenshots', 'playground');

/** Installs Chromium when it is missing; a failure to install fails the run, with the installer's words. */
function ensureChromium(): void {
  if (existsSync(CHROMIUM)) return;
  const installed = spawnSync('bash', [join(REPO_ROOT, 'scripts', 'ensure-chromium.sh')], { encoding: 'utf8' });
  assert.equal(installed.status, 0, `Chromium is needed for the browser tests and could not be installed:\n${installed.stderr}`);
}

describe('the playground page in Chromium', { timeout: 240_000 }, () => {
  let playground: PlaygroundProcess;
  let browser: Browser;
  let page: Page;
  const texts: Record<'allowed' | 'denied' | 'mutated', string> = { allowed: '', denied: '', mutated: '' };

  /** Pastes a DaemonSet and waits for the review the page asks for after the typing pause. */
  async function paste(text: string, verdict: 'allowed' | 'denied' | 'invalid'): Promise<string> {
    await page.fill('#daemonset', text);
    try {
      await page.waitForSelector(`#verdict.${verdict}`, { timeout: 30_000 });
    } catch (error) {
      throw new Error(`the banner did not turn ${verdict}: it says "${await page.textContent('#verdict')}"\n${playground.output()}`, { cause: error });
    }
    return (await page.textContent('#verdict')) ?? '';
  }

  async function screenshot(name: string): Promise<void> {
    await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
  }

  async function textsOf(selector: string): Promise<string[]> {
    return page.$$eval(selector, (nodes) => nodes.map((node) => node.textContent ?? ''));
  }

  before(async () => {
    ensureChromium();
    await mkdir(SCREENSHOTS, { recursive: true });
    let examples: PastedExamples;
    ({ playground, examples } = await startPlaygroundWithExamples(['--nodes', PLAYGROUND_NODES_FILE]));
    [texts.allowed, texts.denied, texts.mutated] = [examples.compliant, examples.privileged, examples.kubectlApply];
    // Chromium's sandbox refuses to start as root (CI containers); the page is our own.
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: process.getuid?.() === 0 ? ['--no-sandbox'] : [] });
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const outside: string[] = [];
    page.on('request', (request) => {
      if (!request.url().startsWith(playground.url)) outside.push(request.url());
    });
    await page.goto(playground.url);
    await page.waitForSelector('#builtin-policies input[type=checkbox]');
    assert.deepEqual(outside, [], 'the page fetched something from elsewhere');
  });

  after(async () => {
    await browser?.close();
    await playground?.stop();
    killPlaygrounds();
  });

  it('allowed: a compliant DaemonSet gets the green banner, the seccomp default as its patch, and its coverage', async () => {
    const verdict = await paste(texts.allowed, 'allowed');
    assert.match(verdict, /^Allowed, mutated by 1 patch operation \(\d+ policies run\)$/);
    assert.deepEqual(await textsOf('#patch li'), ['add /spec/template/spec/securityContext/seccompProfile {"type":"RuntimeDefault"}']);
    assert.equal(await page.isVisible('#coverage-section'), true);
    assert.match((await page.textContent('#coverage-summary')) ?? '', /^Runs on 2 of 3 nodes; one pod requests cpu 50m, memory 64Mi/);
    assert.deepEqual(await textsOf('#coverage-scheduled li'), ['worker-1', 'windows-1']);
    const [excluded] = await textsOf('#coverage-excluded li');
    assert.match(excluded ?? '', /^control-plane-1: .*node-role\.kubernetes\.io\/control-plane/);
    await screenshot('1-allowed');
  });

  it('denied: a privileged agent gets the red banner naming the denying policies, and each violation with its policy', async () => {
    const verdict = await paste(texts.denied, 'denied');
    assert.match(verdict, /^Denied by .*host-namespaces/);
    const policies = await textsOf('#violations td.policy');
    for (const policy of ['host-namespaces', 'privileged-namespaces', 'rollout-safety']) assert.ok(policies.includes(policy), `${policy} is not among ${policies.join(', ')}`);
    const rows = await textsOf('#violations tr');
    assert.ok(rows.some((row) => /privileged-namespaces\s*Deny\s*container "agent" is privileged/.test(row)), rows.join('\n'));
    await screenshot('2-denied');
  });

  it('mutated: a kubectl-applied DaemonSet shows three patch operations and the added fields on the after side', async () => {
    const verdict = await paste(texts.mutated, 'allowed');
    assert.match(verdict, /^Allowed, mutated by 3 patch operations/);
    const operations = (await textsOf('#patch li')).map((operation) => operation.split(' ').slice(0, 2).join(' '));
    assert.deepEqual(operations, ['add /spec/revisionHistoryLimit', 'add /spec/updateStrategy/rollingUpdate/maxUnavailable', 'add /spec/template/spec/securityContext/seccompProfile']);
    const added = await textsOf('#diff-after .added');
    assert.ok(added.some((line) => line.includes('"seccompProfile"')), added.join(''));
    assert.ok(added.some((line) => line.includes('"revisionHistoryLimit"')), added.join(''));
    assert.deepEqual(await textsOf('#diff-before .added'), [], 'the before side shows no added lines');
    await screenshot('3-mutated');
    // The README's picture (docs/playground.png): the first screen, as a user sees it.
    await page.screenshot({ path: join(SCREENSHOTS, 'readme.png') });
  });

  it('a pasted policy that does not compile: the yellow banner, the problem at its line with a caret under the column', async () => {
    await page.fill('#daemonset', texts.denied);
    await page.check('#policy-mode-pasted');
    await page.fill('#pasted-policies', BROKEN_POLICY);
    await page.waitForSelector('#verdict.invalid', { timeout: 30_000 });
    assert.equal(await page.textContent('#verdict'), 'Not reviewed: 1 problem in what was pasted');
    const problem = (await page.textContent('#problems li')) ?? '';
    assert.match(problem, /^Pasted policies, line 7, column \d+: policy no-host-network: spec\.validations\[0\]\.expression: CEL syntax error/);
    const caret = (await page.textContent('#problems pre.caret')) ?? '';
    const [source, marker] = caret.split('\n');
    assert.match(source ?? '', /^ {3}7 \| {5}- expression: "object\.spec\.template\.spec\.hostNetwork =="$/);
    assert.match(marker ?? '', /^ {5}\| +\^$/);
    await screenshot('4-policy-error');

    // Fixed, the same page reviews with it: denied by the pasted policy alone.
    await page.fill('#pasted-policies', BROKEN_POLICY.replace('hostNetwork ==', 'hostNetwork != true'));
    await page.waitForSelector('#verdict.denied', { timeout: 30_000 });
    assert.match((await page.textContent('#verdict')) ?? '', /^Denied by no-host-network \(1 policy run\)$/);
    await page.check('#policy-mode-builtin');
    await page.waitForSelector('#verdict.denied:not(:has-text("no-host-network"))', { timeout: 30_000 });
  });

  it('keeps the state in the URL fragment: the link opens the same review in a new tab', async () => {
    await paste(texts.mutated, 'allowed');
    await page.selectOption('#operation', 'UPDATE');
    await page.fill('#old-object', texts.allowed);
    await page.waitForSelector('#verdict.allowed');
    const link = page.url();
    assert.match(link, /#%7B/);
    const other = await browser.newPage();
    try {
      await other.goto(link);
      await other.waitForSelector('#verdict.allowed', { timeout: 30_000 });
      assert.equal(await other.inputValue('#daemonset'), texts.mutated);
      assert.equal(await other.inputValue('#operation'), 'UPDATE');
      assert.equal(await other.inputValue('#old-object'), texts.allowed);
    } finally {
      await other.close();
    }
    await page.selectOption('#operation', 'CREATE');
  });

  it('is usable from the keyboard: the editor comes first, every field has a label, the verdict is announced', async () => {
    await page.goto(playground.url);
    await page.waitForSelector('#builtin-policies input[type=checkbox]');
    await page.keyboard.press('Tab');
    // Expressions as text: they run in the page, whose DOM types this Node project does not compile against.
    assert.equal(await page.evaluate('document.activeElement?.id'), 'daemonset');
    const unlabelled = await page.evaluate(`[...document.querySelectorAll('textarea, input, select')]
      .filter((control) => control.labels.length === 0).map((control) => control.id || control.outerHTML)`);
    assert.deepEqual(unlabelled, []);
    assert.equal(await page.getAttribute('#verdict', 'aria-live'), 'polite');
    await page.keyboard.type('apiVersion: apps/v1\nkind: DaemonSet\n');
    await page.waitForSelector('#verdict.invalid', { timeout: 30_000 });
  });

  it('follows the dark colour scheme', async () => {
    await page.emulateMedia({ colorScheme: 'dark' });
    await paste(texts.denied, 'denied');
    const background = await page.evaluate('getComputedStyle(document.body).backgroundColor');
    assert.equal(background, 'rgb(13, 17, 23)');
    await screenshot('5-dark');
    await page.emulateMedia({ colorScheme: 'light' });
    assert.equal(await page.evaluate('getComputedStyle(document.body).backgroundColor'), 'rgb(255, 255, 255)');
  });
});
