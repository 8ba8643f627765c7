import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { createMemoryMonitor } from '../../src/monitor/index.js';
import { registerMonitorMetrics } from '../../src/metrics/monitor.js';
import { fakeMemory } from './helpers.js';

const value = (text: string, name: string): number => {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  assert.ok(m, `${name} missing in:\n${text}`);
  return Number(m[1]);
};

test('monitor metrics are read at scrape time', async () => {
  const mem = fakeMemory(1000 * 1024 * 1024);
  const monitor = createMemoryMonitor({ autoStart: false, sampler: mem.sampler, rssLimit: null });
  const registry = new Registry();
  registerMonitorMetrics(registry, monitor);

  mem.setHeapRatio(0.5);
  monitor.sampleNow();
  let text = await registry.metrics();
  assert.equal(value(text, 'headroom_heap_size_limit_bytes'), 1000 * 1024 * 1024);
  assert.equal(value(text, 'headroom_heap_used_ratio'), 0.5);
  assert.equal(value(text, 'headroom_memory_status'), 0);
  assert.equal(value(text, 'headroom_detached_contexts'), 0);
  assert.ok(Number.isNaN(value(text, 'headroom_rss_used_ratio')));
  assert.ok(Number.isNaN(value(text, 'headroom_rss_limit_bytes')));
  assert.ok(Number.isNaN(value(text, 'headroom_heap_growth_bytes_per_second')));
  value(text, 'headroom_heap_after_gc_bytes');
  assert.equal(value(text, 'headroom_gc_major_runs_total'), 0);
  assert.match(text, /# TYPE headroom_gc_major_runs_total counter/);
  // Pauses only with gcPauses: no family of zeros that would read as a process that never paused.
  assert.doesNotMatch(text, /headroom_gc_pause_seconds_total|headroom_gc_runs_total/);
  // Not started: no tick yet, an empty histogram with every bucket.
  assert.match(text, /# TYPE headroom_event_loop_delay_seconds histogram/);
  assert.match(text, /^headroom_event_loop_delay_seconds_bucket\{le="0\.001"\} 0$/m);
  assert.match(text, /^headroom_event_loop_delay_seconds_bucket\{le="\+Inf"\} 0$/m);
  assert.equal(value(text, 'headroom_event_loop_delay_seconds_count'), 0);

  mem.setHeapRatio(0.8);
  monitor.sampleNow();
  text = await registry.metrics();
  assert.equal(value(text, 'headroom_memory_status'), 1);
  mem.setHeapRatio(0.9);
  monitor.sampleNow();
  assert.equal(value(await registry.metrics(), 'headroom_memory_status'), 2);
  await monitor.close();
});

test('with gcPauses, GC pauses and runs by kind are exported', async () => {
  const monitor = createMemoryMonitor({ autoStart: false, rssLimit: null, gcPauses: true });
  const registry = new Registry();
  registerMonitorMetrics(registry, monitor);
  monitor.sampleNow();
  const text = await registry.metrics();
  assert.match(text, /^headroom_gc_runs_total\{kind="major"\} \d+$/m);
  assert.match(text, /^headroom_gc_pause_seconds_total\{kind="minor"\} [\d.e-]+$/m);
  assert.match(text, /# TYPE headroom_gc_runs_total counter/);
  await monitor.close();
});

test('with an RSS limit, the limit and the ratio are exported', async () => {
  const mem = fakeMemory(1000 * 1024 * 1024);
  const monitor = createMemoryMonitor({ autoStart: false, sampler: mem.sampler, rssLimit: 512 * 1024 * 1024 });
  const registry = new Registry();
  registerMonitorMetrics(registry, monitor);
  monitor.sampleNow();
  const text = await registry.metrics();
  assert.equal(value(text, 'headroom_rss_limit_bytes'), 512 * 1024 * 1024);
  assert.equal(value(text, 'headroom_rss_used_ratio'), monitor.current().process.rss / (512 * 1024 * 1024));
  await monitor.close();
});
