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
import type { MemorySample, MemoryStatus } from '../../monitor/types.js';
import { Episodes, type Reading } from './episodes.js';
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
  let closed = false;
  /** The newest monitor sample the event-loop reading has used. */
  let lastSample: MemorySample | undefined;
  let lastShed: { count: number; at: number } | undefined;

  function step(name: AlertName, r: Reading, now: number, hold: number, out: AlertEvent[]): void {
    const e = episodes.step(name, r, now, hold);
    if (e) out.push(e);
  }

  // Memory status has its hysteresis in the monitor (MEMORY_HYSTERESIS): no hold on top of it.
  function statusSteps(status: MemoryStatus, sample: MemorySample, now: number, out: AlertEvent[]): void {
    const r = memoryReadings(status, sample, monitor.thresholds());
    step('memory_warning', r.warning, now, 0, out);
    step('memory_critical', r.critical, now, 0, out);
  }

  function dispatch(events: AlertEvent[]): void {
    if (events.length === 0) return;
    const body = renderPayload(o.format, events, o.instance);
    for (const w of webhooks) w.send(body);
  }

  function check(): AlertEvent[] {
    if (closed) return [];
    const now = o.now();
    const events: AlertEvent[] = [];
    const sample = monitor.current();
    statusSteps(monitor.status(), sample, now, events);
    if (o.heapForecast > 0) {
      const postGc = monitor.gc().lastHeapAfterGc ?? sample.v8.usedHeapSize;
      step(
        'heap_forecast',
        heapForecastReading(monitor.trend(), postGc, sample.v8.heapSizeLimit, o.heapForecast),
        now,
        o.resolveAfter,
        events,
      );
    }
    const fresh = freshSamples();
    if (o.eventLoopP99 > 0) step('event_loop_delay', eventLoopReading(fresh, o.eventLoopP99), now, o.resolveAfter, events);
    if (o.shedRate > 0 && o.shedCount) {
      const count = o.shedCount();
      // The first check only sets the baseline; a counter that went back (a restart of the part) restarts it.
      if (lastShed && count >= lastShed.count)
        step('shedding', sheddingReading(count - lastShed.count, (now - lastShed.at) / 1000, o.shedRate), now, o.resolveAfter, events);
      lastShed = { count, at: now };
    }
    const l2 = o.l2Available?.();
    if (l2 === true || l2 === false) step('l2_unavailable', l2Reading(l2), now, o.resolveAfter, events);
    dispatch(events);
    return events;
  }

  /** Samples taken since the previous check (the latest one when there is none). */
  function freshSamples(): MemorySample[] {
    const history = monitor.history();
    const from = lastSample ? history.lastIndexOf(lastSample) + 1 : 0;
    const fresh = history.slice(from);
    const latest = fresh.at(-1) ?? monitor.current();
    lastSample = history.at(-1) ?? latest;
    return fresh.length > 0 ? fresh : [latest];
  }

  // A process that starts under pressure is told at once. The other thresholds wait for the first
  // interval: they need a baseline (shedding, event-loop samples), and a Redis L2 still connecting
  // at start is not an outage. All read before anything is sent, subscribed or scheduled, so a
  // monitor or callback that throws here leaves nothing behind.
  const initial: AlertEvent[] = [];
  statusSteps(monitor.status(), monitor.current(), o.now(), initial);
  lastSample = monitor.history().at(-1);
  if (o.shedCount) lastShed = { count: o.shedCount(), at: o.now() };
  dispatch(initial);
  const unsubscribe = monitor.onStatus((status, _previous, sample) => {
    if (closed) return;
    const events: AlertEvent[] = [];
    statusSteps(status, sample, o.now(), events);
    dispatch(events);
  });
  // A callback that throws (a cache's stats(), a custom monitor) must not end the process or the checks.
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
