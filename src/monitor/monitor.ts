// createMemoryMonitor: samples memory on an unref'd timer, keeps status with hysteresis, a bounded
// history, GC stats and the post-GC leak trend, and tells subscribers when the status changes.
import { performance } from 'node:perf_hooks';
import { cgroupMemoryLimit } from './cgroup.js';
import { EVENT_LOOP_TICK_MS, createEventLoopProbe } from './event-loop.js';
import { createGcWatcher } from './gc.js';
import { resolveMonitorOptions } from './options.js';
import { buildReport } from './report.js';
import { RingBuffer } from './ring.js';
import { createSnapshotWriter, refuse } from './snapshot.js';
import { nextStatus, statusRank } from './status.js';
import { PostGcTrend } from './trend.js';
import { toPercent } from '../options/units.js';
import type { HeadroomError } from '../errors.js';
import { kindOf } from '../options/spec.js';
import type {
  HealthReport,
  HeapSnapshotResult,
  MemoryMonitor,
  MemoryMonitorOptions,
  MemorySample,
  MemoryStatus,
  PressureListener,
  StatusListener,
  Thresholds,
} from './types.js';

/**
 * A snapshot stops the process while V8 writes it (a second for a small heap, a minute for a large
 * one): after one asked for (the admin API), the next waits this many times as long, so requests,
 * health probes and the monitor get at least nine tenths of the time whatever a client retries.
 */
const MANUAL_SNAPSHOT_SPACING = 9;

function tooSoon(waitMs: number, tookMs: number): HeadroomError {
  const seconds = Math.ceil(waitMs / 1000);
  return refuse(
    `the last heap snapshot stopped the process for ${tookMs} ms; the next can be taken in ${seconds} s (snapshots get at most a tenth of the time)`,
    { 'retry-after': String(seconds) },
  );
}

/** A listener that is not a function would fail (logged) at every status change: refused where it is given. */
function checkListener(method: string, listener: unknown): void {
  if (typeof listener !== 'function')
    throw new TypeError(`monitor.${method}(listener): listener must be a function; got ${kindOf(listener)}`);
}

export function createMemoryMonitor(options: MemoryMonitorOptions = {}): MemoryMonitor {
  const o = resolveMonitorOptions(options);
  const { logger, sampler } = o;
  const rssLimit = o.rssLimit === undefined ? cgroupMemoryLimit() : o.rssLimit;
  const statusThresholds = { warning: o.warningThreshold, critical: o.criticalThreshold, hysteresis: o.hysteresis };
  const thresholds: Thresholds = {
    warningPercent: toPercent(o.warningThreshold),
    criticalPercent: toPercent(o.criticalThreshold),
    hysteresisPercent: toPercent(o.hysteresis),
    rssLimit,
  };

  const history = new RingBuffer<MemorySample>(o.historySize);
  // Trend clock is performance.now(): ms since process start, so the warm-up is the process's first minute(s).
  const trend = new PostGcTrend({ windowMs: o.trendWindow, warmupUntil: o.trendWarmup });
  const gcWatcher = createGcWatcher(o.gcPauses, (t, bytes) => trend.add(t, bytes));
  const eventLoop = createEventLoopProbe();
  const statusListeners = new Set<StatusListener>();
  const pressureListeners = new Set<PressureListener>();
  const snapshots = createSnapshotWriter({
    dir: o.snapshotDir,
    maxDirBytes: o.snapshotMaxBytes,
    availableMemory: o.freeMemory,
    heapUsed: () => latest?.v8.usedHeapSize ?? sampler().v8.usedHeapSize,
  });

  let latest: MemorySample | undefined;
  let status: MemoryStatus = 'healthy';
  let running = false;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let closing: Promise<void> | undefined;
  let lastLogAt = -Infinity;
  let lastAutoSnapshotAt = -Infinity;
  let lastHistoryAt = -Infinity;
  let pendingSnapshot: Promise<unknown> | undefined;
  let nextManualSnapshotAt = -Infinity;
  let lastManualSnapshotMs = 0;
  // /health is polled far more often than samples change: build the report once per sample.
  let reportCache: { sample: MemorySample; report: HealthReport } | undefined;

  // Decided once (pino's model): with logging off, sampling pays nothing for it.
  const logSample: (s: MemorySample) => void =
    o.logging && logger
      ? (s) => {
          if (s.timestamp - lastLogAt < o.logInterval) return;
          lastLogAt = s.timestamp;
          logger.info(
            {
              status: s.status,
              rss: s.process.rss,
              heapUsed: s.v8.usedHeapSize,
              heapLimit: s.v8.heapSizeLimit,
              heapUsedPercent: s.v8.heapUsedPercent,
              eventLoop: s.eventLoop,
            },
            'memory sample',
          );
        }
      : () => {};

  function sampleNow(): MemorySample {
    const base = sampler();
    const v8 = { ...base.v8, heapUsedPercent: (base.v8.usedHeapSize / base.v8.heapSizeLimit) * 100 };
    const rssPercent = rssLimit === null ? null : (base.process.rss / rssLimit) * 100;
    const ratio = Math.max(v8.heapUsedPercent, rssPercent ?? 0) / 100;
    const previous = status;
    status = nextStatus(previous, ratio, statusThresholds);
    const sample: MemorySample = {
      timestamp: Date.now(),
      status,
      process: base.process,
      v8,
      heapSpaces: base.heapSpaces ?? [],
      eventLoop: eventLoop.read(),
      rssLimit,
      rssPercent,
    };
    latest = sample;
    // Half a sampling interval of slack, so timer jitter does not skip every other entry.
    const now = performance.now();
    if (now - lastHistoryAt >= o.historyInterval - o.sampleInterval / 2) {
      lastHistoryAt = now;
      history.push(sample);
    }
    logSample(sample);
    if (status !== previous) onChange(status, previous, sample);
    return sample;
  }

  function onChange(next: MemoryStatus, previous: MemoryStatus, sample: MemorySample): void {
    const worse = statusRank(next) > statusRank(previous);
    logger?.[worse ? 'warn' : 'info'](
      { status: next, previous, heapUsedPercent: sample.v8.heapUsedPercent, rssPercent: sample.rssPercent },
      `memory status ${previous} -> ${next}`,
    );
    // A failing listener must not stop the others or the sampling.
    for (const l of statusListeners) guard(() => l(next, previous, sample));
    for (const l of pressureListeners) guard(() => l(next));
    if (next === 'critical' && o.snapshotOnCritical) autoSnapshot();
  }

  function guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      logger?.error({ err }, 'memory monitor listener threw');
    }
  }

  function autoSnapshot(): void {
    const now = performance.now();
    if (now - lastAutoSnapshotAt < o.snapshotMinInterval || snapshots.inProgress()) return;
    lastAutoSnapshotAt = now;
    pendingSnapshot = snapshots.write().then(
      (r) => logger?.warn({ snapshot: r }, 'memory critical: heap snapshot written'),
      (err) => logger?.warn({ err }, 'memory critical: heap snapshot not written'),
    );
  }

  function tick(): void {
    try {
      sampleNow();
    } catch (err) {
      logger?.error({ err }, 'memory sample failed');
    }
  }

  const monitor: MemoryMonitor = {
    start() {
      if (running || closed) return;
      running = true;
      gcWatcher.start();
      // Each timer is a wake-up, most of an idle monitor's CPU: when the sample interval is a
      // multiple of the event-loop timer's, that timer takes the samples too.
      if (o.sampleInterval % EVENT_LOOP_TICK_MS === 0) {
        eventLoop.start({ every: o.sampleInterval / EVENT_LOOP_TICK_MS, run: tick });
      } else {
        eventLoop.start();
        timer = setInterval(tick, o.sampleInterval);
        timer.unref();
      }
      tick();
    },
    stop() {
      running = false;
      if (timer) clearInterval(timer);
      timer = undefined;
      gcWatcher.stop();
      eventLoop.stop();
    },
    close() {
      // A second call gets the close in flight, not a new one that settles earlier.
      return (closing ??= (async () => {
        closed = true;
        monitor.stop();
        statusListeners.clear();
        pressureListeners.clear();
        await pendingSnapshot;
      })());
    },
    [Symbol.asyncDispose]: () => monitor.close(),
    sampleNow,
    current: () => latest ?? sampleNow(),
    status: () => (latest ? status : sampleNow().status),
    report() {
      const sample = monitor.current();
      if (reportCache?.sample !== sample) {
        reportCache = { sample, report: buildReport(sample, thresholds, gcWatcher.stats(), trend.trend(performance.now())) };
      }
      return reportCache.report;
    },
    history: () => history.toArray(),
    gc: () => gcWatcher.stats(),
    trend: () => trend.trend(performance.now()),
    eventLoopDelay: () => eventLoop.delays(),
    thresholds: () => ({ ...thresholds }),
    onStatus(listener) {
      checkListener('onStatus', listener);
      statusListeners.add(listener);
      return () => void statusListeners.delete(listener);
    },
    onPressure(listener) {
      checkListener('onPressure', listener);
      pressureListeners.add(listener);
      return () => void pressureListeners.delete(listener);
    },
    writeHeapSnapshot(): Promise<HeapSnapshotResult> {
      const wait = nextManualSnapshotAt - performance.now();
      if (wait > 0) return Promise.reject(tooSoon(wait, lastManualSnapshotMs));
      return snapshots.write().then((r) => {
        lastManualSnapshotMs = r.durationMs;
        nextManualSnapshotAt = performance.now() + MANUAL_SNAPSHOT_SPACING * r.durationMs;
        return r;
      });
    },
  };

  if (o.autoStart) monitor.start();
  return monitor;
}
