import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import v8 from 'node:v8';
import { pino } from 'pino';
import { createMemoryMonitor } from '../../src/monitor/index.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';
import { waitFor } from '../helpers/wait.js';
import { fakeMemory } from './helpers.js';

const gc = (globalThis as { gc?: () => void }).gc;

describe('monitor lifecycle', () => {
  test('start/stop/close are idempotent and nothing samples after close() (mock timers)', async (t) => {
    t.mock.timers.enable({ apis: ['setInterval'] });
    const mem = fakeMemory();
    const monitor = createMemoryMonitor({ sampleInterval: 50, historyInterval: 0, sampler: mem.sampler, rssLimit: null });
    monitor.start(); // a second start() must not add a second timer
    assert.equal(monitor.history().length, 1, 'one sample at start');
    t.mock.timers.tick(100);
    assert.equal(monitor.history().length, 3);
    monitor.stop();
    monitor.stop();
    t.mock.timers.tick(500);
    assert.equal(monitor.history().length, 3, 'sampling continued after stop()');
    monitor.start();
    assert.equal(monitor.history().length, 4);
    await monitor.close();
    await monitor.close();
    monitor.start(); // no-op after close
    t.mock.timers.tick(500);
    assert.equal(monitor.history().length, 4, 'sampling continued after close()');
  });

  test('close() leaves no timer or observer behind (real timers)', async () => {
    await assertNoLeakedHandles(async () => {
      const monitor = createMemoryMonitor({ sampleInterval: 50, historyInterval: 0 });
      await waitFor(() => monitor.history().length >= 3, 'three samples');
      await Promise.all([monitor.close(), monitor.close()]);
    });
  });

  test('asyncDispose closes it', async () => {
    await assertNoLeakedHandles(async () => {
      await using monitor = createMemoryMonitor({ sampleInterval: 50 });
      assert.ok(monitor.current());
    });
  });

  test(
    'counts real GCs by kind, exactly once each, with the heap after a major GC; stops counting after close',
    { skip: !gc && 'needs --expose-gc' },
    async () => {
      const monitor = createMemoryMonitor({ sampleInterval: 50, trendWarmup: 0 });
      await waitFor(() => monitor.history().length >= 1, 'the first sample');
      const before = monitor.gc().byKind.major!.count;
      for (let i = 0; i < 4; i++) gc!();
      const usedAfterGc = v8.getHeapStatistics().used_heap_size;
      // GC entries are delivered asynchronously (an immediate after each GC).
      await waitFor(() => monitor.gc().byKind.major!.count - before >= 4, 'four major GCs delivered');
      // Later samples must not count them again.
      const samples = monitor.history().length;
      await waitFor(() => monitor.history().length >= samples + 2, 'two more samples');
      const stats = monitor.gc();
      assert.equal(stats.byKind.major!.count - before, 4);
      assert.ok(stats.byKind.major!.totalMs > 0);
      assert.ok(stats.byKind.major!.maxMs > 0 && stats.byKind.major!.maxMs <= stats.byKind.major!.totalMs);
      // Read at delivery: the post-GC heap plus the little allocated since.
      assert.ok(
        stats.lastHeapAfterGc !== null && Math.abs(stats.lastHeapAfterGc - usedAfterGc) < 1024 * 1024,
        `${stats.lastHeapAfterGc} vs ${usedAfterGc}`,
      );
      assert.ok(monitor.trend().points >= 1);
      await monitor.close();
      const after = monitor.gc().byKind.major!.count;
      // Our own observer receives the next major GC in the same delivery as any other observer would.
      let delivered = false;
      const probe = new PerformanceObserver((list) => {
        if (list.getEntries().some((e) => (e as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR))
          delivered = true;
      });
      probe.observe({ entryTypes: ['gc'] });
      gc!();
      await waitFor(() => delivered, 'the major GC delivered to a probe observer');
      probe.disconnect();
      assert.equal(monitor.gc().byKind.major!.count, after, 'GCs still counted after close()');
    },
  );

  test('report() has the /health shape with bytes and formatted strings', async () => {
    const monitor = createMemoryMonitor({ autoStart: true, rssLimit: 64 * 1024 ** 3 });
    const r = monitor.report();
    assert.equal(r.status, 'healthy');
    assert.deepEqual(Object.keys(r).sort(), [
      'eventLoop',
      'formatted',
      'gc',
      'process',
      'status',
      'thresholds',
      'timestamp',
      'uptime',
      'v8',
    ]);
    assert.deepEqual(Object.keys(r.v8).sort(), [
      'heapSizeLimit',
      'heapUsedPercent',
      'numberOfDetachedContexts',
      'numberOfNativeContexts',
      'usedHeapSize',
    ]);
    assert.deepEqual(Object.keys(r.process).sort(), ['arrayBuffers', 'external', 'heapTotal', 'heapUsed', 'rss']);
    assert.ok(Number.isInteger(r.v8.heapSizeLimit) && r.v8.heapSizeLimit > r.v8.usedHeapSize);
    assert.ok(r.v8.heapUsedPercent > 0 && r.v8.heapUsedPercent < 100);
    assert.deepEqual(r.thresholds, { warningPercent: 75, criticalPercent: 85, hysteresisPercent: 5, rssLimit: 64 * 1024 ** 3 });
    assert.deepEqual(Object.keys(r.gc.byKind).sort(), ['incremental', 'major', 'minor', 'weakcb']);
    assert.equal(r.gc.trend.windowMs, 3_600_000);
    assert.ok(r.eventLoop.utilizationPercent >= 0 && r.eventLoop.utilizationPercent <= 100);
    assert.ok(!Number.isNaN(Date.parse(r.timestamp)));
    assert.match(r.formatted.heapSizeLimit!, /^\d+(\.\d+)? (MiB|GiB)$/);
    assert.match(r.formatted.heapUsedPercent!, /^\d+\.\d%$/);
    assert.equal(r.formatted.rssLimit, '64.00 GiB');
    assert.doesNotThrow(() => JSON.stringify(r));
    assert.ok(monitor.current().heapSpaces.some((s) => s.name === 'old_space'));
    await monitor.close();
  });

  test('logging: at most one sample per logInterval, none when off', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    const logger = pino({ level: 'info' }, sink);
    const mem = fakeMemory();
    const on = createMemoryMonitor({ autoStart: false, sampler: mem.sampler, rssLimit: null, logger, logging: true, logInterval: 60_000 });
    for (let i = 0; i < 5; i++) on.sampleNow();
    await on.close();
    const off = createMemoryMonitor({ autoStart: false, sampler: mem.sampler, rssLimit: null, logger, logging: false });
    for (let i = 0; i < 5; i++) off.sampleNow();
    await off.close();
    const samples = lines.filter((l) => l.includes('"memory sample"'));
    assert.equal(samples.length, 1, lines.join(''));
    assert.equal(JSON.parse(samples[0]!).status, 'healthy');
  });
});
