// The transport variant: a real pino.transport worker running src/log/transport.ts, shipping to a
// real sink on 127.0.0.1, behind guardTransport() on the main thread. The worker posts its stats;
// the main thread never queues more than thread-stream's shared buffer and counts what it drops.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pino from 'pino';
import { guardTransport, type GuardedTransportStats } from '../../src/log/index.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';
import { waitFor } from '../helpers/wait.js';
import { closeAllSinks, startSink } from './sinks.js';

after(closeAllSinks);

/** Loads src/log/transport.ts through tsx inside the worker. */
const TARGET = fileURLToPath(new URL('../fixtures/log-transport.mjs', import.meta.url));
/** thread-stream's shared buffer (pino.transport does not let it be changed). */
const SHARED_BUFFER = 4 * 1024 * 1024;

function adds(s: GuardedTransportStats): void {
  const dropped = Object.values(s.dropped).reduce((a, b) => a + b, 0);
  assert.equal(s.sent + dropped + s.pendingEntries, s.produced, JSON.stringify(s));
}

describe('log transport (worker thread)', () => {
  test('every line reaches the sink through the worker; the stats come back to the main thread', async () => {
    await assertNoLeakedHandles(async () => {
      const sink = await startSink('jsonl');
      const transport = pino.transport({ target: TARGET, options: { url: sink.url, flushInterval: 20, statsInterval: 20 } });
      const guard = guardTransport(transport);
      const log = pino({ level: 'debug' }, guard);
      for (let i = 0; i < 300; i++) log.info({ i }, `line ${i}`);
      log.error('last');
      await waitFor(() => sink.accepted === 301, 'all lines at the sink');
      await waitFor(() => guard.stats().sent === 301, 'the worker reported them sent', 5000);
      const s = guard.stats();
      adds(s);
      assert.equal(s.produced, 301);
      assert.equal(s.droppedMain, 0);
      assert.equal(s.format, 'jsonl');
      assert.deepEqual(
        sink.docs.map((d) => d.msg),
        [...Array.from({ length: 300 }, (_, i) => `line ${i}`), 'last'],
      );
      await guard.close();
      await guard.close(); // idempotent
      log.info('after close'); // counted as dropped on the main thread, not written
      adds(guard.stats());
      await sink.close();
    });
  });

  test('a chunk of several lines (a direct write) counts as that many, as the worker counts them', async () => {
    await assertNoLeakedHandles(async () => {
      const sink = await startSink('jsonl');
      const transport = pino.transport({ target: TARGET, options: { url: sink.url, flushInterval: 20, statsInterval: 20 } });
      const guard = guardTransport(transport);
      guard.write('{"msg":"a"}\n{"msg":"b"}\n{"msg":"c"}\n');
      // A line split over two writes is one line, counted when it ends.
      guard.write('{"msg":');
      guard.write('"d"}\n');
      await waitFor(() => guard.stats().sent === 4, 'the worker reported four lines sent', 5000);
      const s = guard.stats();
      assert.equal(s.produced, 4);
      assert.equal(s.pendingEntries, 0, JSON.stringify(s));
      adds(s);
      assert.deepEqual(
        sink.docs.map((d) => d.msg),
        ['a', 'b', 'c', 'd'],
      );
      await guard.close();
      await sink.close();
    });
  });

  test('the worker reports at its start, not a statsInterval later: maxBytes and the format are known at once', async () => {
    await assertNoLeakedHandles(async () => {
      const sink = await startSink('elasticsearch');
      const transport = pino.transport({
        target: TARGET,
        options: { url: sink.url, statsInterval: 60_000, maxBytes: '3MiB', format: 'elasticsearch' },
      });
      const guard = guardTransport(transport);
      assert.equal(guard.stats().maxBytes, 0, 'nothing is known before the worker runs');
      // Well before the interval: only the report at the start can say it.
      await waitFor(() => guard.stats().maxBytes === 3 * 1024 * 1024, 'the first report', 20_000);
      assert.equal(guard.stats().format, 'elasticsearch');
      await guard.close();
      await sink.close();
    });
  });

  test("close() in a short-lived script keeps the process alive until the worker is done (the worker thread is unref'd)", async () => {
    const sink = await startSink('jsonl');
    const script = fileURLToPath(new URL('../fixtures/log-short-script.ts', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', script, sink.url], { timeout: 30_000 });
    assert.deepEqual(JSON.parse(stdout), { closed: true, produced: 1 });
    assert.deepEqual(
      sink.docs.map((d) => d.msg),
      ['job done'],
    );
    await sink.close();
  });

  test("transitBytes never exceeds what thread-stream can hold, between the worker's stats reports too", async () => {
    await assertNoLeakedHandles(async () => {
      const sink = await startSink('jsonl', { kind: 'blackhole' }, { keep: false });
      // The worker reports what it read once a second: written − last reported read counted
      // every line written since (17 MiB at 17 000 lines/s) although it had long been read.
      const transport = pino.transport({ target: TARGET, options: { url: sink.url, statsInterval: 1000, timeout: 200, maxBytes: '1MiB' } });
      await new Promise((resolve) => transport.once('ready', resolve));
      const guard = guardTransport(transport);
      const log = pino(guard);
      const pad = 'x'.repeat(1000);
      let most = 0;
      for (const until = performance.now() + 1500; performance.now() < until;) {
        for (let i = 0; i < 100; i++) log.info({ i, pad });
        most = Math.max(most, guard.stats().transitBytes);
        await new Promise((resolve) => setImmediate(resolve));
      }
      assert.ok(most <= SHARED_BUFFER + 2048, `at most the shared buffer in transit, got ${most} B`);
      adds(guard.stats());
      await guard.close();
      await sink.close();
    });
  });

  test('a burst larger than thread-stream can hold: the main thread drops (counted) instead of queueing', async () => {
    await assertNoLeakedHandles(async () => {
      const sink = await startSink('jsonl', { kind: 'blackhole' }, { keep: false });
      const transport = pino.transport({
        target: TARGET,
        options: { url: sink.url, flushInterval: 20, statsInterval: 20, timeout: 200, maxBytes: '2MiB' },
      });
      await new Promise((resolve) => transport.once('ready', resolve));
      const guard = guardTransport(transport);
      const log = pino(guard);
      const pad = 'x'.repeat(1000);
      // 20 MiB in one synchronous burst: thread-stream copies to the worker only on a later turn.
      for (let i = 0; i < 20_000; i++) log.info({ i, pad });
      const s = guard.stats();
      assert.ok(s.droppedMain > 10_000, `dropped on the main thread: ${s.droppedMain}`);
      assert.ok(s.transitBytes <= SHARED_BUFFER + 2048, `main thread holds ${s.transitBytes} B, at most the shared buffer`);
      adds(s);
      // The worker takes what got through and keeps it within its own cap (2 MiB) while the sink is black-holed.
      const w = await waitFor(() => {
        const x = guard.stats();
        return x.transitBytes === 0 && x.sent + x.pendingEntries < 20_000 ? x : undefined;
      }, 'the worker read everything');
      adds(w);
      assert.ok(w.pendingBytes <= w.maxBytes, `worker pending ${w.pendingBytes} within ${w.maxBytes}`);
      assert.equal(w.maxBytes, 2 * 1024 * 1024);
      await guard.close();
      adds(guard.stats());
      await sink.close();
    });
  });
});
