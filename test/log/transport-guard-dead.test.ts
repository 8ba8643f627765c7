// guardTransport() when the pino.transport worker is gone: it threw at start (a bad option), was
// terminated while it held lines, or was closed. Nothing is pending in a dead worker: what it had not
// reported is dropped as 'close', so is every later line (never 'cap': the buffer was not full),
// the sink state reads 'closed', and produced = sent + dropped + pending at every point.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import pino from 'pino';
import { guardTransport, type GuardedTransportStats, type TransportStream } from '../../src/log/index.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';
import { waitFor } from '../helpers/wait.js';
import { closeAllSinks, startSink } from './sinks.js';

after(closeAllSinks);

/** Loads src/log/transport.ts through tsx inside the worker. */
const TARGET = fileURLToPath(new URL('../fixtures/log-transport.mjs', import.meta.url));

function adds(s: GuardedTransportStats): GuardedTransportStats {
  const dropped = Object.values(s.dropped).reduce((a, b) => a + b, 0);
  assert.equal(s.sent + dropped + s.pendingEntries, s.produced, JSON.stringify(s));
  assert.ok(s.pendingEntries >= 0 && s.pendingBytes >= 0, JSON.stringify(s));
  return s;
}

/** Resolves on 'close' (events.once would reject on the 'error' that comes first). */
const closeOf = (stream: EventEmitter): Promise<void> => new Promise((resolve) => stream.once('close', () => resolve()));

const nonZero = (d: Record<string, number>): Record<string, number> => Object.fromEntries(Object.entries(d).filter(([, n]) => n > 0));

describe('guardTransport: a dead worker', () => {
  test(
    'a worker that throws at start (bad option): lines in transit and later lines are dropped as close, state closed',
    { timeout: 20_000 },
    async () => {
      await assertNoLeakedHandles(async () => {
        const transport = pino.transport({ target: TARGET, options: { url: 'http://127.0.0.1:9/', maxBytes: 'lots' } });
        // The app's own listener: without one the worker's error stops the process, as without the guard.
        const failed = once(transport, 'error');
        const closed = closeOf(transport);
        const guard = guardTransport(transport);
        const log = pino(guard);
        // Written before the worker has even started: thread-stream takes them (in transit)…
        for (let i = 0; i < 5; i++) log.info({ i }, 'early');
        assert.equal(adds(guard.stats()).pendingEntries, 5, 'in transit while the worker may still take them');
        // …and the worker dies without ever reading them.
        const [err] = (await failed) as [Error];
        assert.match(err.message, /maxBytes="lots"/);
        await closed;
        const dead = adds(guard.stats());
        assert.equal(dead.sinkState, 'closed');
        assert.equal(dead.pendingEntries, 0, 'nothing is pending in a dead worker');
        assert.equal(dead.pendingBytes, 0);
        assert.equal(dead.transitBytes, 0);
        assert.deepEqual(nonZero(dead.dropped), { close: 5 });
        assert.match(dead.workerError ?? '', /maxBytes="lots": must be a byte size/);
        for (let i = 0; i < 10; i++) log.info({ i }, 'after the worker died');
        const later = adds(guard.stats());
        assert.deepEqual(nonZero(later.dropped), { close: 15 }, 'never cap: no buffer was full');
        assert.equal(later.droppedMain, 0);
        assert.equal(later.produced, 15);
        await guard.close(); // settles at once: the stream has already closed
        assert.deepEqual(nonZero(adds(guard.stats()).dropped), { close: 15 });
      });
    },
  );

  test(
    'a worker terminated while its shipper holds lines: they are dropped as close, once, and no counter moves back',
    { timeout: 20_000 },
    async () => {
      await assertNoLeakedHandles(async () => {
        const sink = await startSink('jsonl', { kind: 'blackhole' }, { keep: false });
        const transport = pino.transport({
          target: TARGET,
          options: { url: sink.url, flushInterval: 20, statsInterval: 20, timeout: 5000 },
        });
        transport.on('error', () => {}); // the app's own listener (see above)
        const guard = guardTransport(transport);
        const log = pino(guard);
        for (let i = 0; i < 50; i++) log.info({ i }, 'held');
        const held = await waitFor(() => {
          const s = guard.stats();
          return s.transitBytes === 0 && s.pendingEntries === 50 && s.pendingBytes > 0 ? s : undefined;
        }, 'the worker read all 50 lines and holds them (the sink never answers)');
        assert.equal(held.sinkState, 'up');
        // Checked at the very moment of the 'close' event too, not only afterwards.
        let atClose: GuardedTransportStats | undefined;
        transport.once('close', () => (atClose = adds(guard.stats())));
        const closed = closeOf(transport);
        await (transport as unknown as { worker: Worker }).worker.terminate();
        await closed;
        assert.ok(atClose);
        const dead = adds(guard.stats());
        assert.deepEqual(dead, atClose, 'the same at the close event and after it');
        assert.equal(dead.sinkState, 'closed');
        assert.equal(dead.pendingEntries, 0);
        assert.equal(dead.pendingBytes, 0);
        assert.equal(dead.dropped.close, 50);
        assert.equal(dead.sent, 0);
        assert.equal(dead.workerError, 'the worker thread exited');
        log.info('after');
        assert.equal(adds(guard.stats()).dropped.close, 51);
        await guard.close();
        await sink.close();
      });
    },
  );
});

/** A stream as thin as the TransportStream interface allows: no destroyed/closed/writable flags. */
class PlainStream extends EventEmitter implements TransportStream {
  taken: string[] = [];
  accept = true;
  write(line: string): boolean {
    this.taken.push(line);
    return this.accept;
  }
  end(): void {
    setImmediate(() => this.emit('close'));
  }
}

describe('guardTransport: close', () => {
  test('a line logged after close() is dropped as close, not cap', async () => {
    await assertNoLeakedHandles(async () => {
      const stream = new PlainStream();
      const guard = guardTransport(stream);
      guard.write('{"msg":"a"}\n');
      stream.emit('headroom:log-stats', { ...guard.stats(), sent: 1, pendingEntries: 0, receivedBytes: 12, sinkState: 'up' });
      await guard.close();
      guard.write('{"msg":"late"}\n');
      const s = adds(guard.stats());
      assert.deepEqual(nonZero(s.dropped), { close: 1 });
      assert.equal(s.droppedMain, 0);
      assert.equal(s.sent, 1);
      assert.equal(s.sinkState, 'closed');
      assert.equal(s.workerError, undefined, 'an orderly close is no error');
      assert.deepEqual(stream.taken, ['{"msg":"a"}\n'], 'nothing written after close()');
      assert.equal(stream.listenerCount('close') + stream.listenerCount('drain') + stream.listenerCount('headroom:log-stats'), 0);
    });
  });

  test("a stream that closes with a write still waiting for 'drain': the waiting lines are dropped, not pending for ever", async () => {
    const stream = new PlainStream();
    const guard = guardTransport(stream);
    stream.accept = false;
    guard.write('{"msg":"queued"}\n'); // taken but the buffer is full now
    guard.write('{"msg":"dropped"}\n'); // dropped on the main thread: cap
    assert.deepEqual(nonZero(adds(guard.stats()).dropped), { cap: 1 });
    assert.equal(guard.stats().pendingEntries, 1);
    stream.emit('close'); // the worker is gone; no 'drain' will come
    const s = adds(guard.stats());
    assert.deepEqual(nonZero(s.dropped), { cap: 1, close: 1 });
    assert.equal(s.pendingEntries, 0);
    assert.equal(s.sinkState, 'closed');
    guard.write('{"msg":"later"}\n');
    assert.deepEqual(nonZero(adds(guard.stats()).dropped), { cap: 1, close: 2 });
    assert.equal(stream.taken.length, 1, 'nothing written to a closed stream');
    await guard.close();
  });
});
