// One rule for shares of memory: …Percent / …_PERCENT is 0–100, …_ratio is 0–1, and the
// thresholds named without a unit take a fraction (0.75) or a percent (75, 75%).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../src/config/index.js';
import { createMemoryMonitor } from '../../src/monitor/index.js';
import { ADMIN_TOKEN, startGateway } from '../helpers/gateway.js';
import { request } from '../helpers/http.js';

const problems = (env: Record<string, string>): string[] => {
  try {
    loadConfig({ env });
    return [];
  } catch (err) {
    return (err as { problems?: string[] }).problems ?? [String(err)];
  }
};

test('MEMORY_*_THRESHOLD and MEMORY_HYSTERESIS take a fraction or a percent; the config holds the fraction', () => {
  const cases: [Record<string, string>, { warningThreshold: number; criticalThreshold: number; hysteresis: number }][] = [
    [{}, { warningThreshold: 0.75, criticalThreshold: 0.85, hysteresis: 0.05 }],
    [
      { MEMORY_WARNING_THRESHOLD: '70', MEMORY_CRITICAL_THRESHOLD: '0.9', MEMORY_HYSTERESIS: '3%' },
      { warningThreshold: 0.7, criticalThreshold: 0.9, hysteresis: 0.03 },
    ],
    [
      { MEMORY_WARNING_THRESHOLD: '60%', MEMORY_CRITICAL_THRESHOLD: '1', MEMORY_HYSTERESIS: '0.5%' },
      { warningThreshold: 0.6, criticalThreshold: 1, hysteresis: 0.005 },
    ],
  ];
  for (const [env, expected] of cases) {
    const { warningThreshold, criticalThreshold, hysteresis } = loadConfig({ env }).config.monitor;
    assert.deepEqual({ warningThreshold, criticalThreshold, hysteresis }, expected, JSON.stringify(env));
  }
  assert.match(
    problems({ MEMORY_WARNING_THRESHOLD: '170' }).join('\n'),
    /MEMORY_WARNING_THRESHOLD=170: must be a fraction from 0 to 1 or a percent up to 100/,
  );
  assert.match(problems({ MEMORY_WARNING_THRESHOLD: '-5%' }).join('\n'), /MEMORY_WARNING_THRESHOLD=-5%: must be/);
  // 1 is a fraction (100 %), so a hysteresis of "1" is too much, and the message says how to write 1 %.
  assert.match(problems({ MEMORY_HYSTERESIS: '1' }).join('\n'), /MEMORY_HYSTERESIS=1: .*write 1% for one percent/);
  assert.deepEqual(problems({ MEMORY_WARNING_THRESHOLD: '90', MEMORY_CRITICAL_THRESHOLD: '0.8' }), [
    'MEMORY_CRITICAL_THRESHOLD=0.8: must be above MEMORY_WARNING_THRESHOLD (90%)',
  ]);
});

test('MEMORY_THRESHOLD_PERCENT is a percent: 75 or 75%; a fraction is refused with what to write', () => {
  assert.equal(loadConfig({ env: { MEMORY_THRESHOLD_PERCENT: '75%' } }).config.proxy.memoryThresholdPercent, 75);
  assert.equal(loadConfig({ env: { MEMORY_THRESHOLD_PERCENT: '75' } }).config.proxy.memoryThresholdPercent, 75);
  assert.deepEqual(problems({ MEMORY_THRESHOLD_PERCENT: '0.8' }), [
    'MEMORY_THRESHOLD_PERCENT=0.8: must be a percent from 1 to 100: 0.8 would mean 0.8 %; for 80 % write 80',
  ]);
});

test('the library monitor takes the same forms and reports thresholds as percents', async () => {
  const monitor = createMemoryMonitor({ autoStart: false, rssLimit: null, warningThreshold: 70, criticalThreshold: 0.9, hysteresis: 3 });
  assert.deepEqual(monitor.thresholds(), { warningPercent: 70, criticalPercent: 90, hysteresisPercent: 3, rssLimit: null });
  await monitor.close();
});

test('/health, /admin/memory-stats, /admin/proxy-stats and /metrics agree: …Percent is 0–100, _ratio 0–1', async () => {
  const t = await startGateway({
    HEADROOM_ADMIN_TOKEN: ADMIN_TOKEN,
    MEMORY_WARNING_THRESHOLD: '70%',
    MEMORY_CRITICAL_THRESHOLD: '0.9',
    MEMORY_HYSTERESIS: '3',
    MEMORY_THRESHOLD_PERCENT: '88%',
  });
  const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
  try {
    t.gw.monitor.sampleNow();
    const health = (await request(`${t.url}/health`)).json();
    assert.deepEqual(health.thresholds, {
      warningPercent: 70,
      criticalPercent: 90,
      hysteresisPercent: 3,
      rssLimit: health.thresholds.rssLimit,
    });
    assert.deepEqual([health.formatted.warningThreshold, health.formatted.criticalThreshold], ['70.0%', '90.0%']);
    const { usedHeapSize, heapSizeLimit, heapUsedPercent } = health.v8;
    const percent = (usedHeapSize / heapSizeLimit) * 100;
    assert.ok(Math.abs(heapUsedPercent - percent) <= 0.005, `heapUsedPercent ${heapUsedPercent} vs ${percent}`);
    const { utilizationPercent } = health.eventLoop;
    assert.ok(utilizationPercent >= 0 && utilizationPercent <= 100, String(utilizationPercent));

    const mem = (await request(`${t.url}/admin/memory-stats`, { headers: auth })).json().memory;
    assert.ok(Math.abs(mem.heapPercent - (mem.heapUsed / mem.heapLimit) * 100) < 1e-9, JSON.stringify(mem));
    assert.equal(mem.formatted.heapPercent, `${mem.heapPercent.toFixed(2)}%`);

    const admission = (await request(`${t.url}/admin/proxy-stats`, { headers: auth })).json().admission;
    assert.equal(admission.thresholdPercent, 88);
    assert.ok(admission.heapUsedPercent > 0 && admission.heapUsedPercent < 100, JSON.stringify(admission));

    const metrics = (await request(`${t.url}/metrics`)).text;
    const ratio = Number(/^headroom_heap_used_ratio (\S+)$/m.exec(metrics)?.[1]);
    assert.ok(
      ratio > 0 && ratio < 1 && Math.abs(ratio * 100 - heapUsedPercent) < 1,
      `headroom_heap_used_ratio ${ratio}, heapUsedPercent ${heapUsedPercent}`,
    );
    const elu = Number(/^headroom_event_loop_utilization_ratio (\S+)$/m.exec(metrics)?.[1]);
    assert.ok(elu >= 0 && elu <= 1, String(elu));
  } finally {
    await t.close();
  }
});
