// Watchdog for the processes of a test cluster, run as its own detached Node process.
//
// The test process tells it, one line at a time on stdin, what to clean up:
//   group <pgid>   a process group to kill (etcd, kube-apiserver)
//   dir <path>     a folder to remove
//   release        the test process cleaned up by itself: exit without doing anything
// When stdin ends without `release` (the test process crashed, was killed with SIGKILL, or exited
// without calling stop()), it sends SIGTERM to every group, SIGKILL to what is left after a few
// seconds, removes the folders and exits. This is what keeps a crash of the test process from
// leaving an apiserver, an etcd or their ports behind.
import { rmSync } from 'node:fs';

export const REAPER_FLAG = '--daemonguard-e2e-reaper';

function alive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}

async function reap(groups: Set<number>, dirs: Set<string>): Promise<void> {
  for (const g of groups) signalGroup(g, 'SIGTERM');
  const deadline = Date.now() + 5000;
  while ([...groups].some(alive) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  for (const g of groups) if (alive(g)) signalGroup(g, 'SIGKILL');
  for (const d of dirs) {
    try {
      rmSync(d, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }
}

function main(): void {
  const groups = new Set<number>();
  const dirs = new Set<string>();
  let released = false;
  let buffered = '';
  // The parent's terminal signals are not ours to act on: only the end of stdin is.
  process.on('SIGINT', () => undefined);
  process.on('SIGHUP', () => undefined);
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      const space = line.indexOf(' ');
      const verb = space < 0 ? line : line.slice(0, space);
      const arg = space < 0 ? '' : line.slice(space + 1);
      if (verb === 'group' && Number(arg) > 1) groups.add(Number(arg));
      else if (verb === 'dir' && arg !== '') dirs.add(arg);
      else if (verb === 'release') released = true;
    }
  });
  const finish = (): void => {
    if (released) process.exit(0);
    void reap(groups, dirs).finally(() => process.exit(0));
  };
  process.stdin.on('end', finish);
  process.stdin.on('error', finish);
}

// Only act when started by cluster.ts, never when merely imported or picked up by a test runner.
if (process.argv.includes(REAPER_FLAG)) main();
