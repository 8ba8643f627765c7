// Children that die with the test file that started them. The test runner ends a file that runs
// past its timeout with SIGTERM (and Ctrl-C sends SIGINT), which kills the file's process at once:
// whatever it had started lived on (an example's `npm install` was seen running 12 minutes after
// its file was cut, on a 2-core CI machine). A child started in its own process group (spawn's
// `detached`) takes what it starts in turn (npm's shell, the app's node) into that group, so killing
// the group ends them all.
import type { ChildProcess } from 'node:child_process';

const groups = new Set<number>();
const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;

/** SIGKILLs a child's process group, if it is still there. */
export function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

function onTerminate(signal: NodeJS.Signals): void {
  for (const pid of groups) killGroup(pid);
  groups.clear();
  // Then end as the signal would have ended the process without this listener.
  for (const s of SIGNALS) process.removeListener(s, onTerminate);
  process.kill(process.pid, signal);
}

/**
 * Kills the group of `child` (started with `detached: true`, so it leads its own group) if this
 * process is terminated while the child runs. Returns the child.
 */
export function dieWithFile<T extends ChildProcess>(child: T): T {
  const pid = child.pid;
  if (pid === undefined) return child; // it did not start: spawn reports the error on the child
  if (groups.size === 0) for (const s of SIGNALS) process.on(s, onTerminate);
  groups.add(pid);
  child.once('exit', () => {
    // Its group may outlive it (an orphaned grandchild): the group is killed when the child exits.
    killGroup(pid);
    groups.delete(pid);
    if (groups.size === 0) for (const s of SIGNALS) process.removeListener(s, onTerminate);
  });
  return child;
}
