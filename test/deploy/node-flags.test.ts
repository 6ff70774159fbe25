// The node flags serve ships with: the image's ENTRYPOINT sets V8's young generation size, turns
// off its baseline compiler (Sparkplug) and keeps the garbage collector on the main thread, the deployment's NODE_OPTIONS the heap limit (Helm from its
// values), the image's ENV the number of malloc arenas and glibc's mmap threshold. A flag node does not know would stop the container at start, and one V8 ignores would quietly
// cost the memory it was meant to save, so the server is started under exactly those flags and that
// environment and asked (its /metrics) how large its young generation is.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { repoRoot } from '../support/library-paths.js';
import { stopAllServes, type ServeProcess } from '../support/serve-process.js';
import { admissionReview, callHttp, callHttps, daemonSet, type TestCertificates } from '../support/server-fixtures.js';
import { deploymentNodeOptions, imageEnvironment, imageNodeFlags, startShippedServe } from '../support/shipped-node-flags.js';

const REVIEWS = 300;

/** The value of `--name=value` among `flags`, as a number; fails the test when it is not there. */
function numericFlag(flags: readonly string[], name: string): number {
  const flag = flags.find((candidate) => candidate.startsWith(`--${name}=`));
  assert.ok(flag !== undefined, `no --${name} in ${flags.join(' ')}`);
  const value = Number(flag.slice(name.length + 3));
  assert.ok(Number.isInteger(value) && value > 0, flag);
  return value;
}

describe('node flags of the image and the deployment', () => {
  it('the image sets the young generation, no baseline compiler, a single-threaded garbage collector, the malloc arenas and the mmap threshold, and the Helm chart sets the heap limit the base deployment sets', async () => {
    const arenas = imageEnvironment()['MALLOC_ARENA_MAX'];
    assert.ok(arenas !== undefined && /^[1-9]\d*$/.test(arenas), `MALLOC_ARENA_MAX=${arenas}`);
    // Fixed, so that glibc does not raise it after the compiler frees its large blocks; above node's
    // 64 KiB socket read buffers, which would otherwise be mapped and unmapped on every read.
    const mmapThreshold = Number(imageEnvironment()['MALLOC_MMAP_THRESHOLD_']);
    assert.ok(Number.isInteger(mmapThreshold) && mmapThreshold > 64 * 1024, `MALLOC_MMAP_THRESHOLD_=${imageEnvironment()['MALLOC_MMAP_THRESHOLD_']}`);
    // No baseline machine code: 5-7 MB less resident under load (Dockerfile; bench:memory).
    assert.ok(imageNodeFlags().includes('--no-sparkplug'), `the image's node flags: ${imageNodeFlags().join(' ')}`);
    // No scavenger helper threads for the main thread to wait for: GC pauses 2-5x shorter on a busy
    // node, CPU per review no higher (Dockerfile; bench:memory).
    assert.ok(imageNodeFlags().includes('--single-threaded-gc'), `the image's node flags: ${imageNodeFlags().join(' ')}`);
    // `npm start` runs serve outside the image the way the image runs it.
    const manifest = JSON.parse(await readFile(path.join(repoRoot(), 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
    assert.ok(manifest.scripts?.['start']?.includes(`node ${imageNodeFlags().join(' ')} dist/cli/main.js`), `npm start: ${manifest.scripts?.['start']}`);
    const semiSpaceMb = numericFlag(imageNodeFlags(), 'max-semi-space-size');
    assert.ok(semiSpaceMb < 16, `the image's semi-space (${semiSpaceMb} MB) should be below V8's default of 16 MB on 64-bit`);
    const heapLimitMb = numericFlag(deploymentNodeOptions(), 'max-old-space-size');
    const values = parse(await readFile(path.join(repoRoot(), 'deploy', 'helm', 'daemonguard', 'values.yaml'), 'utf8')) as { nodeMaxOldSpaceSizeMB?: number };
    assert.equal(values.nodeMaxOldSpaceSizeMB, heapLimitMb);
    const template = await readFile(path.join(repoRoot(), 'deploy', 'helm', 'daemonguard', 'templates', 'deployment.yaml'), 'utf8');
    assert.match(template, /value: --max-old-space-size=\{\{ \.Values\.nodeMaxOldSpaceSizeMB \}\}/);
  });

  describe('serve started under them', () => {
    let served: ServeProcess;
    let certificates: TestCertificates;

    before(async () => {
      ({ served, certificates } = await startShippedServe('daemonguard-node-flags-'));
    });

    after(async () => {
      await stopAllServes();
    });

    it(`answers ${REVIEWS} reviews with the built-in library, its young generation within the image's semi-space size`, async () => {
      const body = JSON.stringify(admissionReview('CREATE', daemonSet({ name: 'node-exporter' })));
      for (let i = 0; i < REVIEWS; i++) {
        const answer = await callHttps(`${served.url}/validate`, { ca: certificates.ca.certPem, body });
        assert.equal(answer.status, 200, answer.text);
      }
      const metrics = (await callHttp(`${served.probeUrl}/metrics`)).text;
      const match = /^nodejs_heap_space_size_total_bytes\{space="new"\} (\d+)/m.exec(metrics);
      assert.ok(match, 'no new-space size in /metrics');
      const newSpaceBytes = Number(match[1]);
      const semiSpaceBytes = numericFlag(imageNodeFlags(), 'max-semi-space-size') * 1024 * 1024;
      // The new space is two semi-spaces; V8's default lets it grow to 2 x 16 MB.
      assert.ok(newSpaceBytes > 0 && newSpaceBytes <= 2 * semiSpaceBytes, `new space ${newSpaceBytes} bytes, semi-space limit ${semiSpaceBytes}`);
    });
  });
});
