// V8's own gc() (for the proxy's GC assist, the admin API's POST /admin/gc and the probe below) and
// whether a scavenge keeps weakly held objects, which the monitor's major-GC canary relies on.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export type Gc = (options?: { type: 'minor' | 'major'; execution: 'sync' | 'async' }) => void;

let gc: Gc | null | undefined;

/**
 * V8's gc() without putting it on globalThis: the flag only exposes it to new contexts, so one
 * small context is made for it (and kept: the function belongs to it). null where it cannot be had.
 */
export function v8Gc(): Gc | null {
  if (gc === undefined) {
    try {
      if (typeof globalThis.gc === 'function') gc = globalThis.gc as unknown as Gc;
      else {
        setFlagsFromString('--expose-gc');
        gc = runInNewContext('gc') as Gc;
      }
    } catch {
      gc = null;
    }
  }
  return gc;
}

let kept: Promise<boolean> | undefined;

/** Attempts that must all see the object collected: a major GC in the wait collects it too. */
const PROBES = 3;
/** How long an attempt waits for the registry's cleanup (a task V8 posts right after the GC), ms. */
const CLEANUP_WAIT = 50;

/**
 * Whether a scavenge (minor GC) keeps an object held only weakly: true on Node 20–24, whose V8
 * scavenger treats weak references as strong; false from Node 26, whose V8 clears them in minor GCs
 * (--handle-weak-ref-weakly-in-minor-gc on by default), and false when gc() cannot be had. Asked
 * once per process: an object held only by a FinalizationRegistry, a forced scavenge (well under a
 * millisecond on a young heap), then a wait for the registry's cleanup. Not a WeakRef: it keeps its
 * target until the end of the job, and Node does not always end one between tasks (with nextTicks
 * pending), which read as "kept" on Node 26. A major GC during the wait collects the object too, so
 * "collected" must be seen PROBES times in a row; "kept" once is enough.
 */
export function weakRefsSurviveScavenges(): Promise<boolean> {
  return (kept ??= (async () => {
    const run = v8Gc();
    if (!run) return false;
    for (let i = 0; i < PROBES; i++) {
      let collected = false;
      const registry = new FinalizationRegistry<undefined>(() => (collected = true));
      registry.register({}, undefined);
      try {
        run({ type: 'minor', execution: 'sync' });
      } catch {
        return false;
      }
      // The cleanup runs in the poll phase (Node's platform tasks); after the timer, an immediate
      // comes after that phase, so a loop blocked past the wait still runs the cleanup first.
      await new Promise<void>((resolve) => setTimeout(() => setImmediate(resolve), CLEANUP_WAIT));
      if (!collected) return true;
    }
    return false;
  })());
}
