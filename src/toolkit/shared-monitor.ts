// One memory monitor per process, whichever adapters and copies of the package ask for it. It is
// kept on a globalThis symbol (Symbol.for is process-wide), so it survives bundlers that load the
// package twice (ESM and CommonJS copies, one per route bundle) and hot reloads that re-run modules.
import { createMemoryMonitor } from '../monitor/monitor.js';
import { resolveMonitorOptions } from '../monitor/options.js';
import type { MemoryMonitor, MemoryMonitorOptions } from '../monitor/types.js';

const SLOT = Symbol.for('headroom-memory.shared-monitor');

interface Slot {
  monitor: MemoryMonitor;
  users: number;
  /** The options it was created with, to warn once when a later caller asks for others. */
  options: string;
  warned: boolean;
}

type Global = typeof globalThis & { [SLOT]?: Slot };

export interface SharedMonitor {
  monitor: MemoryMonitor;
  /** True when this call created the monitor (its options were used). */
  created: boolean;
  /** Gives the reference back; the last one closes the monitor. Idempotent. */
  release(): Promise<void>;
}

function describe(options: MemoryMonitorOptions): string {
  // Objects such as a logger or a sampler are not settings; compare only the plain values.
  return JSON.stringify(options, (_k, v: unknown) =>
    typeof v === 'object' && v !== null && !Array.isArray(v) && _k !== '' ? undefined : v,
  );
}

export function acquireSharedMonitor(options: MemoryMonitorOptions = {}): SharedMonitor {
  const g = globalThis as Global;
  let slot = g[SLOT];
  let created = false;
  if (!slot) {
    slot = { monitor: createMemoryMonitor(options), users: 0, options: describe(options), warned: false };
    g[SLOT] = slot;
    created = true;
  } else {
    // Not used, but checked all the same: a typo is refused whichever adapter starts first.
    resolveMonitorOptions(options);
  }
  if (!created && !slot.warned && describe(options) !== slot.options && describe(options) !== '{}') {
    slot.warned = true;
    process.emitWarning(
      'headroom: the process already has a memory monitor; the monitor options of a later adapter are ignored (pass the same options everywhere, or set them once in the first one)',
      { code: 'HEADROOM_SHARED_MONITOR' },
    );
  }
  slot.users++;
  const held = slot;
  let released = false;
  return {
    monitor: held.monitor,
    created,
    async release() {
      if (released) return;
      released = true;
      held.users--;
      if (held.users > 0) return;
      if (g[SLOT] === held) delete g[SLOT];
      await held.monitor.close();
    },
  };
}

/** The process's shared monitor, if an adapter has started one. */
export function sharedMonitor(): MemoryMonitor | undefined {
  return (globalThis as Global)[SLOT]?.monitor;
}
