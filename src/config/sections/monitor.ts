// Options of the memory monitor (src/monitor).
import { bool, bytes, duration, num, optionalBytes, share, str } from '../options.js';

export const monitorOptions = {
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
    doc: 'RSS limit the status is also measured against. Unset: the cgroup memory.max when one is set, else no RSS limit.',
    default: undefined,
    defaultText: 'cgroup memory.max, if any',
    min: 16 * 1024 * 1024,
    max: 2 ** 50,
  }),
  sampleInterval: duration({ env: 'MEMORY_SAMPLE_INTERVAL', doc: 'How often memory is sampled; status changes show within one interval.', default: 250, min: 50, max: 60_000 }),
  historySize: num({ env: 'MEMORY_HISTORY_SIZE', doc: 'Samples kept in the ring buffer for the dashboard.', default: 600, min: 10, max: 100_000, integer: true }),
  trendWindow: duration({ env: 'MEMORY_TREND_WINDOW', doc: 'Sliding window of post-GC heap sizes the leak trend (bytes/hour) is fitted over.', default: 3_600_000, min: 10_000, max: 7 * 24 * 3_600_000 }),
  trendWarmup: duration({ env: 'MEMORY_TREND_WARMUP', doc: 'Post-GC samples from the first part of the process life are dropped from the trend.', default: 60_000, min: 0, max: 24 * 3_600_000 }),
  logging: bool({ env: 'ENABLE_MEMORY_LOGGING', doc: 'Log memory samples through pino (debugging aid).', default: false }),
  logInterval: duration({ env: 'MEMORY_LOG_INTERVAL', doc: 'With ENABLE_MEMORY_LOGGING, at most one sample is logged per interval.', default: 30_000, min: 0, max: 3_600_000 }),
  snapshotDir: str({ env: 'HEAP_SNAPSHOT_DIR', doc: 'Directory heap snapshots are written to.', default: './heap-snapshots', maxLength: 4096 }),
  snapshotMaxBytes: bytes({ env: 'HEAP_SNAPSHOT_DIR_MAX_BYTES', doc: 'Snapshots are refused once the directory holds this many bytes.', default: 2 * 1024 ** 3, min: 1024 * 1024, max: 2 ** 50 }),
  snapshotOnCritical: bool({ env: 'HEAP_SNAPSHOT_ON_CRITICAL', doc: 'Write a heap snapshot automatically when the status enters critical.', default: false }),
  snapshotMinInterval: duration({ env: 'HEAP_SNAPSHOT_MIN_INTERVAL', doc: 'Automatic snapshots are at least this far apart.', default: 3_600_000, min: 60_000, max: 7 * 24 * 3_600_000 }),
} as const;
