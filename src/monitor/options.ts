// Options of the memory monitor, declared once: createMemoryMonitor validates its arguments with
// these specs, and the gateway's configuration (src/config/sections/monitor.ts) wraps the very
// same objects, so a default or a bound cannot differ between the two.
import { availableMemory } from './cgroup.js';
import { realSampler } from './sampler.js';
import type { MemoryMonitorOptions, Sampler } from './types.js';
import { HeadroomError } from '../errors.js';
import { bool, bytes, duration, num, optionalBytes, optionsPlace, resolveOptions, share, str, type OptionSpec } from '../options/spec.js';
import { toPercent } from '../options/units.js';
import type { Logger } from 'pino';

export const monitorSpecs = {
  warningThreshold: share({
    env: 'MEMORY_WARNING_THRESHOLD',
    doc: 'Status turns warning when heap used reaches this share of the V8 heap limit (or RSS this share of the RSS limit).',
    default: 0.75,
    max: 1,
  }),
  criticalThreshold: share({
    env: 'MEMORY_CRITICAL_THRESHOLD',
    doc: 'Status turns critical at this share of the V8 heap limit (or of the RSS limit). Must be above the warning threshold.',
    default: 0.85,
    max: 1,
  }),
  hysteresis: share({
    env: 'MEMORY_HYSTERESIS',
    doc: 'A level is left only after usage falls this much of the limit below its threshold (0.05: 5 points), so the status does not flap.',
    default: 0.05,
    max: 0.5,
  }),
  rssLimit: optionalBytes({
    env: 'MEMORY_RSS_LIMIT',
    doc: 'RSS limit the status is also measured against. Unset: the cgroup memory limit when one is set (v2 memory.max or a lower memory.high, v1 memory.limit_in_bytes; the lowest in the process cgroup, nested or not, and its ancestors, as `headroom run` reads it), else no RSS limit.',
    default: undefined,
    defaultText: 'cgroup memory limit, if any',
    min: 16 * 1024 * 1024,
    max: 2 ** 50,
  }),
  sampleInterval: duration({
    env: 'MEMORY_SAMPLE_INTERVAL',
    doc: 'How often memory is sampled; status changes show within one interval.',
    default: 250,
    min: 50,
    max: 60_000,
  }),
  historySize: num({
    env: 'MEMORY_HISTORY_SIZE',
    doc: 'Samples kept in the ring buffer for the dashboard and GET /admin/memory-history (900 at MEMORY_HISTORY_INTERVAL 1s: 15 minutes).',
    default: 900,
    min: 10,
    max: 100_000,
    integer: true,
  }),
  historyInterval: duration({
    env: 'MEMORY_HISTORY_INTERVAL',
    doc: 'A sample enters the history at most once per interval (0: every sample), so the history spans more time than the sampling rate would allow in the same memory.',
    default: 1000,
    min: 0,
    max: 3_600_000,
  }),
  trendWindow: duration({
    env: 'MEMORY_TREND_WINDOW',
    doc: 'Sliding window of post-GC heap sizes the leak trend (bytes/hour) is fitted over.',
    default: 3_600_000,
    min: 10_000,
    max: 7 * 24 * 3_600_000,
  }),
  trendWarmup: duration({
    env: 'MEMORY_TREND_WARMUP',
    doc: 'Post-GC samples from the first part of the process life are dropped from the trend.',
    default: 60_000,
    min: 0,
    max: 24 * 3_600_000,
  }),
  gcPauses: bool({
    env: 'MEMORY_GC_PAUSES',
    doc: 'Count GC pauses by kind (headroom_gc_pause_seconds_total, headroom_gc_runs_total, the dashboard and /health): a PerformanceObserver that costs on every GC (~170 µs of p99 latency measured on a Next.js app). Major GCs and the post-GC heap are watched either way.',
    default: false,
  }),
  logging: bool({ env: 'ENABLE_MEMORY_LOGGING', doc: 'Log memory samples through pino (debugging aid).', default: false }),
  logInterval: duration({
    env: 'MEMORY_LOG_INTERVAL',
    doc: 'With ENABLE_MEMORY_LOGGING, at most one sample is logged per interval.',
    default: 30_000,
    min: 0,
    max: 3_600_000,
  }),
  snapshotDir: str({
    env: 'HEAP_SNAPSHOT_DIR',
    doc: 'Directory heap snapshots are written to. The gateway checks at start that it can write there when the admin API is on or HEAP_SNAPSHOT_ON_CRITICAL is set (exit 2 if not).',
    default: './heap-snapshots',
    maxLength: 4096,
  }),
  snapshotMaxBytes: bytes({
    env: 'HEAP_SNAPSHOT_DIR_MAX_BYTES',
    doc: 'Snapshots are refused once the directory holds this many bytes.',
    default: 2 * 1024 ** 3,
    min: 1024 * 1024,
    max: 2 ** 50,
  }),
  snapshotOnCritical: bool({
    env: 'HEAP_SNAPSHOT_ON_CRITICAL',
    doc: 'Write a heap snapshot automatically when the status enters critical.',
    default: false,
  }),
  snapshotMinInterval: duration({
    env: 'HEAP_SNAPSHOT_MIN_INTERVAL',
    doc: 'Automatic snapshots are at least this far apart.',
    default: 3_600_000,
    min: 60_000,
    max: 7 * 24 * 3_600_000,
  }),
} as const;

/**
 * The rule between the thresholds (config and library): critical must be above warning. Blamed on
 * critical, unless only warning was given (critical is then its default, which the user never chose).
 */
export function thresholdsProblem(
  warning: number,
  critical: number,
  names: { warning: string; critical: string },
  given: { warning: boolean; critical: boolean },
): { on: 'warning' | 'critical'; message: string } | undefined {
  if (critical > warning) return undefined;
  return given.warning && !given.critical
    ? { on: 'warning', message: `must be below ${names.critical} (${toPercent(critical)}%, its default)` }
    : { on: 'critical', message: `must be above ${names.warning} (${toPercent(warning)}%)` };
}

// Options only a library call has (objects and functions have no environment variable).
function libraryOnly<T>(dflt: T, accepted: string, ok: (raw: unknown) => boolean): OptionSpec<T> {
  return {
    env: '',
    doc: '',
    accepted,
    default: dflt,
    defaultText: String(dflt),
    secret: false,
    parse: (raw) => (ok(raw) ? (raw as T) : undefined),
  };
}
const isFunction = (raw: unknown): boolean => typeof raw === 'function';
const isLogger = (raw: unknown): boolean =>
  typeof raw === 'object' &&
  raw !== null &&
  ['info', 'warn', 'error'].every((m) => typeof (raw as Record<string, unknown>)[m] === 'function');

const librarySpecs = {
  ...monitorSpecs,
  // null (no RSS limit, not even the cgroup's) has no spelling as an environment variable.
  rssLimit: {
    ...monitorSpecs.rssLimit,
    accepted: `${monitorSpecs.rssLimit.accepted}, or null for no RSS limit`,
    parse: (raw: unknown) => (raw === null ? null : monitorSpecs.rssLimit.parse(raw)),
  } satisfies OptionSpec<number | null | undefined>,
  logger: libraryOnly<Logger | undefined>(undefined, 'must be a logger with info, warn and error methods (e.g. pino)', isLogger),
  sampler: libraryOnly<Sampler>(realSampler, 'must be a function returning a memory sample', isFunction),
  freeMemory: libraryOnly<() => number>(availableMemory, 'must be a function returning free bytes', isFunction),
  autoStart: libraryOnly(true, 'must be true or false', (raw) => typeof raw === 'boolean'),
};

export type ResolvedOptions = ReturnType<typeof resolveMonitorOptions>;

/** createMemoryMonitor's options with defaults filled in; one HEADROOM_CONFIG_INVALID for bad ones. */
export function resolveMonitorOptions(options: MemoryMonitorOptions | undefined) {
  const o = resolveOptions('createMemoryMonitor', librarySpecs, options);
  const at = optionsPlace('createMemoryMonitor', options);
  const problem = thresholdsProblem(
    o.warningThreshold,
    o.criticalThreshold,
    { warning: `${at.prefix}warningThreshold`, critical: `${at.prefix}criticalThreshold` },
    { warning: options?.warningThreshold !== undefined, critical: options?.criticalThreshold !== undefined },
  );
  if (problem) {
    const key = problem.on === 'warning' ? 'warningThreshold' : 'criticalThreshold';
    throw new HeadroomError(
      'HEADROOM_CONFIG_INVALID',
      `${at.factory}: ${at.prefix}${key}=${JSON.stringify(options?.[key] ?? o[key])} (read as ${toPercent(o[key])}%): ${problem.message}`,
    );
  }
  return o;
}
