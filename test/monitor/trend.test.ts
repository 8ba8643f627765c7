import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PostGcTrend, leastSquaresSlope } from '../../src/monitor/trend.js';

const HOUR = 3_600_000;
const MiB = 1024 * 1024;

describe('leastSquaresSlope', () => {
  test('exact on a straight line (bytes/hour)', () => {
    // 10 MiB per hour, sampled each minute, with a large time origin
    const pts = Array.from({ length: 60 }, (_, i) => ({ t: 1e12 + i * 60_000, bytes: 100 * MiB + (i * 10 * MiB) / 60 }));
    assert.ok(Math.abs(leastSquaresSlope(pts)! - 10 * MiB) < 1);
  });

  test('fits through noise and sees a flat series as flat', () => {
    // deterministic zig-zag noise of ±5 MiB around a 2 MiB/h line
    const pts = Array.from({ length: 121 }, (_, i) => ({ t: i * 30_000, bytes: 200 * MiB + (i * 2 * MiB) / 120 + (i % 2 ? 5 : -5) * MiB }));
    const slope = leastSquaresSlope(pts)!;
    assert.ok(Math.abs(slope - 2 * MiB) < 0.1 * MiB, `slope ${slope}`);
    const flat = Array.from({ length: 50 }, (_, i) => ({ t: i * 1000, bytes: 42 * MiB }));
    assert.equal(leastSquaresSlope(flat), 0);
  });

  test('negative slope for a shrinking heap; null when it cannot be fitted', () => {
    assert.ok(
      leastSquaresSlope([
        { t: 0, bytes: 2 * MiB },
        { t: HOUR, bytes: MiB },
      ])! < 0,
    );
    assert.equal(leastSquaresSlope([{ t: 5, bytes: 1 }]), null);
    assert.equal(
      leastSquaresSlope([
        { t: 5, bytes: 1 },
        { t: 5, bytes: 2 },
      ]),
      null,
    );
  });
});

describe('PostGcTrend', () => {
  test('drops the warm-up and reports the slope over the window', () => {
    const trend = new PostGcTrend({ windowMs: HOUR, warmupUntil: 60_000 });
    // warm-up: a steep start-up ramp that must not count
    for (let t = 0; t < 60_000; t += 1000) trend.add(t, t * 1000);
    assert.equal(trend.size, 0);
    for (let t = 60_000; t <= 30 * 60_000; t += 10_000) trend.add(t, 100 * MiB + ((t - 60_000) / HOUR) * 4 * MiB);
    const r = trend.trend(30 * 60_000);
    assert.ok(r.bytesPerHour !== null && Math.abs(r.bytesPerHour - 4 * MiB) < 1024, `slope ${r.bytesPerHour}`);
    assert.equal(r.windowMs, HOUR);
  });

  test('no slope until enough points over enough time', () => {
    const trend = new PostGcTrend({ windowMs: HOUR, warmupUntil: 0 });
    trend.add(0, MiB);
    trend.add(1000, 2 * MiB);
    trend.add(2000, 3 * MiB);
    assert.equal(trend.trend(2000).bytesPerHour, null); // 3 points but only 2 s apart
  });

  test('slides: points older than the window fall out', () => {
    const trend = new PostGcTrend({ windowMs: 60_000, warmupUntil: 0 });
    for (let t = 0; t < 60_000; t += 1000) trend.add(t, MiB + t); // growing
    for (let t = 60_000; t <= 180_000; t += 1000) trend.add(t, 5 * MiB); // then flat
    const r = trend.trend(180_000);
    assert.equal(r.bytesPerHour, 0);
    assert.ok(r.points <= 62, `points ${r.points}`);
  });

  test('bounded: a GC storm keeps at most one point per bucket, the smallest', () => {
    const trend = new PostGcTrend({ windowMs: HOUR, warmupUntil: 0 });
    for (let i = 0; i < 200_000; i++) trend.add(i * 10, 10 * MiB + (i % 7) * 1000); // a GC every 10 ms for ~33 min
    assert.ok(trend.size <= 513, `size ${trend.size}`);
    const r = trend.trend(2_000_000);
    assert.equal(r.bytesPerHour, 0); // minima per bucket are all 10 MiB
  });
});
