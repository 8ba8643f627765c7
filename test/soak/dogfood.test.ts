// The dogfood gate (`npm run soak:gateway`, run by .ci/run) catches a leak in the gateway: with a
// few hundred bytes kept per request (test/fixtures/soak/plant-leak.mjs, preloaded into the
// gateway only by --plant-leak), the soak says "leak", exits 1 (failing CI), and its report names
// the retained constructor first with a retainer path to it. A shorter budget than CI's 90 s.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { SoakReport } from '../../src/soak/index.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

test(
  'dogfood soak with a leak planted in the gateway: verdict leak, exit 1, the report names PlantedLeak',
  { timeout: 150_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'headroom-dogfood-test-'));
    try {
      const json = join(dir, 'report.json');
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', 'scripts/dogfood-soak.ts', '--duration', '40s', '--plant-leak', '--json', json],
        {
          cwd: root,
          stdio: ['ignore', 'pipe', 'pipe'],
          timeout: 140_000, // below the test's own timeout: a stuck soak is stopped, not left running
        },
      );
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (out = (out + c.toString()).slice(-20_000)));
      const t0 = performance.now();
      const [code] = (await once(child, 'exit')) as [number | null];
      console.log(`dogfood soak with a planted leak: exit ${code} after ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      assert.equal(code, 1, `exit ${code}; output:\n${out.slice(-4000)}`);
      const report = JSON.parse(readFileSync(json, 'utf8')) as SoakReport;
      assert.equal(report.verdict, 'leak', report.reason);
      // The planted leak keeps ~300–600 B per request (its object and the request line it holds).
      assert.ok(report.judgement.perRequest!.lo > 100, JSON.stringify(report.judgement.perRequest));
      const grown = report.snapshots?.analysis?.grown ?? [];
      assert.equal(
        grown[0]?.name,
        'PlantedLeak',
        `top entries: ${grown.map((c) => c.name).join(', ')} ${JSON.stringify(report.snapshots)}`,
      );
      assert.match(grown[0]!.retainerPath!, /__headroomPlantedLeak \(Array\) → .*\(PlantedLeak\)$/);
      assert.match(out, /LEAK/);
      assert.match(out, /^ {4}PlantedLeak: \d+ → \d+ → \d+ objects/m);
      assert.match(out, /cost: \d+ forced GCs \(\d+\/min, mean [\d.]+ ms, max [\d.]+ ms; load paused [\d.]+ s in all\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
