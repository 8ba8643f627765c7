// GC assist for relayed bodies. Each socket read allocates a fresh ArrayBuffer (up to 64 KiB)
// outside the JS heap. V8 counts these as external memory and starts a full GC for them only
// once what was allocated since the last one uses up the old generation's allocation limit
// (tens of MiB on a small heap), so a proxy relaying hundreds of MB/s carries tens of MiB of
// dead read buffers in RSS, more or less depending on GC timing. A
// young-generation GC (a scavenge: ~0.5 ms, proportional to live young objects, not to the heap)
// frees those whose Buffers died young — nearly all of a relayed body. Running one after every
// `everyBytes` relayed keeps that garbage near `everyBytes`.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export type Gc = (options?: { type: 'minor' | 'major'; execution: 'sync' | 'async' }) => void;

let gc: Gc | null | undefined;

/**
 * V8's gc() without putting it on globalThis: the flag only exposes it to new contexts, so one
 * small context is made for it (and kept: the function belongs to it).
 */
export function minorGc(): Gc | null {
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

export interface GcAssist {
  /** Counts relayed bytes; runs a scavenge each time `everyBytes` more have passed. */
  relayed(bytes: number): void;
  /** Scavenges run so far. */
  readonly runs: number;
}

export function createGcAssist(everyBytes: number): GcAssist | undefined {
  if (!(everyBytes > 0)) return undefined;
  const run = minorGc();
  if (!run) return undefined;
  let pending = 0;
  const assist = {
    runs: 0,
    relayed(bytes: number): void {
      pending += bytes;
      if (pending < everyBytes) return;
      pending %= everyBytes; // at most one run per call, however large the chunk
      assist.runs++;
      run({ type: 'minor', execution: 'sync' });
    },
  };
  return assist;
}
