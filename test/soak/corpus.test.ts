// The leak gate against real services (test/fixtures/soak): three that leak, three that do not,
// each soaked through runSoak with a short budget, three at a time. Prints the verdict times.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runSoak, type SoakReport } from '../../src/soak/index.js';

const fixture = (name: string): string => fileURLToPath(new URL(`../fixtures/soak/${name}.mjs`, import.meta.url));

// Short budget: 25 s with 5 s of warm-up, a sample every 500 ms, 300 req/s over 4 connections (a
// bounded load: several of these run at once on a 2-core machine).
async function soak(name: string, connections = 4): Promise<SoakReport> {
  const t0 = performance.now();
  const report = await runSoak({
    command: [process.execPath, fixture(name)],
    durationMs: 25_000,
    warmupMs: 5_000,
    sampleIntervalMs: 500,
    connections,
    rate: 300,
    snapshots: 0, // the diff is tested in snapshot.test.ts and cli.test.ts; here only the verdict
  });
  const j = report.judgement;
  console.log(
    `soak ${name}: ${report.verdict} after ${((performance.now() - t0) / 1000).toFixed(1)} s ` +
      `(${report.load.requests} requests, ${report.load.rps.toFixed(0)} req/s, ${j.perRequest?.slope.toFixed(1)} B/request ` +
      `[${j.perRequest?.lo.toFixed(1)}, ${j.perRequest?.hi.toFixed(1)}]) — ${report.reason}`,
  );
  return report;
}

function assertSane(r: SoakReport): void {
  assert.equal(r.load.errors, 0, `transport errors: ${r.load.lastError}`);
  assert.ok(r.load.requests > 500, `only ${r.load.requests} requests`);
  assert.ok((r.load.statuses['2xx'] ?? 0) > 0);
  const s = r.samples[r.samples.length - 1]!;
  assert.ok(s.heapUsed > 1e6 && s.rss! > s.heapUsed && s.fds! > 3 && s.handles >= 1, JSON.stringify(s));
  assert.ok(r.samples.some((x) => x.warmup) && r.samples.some((x) => !x.warmup));
  assert.ok(r.cost.forcedGcs === r.samples.length && r.cost.gcPauseMs.max > 0);
  assert.ok(r.rounds.length >= 1 && r.elapsedMs <= r.budgetMs + 5_000);
  assert.ok(r.target.pid > 0);
}

describe('soak corpus', { concurrency: 3, timeout: 120_000 }, () => {
  for (const name of ['leak-closures', 'leak-map', 'leak-listeners']) {
    test(`${name} leaks`, { timeout: 60_000 }, async () => {
      const r = await soak(name);
      assert.equal(r.verdict, 'leak', r.reason);
      assert.ok(r.judgement.perRequest!.lo > 16);
      assertSane(r);
    });
  }
  for (const name of ['ok-lru', 'ok-alloc', 'ok-slow']) {
    test(`${name} does not leak`, { timeout: 60_000 }, async () => {
      // 100 ms a request: 12 connections put ~600 requests in the window, 4 only ~290 (the no-leak bound needs 256).
      const r = await soak(name, name === 'ok-slow' ? 12 : 4);
      assert.equal(r.verdict, 'no-leak', r.reason);
      if (name !== 'ok-slow') assertSane(r);
      else assert.ok(r.load.requests > 100 && r.load.latencyMs.p50 >= 100, JSON.stringify(r.load));
    });
  }
});
