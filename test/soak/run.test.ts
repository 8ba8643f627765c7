// runSoak's report: the load it states (requests, req/s) covers the same span as its elapsed time.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runSoak } from '../../src/soak/index.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';

test(
  'the load is reported up to the verdict, like elapsedMs: the heap snapshots after it (load running) add no requests',
  { timeout: 90_000 },
  async () => {
    await assertNoLeakedHandles(async () => {
      // ~2 KiB kept per request: a leak a short soak calls, so that the snapshot phase follows.
      const service = `const keep = []; require('node:http').createServer((q, s) => { keep.push('x'.repeat(2000) + Math.random()); s.end('ok'); }).listen(process.env.PORT, '127.0.0.1');`;
      const report = await runSoak({
        command: [process.execPath, '-e', service],
        durationMs: 14_000,
        warmupMs: 2_000,
        connections: 4,
        rate: 300,
        snapshots: 2,
        snapshotIntervalMs: 1_000,
        snapshotBudgetMs: 0,
      });
      assert.equal(report.verdict, 'leak', report.reason);
      assert.ok(report.snapshots && 'takeMs' in report.snapshots, 'the snapshots were taken, with the load running between them');
      const last = report.samples[report.samples.length - 1]!;
      // The last sample is the verdict's: the requests counted are those it saw, over elapsedMs.
      assert.equal(report.load.requests, last.requests, JSON.stringify({ load: report.load, last }));
      assert.ok(
        report.elapsedMs >= last.t && report.elapsedMs - last.t < 1_000,
        `elapsed ${report.elapsedMs} ms, last sample at ${last.t} ms`,
      );
      assert.equal(report.load.rps, (report.load.requests * 1000) / report.elapsedMs);
      const { requests, errors, statuses } = report.load;
      assert.equal(requests, errors + Object.values(statuses).reduce((a, b) => a + b, 0), 'the counts add up');
    });
  },
);

test(
  'without a warm-up, a first answer slower than a sample interval is a slow start, not a service that never answered',
  { timeout: 60_000 },
  async () => {
    // The first request is answered after 1.5 s (a cold start), the rest at once.
    const service = `let first = true; require('node:http').createServer((q, s) => { if (first) { first = false; setTimeout(() => s.end('ok'), 1500); } else s.end('ok'); }).listen(process.env.PORT, '127.0.0.1');`;
    const stop = new AbortController();
    let answeredAt: number | undefined;
    const report = await runSoak({
      command: [process.execPath, '-e', service],
      durationMs: 14_000,
      warmupMs: 0,
      connections: 1,
      onProgress: (p) => {
        // Samples go on after the first answer: then the soak is stopped.
        if (p.requests > 0) answeredAt ??= p.elapsedMs;
        if (answeredAt !== undefined && p.elapsedMs > answeredAt) stop.abort();
      },
      signal: stop.signal,
    });
    assert.equal(report.verdict, 'inconclusive');
    assert.match(report.reason, /^stopped before a verdict/);
    assert.ok(answeredAt !== undefined && answeredAt >= 1_000, `first answer seen at ${answeredAt} ms`);
  },
);

/**
 * Soaks a service whose first start cannot serve PORT (`firstStart`, given the file to note that
 * port in and the code that serves), and checks it was measured on another port after a restart.
 */
async function startsAgainOnAnotherPort(firstStart: (noted: string, serve: string) => string, startTimeoutMs?: number): Promise<void> {
  await assertNoLeakedHandles(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'headroom-soak-port-'));
    try {
      const first = join(dir, 'first-port');
      const noted = `require('node:fs').writeFileSync(${JSON.stringify(first)}, String(port))`;
      const service = `const http = require('node:http'), port = Number(process.env.PORT);
        const serve = () => http.createServer((q, s) => s.end('ok')).listen(port, '127.0.0.1');
        if (require('node:fs').existsSync(${JSON.stringify(first)})) serve();
        else { ${firstStart(noted, 'serve')} }`;
      const stop = new AbortController();
      const report = await runSoak({
        command: [process.execPath, '-e', service],
        durationMs: 14_000,
        warmupMs: 0,
        connections: 1,
        rate: 50,
        startTimeoutMs,
        onProgress: (p) => p.requests > 0 && stop.abort(),
        signal: stop.signal,
      });
      const taken = Number(readFileSync(first, 'utf8'));
      assert.notEqual(new URL(report.url).port, String(taken), 'measured on another port');
      assert.ok(report.load.requests > 0, 'the second start was measured');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test(
  'a service that fails to listen while the soak is attached to it (it then waits for the debugger) is let go and started again',
  { timeout: 60_000 },
  // First start: another process (its own child, in its group) takes PORT; the service tries PORT a
  // second later — when the soak's inspector is connected — and dies of EADDRINUSE. A Node process
  // that dies with a debugger attached waits for it to disconnect.
  () =>
    startsAgainOnAnotherPort(
      (noted, serve) => `${noted};
        const blocker = require('node:child_process').spawn(process.execPath, ['-e', \`require('node:http').createServer().listen(\${port}, '127.0.0.1', () => console.log('held'))\`]);
        blocker.stdout.once('data', () => setTimeout(${serve}, 1000));`,
      15_000,
    ),
);

// Its first start finds PORT taken, for real: it listens there twice (as when another process took
// the port after the soak chose it).
test('a service that cannot listen on the chosen port (EADDRINUSE) is started again on another one', { timeout: 60_000 }, () =>
  startsAgainOnAnotherPort((noted, serve) => `${noted}; ${serve}().once('listening', ${serve});`),
);

test(
  'a process of the group that exits while the soak is attached to it, before the service is found, does not end the soak',
  { timeout: 60_000 },
  async () => {
    await assertNoLeakedHandles(async () => {
      // A wrapper starts a short-lived Node process (a pre-script's, say), then the service, which
      // listens and then blocks for 5 s in a child process (its inspector cannot answer meanwhile):
      // the soak, attached to the first while it waits for the service's answer, sees it exit
      // ("Waiting for the debugger to disconnect..."). That was the short-lived process, not the
      // service: the measuring must go on.
      const dir = mkdtempSync(join(tmpdir(), 'headroom-soak-pre-'));
      try {
        writeFileSync(join(dir, 'pre.js'), 'setTimeout(() => {}, 3000);');
        writeFileSync(
          join(dir, 'service.js'),
          `require('node:http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), '127.0.0.1', () =>
            require('node:child_process').execFileSync('sleep', ['5']));`,
        );
        const stop = new AbortController();
        const report = await runSoak({
          command: ['sh', '-c', `"${process.execPath}" pre.js & sleep 1; exec "${process.execPath}" service.js`],
          cwd: dir,
          durationMs: 14_000,
          warmupMs: 0,
          connections: 1,
          rate: 50,
          onProgress: (p) => p.requests > 0 && stop.abort(),
          signal: stop.signal,
        });
        assert.doesNotMatch(report.reason, /exited/);
        assert.match(report.reason, /stopped before a verdict/);
        assert.ok(report.samples.length >= 1, `samples: ${report.samples.length}`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  },
);
