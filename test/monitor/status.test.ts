import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createMemoryMonitor } from '../../src/monitor/index.js';
import { nextStatus } from '../../src/monitor/status.js';
import type { MemoryStatus } from '../../src/monitor/types.js';
import { fakeMemory } from './helpers.js';

const T = { warning: 0.75, critical: 0.85, hysteresis: 0.05 };

describe('nextStatus', () => {
  test('goes up at the thresholds immediately', () => {
    assert.equal(nextStatus('healthy', 0.7499, T), 'healthy');
    assert.equal(nextStatus('healthy', 0.75, T), 'warning');
    assert.equal(nextStatus('healthy', 0.85, T), 'critical');
    assert.equal(nextStatus('warning', 0.9, T), 'critical');
  });

  test('leaves a level only after falling the hysteresis margin below its threshold', () => {
    assert.equal(nextStatus('critical', 0.84, T), 'critical');
    assert.equal(nextStatus('critical', 0.8001, T), 'critical');
    assert.equal(nextStatus('critical', 0.79, T), 'warning');
    assert.equal(nextStatus('critical', 0.5, T), 'healthy');
    assert.equal(nextStatus('warning', 0.72, T), 'warning');
    assert.equal(nextStatus('warning', 0.69, T), 'healthy');
  });

  test('zero hysteresis drops at the threshold', () => {
    assert.equal(nextStatus('warning', 0.7499, { ...T, hysteresis: 0 }), 'healthy');
  });
});

describe('monitor status with an injected sampler', () => {
  test('transitions and hysteresis, reported to onStatus and onPressure', async () => {
    const mem = fakeMemory();
    const monitor = createMemoryMonitor({ sampler: mem.sampler, autoStart: false, rssLimit: null });
    const seen: [MemoryStatus, MemoryStatus][] = [];
    const pressure: MemoryStatus[] = [];
    monitor.onStatus((s, prev) => seen.push([prev, s]));
    monitor.onPressure((l) => pressure.push(l));
    const walk = [0.5, 0.76, 0.8, 0.86, 0.82, 0.81, 0.79, 0.72, 0.71, 0.69, 0.9, 0.1];
    const statuses = walk.map((r) => {
      mem.setHeapRatio(r);
      return monitor.sampleNow().status;
    });
    assert.deepEqual(statuses, [
      'healthy',
      'warning',
      'warning',
      'critical',
      'critical',
      'critical',
      'warning',
      'warning',
      'warning',
      'healthy',
      'critical',
      'healthy',
    ]);
    assert.deepEqual(seen, [
      ['healthy', 'warning'],
      ['warning', 'critical'],
      ['critical', 'warning'],
      ['warning', 'healthy'],
      ['healthy', 'critical'],
      ['critical', 'healthy'],
    ]);
    assert.deepEqual(pressure, ['warning', 'critical', 'warning', 'healthy', 'critical', 'healthy']);
    assert.equal(monitor.status(), 'healthy');
    await monitor.close();
  });

  test('thresholds are fractions of the heap LIMIT, not of heapTotal', async () => {
    const mem = fakeMemory(2048 * 1024 * 1024);
    mem.heapUsed = 95 * 1024 * 1024; // 95 % of heapTotal, under 5 % of the limit
    mem.heapTotal = 100 * 1024 * 1024;
    const monitor = createMemoryMonitor({ sampler: mem.sampler, autoStart: false, rssLimit: null });
    const s = monitor.sampleNow();
    assert.equal(s.status, 'healthy');
    assert.ok(Math.abs(s.v8.heapUsedPercent - (95 / 2048) * 100) < 1e-9, `heapUsedPercent ${s.v8.heapUsedPercent}`);
    assert.equal(monitor.report().v8.heapUsedPercent, Math.round((95 / 2048) * 10000) / 100);
    await monitor.close();
  });

  test('RSS against rssLimit raises the status too', async () => {
    const mem = fakeMemory();
    const monitor = createMemoryMonitor({ sampler: mem.sampler, autoStart: false, rssLimit: 100 * 1024 * 1024 });
    mem.rss = 80 * 1024 * 1024;
    const s = monitor.sampleNow();
    assert.equal(s.status, 'warning');
    assert.equal(s.rssPercent, 80);
    mem.rss = 90 * 1024 * 1024;
    assert.equal(monitor.sampleNow().status, 'critical');
    assert.equal(monitor.thresholds().rssLimit, 100 * 1024 * 1024);
    await monitor.close();
  });

  test('a throwing listener neither stops other listeners nor sampling', async () => {
    const mem = fakeMemory();
    const errors: unknown[] = [];
    const logger = { error: (o: { err: unknown }) => errors.push(o.err), warn() {}, info() {} };
    const monitor = createMemoryMonitor({
      sampler: mem.sampler,
      autoStart: false,
      rssLimit: null,
      logger: logger as never,
    });
    const got: string[] = [];
    monitor.onStatus(() => {
      throw new Error('listener 1 broke');
    });
    monitor.onPressure(() => {
      throw new Error('listener 2 broke');
    });
    monitor.onPressure((l) => got.push(l));
    mem.setHeapRatio(0.9);
    assert.equal(monitor.sampleNow().status, 'critical');
    mem.setHeapRatio(0.1);
    assert.equal(monitor.sampleNow().status, 'healthy');
    assert.deepEqual(got, ['critical', 'healthy']);
    assert.equal(errors.length, 4);
    await monitor.close();
  });

  test('unsubscribe stops notifications', async () => {
    const mem = fakeMemory();
    const monitor = createMemoryMonitor({ sampler: mem.sampler, autoStart: false, rssLimit: null });
    const got: string[] = [];
    const off = monitor.onPressure((l) => got.push(l));
    mem.setHeapRatio(0.8);
    monitor.sampleNow();
    off();
    mem.setHeapRatio(0.1);
    monitor.sampleNow();
    assert.deepEqual(got, ['warning']);
    await monitor.close();
  });

  test('a listener that is not a function is refused where it is given (it would fail at every status change)', async () => {
    const monitor = createMemoryMonitor({ sampler: fakeMemory().sampler, autoStart: false, rssLimit: null });
    assert.throws(() => monitor.onPressure(5 as never), {
      name: 'TypeError',
      message: 'monitor.onPressure(listener): listener must be a function; got number',
    });
    assert.throws(() => monitor.onStatus(undefined as never), {
      name: 'TypeError',
      message: /^monitor\.onStatus\(listener\)/,
    });
    await monitor.close();
  });

  test('the timer picks up a change within one sample interval (mock timers)', async (t) => {
    t.mock.timers.enable({ apis: ['setInterval'] });
    const mem = fakeMemory();
    const monitor = createMemoryMonitor({ sampler: mem.sampler, rssLimit: null }); // default 250 ms
    assert.equal(monitor.status(), 'healthy');
    const seen: string[] = [];
    monitor.onPressure((l) => seen.push(l));
    mem.setHeapRatio(0.9);
    t.mock.timers.tick(249);
    assert.deepEqual(seen, [], 'no sample before the interval');
    t.mock.timers.tick(1);
    assert.deepEqual(seen, ['critical']);
    assert.equal(monitor.status(), 'critical');
    await monitor.close();
  });

  test('bad options are refused with a clear message', () => {
    assert.throws(
      () => createMemoryMonitor({ warningThreshold: 0.9, criticalThreshold: 0.8, autoStart: false }),
      /criticalThreshold=0.8 \(read as 80%\): must be above warningThreshold/,
    );
    assert.throws(
      () => createMemoryMonitor({ warningThreshold: 170, autoStart: false }),
      /warningThreshold=170: must be a fraction from 0 to 1 or a percent up to 100/,
    );
    assert.throws(() => createMemoryMonitor({ hysteresis: 0.6, autoStart: false }), /hysteresis=0.6/);
    assert.throws(() => createMemoryMonitor({ historySize: 0, autoStart: false }), /historySize=0/);
  });
});
