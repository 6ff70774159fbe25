// Go modules the tests read data from, found in the Go module cache the e2e build keeps
// (test/e2e/cluster/build.sh) and downloaded into it through the Go module proxy when missing, so a
// test needs Go and nothing outside the repository but that cache.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The Kubernetes release the e2e build targets unless DAEMONGUARD_E2E_K8S_VERSION says otherwise. */
export const DEFAULT_K8S_VERSION = 'v1.37.2';

/** ${DAEMONGUARD_E2E_CACHE:-~/.cache/daemonguard-e2e}/<kubernetes version>: where build.sh keeps bin/, gomod/ and the rest. */
export function e2eCacheDir(): string {
  const root = process.env.DAEMONGUARD_E2E_CACHE || path.join(os.homedir(), '.cache', 'daemonguard-e2e');
  return path.join(root, process.env.DAEMONGUARD_E2E_K8S_VERSION || DEFAULT_K8S_VERSION);
}

/** `go` from PATH, or where the official installer puts it (build.sh looks there too). */
function goCommand(): string {
  const installed = '/usr/local/go/bin/go';
  const onPath = (process.env.PATH ?? '').split(path.delimiter).some((dir) => dir !== '' && existsSync(path.join(dir, 'go')));
  return !onPath && existsSync(installed) ? installed : 'go';
}

interface DownloadAnswer {
  Dir?: string;
  Error?: string;
}

/**
 * The folder holding `module`@`version` in the e2e build's module cache, downloaded there first if it
 * is missing (`go mod download -json`, which answers at once for a module already in the cache).
 * Rejects with what to install or run when Go is missing or the download fails.
 */
export function goModuleDir(module: string, version: string): Promise<string> {
  const modCache = path.join(e2eCacheDir(), 'gomod');
  const go = goCommand();
  const byHand = `GOMODCACHE=${modCache} go mod download -json ${module}@${version}`;
  const env = { ...process.env, GOMODCACHE: modCache, GOTOOLCHAIN: 'local', GOWORK: 'off', GOFLAGS: '' };
  return new Promise((resolve, reject) => {
    // From a neutral folder, so no go.mod or go.work around the working directory is consulted.
    execFile(go, ['mod', 'download', '-json', `${module}@${version}`], { cwd: os.tmpdir(), env, timeout: 300_000 }, (error, stdout, stderr) => {
      if (error !== null && (error as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(new Error(`${module}@${version} is read through Go, which is not installed: install Go 1.26 or later (the e2e build needs it too, see test/e2e/README.md)`));
        return;
      }
      let answer: DownloadAnswer = {};
      try {
        answer = JSON.parse(stdout) as DownloadAnswer;
      } catch {
        // no JSON: the error below says what Go said
      }
      if (error === null && answer.Error === undefined && answer.Dir !== undefined && existsSync(answer.Dir)) {
        resolve(answer.Dir);
        return;
      }
      const said = answer.Error ?? (stderr.trim() || error?.message || 'no Dir in its answer');
      reject(new Error(`go mod download ${module}@${version} failed: ${said}\nIt needs the Go module proxy (or the module in ${modCache}); try by hand: ${byHand}`));
    });
  });
}
