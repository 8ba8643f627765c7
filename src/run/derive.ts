// From a memory limit to V8 flags. The budget of each Node process is split into the old space
// (--max-old-space-size) and a reserve for everything else a Node process holds:
//
//   young generation  3 × semi-space (two semi-spaces plus as much new large-object space)
//   Node baseline     32 MiB: the isolate, libuv, ICU, OpenSSL, thread stacks, malloc arenas
//   heap overhead     6 % of the old space: what V8 and the kernel hold beside a full heap (marking
//                     bitmaps and worklists, remembered sets, page tables, kernel memory), measured
//   off-heap share    a share of the budget by tier: Buffers, sharp/libvips, zlib, sockets
//
// Tiers: a small container needs a large share outside the heap (the baseline alone is a quarter
// of 128 MiB, and one decoded image is tens of MiB), while a large one can give most of its memory
// to the heap. The numbers are checked under real cgroup limits by test/run/matrix.test.ts and
// bench/run: a heap-heavy process ends with V8's heap error, never the kernel's kill.
import { HeadroomError } from '../errors.js';
import { SNAPSHOT_MEMORY_FACTOR } from '../monitor/snapshot-cost.js';
import { ignoredByNode, type GivenFlag } from './node-flags.js';

export const MiB = 1024 ** 2;

/** How a snapshot's room is described. */
const COST = `up to ${SNAPSHOT_MEMORY_FACTOR}× the heap`;

export interface Tier {
  name: string;
  /** The tier holds budgets below this many bytes. */
  below: number;
  semiSpaceMiB: number;
  offHeapShare: number;
}

export const TIERS: readonly Tier[] = [
  { name: 'small', below: 256 * MiB, semiSpaceMiB: 2, offHeapShare: 0.2 },
  { name: 'medium', below: 1024 * MiB, semiSpaceMiB: 8, offHeapShare: 0.1 },
  { name: 'large', below: 4096 * MiB, semiSpaceMiB: 16, offHeapShare: 0.09 },
  { name: 'xlarge', below: Infinity, semiSpaceMiB: 32, offHeapShare: 0.08 },
];

/** Node's own memory outside the V8 heap, idle (measured: 20–30 MiB RSS beyond the heap on Node 20–24). */
export const NODE_BASELINE = 32 * MiB;
/**
 * Memory outside the V8 heap that grows with the heap, as a fraction of the old space. Measured under
 * real cgroup v1 limits (Node 20.20, a heap of small objects grown until V8's heap error, the cgroup's
 * peak usage — anon and kernel memory — less the runner, the heap limit and the Buffers held): 10, 27,
 * 40, 69 and 100 MiB beside old spaces of 51, 154, 375, 820 and 1728 MiB, i.e. 0–4.8 % of the old
 * space beyond the baseline; about half is kernel memory charged to the cgroup (≈ 3.4 % of what it
 * holds). 6 % leaves ≥ 9 MiB of margin at every size from 256 MiB to 2 GiB.
 */
export const HEAP_OVERHEAD_SHARE = 0.06;
/** A derived old space below this is too small for most applications: a warning says so. */
export const MIN_OLD_SPACE = 32 * MiB;
/** What `headroom run` itself holds while it waits for the command (measured ≈ 10 MiB in its cgroup; rounded up). */
export const RUNNER_OVERHEAD = 16 * MiB;
/** Below this budget a Node process has no useful heap left. */
export const MIN_BUDGET = 64 * MiB;
/** A heap snapshot is only worth its room when the heap it leaves is at least this big. */
export const MIN_SNAPSHOT_HEAP = 32 * MiB;
export const MAX_PROCESSES = 256;

export interface DeriveInput {
  /** The container limit in bytes (null: none found), and where it came from. */
  limit: number | null;
  limitSource: string;
  /** --memory, when given: replaces the limit. */
  memory?: number;
  /** How --memory was given, for the explanation (default '--memory'). */
  memorySource?: string;
  processes?: number;
  /** Whether `headroom run` stays as the parent of the command (its own memory is then set aside). */
  runnerParent?: boolean;
  /** Flags the user already gave (NODE_OPTIONS, or argv of a `node …` command). */
  given?: GivenFlag[];
  /** Where heap snapshots go; set: a snapshot near the heap limit when there is room for it. */
  heapSnapshotDir?: string;
  /** The machine's memory, bytes: --memory above it is warned about; without a limit, the snapshot's room. */
  machineMemory?: number;
  defaultHeapLimit?: number;
}

export interface ReserveLine {
  what: string;
  bytes: number;
  why: string;
}

export interface Derivation {
  limit: number | null;
  limitSource: string;
  processes: number;
  runnerOverhead: number;
  /** Bytes each Node process may use in all; null without a limit. */
  budget: number | null;
  tier: Tier | null;
  reserve: ReserveLine[];
  /** --max-old-space-size and --max-semi-space-size in effect (derived or given), in MiB. */
  oldSpaceMiB: number | null;
  semiSpaceMiB: number | null;
  /** Flags to add, in order. */
  flags: string[];
  /** One line per flag: the flag and why. */
  why: string[];
  /** The user's flags that were left alone. */
  kept: GivenFlag[];
  snapshot: { enabled: boolean; dir?: string; why: string };
  /** Environment for the command: MEMORY_RSS_LIMIT, the budget, which the monitor measures RSS against. */
  env: Record<string, string>;
  warnings: string[];
}

export const mib = (bytes: number): string => `${Math.round((bytes / MiB) * 10) / 10} MiB`;

function invalid(message: string): never {
  throw new HeadroomError('HEADROOM_CONFIG_INVALID', message);
}

export const tierFor = (budget: number): Tier => TIERS.find((t) => budget < t.below)!;

export function derive(input: DeriveInput): Derivation {
  const processes = input.processes ?? 1;
  if (!Number.isInteger(processes) || processes < 1 || processes > MAX_PROCESSES) {
    invalid(`--processes=${String(input.processes)}: must be an integer from 1 to ${MAX_PROCESSES}`);
  }
  const ignored = (input.given ?? []).filter(ignoredByNode);
  const given = (input.given ?? []).filter((g) => !ignoredByNode(g));
  const find = (name: string): GivenFlag | undefined => given.findLast((g) => g.name === name);
  const givenOld = find('max-old-space-size');
  const givenHeap = find('max-heap-size');
  const givenSemi = find('max-semi-space-size');
  const givenSnap = find('heapsnapshot-near-heap-limit');
  const kept = given.filter((g) => g === givenOld || g === givenHeap || g === givenSemi || g === givenSnap || g.name === 'diagnostic-dir');
  const warnings: string[] = ignored.map(
    (g) => `${g.text} (${g.from}): Node ignores a size that is empty or 0 (V8's default heap stays): sized as if it were not there`,
  );

  const limit = input.memory ?? input.limit;
  const memorySource = input.memorySource ?? '--memory';
  const limitSource = input.memory !== undefined ? memorySource : input.limitSource;
  if (input.memory !== undefined && input.limit !== null && input.memory > input.limit) {
    warnings.push(
      `${memorySource} ${mib(input.memory)} is above the cgroup limit ${mib(input.limit)} (${input.limitSource}): the kernel kills at the cgroup limit`,
    );
  } else if (input.memory !== undefined && input.machineMemory !== undefined && input.memory > input.machineMemory) {
    warnings.push(
      `${memorySource} ${mib(input.memory)} is above this machine's memory ${mib(input.machineMemory)}: a heap sized for it can outgrow the machine, and the kernel's OOM killer ends the process before V8's heap limit does`,
    );
  }
  const runnerOverhead = input.runnerParent && limit !== null ? RUNNER_OVERHEAD : 0;
  const base = {
    limit,
    limitSource,
    processes,
    runnerOverhead,
    kept,
    warnings,
  };
  const snapshotDir = input.heapSnapshotDir;
  // A snapshot near the heap limit, decided below when asked for and not already given: V8 builds
  // the snapshot's graph outside the heap, several times the heap (SNAPSHOT_MEMORY_FACTOR, measured),
  // so it needs that much room — without it, writing the snapshot gets the process killed.
  let snapshot: Derivation['snapshot'] =
    snapshotDir === undefined
      ? { enabled: false, why: 'not asked for (--heap-snapshot-dir)' }
      : givenSnap
        ? { enabled: false, dir: snapshotDir, why: `${givenSnap.text} given (${givenSnap.from}): left as it is` }
        : { enabled: false, dir: snapshotDir, why: 'to be sized' };
  const sizeSnapshot = snapshotDir !== undefined && !givenSnap;
  // What a snapshot at the limit covers when the user gave the heap: the old space's objects (the
  // young generation is nearly empty then), or the whole heap for --max-heap-size.
  const givenSnapshotHeap = givenOld ? Number(givenOld.value) * MiB : givenHeap ? Number(givenHeap.value) * MiB : undefined;

  if (limit === null) {
    if (sizeSnapshot) {
      // No limit binds, but the machine's memory does: the heap may grow to its given or V8's default limit.
      const heap = givenSnapshotHeap ?? input.defaultHeapLimit;
      const needed = heap === undefined ? undefined : SNAPSHOT_MEMORY_FACTOR * heap;
      const machine = input.machineMemory;
      snapshot =
        needed === undefined || machine === undefined || heap! + needed <= machine
          ? { enabled: true, dir: snapshotDir, why: 'no memory limit binds, and the machine has room for a snapshot' }
          : {
              enabled: false,
              dir: snapshotDir,
              why: `no room: the heap may grow to ${mib(heap!)} (${givenSnapshotHeap !== undefined ? 'given' : "V8's default here"}), and a snapshot at that limit needs ${COST} (${mib(needed)}); the machine has ${mib(machine)} — give --memory or --max-old-space-size`,
            };
      if (!snapshot.enabled) warnings.push(`heap snapshot near the heap limit is off: ${snapshot.why}`);
    }
    return {
      ...base,
      budget: null,
      tier: null,
      reserve: [],
      oldSpaceMiB: givenOld ? Number(givenOld.value) : null,
      semiSpaceMiB: givenSemi ? Number(givenSemi.value) : null,
      flags: snapshot.enabled ? snapshotFlags(snapshotDir!, given) : [],
      why: ['no memory limit: Node sizes its heap from the machine (pass --memory to size for a limit)'],
      snapshot,
      env: {},
    };
  }

  const budget = Math.floor((limit - runnerOverhead) / processes);
  if (budget < MIN_BUDGET) {
    const split = processes > 1 ? ` split over ${processes} processes` : '';
    invalid(
      `a memory limit of ${mib(limit)}${split} leaves ${mib(budget)} per Node process (${limitSource}); each needs at least ${mib(MIN_BUDGET)}` +
        (processes > 1 ? ': use fewer --processes or a larger limit' : ''),
    );
  }
  const tier = tierFor(budget);
  const semi = givenSemi ? Number(givenSemi.value) : tier.semiSpaceMiB;
  const young = 3 * semi * MiB;
  const offHeap = Math.round(tier.offHeapShare * budget);
  // The old space and what grows with it: old + HEAP_OVERHEAD_SHARE × old = budget − the fixed lines.
  const fixed = young + NODE_BASELINE + offHeap;
  const oldExact = (budget - fixed) / (1 + HEAP_OVERHEAD_SHARE);
  const overheadFor = (oldBytes: number): number => Math.max(0, Math.round(HEAP_OVERHEAD_SHARE * oldBytes));
  // The old space the heap overhead is sized for: the given heap's when the user gave one.
  const sizedOld = givenOld ? Number(givenOld.value) * MiB : givenHeap ? Math.max(0, Number(givenHeap.value) * MiB - young) : oldExact;
  // Its line is re-sized below when a snapshot's room shrinks the old space.
  const overheadLine: ReserveLine = {
    what: 'heap overhead',
    bytes: overheadFor(sizedOld),
    why: `${Math.round(HEAP_OVERHEAD_SHARE * 100)} % of the old space: GC bookkeeping and kernel memory that grow with the heap (measured: up to 5 % beyond the baseline)`,
  };
  const reserve: ReserveLine[] = [
    {
      what: 'young generation',
      bytes: young,
      why: `3 × ${semi} MiB semi-space (two semi-spaces and the new large-object space)`,
    },
    { what: 'Node baseline', bytes: NODE_BASELINE, why: 'isolate, libuv, ICU, OpenSSL, thread stacks, malloc arenas' },
    overheadLine,
    {
      what: 'off-heap share',
      bytes: offHeap,
      why: `${Math.round(tier.offHeapShare * 100)} % of the budget (${tier.name} tier): Buffers, sharp/libvips, zlib, sockets`,
    },
  ];
  const reserved = (): number => fixed + overheadLine.bytes;
  let old = Math.floor(oldExact / MiB);
  const flags: string[] = [];
  const why: string[] = [];

  // A given semi-space is taken from the budget before the old space is: a large one can leave none
  // (V8 ignores a negative --max-old-space-size and sizes its heap from the machine) or too little.
  if (givenSemi && !givenOld && !givenHeap && old < MIN_OLD_SPACE / MiB) {
    const maxSemi = Math.floor((budget - NODE_BASELINE - offHeap - (1 + HEAP_OVERHEAD_SHARE) * MIN_OLD_SPACE) / 3 / MiB);
    const fix =
      maxSemi >= 1
        ? `--max-semi-space-size=${maxSemi} or less leaves ${mib(MIN_OLD_SPACE)}`
        : `no semi-space leaves ${mib(MIN_OLD_SPACE)} in this budget: give a larger limit`;
    const taken = `its young generation takes 3 × ${semi} MiB = ${mib(young)} of the ${mib(budget)} budget per Node process (${limitSource}), beside Node's baseline ${mib(NODE_BASELINE)} and the off-heap share ${mib(offHeap)}`;
    if (old <= 0) {
      invalid(
        `${givenSemi.text} (from ${givenSemi.from}) leaves no old space (${Math.floor((budget - fixed) / MiB)} MiB): ${taken}. ` +
          `Give a smaller --max-semi-space-size (${fix}), or --max-old-space-size yourself, or a larger limit`,
      );
    }
    warnings.push(
      `${givenSemi.text} (from ${givenSemi.from}) leaves only ${old} MiB of old space (< ${mib(MIN_OLD_SPACE)}): ${taken}; ${fix}`,
    );
  } else if (!givenSemi && !givenOld && !givenHeap && old < MIN_OLD_SPACE / MiB) {
    // A budget just above the minimum: allowed, but most applications need more heap than this.
    warnings.push(
      `the old space is only ${old} MiB (< ${mib(MIN_OLD_SPACE)}) in a ${mib(budget)} budget per Node process (${limitSource}${processes > 1 ? `, split over ${processes} processes` : ''}): most applications need more; give a larger limit${processes > 1 ? ' or fewer --processes' : ''}`,
    );
  }

  // The snapshot's room is beyond the reserve here.
  if (sizeSnapshot) {
    if (givenSnapshotHeap !== undefined) {
      const heap = givenOld ? givenSnapshotHeap + young : givenSnapshotHeap;
      const room = budget - reserved() - heap;
      const needed = SNAPSHOT_MEMORY_FACTOR * givenSnapshotHeap;
      snapshot =
        room >= needed
          ? {
              enabled: true,
              dir: snapshotDir,
              why: `the given heap (${mib(heap)}) leaves ${mib(room)}: room for a snapshot (${COST} ${mib(needed)})`,
            }
          : {
              enabled: false,
              dir: snapshotDir,
              why: `no room: a snapshot needs ${COST} (${mib(needed)}) beyond the reserve, only ${mib(Math.max(0, room))} left`,
            };
    } else {
      // Old space + snapshot (SNAPSHOT_MEMORY_FACTOR × the old space: at the limit the heap is the
      // old space's objects, the young generation nearly empty) + reserve (its heap overhead that of
      // the smaller old space) = budget.
      const shrunkExact = (budget - fixed) / (1 + SNAPSHOT_MEMORY_FACTOR + HEAP_OVERHEAD_SHARE);
      const shrunk = Math.floor(shrunkExact / MiB);
      snapshot =
        shrunk >= MIN_SNAPSHOT_HEAP / MiB
          ? {
              enabled: true,
              dir: snapshotDir,
              why: `old space ${old} → ${shrunk} MiB so that a snapshot (${COST}, ${mib(SNAPSHOT_MEMORY_FACTOR * shrunk * MiB)}) fits beside it`,
            }
          : {
              enabled: false,
              dir: snapshotDir,
              why: `no room: leaving room for a snapshot (${COST}) would shrink the old space to ${Math.max(0, shrunk)} MiB (< ${MIN_SNAPSHOT_HEAP / MiB} MiB)`,
            };
      if (snapshot.enabled) {
        warnings.push(
          `heap snapshot near the heap limit: the old space is cut from ${old} to ${shrunk} MiB to leave room for it (${COST}); without --heap-snapshot-dir the heap keeps ${old} MiB`,
        );
        old = shrunk;
        overheadLine.bytes = overheadFor(shrunkExact);
      }
    }
    if (!snapshot.enabled) warnings.push(`heap snapshot near the heap limit is off: ${snapshot.why}`);
  }

  if (givenOld || givenHeap) {
    const g = (givenOld ?? givenHeap)!;
    why.push(`${g.text}: given (${g.from}), kept`);
    const heap = givenOld ? Number(givenOld.value) * MiB + young : Number(g.value) * MiB;
    if (heap + NODE_BASELINE + overheadLine.bytes > budget) {
      warnings.push(
        `${g.text} (${g.from}) lets the heap grow to ${mib(heap)}, beyond the ${mib(budget)} budget less Node's baseline and the heap's overhead: the kernel may kill the process before V8 reports a heap error`,
      );
    }
  } else {
    flags.push(`--max-old-space-size=${old}`);
    why.push(
      `--max-old-space-size=${old}: budget ${mib(budget)} − reserve ${mib(reserved())}${snapshot.enabled && !(givenOld || givenHeap) ? `, divided by ${1 + SNAPSHOT_MEMORY_FACTOR} for the snapshot's room` : ''}`,
    );
  }
  if (givenSemi) why.push(`${givenSemi.text}: given (${givenSemi.from}), kept`);
  else if (!givenHeap) {
    flags.push(`--max-semi-space-size=${semi}`);
    why.push(`--max-semi-space-size=${semi}: the ${tier.name} tier (budget below ${tier.below === Infinity ? '∞' : mib(tier.below)})`);
  }
  if (snapshot.enabled) {
    flags.push(...snapshotFlags(snapshotDir!, given));
    why.push(`--heapsnapshot-near-heap-limit=1 --diagnostic-dir: ${snapshot.why}`);
  }
  return {
    ...base,
    budget,
    tier,
    reserve,
    oldSpaceMiB: givenOld ? Number(givenOld.value) : givenHeap ? null : old,
    semiSpaceMiB: givenHeap && !givenSemi ? null : semi,
    flags,
    why,
    snapshot,
    env: { MEMORY_RSS_LIMIT: String(budget) },
  };
}

function snapshotFlags(dir: string, given: GivenFlag[]): string[] {
  const flags = ['--heapsnapshot-near-heap-limit=1'];
  if (!given.some((g) => g.name === 'diagnostic-dir')) flags.push(`--diagnostic-dir=${dir}`);
  return flags;
}
