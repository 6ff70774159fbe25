// The watched-files helper on real files: plain writes, a ConfigMap-style `..data` symlink swap (with
// fs.watch and with polling alone), a burst of writes, a change during the first load, and close().

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { mkdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { captureLogger, temporaryDirectory } from '../../test/support/server-fixtures.js';
import { WatchedFiles, type WatchedFilesOptions } from './watched-files.js';

const started: WatchedFiles[] = [];

afterEach(() => {
  for (const watched of started.splice(0)) watched.close();
});

async function eventually(check: () => boolean, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`condition not met within ${timeoutMs} ms`);
    await sleep(20);
  }
}

interface Watching {
  watched: WatchedFiles;
  /** The content of `read` at each callback, in order. */
  seen: string[];
}

/** Starts watching `paths`; every callback records the content of `read`. */
async function startWatching(paths: string[], read: string, options: Partial<WatchedFilesOptions> = {}): Promise<Watching> {
  const seen: string[] = [];
  const watched = new WatchedFiles({
    paths,
    what: 'test',
    logger: captureLogger('silent').logger,
    onChange: async () => void seen.push(await readFile(read, 'utf8')),
    debounceMs: 30,
    pollIntervalMs: 0,
    ...options,
  });
  started.push(watched);
  await watched.start(async () => undefined);
  return { watched, seen };
}

/** A folder laid out as the kubelet mounts a ConfigMap: `name -> ..data/name`, `..data -> ..<version>`. */
async function mountConfigMap(dir: string, version: string, files: Record<string, string>): Promise<void> {
  const versionDir = path.join(dir, `..${version}`);
  await mkdir(versionDir, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    await writeFile(path.join(versionDir, name), content);
    await symlink(path.join('..data', name), path.join(dir, name)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
  }
}

/** The kubelet's update: a new version folder, then `..data` replaced in one rename, then the old folder removed. */
async function updateConfigMap(dir: string, from: string, to: string, files: Record<string, string>): Promise<void> {
  await mountConfigMap(dir, to, files);
  await symlink(`..${to}`, path.join(dir, '..data_tmp'));
  await rename(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
  await rm(path.join(dir, `..${from}`), { recursive: true });
}

describe('WatchedFiles', () => {
  it('calls back when a watched file is written, with fs.watch on its folder', async () => {
    const dir = await temporaryDirectory('daemonguard-watched-');
    const file = path.join(dir, 'namespaces.yaml');
    await writeFile(file, 'first');
    const { seen } = await startWatching([file], file);
    await writeFile(file, 'second');
    await eventually(() => seen.includes('second'));
  });

  it('watches a folder recursively', async () => {
    const dir = await temporaryDirectory('daemonguard-watched-');
    await mkdir(path.join(dir, 'nested'));
    const file = path.join(dir, 'nested', 'policy.yaml');
    await writeFile(file, 'first');
    const { seen } = await startWatching([dir], file);
    await writeFile(file, 'second');
    await eventually(() => seen.includes('second'));
  });

  for (const shape of ['file', 'folder'] as const) {
    for (const mode of ['fs.watch', 'polling'] as const) {
      it(`notices ConfigMap updates (the ..data symlink swapped) of a watched ${shape}, through ${mode}`, async () => {
        const dir = await temporaryDirectory('daemonguard-configmap-');
        await mountConfigMap(dir, '2025_01_01', { 'namespaces.yaml': 'first' });
        await symlink('..2025_01_01', path.join(dir, '..data'));
        const file = path.join(dir, 'namespaces.yaml');
        const { seen } = await startWatching([shape === 'file' ? file : dir], file, mode === 'fs.watch' ? { watch: true } : { watch: false, pollIntervalMs: 50 });

        await updateConfigMap(dir, '2025_01_01', '2025_02_01', { 'namespaces.yaml': 'second' });
        await eventually(() => seen.includes('second'));
        // A second update too: a watch that followed the first file into its version folder is gone by now.
        await updateConfigMap(dir, '2025_02_01', '2025_03_01', { 'namespaces.yaml': 'third' });
        await eventually(() => seen.includes('third'));
        assert.deepEqual(seen, ['second', 'third']);
      });
    }
  }

  it('calls back once for a burst of writes, with the last content', async () => {
    const dir = await temporaryDirectory('daemonguard-watched-');
    const file = path.join(dir, 'policy.yaml');
    await writeFile(file, 'initial');
    const { seen } = await startWatching([file], file, { debounceMs: 200 });
    // Written within one turn of the event loop: every event of the burst is queued before the first one is handled.
    for (let i = 1; i <= 20; i++) writeFileSync(file, `burst ${i}`);
    await eventually(() => seen.length > 0);
    // One more change after the burst: had the burst called back twice, that would show before this one.
    await writeFile(file, 'after');
    await eventually(() => seen.includes('after'));
    assert.deepEqual(seen, ['burst 20', 'after']);
  });

  it('never runs the callback twice at once, and runs it again for a change made while it ran', async () => {
    const dir = await temporaryDirectory('daemonguard-watched-');
    const file = path.join(dir, 'tls.crt');
    await writeFile(file, 'first');
    let running = 0;
    let overlapped = false;
    const seen: string[] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const watched = new WatchedFiles({
      paths: [file],
      what: 'test',
      logger: captureLogger('silent').logger,
      debounceMs: 30,
      pollIntervalMs: 50,
      onChange: async () => {
        overlapped ||= running > 0;
        running++;
        seen.push(await readFile(file, 'utf8'));
        if (seen.length === 1) await gate;
        running--;
      },
    });
    started.push(watched);
    await watched.start(async () => undefined);
    await writeFile(file, 'second');
    await eventually(() => seen.length === 1);
    await writeFile(file, 'third');
    // Give several polls and file events the chance to start a second run while the first is held.
    await sleep(300);
    release();
    await eventually(() => seen.includes('third'));
    assert.equal(overlapped, false);
  });

  it('notices a change made while the first load ran', async () => {
    const dir = await temporaryDirectory('daemonguard-watched-');
    const file = path.join(dir, 'namespaces.yaml');
    await writeFile(file, 'first');
    const seen: string[] = [];
    const watched = new WatchedFiles({
      paths: [file],
      what: 'test',
      logger: captureLogger('silent').logger,
      watch: false,
      pollIntervalMs: 0,
      onChange: async () => void seen.push(await readFile(file, 'utf8')),
    });
    started.push(watched);
    await watched.start(() => writeFile(file, 'written during the load'));
    assert.deepEqual(seen, ['written during the load']);
  });

  it('rejects with the first load’s error and watches nothing', async () => {
    const dir = await temporaryDirectory('daemonguard-watched-');
    const file = path.join(dir, 'namespaces.yaml');
    await writeFile(file, 'first');
    let calls = 0;
    const watched = new WatchedFiles({
      paths: [file],
      what: 'test',
      logger: captureLogger('silent').logger,
      debounceMs: 10,
      pollIntervalMs: 20,
      onChange: async () => void calls++,
    });
    started.push(watched);
    await assert.rejects(
      watched.start(() => Promise.reject(new Error('namespaces.yaml:1:1: not a Namespace'))),
      /not a Namespace/,
    );
    // A second watcher on the same file is the witness: once it has seen the change, the first would have too.
    const witness = await startWatching([file], file, { debounceMs: 10, pollIntervalMs: 20 });
    await writeFile(file, 'second');
    await eventually(() => witness.seen.includes('second'));
    assert.equal(calls, 0);
  });

  it('calls back no more after close(), even for a change already noticed', async () => {
    const dir = await temporaryDirectory('daemonguard-watched-');
    const file = path.join(dir, 'policy.yaml');
    await writeFile(file, 'first');
    const closed = await startWatching([file], file, { debounceMs: 10, pollIntervalMs: 20 });
    const witness = await startWatching([file], file, { debounceMs: 50, pollIntervalMs: 100 });
    await writeFile(file, 'second');
    closed.watched.close();
    await eventually(() => witness.seen.includes('second'));
    await writeFile(file, 'third');
    await eventually(() => witness.seen.includes('third'));
    assert.deepEqual(closed.seen, []);
  });
});
