// The monitor's GC watching must not grow native memory with the GCs it watches. (A GC watcher
// built on v8.GCProfiler, one profiler per sample, did: on Node 20 a stopped profiler keeps
// recording every GC until a major GC collects it — hundreds of MB in a minute under load.)
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { test } from 'node:test';

const fixture = fileURLToPath(new URL('./fixtures/gc-churn.ts', import.meta.url));

test('hundreds of GCs under a monitor sampling at its shortest interval leave RSS flat', { timeout: 60_000 }, async () => {
  // A 1 MiB semi-space: frequent scavenges, and a young generation that cannot grow during the run.
  // No allocation-site pretenuring: now and then (1 run in ~20 here, and once in CI) V8 decided early
  // to allocate the churned objects in old space, and the run saw ~100 major GCs and ~10 scavenges.
  const flags = ['--import', 'tsx', '--max-semi-space-size=1', '--no-allocation-site-pretenuring'];
  const { stdout } = await promisify(execFile)(process.execPath, [...flags, fixture, '3000']);
  const r = JSON.parse(stdout) as { rssBefore: number; rssAfter: number; minor: number; major: number; samples: number };
  assert.ok(r.minor >= 200, `only ${r.minor} scavenges counted: the run does not exercise GC watching (${stdout})`);
  assert.ok(r.samples >= 30, `only ${r.samples} samples (${stdout})`);
  const grewMiB = (r.rssAfter - r.rssBefore) / 2 ** 20;
  assert.ok(grewMiB < 32, `RSS grew ${grewMiB.toFixed(1)} MiB over ${r.minor} GCs and ${r.samples} samples (${stdout})`);
});
