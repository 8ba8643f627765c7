// createAlerter: watches the memory monitor (status changes at once, the other thresholds every
// checkInterval), turns conditions into episodes (one firing and one resolved notification each)
// and hands each check's notifications, as one body, to every webhook. Nothing here runs on a
// request's path: the monitor's listener and the timer only read numbers and queue a buffer.
import {
  ALERT_DROP_REASONS,
  ALERT_NAMES,
  type Alerter,
  type AlerterOptions,
  type AlertEvent,
  type AlertName,
  type AlertStats,
} from './types.js';
import type { MemorySample, MemoryStatus, Thresholds } from '../../monitor/types.js';
import { Episodes, type Reading } from './episodes.js';
import { LoopSamples, MIN_LOOP_SAMPLES } from './loop-samples.js';
import { resolveAlerterOptions } from './options.js';
import { renderPayload } from './payload.js';
import { eventLoopReading, heapForecastReading, l2Reading, memoryReadings, sheddingReading } from './readings.js';
import { createWebhook, type DeliveryCounters } from './webhook.js';

export function createAlerter(options: AlerterOptions): Alerter {
  const o = resolveAlerterOptions(options);
  const { monitor } = o;
  const counters: DeliveryCounters = {
    attempts: 0,
    sent: 0,
    failed: 0,
    dropped: Object.fromEntries(ALERT_DROP_REASONS.map((r) => [r, 0])) as DeliveryCounters['dropped'],
  };
  const webhooks = o.targets.map((t, i) =>
    createWebhook({
      ...t,
      hmacSecret: o.hmacSecret,
      timeout: o.timeout,
      retries: o.retries,
      retryDelay: o.retryDelay,
      maxRetryDelay: o.maxRetryDelay,
      queueSize: o.queueSize,
      queueBytes: o.queueBytes,
      counters,
      now: o.now,
      random: o.random,
      // Webhook URLs are secrets (tokens in paths): a webhook is named by its position only.
      onFailure: (why) => o.logger?.warn({ webhook: i + 1, why }, 'alert notification not delivered'),
    }),
  );
  const episodes = new Episodes();
  const loopSamples = new LoopSamples();
  let closed = false;
  let lastShed: { count: number; at: number } | undefined;
  /** Readings whose last attempt threw: each is logged once per failure streak, not every check. */
  const failing = new Set<string>();

  function step(name: AlertName, r: Reading, now: number, hold: number, out: AlertEvent[]): void {
    const e = episodes.step(name, r, now, hold);
    if (e) out.push(e);
  }

  // Memory status has its hysteresis in the monitor (MEMORY_HYSTERESIS): no hold on top of it.
  // Without one (0 points) every crossing would be an episode: then the time hold stands in.
  const memoryHold = (thresholds: Thresholds): number => (thresholds.hysteresisPercent > 0 ? 0 : o.resolveAfter);

  function statusSteps(status: MemoryStatus, sample: MemorySample, thresholds: Thresholds, now: number, out: AlertEvent[]): void {
    const r = memoryReadings(status, sample, thresholds);
    const hold = memoryHold(thresholds);
    step('memory_warning', r.warning, now, hold, out);
    step('memory_critical', r.critical, now, hold, out);
  }

  function dispatch(events: AlertEvent[]): void {
    if (events.length === 0) return;
    const body = renderPayload(o.format, events, o.instance);
    for (const w of webhooks) w.send(body);
  }

  /**
   * One input of a check. One that throws (a caller's l2Available or shedCount, a custom monitor)
   * is no reading this time: the alerts it decides keep their state, the others are checked.
   */
  function read<T>(what: string, fn: () => T): T | undefined {
    try {
      const value = fn();
      if (failing.delete(what)) o.logger?.info({ reading: what }, `alert reading ${what} works again`);
      return value;
    } catch (err) {
      if (!failing.has(what)) {
        failing.add(what);
        o.logger?.warn({ err, reading: what }, `alert reading ${what} failed: its alerts are not checked until it works again`);
      }
      return undefined;
    }
  }

  function check(): AlertEvent[] {
    if (closed) return [];
    const now = o.now();
    // Every reading is taken before any episode steps, so nothing that throws can leave an episode
    // stepped without its notification: firing(), the metrics and the webhooks always agree.
    const readings: [AlertName, Reading | undefined, number][] = [];
    const sample = read('monitor.current()', () => monitor.current());
    if (sample) {
      const memory = read('memory status', () => {
        const thresholds = monitor.thresholds();
        return { ...memoryReadings(monitor.status(), sample, thresholds), hold: memoryHold(thresholds) };
      });
      const hold = memory?.hold ?? 0;
      readings.push(['memory_warning', memory?.warning, hold], ['memory_critical', memory?.critical, hold]);
      if (o.heapForecast > 0) {
        const heap = read('heap forecast', () =>
          heapForecastReading(
            monitor.trend(),
            monitor.gc().lastHeapAfterGc ?? sample.v8.usedHeapSize,
            sample.v8.heapSizeLimit,
            o.heapForecast,
          ),
        );
        readings.push(['heap_forecast', heap, o.resolveAfter]);
      }
    }
    if (o.eventLoopP99 > 0) {
      const loop = read('event-loop delay', () => eventLoopReading(loopSamples.take(monitor), o.eventLoopP99, MIN_LOOP_SAMPLES));
      readings.push(['event_loop_delay', loop, o.resolveAfter]);
    }
    const shedCount = o.shedCount;
    if (o.shedRate > 0 && shedCount) {
      const count = read('shedCount()', () => shedCount());
      // The first check only sets the baseline; a counter that went back (a restart of the part) restarts it.
      if (count !== undefined) {
        if (lastShed && count >= lastShed.count)
          readings.push(['shedding', sheddingReading(count - lastShed.count, (now - lastShed.at) / 1000, o.shedRate), o.resolveAfter]);
        lastShed = { count, at: now };
      }
    }
    const l2Available = o.l2Available;
    const l2 = l2Available ? read('l2Available()', () => l2Available()) : undefined;
    if (l2 === true || l2 === false) readings.push(['l2_unavailable', l2Reading(l2), o.resolveAfter]);
    const events: AlertEvent[] = [];
    for (const [name, r, hold] of readings) if (r) step(name, r, now, hold, events);
    dispatch(events);
    return events;
  }

  // A process that starts under pressure is told at once. The other thresholds wait for the first
  // interval: they need a baseline (shedding, event-loop samples), and a Redis L2 still connecting
  // at start is not an outage. All read before anything is sent, subscribed or scheduled, so a
  // monitor or callback that throws here leaves nothing behind.
  const initial: AlertEvent[] = [];
  statusSteps(monitor.status(), monitor.current(), monitor.thresholds(), o.now(), initial);
  loopSamples.start(monitor);
  if (o.shedCount) lastShed = { count: o.shedCount(), at: o.now() };
  dispatch(initial);
  const unsubscribe = monitor.onStatus((status, _previous, sample) => {
    if (closed) return;
    const events: AlertEvent[] = [];
    statusSteps(status, sample, monitor.thresholds(), o.now(), events);
    dispatch(events);
  });
  // check() survives a reading that throws; this catch is for anything else (a bug), so the timer
  // and the process go on either way.
  const timer = setInterval(() => {
    try {
      check();
    } catch (err) {
      o.logger?.warn({ err }, 'alert check failed');
    }
  }, o.checkInterval);
  timer.unref();

  function stats(): AlertStats {
    let pending = 0;
    let pendingBytes = 0;
    let retrying = 0;
    for (const w of webhooks) {
      const p = w.pending();
      pending += p.count;
      pendingBytes += p.bytes;
      retrying += p.retrying;
    }
    const firing = Object.fromEntries(ALERT_NAMES.map((n) => [n, episodes.isFiring(n) ? 1 : 0])) as AlertStats['firing'];
    return {
      sent: counters.sent,
      failed: counters.failed,
      attempts: counters.attempts,
      dropped: { ...counters.dropped },
      pending,
      pendingBytes,
      retrying,
      firing,
      readingsFailing: failing.size,
      webhooks: webhooks.length,
    };
  }

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      closed = true;
      clearInterval(timer);
      unsubscribe();
      // What still fires is resolved as the watching ends; queued before the webhooks close, so
      // these get their last attempt with the rest.
      dispatch(episodes.endAll(o.now()));
      await Promise.all(webhooks.map((w) => w.close()));
      // The counters die with the process, never scraped again: say what was never delivered
      // (a receiver may show an alert firing whose resolve was among them).
      const { close: atClose, queue_full: queueFull } = counters.dropped;
      if (atClose + queueFull > 0)
        o.logger?.warn(
          { dropped: { close: atClose, queue_full: queueFull }, sent: counters.sent, failed: counters.failed },
          `alerts: ${atClose + queueFull} notifications were never delivered (${atClose} still queued or in flight at shutdown, ${queueFull} dropped for a full queue); a receiver may show an alert still firing`,
        );
    })());

  return {
    check,
    firing: () => episodes.firing(),
    stats,
    flush: async () => {
      await Promise.all(webhooks.map((w) => w.flush()));
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
