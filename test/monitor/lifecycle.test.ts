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
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const majorGcsFixture = fileURLToPath(new URL('./fixtures/major-gcs.ts', import.meta.url));
/** From Node 26, V8 clears weak references in minor GCs: the monitor then sees major GCs through its observer. */
const NODE_MAJOR = Number(process.versions.node.split('.')[0]);

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
    'sees each major GC once, with the heap right after it, and no pauses by default; stops after close',
    { skip: !gc && 'needs --expose-gc' },
    async () => {
      const monitor = createMemoryMonitor({ sampleInterval: 50, trendWarmup: 0 });
      await waitFor(() => monitor.history().length >= 1, 'the first sample');
      assert.equal(monitor.gc().byKind, null, 'no pause counts without gcPauses');
      // Decided by a probe at the first start (50 ms later; 150 ms where it falls back): on Node 20–24 the canary.
      await waitFor(() => monitor.gc().majorsBy !== null, 'how major GCs are seen decided');
      assert.equal(monitor.gc().majorsBy, NODE_MAJOR >= 26 ? 'observer' : 'canary');
      const before = monitor.gc().majorGcs;
      let usedAfterGc = 0;
      // Each is seen by the registry's cleanup, a task after the GC (which plants the next canary).
      for (let i = 1; i <= 4; i++) {
        gc!();
        usedAfterGc = v8.getHeapStatistics().used_heap_size;
        await waitFor(() => monitor.gc().majorGcs - before >= i, `major GC ${i} seen`);
      }
      // Later samples must not count them again.
      const samples = monitor.history().length;
      await waitFor(() => monitor.history().length >= samples + 2, 'two more samples');
      const stats = monitor.gc();
      assert.equal(stats.majorGcs - before, 4);
      assert.ok(
        stats.lastHeapAfterGc !== null && Math.abs(stats.lastHeapAfterGc - usedAfterGc) < 1024 * 1024,
        `${stats.lastHeapAfterGc} vs ${usedAfterGc}`,
      );
      assert.ok(monitor.trend().points >= 1);
      await monitor.close();
      const after = monitor.gc().majorGcs;
      gc!();
      await new Promise((resolve) => setTimeout(resolve, 20)); // the registry's cleanup, had it a canary, would have run
      assert.equal(monitor.gc().majorGcs, after, 'major GCs still seen after close()');
    },
  );

  test('the major GCs it sees are the ones V8 reports, without forcing any', { timeout: 60_000 }, async () => {
    // A child with a small old space: allocation alone brings major GCs (no --expose-gc).
    const flags = ['--import', 'tsx', '--max-old-space-size=64'];
    const { stdout } = await promisify(execFile)(process.execPath, [...flags, majorGcsFixture]);
    const r = JSON.parse(stdout) as { reported: number; seen: number; majorsBy: string };
    assert.ok(r.reported >= 5, `only ${r.reported} major GCs happened (${stdout})`);
    // Node 20–24: the canary. A major GC that comes before the previous one's cleanup has run has
    // no canary to collect; one just before the reference observer started may be seen, not reported.
    assert.equal(r.majorsBy, NODE_MAJOR >= 26 ? 'observer' : 'canary');
    assert.ok(r.seen <= r.reported + 1 && r.seen >= r.reported * 0.9, `saw ${r.seen} of ${r.reported} major GCs`);
  });

  test(
    'with gcPauses, counts GC pauses by kind, exactly once each; stops counting after close',
    { skip: !gc && 'needs --expose-gc' },
    async () => {
      const monitor = createMemoryMonitor({ sampleInterval: 50, trendWarmup: 0, gcPauses: true });
      await waitFor(() => monitor.history().length >= 1, 'the first sample');
      const major = (): number => monitor.gc().byKind!.major!.count;
      const before = major();
      for (let i = 0; i < 4; i++) gc!();
      // GC entries are delivered asynchronously (an immediate after each GC).
      await waitFor(() => major() - before >= 4, 'four major GCs delivered');
      // Later samples must not count them again.
      const samples = monitor.history().length;
      await waitFor(() => monitor.history().length >= samples + 2, 'two more samples');
      const stats = monitor.gc().byKind!;
      assert.equal(stats.major!.count - before, 4);
      assert.ok(stats.major!.totalMs > 0);
      assert.ok(stats.major!.maxMs > 0 && stats.major!.maxMs <= stats.major!.totalMs);
      await monitor.close();
      const after = major();
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
      assert.equal(major(), after, 'GCs still counted after close()');
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
    assert.equal(r.gc.byKind, null, 'pauses are counted only with gcPauses');
    assert.equal(typeof r.gc.majorGcs, 'number');
    const withPauses = createMemoryMonitor({ gcPauses: true });
    assert.deepEqual(Object.keys(withPauses.report().gc.byKind!).sort(), ['incremental', 'major', 'minor', 'weakcb']);
    await withPauses.close();
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
