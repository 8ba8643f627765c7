// LOG_SHIP_CONCURRENCY against real sinks on 127.0.0.1: up to N batches in flight (never more), so a
// backlog drains about N times faster; the in-flight batches count against the one cap; retries and
// the breaker probe are not widened; concurrency 1 keeps the strict order a Loki with ordered writes needs.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { createLogShipper, type LogShipperOptions } from '../../src/log/index.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';
import { waitFor } from '../helpers/wait.js';
import { check, watched } from './accounting.js';
import { closeAllSinks, startSink } from './sinks.js';

after(closeAllSinks);

const FAST: LogShipperOptions = { flushInterval: 20, timeout: 300, retryDelay: 10, maxRetryDelay: 40, breakDuration: 100, retries: 100 };

/**
 * 400 queued lines in batches of 20 to a sink that answers only when told: at most `concurrency`
 * requests are at the sink at once, and each one answered is replaced at once by the next batch
 * (the others still held), so a backlog drains `concurrency` batches per round trip.
 */
async function drain(concurrency: number): Promise<void> {
  const sink = await startSink('elasticsearch', { kind: 'held' });
  const shipper = createLogShipper({ ...FAST, url: sink.url, format: 'elasticsearch', batch: 20, concurrency, timeout: 5000 });
  const log = pino(shipper);
  await watched(shipper, async () => {
    for (let i = 0; i < 400; i++) log.info(`d${i}`);
    await waitFor(() => sink.held() === concurrency, `${concurrency} requests at the sink`);
    for (let answered = 0; answered < 20 - concurrency; answered++) {
      assert.equal(sink.requests, concurrency + answered, 'no more than the answered ones replaced');
      sink.release(1);
      // Its replacement arrives while the others are still held.
      await waitFor(() => sink.requests === concurrency + answered + 1 && sink.held() === concurrency, 'the answered batch replaced');
    }
    sink.release();
    await waitFor(() => shipper.stats().sent === 400, `all sent with concurrency ${concurrency}`, 10_000);
  });
  assert.equal(sink.maxInFlight, concurrency, `at most ${concurrency} requests at the sink at once`);
  assert.equal(sink.requests, 20);
  assert.equal(new Set(sink.docs.map((d) => d.msg)).size, 400, 'every line once');
  assert.equal(sink.docs.length, 400);
  await shipper.close();
  await sink.close();
}

describe('log shipper: concurrent batches', () => {
  test('up to LOG_SHIP_CONCURRENCY batches in flight, never more: each answered batch is replaced at once', async () => {
    await assertNoLeakedHandles(async () => {
      await drain(1);
      await drain(4);
    });
  });

  test('batches in flight count against the cap: a flood drops queued lines, never the ones on the wire', async () => {
    await assertNoLeakedHandles(async () => {
      const sink = await startSink('loki', { kind: 'blackhole' });
      const maxBytes = 64 * 1024;
      const shipper = createLogShipper({ ...FAST, url: sink.url, format: 'loki', batch: 20, concurrency: 4, maxBytes, timeout: 400 });
      const log = pino(shipper);
      const pad = 'p'.repeat(400);
      await watched(shipper, async () => {
        for (let i = 0; i < 80; i++) log.warn({ pad }, `w${i}`);
        await waitFor(() => sink.inFlight === 4, 'four requests held by the sink');
        const held = shipper.stats();
        assert.ok(held.pendingBytes > 4 * 20 * 400, `in-flight bytes counted: ${held.pendingBytes}`);
        for (let i = 80; i < 2000; i++) log.warn({ pad }, `w${i}`);
        const s = check(shipper.stats());
        assert.ok(s.dropped.cap > 1000, `the flood is dropped: ${s.dropped.cap}`);
        assert.ok(s.pendingEntries >= 80, `the 80 lines in flight are kept: ${s.pendingEntries}`);
        // The sink answers again: everything still pending arrives, the accounting closes.
        sink.mode = { kind: 'ok' };
        await waitFor(() => shipper.stats().pendingEntries === 0, 'drained', 10_000);
      });
      const s = check(shipper.stats());
      assert.equal(sink.docs.length, s.sent);
      assert.ok(
        sink.docs.some((d) => d.msg === 'w0'),
        'the lines in flight during the flood were retried and delivered',
      );
      assert.ok(sink.maxInFlight <= 4);
      await shipper.close();
      await sink.close();
    });
  });

  test('the breaker probe stays one request: an open breaker is not widened by LOG_SHIP_CONCURRENCY', async () => {
    await assertNoLeakedHandles(async () => {
      const sink = await startSink('jsonl', { kind: 'status', status: 503 });
      const shipper = createLogShipper({ ...FAST, url: sink.url, batch: 20, concurrency: 4, breakerThreshold: 4, breakDuration: 100 });
      const log = pino(shipper);
      for (let i = 0; i < 400; i++) log.info(`b${i}`);
      await waitFor(() => shipper.stats().sinkState === 'down', 'the breaker opens after the first round');
      const r0 = sink.requests;
      assert.ok(r0 <= 4, `the first round: ${r0} requests`);
      sink.maxInFlight = 0;
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, 700));
      const probes = sink.requests - r0;
      const elapsed = performance.now() - t0;
      // One request per breakDuration (a widened probe would send 4 each time).
      assert.ok(probes >= 1 && probes <= Math.ceil(elapsed / 100) + 1, `${probes} probes in ${elapsed.toFixed(0)} ms`);
      assert.equal(sink.maxInFlight, 1, 'one probe at a time');
      sink.mode = { kind: 'ok' };
      await watched(shipper, () => waitFor(() => shipper.stats().sent === 400, 'all delivered after the sink recovers', 10_000));
      check(shipper.stats());
      await shipper.close();
      await sink.close();
    });
  });

  test('Loki with ordered writes: concurrency 1 delivers every line in order, nothing rejected', async () => {
    await assertNoLeakedHandles(async () => {
      const sink = await startSink('loki', { kind: 'slow', ms: 5 }, { ordered: true });
      const shipper = createLogShipper({ ...FAST, url: sink.url, format: 'loki', batch: 25, concurrency: 1 });
      const log = pino({ level: 'debug' }, shipper);
      for (let round = 0; round < 10; round++) {
        for (let i = 0; i < 50; i++) (i % 7 === 0 ? log.error : log.info).call(log, `o${round * 50 + i}`);
        await new Promise((r) => setTimeout(r, 2));
      }
      await waitFor(() => shipper.stats().sent === 500, 'all 500 sent', 10_000);
      const s = check(shipper.stats());
      assert.equal(s.dropped.rejected, 0);
      // Loki orders per stream (one per level here): each level's lines arrive in the order logged.
      for (const level of [30, 50]) {
        const got = sink.docs.filter((d) => d.level === level).map((d) => Number(String(d.msg).slice(1)));
        assert.deepEqual(
          got,
          [...got].sort((a, b) => a - b),
          `level ${level} in the order logged`,
        );
        assert.equal(got.length, level === 50 ? 80 : 420);
      }
      await shipper.close();
      await sink.close();
    });
  });
});
