// One alerter on a real memory monitor fed by a controllable sampler, a real receiver, and a
// clock the test moves: status changes are made by sampleNow(), thresholds by check().
import { createMemoryMonitor } from '../../../src/monitor/index.js';
import type { LeakTrend, MemoryMonitor } from '../../../src/monitor/types.js';
import { createAlerter, type Alerter, type AlerterOptions, type AlertMonitor } from '../../../src/observe/alerts/index.js';
import { fakeMemory, type FakeMemory } from '../../monitor/helpers.js';
import { startReceiver, type Receiver, type ReceiverMode } from './receiver.js';

/** Delivery settings that make failures and retries happen within a test's time. */
export const FAST = { timeout: 500, retryDelay: 5, maxRetryDelay: 20, checkInterval: 600_000 } satisfies AlerterOptions;

export interface Rig {
  mem: FakeMemory;
  monitor: MemoryMonitor;
  /** What the alerter watches: the real monitor, with the post-GC trend settable. */
  watched: AlertMonitor;
  receiver: Receiver;
  alerter: Alerter;
  clock: { now: number };
  /** Sets the heap to this fraction of its limit and takes a sample (status changes are told at once). */
  heap(ratio: number): void;
  trend: { bytesPerHour: number | null; postGc: number };
  close(): Promise<void>;
}

export async function rig(options: AlerterOptions = {}, mode?: ReceiverMode, monitorOptions: { hysteresis?: number } = {}): Promise<Rig> {
  const mem = fakeMemory(1024 * 1024 * 1024);
  const monitor = createMemoryMonitor({ sampler: mem.sampler, autoStart: false, rssLimit: null, historyInterval: 0, ...monitorOptions });
  const clock = { now: Date.parse('2026-01-01T00:00:00Z') };
  const trend = { bytesPerHour: null as number | null, postGc: 100 * 1024 * 1024 };
  const watched: AlertMonitor = {
    ...monitor,
    trend: (): LeakTrend => ({ bytesPerHour: trend.bytesPerHour, points: 20, windowMs: 3_600_000 }),
    gc: () => ({ ...monitor.gc(), lastHeapAfterGc: trend.postGc }),
  };
  const receiver = await startReceiver(mode);
  const alerter = createAlerter({ webhookUrls: receiver.url, monitor: watched, now: () => clock.now, ...FAST, ...options });
  return {
    mem,
    monitor,
    watched,
    receiver,
    alerter,
    clock,
    trend,
    heap(ratio) {
      mem.setHeapRatio(ratio);
      monitor.sampleNow();
    },
    async close() {
      await alerter.close();
      await monitor.close();
      await receiver.close();
    },
  };
}

/** The notifications delivered so far as "name:status" per alert, one array per request. */
export const seen = (r: Receiver): string[][] =>
  r.delivered().map((q) => (q.json.alerts as { name: string; status: string }[]).map((a) => `${a.name}:${a.status}`));
