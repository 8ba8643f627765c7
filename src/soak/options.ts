// The options of runSoak: defaults, bounds, and one check that names every bad value.
import type { AttachTarget } from './attach.js';
import { formatMs } from '../options/spec.js';
import { DEFAULT_SCENARIO, parseScenario, type ScenarioRequest } from './scenario.js';
import { DEFAULT_THRESHOLDS, leakWindowSamples, type Thresholds } from './verdict.js';
import type { SoakProgress } from './run.js';

export interface SoakOptions {
  /**
   * The command that starts the service, e.g. ['node', 'server.js']. It gets a free port in $PORT
   * unless `url` is given. Leave it out with `attach`.
   */
  command?: readonly string[];
  /**
   * Measure a process that is already running instead: `{ port }` of its inspector
   * (--inspect=127.0.0.1:PORT), or `{ pid }` of a Node process (SIGUSR1 opens its inspector on
   * 127.0.0.1:9229). `url` is then required. The process is left running.
   */
  attach?: AttachTarget;
  /** Where load goes; default http://127.0.0.1:$PORT. Only loopback hosts are accepted. */
  url?: string;
  /** Requests to send (validated like a scenario file); default GET /. */
  requests?: readonly Partial<ScenarioRequest>[];
  /** Total time budget, ms (default 180 000); a clear verdict may come earlier. */
  durationMs?: number;
  /** Excluded from the verdict, ms (default: a sixth of the budget, at most 30 s). */
  warmupMs?: number;
  /** Concurrent connections (default 8). */
  connections?: number;
  /** Requests per second over all connections; 0 (default) = as fast as the service answers. */
  rate?: number;
  /** Time between post-GC samples, ms (default: budget / 120, from 500 ms to 5 s). */
  sampleIntervalMs?: number;
  thresholds?: Partial<Thresholds>;
  /** Heap snapshots to take and diff on a leak verdict (default 3; 0: none). */
  snapshots?: number;
  /** Load time between two snapshots, ms (default 5 000). */
  snapshotIntervalMs?: number;
  /**
   * Time from the first snapshot to the named constructor to aim for, ms (default 60 000; 0: take
   * `snapshots` as asked). V8 needs ~26 s per snapshot of a 470 MiB heap, so on a big heap the
   * first one's time decides: closer together, then fewer (not under 2).
   */
  snapshotBudgetMs?: number;
  /** Keep the snapshot files in this directory (default: a temporary one, removed afterwards). */
  snapshotDir?: string;
  /** How long the service may take to listen (or the attached inspector to answer), ms (default 30 000). */
  startTimeoutMs?: number;
  env?: Record<string, string | undefined>;
  cwd?: string;
  onOutput?: (chunk: Buffer, stream: 'stdout' | 'stderr') => void;
  onProgress?: (p: SoakProgress) => void;
  /** One-line notices between samples: "taking heap snapshot 2/3", …; "warning: …" ones are also in the report. */
  onNotice?: (message: string) => void;
  signal?: AbortSignal;
}

export interface ResolvedOptions extends Omit<SoakOptions, 'requests' | 'thresholds' | 'command'> {
  command: readonly string[];
  snapshots: number;
  snapshotIntervalMs: number;
  snapshotBudgetMs: number;
  requests: ScenarioRequest[];
  durationMs: number;
  warmupMs: number;
  connections: number;
  rate: number;
  sampleIntervalMs: number;
  thresholds: Thresholds;
  startTimeoutMs: number;
}

export const LIMITS = {
  durationMs: { min: 5_000, max: 7 * 24 * 3_600_000 },
  connections: { min: 1, max: 1024 },
  rate: { min: 0, max: 1_000_000 },
  sampleIntervalMs: { min: 100, max: 600_000 },
  startTimeoutMs: { min: 100, max: 600_000 },
  snapshots: { min: 0, max: 10 },
  snapshotIntervalMs: { min: 100, max: 600_000 },
  snapshotBudgetMs: { min: 0, max: 3_600_000 },
} as const;

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** The default warm-up and sample interval for a budget of `durationMs`. */
const defaultWarmupMs = (durationMs: number): number => Math.min(30_000, Math.round(durationMs / 6));
const defaultSampleIntervalMs = (durationMs: number): number => Math.min(5_000, Math.max(500, Math.round(durationMs / 120)));

/** Post-warm-up samples a budget must have room for: the judged window is their latter half (22 by default). */
export const samplesNeeded = (t: Thresholds): number => 2 * leakWindowSamples(t);

/** Samples after warm-up that a budget has room for. */
const roomFor = (durationMs: number, warmupMs: number, sampleIntervalMs: number): number =>
  Math.floor((durationMs - warmupMs) / sampleIntervalMs);

/**
 * The shortest budget in whole seconds (from LIMITS' floor) in which a leak verdict is reachable,
 * with the given warm-up and sample interval or the defaults that follow the budget: what a
 * message states as the minimum (a budget a little under it may still have room, and is accepted).
 */
export function minDurationMs(t: Thresholds, warmupMs?: number, sampleIntervalMs?: number): number {
  const need = samplesNeeded(t);
  // A given warm-up takes at most half the budget.
  const from = Math.max(LIMITS.durationMs.min, Math.ceil((2 * (warmupMs ?? 0)) / 1000) * 1000);
  for (let d = from; d < LIMITS.durationMs.max; d += 1000)
    if (roomFor(d, warmupMs ?? defaultWarmupMs(d), sampleIntervalMs ?? defaultSampleIntervalMs(d)) >= need) return d;
  return LIMITS.durationMs.max;
}

/** Checks the thresholds, adding a line to `problems` for each bad one; true when all are good. */
function checkThresholds(thresholds: Thresholds, problems: string[]): boolean {
  const before = problems.length;
  if (!(thresholds.bytesPerRequest > 0)) problems.push(`thresholds.bytesPerRequest: must be above 0`);
  if (!(thresholds.minGrowthBytes >= 0)) problems.push(`thresholds.minGrowthBytes: must be 0 or more`);
  if (!(thresholds.noLeakBytes >= 0 && thresholds.noLeakBytes <= thresholds.minGrowthBytes))
    problems.push(`thresholds.noLeakBytes: must be from 0 to minGrowthBytes`);
  if (!(thresholds.confidence > 0.5 && thresholds.confidence < 1)) problems.push(`thresholds.confidence: must be between 0.5 and 1`);
  if (!(Number.isInteger(thresholds.minSamples) && thresholds.minSamples >= 4))
    problems.push(`thresholds.minSamples: must be an integer ≥ 4`);
  return problems.length === before;
}

export function resolveOptions(o: SoakOptions): ResolvedOptions {
  const problems: string[] = [];
  const num = (name: keyof typeof LIMITS, value: number | undefined, fallback: number, integer = true): number => {
    if (value === undefined) return fallback;
    const { min, max } = LIMITS[name];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value)))
      problems.push(
        // Durations also as the CLI spells them: "--start-timeout: 50 ms (50ms) must be … between 100ms and 10m".
        name.endsWith('Ms') && typeof value === 'number' && Number.isFinite(value)
          ? `${name}: ${value} ms (${formatMs(value)}) must be a whole number of ms between ${formatMs(min)} and ${formatMs(max)}`
          : `${name}: ${String(value)} is not ${integer ? 'an integer' : 'a number'} from ${min} to ${max}`,
      );
    return value;
  };
  if (o.attach !== undefined) {
    const a = o.attach as { port?: unknown; pid?: unknown };
    const okPort = Number.isInteger(a.port) && (a.port as number) >= 1 && (a.port as number) <= 65_535;
    const okPid = Number.isInteger(a.pid) && (a.pid as number) >= 1;
    if (typeof a !== 'object' || a === null || (okPort ? 'pid' in a : !okPid))
      problems.push('attach: must be { port } (1 to 65535) of an inspector, or { pid } of a Node process');
    if (o.command !== undefined && o.command.length > 0)
      problems.push('command: give either a command to start or attach to a running process, not both');
    if (o.url === undefined) problems.push('url: required with attach (where the running service takes load)');
  } else if (!Array.isArray(o.command) || o.command.length === 0 || o.command.some((a) => typeof a !== 'string'))
    problems.push('command: must be a non-empty array of strings, e.g. ["node", "server.js"]');
  const thresholds: Thresholds = { ...DEFAULT_THRESHOLDS, ...o.thresholds };
  const thresholdsOk = checkThresholds(thresholds, problems);
  // The duration's floor is where a leak verdict becomes reachable: checked below, once the warm-up
  // and sampling are known (LIMITS.durationMs.min is only where that search starts).
  const durationMs = o.durationMs ?? 180_000;
  const durationOk = typeof durationMs === 'number' && Number.isFinite(durationMs);
  const warmupMs = o.warmupMs ?? (durationOk ? defaultWarmupMs(durationMs) : 0);
  // Bad on its own (the duration's message then leaves it out); more than half of the given
  // duration is said by the duration's message, which names the budget it needs.
  const halfMax = LIMITS.durationMs.max / 2;
  const warmupOk = typeof warmupMs === 'number' && Number.isInteger(warmupMs) && warmupMs >= 0 && warmupMs <= halfMax;
  // Only a given warm-up can be (the default is a sixth of the budget at most).
  const warmupOver = warmupOk && durationOk && warmupMs > durationMs / 2;
  if (!warmupOk)
    problems.push(
      `warmupMs: ${typeof warmupMs === 'number' && Number.isFinite(warmupMs) ? `${warmupMs} ms (${formatMs(warmupMs)})` : String(warmupMs)} must be a whole number of ms from 0 to half the duration (at most ${formatMs(halfMax)})`,
    );
  const connections = num('connections', o.connections, 8);
  const rate = num('rate', o.rate, 0, false);
  const sampleIntervalMs = num('sampleIntervalMs', o.sampleIntervalMs, defaultSampleIntervalMs(durationOk ? durationMs : 0));
  const startTimeoutMs = num('startTimeoutMs', o.startTimeoutMs, 30_000);
  const snapshots = num('snapshots', o.snapshots, 3);
  if (snapshots === 1) problems.push('snapshots: 1 cannot be diffed: 0 (none) or from 2 to 10 (3 is the default)');
  const snapshotIntervalMs = num('snapshotIntervalMs', o.snapshotIntervalMs, 5_000);
  const snapshotBudgetMs = num('snapshotBudgetMs', o.snapshotBudgetMs, 60_000);
  if (o.snapshotDir !== undefined && (typeof o.snapshotDir !== 'string' || o.snapshotDir === ''))
    problems.push('snapshotDir: must be a directory path');
  if (o.url !== undefined) {
    let u: URL | undefined;
    try {
      u = new URL(o.url);
    } catch {
      problems.push(`url: "${o.url}" is not a URL`);
    }
    if (u && u.protocol !== 'http:') problems.push(`url: ${o.url}: only http: is supported`);
    if (u && !LOOPBACK.has(u.hostname)) problems.push(`url: ${o.url}: load only goes to this machine (127.0.0.1, localhost, [::1])`);
  }
  let requests: ScenarioRequest[] = [...DEFAULT_SCENARIO];
  if (o.requests !== undefined) {
    try {
      requests = parseScenario(o.requests);
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  // One message for a bad or too short budget, naming the real minimum: the shortest budget with room
  // for the samples a leak verdict needs after warm-up (with the warm-up and sampling given, or the defaults).
  if (thresholdsOk) {
    const { max } = LIMITS.durationMs;
    const need = samplesNeeded(thresholds);
    const warmupGiven = o.warmupMs !== undefined && warmupOk;
    const intervalGiven = o.sampleIntervalMs !== undefined && Number.isFinite(sampleIntervalMs) && sampleIntervalMs > 0;
    const min = minDurationMs(thresholds, warmupGiven ? warmupMs : undefined, intervalGiven ? sampleIntervalMs : undefined);
    const room = durationOk && warmupOk ? roomFor(durationMs, warmupMs, sampleIntervalMs) : 0;
    const short = durationOk && (durationMs < LIMITS.durationMs.min || warmupOver || (warmupOk && room < need));
    if (!durationOk || !Number.isInteger(durationMs) || durationMs > max || short)
      problems.push(
        `durationMs: ${durationOk ? `${durationMs} ms (${formatMs(durationMs)})` : String(durationMs)} must be a whole number of ms from ${formatMs(min)} to ${formatMs(max)}` +
          (warmupOver
            ? `: the warm-up (${warmupMs} ms, ${formatMs(warmupMs)}) takes at most half of it`
            : short && warmupOk
              ? `: a leak verdict needs ${need} samples after the warm-up, and it leaves room for ${Math.max(0, room)} (one every ${sampleIntervalMs} ms after ${warmupMs} ms of warm-up${warmupGiven || intervalGiven ? '' : ', the defaults'})`
              : ''),
      );
  } else {
    if (!durationOk || !Number.isInteger(durationMs)) problems.push(`durationMs: ${String(durationMs)} must be a whole number of ms`);
    else if (warmupOver)
      problems.push(`warmupMs: ${warmupMs} ms (${formatMs(warmupMs)}) must be at most half the duration (${formatMs(durationMs / 2)})`);
  }
  if (problems.length > 0) throw new RangeError(`soak options:\n  ${problems.join('\n  ')}`);
  return {
    ...o,
    command: o.command ?? [],
    requests,
    durationMs,
    warmupMs,
    connections,
    rate,
    sampleIntervalMs,
    thresholds,
    startTimeoutMs,
    snapshots,
    snapshotIntervalMs,
    snapshotBudgetMs,
  };
}
