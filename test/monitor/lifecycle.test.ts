import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { createMemoryMonitor } from '../../src/monitor/index.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';
import { fakeMemory } from './helpers.js';

const gc = (globalThis as { gc?: () => void }).gc;

describe('monitor lifecycle', () => {
  test('start/stop/close are idempotent and close() leaves no active resources', async () => {
    await assertNoLeakedHandles(async () => {
      const monitor = createMemoryMonitor({ sampleInterval: 50 });
      monitor.start();
      monitor.start();
      await sleep(120);
      monitor.stop();
      monitor.stop();
      monitor.start();
      await monitor.close();
      await monitor.close();
      monitor.start(); // no-op after close
      const n = monitor.history().length;
      await sleep(150);
      assert.equal(monitor.history().length, n, 'sampling continued after close()');
    });
  });

  test('asyncDispose closes it', async () => {
    await assertNoLeakedHandles(async () => {
      await using monitor = createMemoryMonitor({ sampleInterval: 50 });
      assert.ok(monitor.current());
    });
  });

  test('observes real GCs by kind and the post-GC heap; stops observing after close', { skip: !gc && 'needs --expose-gc' }, async () => {
    const monitor = createMemoryMonitor({ sampleInterval: 50, trendWarmup: 0 });
    gc!();
    await sleep(20);
    gc!();
    await sleep(20); // gc entries are delivered asynchronously
    const stats = monitor.gc();
    assert.ok(stats.byKind.major!.count >= 2, JSON.stringify(stats.byKind));
    assert.ok(stats.byKind.major!.totalMs > 0);
    assert.ok(stats.lastHeapAfterGc !== null && stats.lastHeapAfterGc > 1024 * 1024);
    assert.ok(monitor.trend().points >= 1);
    await monitor.close();
    const after = monitor.gc().byKind.major!.count;
    gc!();
    await sleep(20);
    assert.equal(monitor.gc().byKind.major!.count, after, 'GC observer still connected after close()');
  });

  test('report() has the /health shape with bytes and formatted strings', async () => {
    const monitor = createMemoryMonitor({ autoStart: true, rssLimit: 64 * 1024 ** 3 });
    await sleep(30);
    const r = monitor.report();
    assert.equal(r.status, 'healthy');
    assert.deepEqual(Object.keys(r).sort(), ['eventLoop', 'formatted', 'gc', 'process', 'status', 'thresholds', 'timestamp', 'uptime', 'v8']);
    assert.deepEqual(Object.keys(r.v8).sort(), ['heapSizeLimit', 'heapUsedPercent', 'numberOfDetachedContexts', 'numberOfNativeContexts', 'usedHeapSize']);
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
