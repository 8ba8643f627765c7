// Public types of the memory monitor. Other parts depend only on these (pressure flows one way:
// parts subscribe to the monitor, the monitor knows nothing of them).
import type { Logger } from 'pino';

export type MemoryStatus = 'healthy' | 'warning' | 'critical';

export interface ProcessMemory {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

export interface V8Memory {
  heapSizeLimit: number;
  usedHeapSize: number;
  totalHeapSize: number;
  /** usedHeapSize / heapSizeLimit × 100 — never heapUsed / heapTotal. */
  heapUsedPercent: number;
  mallocedMemory: number;
  externalMemory: number;
  numberOfDetachedContexts: number;
  numberOfNativeContexts: number;
}

export interface HeapSpace {
  name: string;
  size: number;
  used: number;
  available: number;
}

export interface EventLoopStats {
  /** Milliseconds timers fired late (mean, median, 99th percentile, max), since the previous sample. */
  delayMean: number;
  delayP50: number;
  delayP99: number;
  delayMax: number;
  /** Share of time the loop was busy since the previous sample, 0–100. */
  utilizationPercent: number;
}

export interface GcKindStats {
  count: number;
  /** Total pause, milliseconds. */
  totalMs: number;
  maxMs: number;
}

export interface GcStats {
  /** GC pauses by kind (keys: minor, major, incremental, weakcb); null unless gcPauses (MEMORY_GC_PAUSES) is on. */
  byKind: Record<string, GcKindStats> | null;
  /** Major (mark-compact) GCs seen since the monitor started (always counted; with the canary, one that comes before the previous one's cleanup ran is missed). */
  majorGcs: number;
  /**
   * How major GCs are seen: `canary` (a FinalizationRegistry, nothing per minor GC: Node 20–24),
   * `observer` (PerformanceObserver('gc'), where V8 clears weak references in minor GCs: Node 26);
   * null until the probe at the first start has answered (50 ms; 150 ms where it falls back).
   */
  majorsBy: 'canary' | 'observer' | null;
  /** Heap used right after the most recent major GC (its post-GC heap plus what was allocated in the ~1–3 ms since), bytes (null before the first). */
  lastHeapAfterGc: number | null;
}

export interface LeakTrend {
  /** Least-squares slope of post-GC heap size, bytes/hour (null until enough points). */
  bytesPerHour: number | null;
  points: number;
  windowMs: number;
}

export interface MemorySample {
  timestamp: number;
  status: MemoryStatus;
  process: ProcessMemory;
  v8: V8Memory;
  heapSpaces: HeapSpace[];
  eventLoop: EventLoopStats;
  /** RSS limit in force (option or cgroup memory.max), bytes; null when none. */
  rssLimit: number | null;
  /** rss / rssLimit × 100, or null without a limit. */
  rssPercent: number | null;
}

export interface Thresholds {
  /** Percents (0–100) of the V8 heap limit (and of the RSS limit when one is set). */
  warningPercent: number;
  criticalPercent: number;
  /** Points (of 100) usage must fall below a threshold before its level is left. */
  hysteresisPercent: number;
  /** Bytes; null when none. */
  rssLimit: number | null;
}

/** The body of GET /health. Numbers are bytes, …Percent fields 0–100; `formatted` has human strings. */
export interface HealthReport {
  status: MemoryStatus;
  v8: Pick<V8Memory, 'heapSizeLimit' | 'usedHeapSize' | 'heapUsedPercent' | 'numberOfDetachedContexts' | 'numberOfNativeContexts'>;
  process: ProcessMemory;
  thresholds: Thresholds;
  eventLoop: EventLoopStats;
  gc: GcStats & { trend: LeakTrend };
  uptime: number;
  timestamp: string;
  formatted: Record<string, string>;
}

export type StatusListener = (status: MemoryStatus, previous: MemoryStatus, sample: MemorySample) => void;
export type PressureListener = (level: MemoryStatus) => void;

export interface HeapSnapshotResult {
  path: string;
  bytes: number;
  durationMs: number;
}

/** Source of samples; injectable so tests can drive status transitions. */
export type Sampler = () => Pick<MemorySample, 'process' | 'v8'> & Partial<Pick<MemorySample, 'heapSpaces'>>;

/**
 * Options of createMemoryMonitor. Each one is the gateway variable named in its comment, with the
 * same default and bounds (`monitorSpecs`; docs/configuration.md, "Memory monitor"). A bad value
 * throws HEADROOM_CONFIG_INVALID naming the option, the value and what is accepted.
 */
export interface MemoryMonitorOptions {
  /** MEMORY_WARNING_THRESHOLD: share of the heap (or RSS) limit, a fraction up to 1 (0.75) or a percent above 1 (75). */
  warningThreshold?: number;
  /** MEMORY_CRITICAL_THRESHOLD: same units as warningThreshold; must be above it. */
  criticalThreshold?: number;
  /** MEMORY_HYSTERESIS: same units (0.05 or 5); how far below a threshold usage must fall to leave its level. */
  hysteresis?: number;
  /** MEMORY_RSS_LIMIT: bytes; undefined = cgroup memory.max when set; null = no RSS limit. */
  rssLimit?: number | null;
  /** MEMORY_SAMPLE_INTERVAL, milliseconds. */
  sampleInterval?: number;
  /** MEMORY_HISTORY_SIZE, samples. */
  historySize?: number;
  /** MEMORY_HISTORY_INTERVAL, milliseconds (0: every sample enters the history). */
  historyInterval?: number;
  /** MEMORY_TREND_WINDOW, milliseconds. */
  trendWindow?: number;
  /** MEMORY_TREND_WARMUP, milliseconds. */
  trendWarmup?: number;
  /**
   * Count GC pauses by kind (default false): a PerformanceObserver('gc') that costs on every GC
   * (~170 µs of p99 latency on a Next.js app). Major GCs and the post-GC heap are watched either way.
   */
  gcPauses?: boolean;
  /** Where status changes (and, with `logging`, samples) are logged; an object with info, warn and error. */
  logger?: Logger;
  /** ENABLE_MEMORY_LOGGING. */
  logging?: boolean;
  /** MEMORY_LOG_INTERVAL, milliseconds. */
  logInterval?: number;
  /** HEAP_SNAPSHOT_DIR. */
  snapshotDir?: string;
  /** HEAP_SNAPSHOT_DIR_MAX_BYTES, bytes. */
  snapshotMaxBytes?: number;
  /** HEAP_SNAPSHOT_ON_CRITICAL. */
  snapshotOnCritical?: boolean;
  /** HEAP_SNAPSHOT_MIN_INTERVAL, milliseconds. */
  snapshotMinInterval?: number;
  /** Replaces the real sampler (tests). */
  sampler?: Sampler;
  /** Bytes of free memory for the snapshot guard (default: os.freemem() and cgroup headroom, whichever is lower). */
  freeMemory?: () => number;
  /** Start sampling immediately (default true). */
  autoStart?: boolean;
}

/** How late the monitor's event-loop timer fired, every tick since start: `cumulative[i]` ticks were at most `boundsSeconds[i]` late. */
export interface EventLoopDelayHistogram {
  boundsSeconds: readonly number[];
  cumulative: number[];
  sumSeconds: number;
  /** All ticks (the +Inf bucket). */
  count: number;
}

export interface MemoryMonitor {
  start(): void;
  stop(): void;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
  /** Takes a sample now (also updates status) and returns it. */
  sampleNow(): MemorySample;
  /** The most recent sample (taking one if none exists yet). */
  current(): MemorySample;
  status(): MemoryStatus;
  /** The /health body for the latest sample; built once per sample and shared, so treat it as read-only. */
  report(): HealthReport;
  history(): MemorySample[];
  gc(): GcStats;
  trend(): LeakTrend;
  /** Event-loop delay since start, in fixed buckets (the Prometheus histogram). */
  eventLoopDelay(): EventLoopDelayHistogram;
  thresholds(): Thresholds;
  /** Returns an unsubscribe function. */
  onStatus(listener: StatusListener): () => void;
  /** Called with the new level on every status change (healthy = pressure ended). */
  onPressure(listener: PressureListener): () => void;
  writeHeapSnapshot(): Promise<HeapSnapshotResult>;
}

/** What parts that react to memory need from a monitor (lets them accept a stub or the real one). */
export type PressureSource = Pick<MemoryMonitor, 'onPressure' | 'status'> & Partial<Pick<MemoryMonitor, 'current'>>;
