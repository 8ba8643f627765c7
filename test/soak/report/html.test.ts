// The HTML report's numbers: an interval too few samples leave unbounded is said as such, not
// printed as [−∞, ∞] (nor as [null, null] when the report was read back from its JSON).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderHtml } from '../../../src/soak/report/html.js';
import type { SoakReport } from '../../../src/soak/run.js';

function report(rounds: SoakReport['rounds']): SoakReport {
  const sample = { t: 1000, requests: 100, heapUsed: 5e6, external: 1e6, rss: 5e7, fds: 20, handles: 4, gcMs: 3, warmup: false };
  return {
    verdict: 'inconclusive',
    reason: 'stopped early',
    command: ['node', 'app.js'],
    url: 'http://127.0.0.1:3000/',
    startedAt: '2026-12-04T07:00:00.000Z',
    elapsedMs: 8000,
    budgetMs: 60_000,
    warmupMs: 2000,
    thresholds: { confidence: 0.95, bytesPerRequest: 64 } as SoakReport['thresholds'],
    judgement: {
      verdict: 'inconclusive',
      reason: 'stopped early',
      perRequest: { slope: 12.5, intercept: 0, lo: -Infinity, hi: Infinity, n: 3, pairs: 3 },
      perSecond: { slope: 100, intercept: 0, lo: -Infinity, hi: Infinity, n: 3, pairs: 3 },
      window: { fromMs: 2000, toMs: 8000, samples: 3, requests: 300 },
    },
    rounds,
    samples: [sample, { ...sample, t: 2000, requests: 200 }],
    slopes: [{ t: 2000, slope: 12.5, lo: -Infinity, hi: Infinity }],
    load: {
      requests: 300,
      errors: 0,
      statuses: { '2xx': 300 },
      bytesReceived: 6000,
      latencyMs: { mean: 1.2, p50: 1, p90: 2, p99: 3, max: 4 },
      connections: 2,
      rate: 100,
      rps: 37.5,
    },
    target: { pid: 42, attached: false },
    warnings: [],
    cost: { forcedGcs: 2, gcsPerMinute: 15, gcPauseMs: { mean: 3, max: 4 }, quietMs: 100 },
  } as SoakReport;
}

test('an unbounded interval is "no interval yet", in the growth row and in the rounds; a bounded one is [lo, hi]', () => {
  const page = renderHtml(
    report([
      { atMs: 4000, verdict: 'inconclusive', reason: 'too few samples', bytesPerRequest: 12.5, lo: -Infinity, hi: Infinity },
      // As JSON.parse gives the report back: the infinities were written as null.
      { atMs: 6000, verdict: 'inconclusive', reason: 'read back', bytesPerRequest: 12.5, lo: null as never, hi: null as never },
      { atMs: 8000, verdict: 'no-leak', reason: 'flat', bytesPerRequest: 1.5, lo: -2, hi: 3.25 },
    ]),
  );
  assert.ok(!/∞|null/.test(page), 'no infinity or null printed');
  assert.equal(page.match(/\(no interval yet: too few samples\)/g)?.length, 3, 'growth row and two rounds');
  assert.ok(page.includes('1.5 [-2.0, 3.3]'), 'a bounded interval is printed');
});
