// The live feed against viewers that misbehave: one that never reads gets frames dropped while its
// response buffer stays under one high-water mark plus one frame, and is disconnected after the
// stall timeout; the Web-stream side drops the same way; every timer goes with the last viewer.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { createLiveFeed, type LiveFeed } from '../../../src/observe/dashboard/feed.js';
import { createDashboard } from '../../../src/observe/dashboard/index.js';
import { createMemoryMonitor } from '../../../src/monitor/index.js';
import type { Cache } from '../../../src/cache/types.js';
import { fakeMemory } from '../../monitor/helpers.js';
import { assertNoLeakedHandles } from '../../helpers/resources.js';
import { waitFor } from '../../helpers/wait.js';

const FRAME_BYTES = 256 * 1024;
const bigFrame = (): string => JSON.stringify({ pad: 'x'.repeat(FRAME_BYTES) });

/** An HTTP server giving every request a viewer of `feed`; `responses` in arrival order. */
async function serveFeed(feed: LiveFeed) {
  const responses: ServerResponse[] = [];
  const server = createServer((_req, res) => {
    responses.push(res);
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    feed.open().pipe(res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    port,
    responses,
    async close() {
      await feed.close();
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

/** A client that sends its request and then never reads a byte. */
function neverReading(port: number): Socket {
  const socket = connect(port, '127.0.0.1');
  socket.pause();
  socket.on('error', () => undefined);
  socket.write(`GET /feed HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\n\r\n`);
  return socket;
}

describe('live feed', () => {
  test(
    'a viewer that never reads: frames dropped, buffered bytes bounded, disconnected after the stall timeout',
    { timeout: 60_000 },
    async () => {
      await assertNoLeakedHandles(async () => {
        const feed = createLiveFeed({ maxViewers: 2, interval: 20, stallTimeout: 1_500, viewTimeout: 600_000, frame: bigFrame });
        const served = await serveFeed(feed);
        const socket = neverReading(served.port);
        let maxBuffered = 0;
        const watch = setInterval(() => (maxBuffered = Math.max(maxBuffered, served.responses[0]?.writableLength ?? 0)), 5);
        try {
          await waitFor(() => feed.stats().dropped > 0, 'frames to be dropped', 20_000);
          await waitFor(() => feed.stats().stalled === 1, 'the stalled viewer to be disconnected', 20_000);
          const response = served.responses[0]!;
          assert.ok(response.destroyed, 'the server side of the stalled viewer is gone');
          const stats = feed.stats();
          const hwm = response.writableHighWaterMark;
          console.log(
            `slow viewer: ${stats.sent} frames written, ${stats.dropped} dropped, at most ${maxBuffered} bytes buffered (high-water mark ${hwm}, frame ${FRAME_BYTES + 12})`,
          );
          assert.ok(maxBuffered <= hwm + FRAME_BYTES + 64, `buffered ${maxBuffered} bytes`);
          assert.equal(stats.viewers, 0);
        } finally {
          clearInterval(watch);
          socket.destroy();
          await served.close();
        }
      });
    },
  );

  test('a Web-stream viewer that does not read gets frames dropped at its high-water mark, and cancel frees its slot', async () => {
    await assertNoLeakedHandles(async () => {
      const feed = createLiveFeed({
        maxViewers: 1,
        interval: 10,
        stallTimeout: 60_000,
        viewTimeout: 600_000,
        frame: () => JSON.stringify({ pad: 'y'.repeat(8 * 1024) }),
      });
      const stream = feed.open().web();
      await waitFor(() => feed.stats().dropped > 5, 'frames to be dropped');
      // The queue holds what fit under 64 KiB and nothing more: 8 frames of 8 KiB.
      assert.ok(feed.stats().sent <= 8, JSON.stringify(feed.stats()));
      assert.throws(() => feed.open(), { code: 'HEADROOM_DASHBOARD_FULL' });
      const reader = stream.getReader();
      const first = await reader.read();
      assert.ok(first.value && first.value.byteLength > 8 * 1024);
      await reader.cancel();
      assert.equal(feed.stats().viewers, 0);
      const again = feed.open(); // the slot is free again
      again.cancel();
      await feed.close();
      assert.throws(() => feed.open(), { code: 'HEADROOM_DRAINING' });
    });
  });

  test('a frame that cannot be built (a source throws) is skipped: the feed goes on, one report per failure streak', async () => {
    await assertNoLeakedHandles(async () => {
      let failing = false;
      let built = 0;
      const errors: unknown[] = [];
      const feed = createLiveFeed({
        maxViewers: 1,
        interval: 10,
        stallTimeout: 60_000,
        viewTimeout: 600_000,
        frame: () => {
          if (failing) throw new Error('stats unavailable');
          return JSON.stringify({ n: ++built });
        },
        onFrameError: (err) => errors.push(err),
      });
      const reader = feed.open().web().getReader();
      const frame = async (): Promise<{ n: number }> => JSON.parse(new TextDecoder().decode((await reader.read()).value)) as { n: number };
      assert.equal((await frame()).n, 1);
      failing = true;
      await waitFor(() => feed.stats().failed >= 5, 'several ticks to fail');
      assert.equal(errors.length, 1, 'one report for the streak, not one per tick');
      assert.match(String(errors[0]), /stats unavailable/);
      const before = built;
      failing = false;
      // The feed's timer is unref()ed: wait (keeping the loop up) until the frame is queued, then read.
      await waitFor(() => built > before, 'a frame to build again');
      let next = await frame();
      while (next.n <= before) next = await frame(); // frames queued before the streak
      assert.equal(next.n, before + 1, 'the first frame that builds again is sent');
      failing = true;
      await waitFor(() => errors.length === 2, 'a new streak to be reported');
      assert.equal(feed.stats().viewers, 1, 'the viewer stayed');
      await reader.cancel();
      await feed.close();
    });
  });

  test('createDashboard: a cache whose stats() throws skips frames and logs once per streak through the logger; the process stays up', async () => {
    await assertNoLeakedHandles(async () => {
      const monitor = createMemoryMonitor({ sampler: fakeMemory().sampler, autoStart: false, rssLimit: null });
      let failing = false;
      const stats = () => {
        if (failing) throw new Error('cache stats unavailable');
        return { l1: { hits: 1, misses: 1, bytes: 0, effectiveMaxBytes: 1 }, l2: null, hitRatio: 0.5 };
      };
      const warned: { obj: unknown; msg: string }[] = [];
      const logger = { warn: (obj: unknown, msg: string) => void warned.push({ obj, msg }) };
      const dashboard = createDashboard({ monitor, cache: { stats } as unknown as Cache, interval: 250, logger: logger as never });
      const reader = dashboard.feed().live.web().getReader();
      assert.ok((await reader.read()).value, 'the first frame');
      failing = true;
      await waitFor(() => dashboard.stats().failed >= 3, 'frames to fail');
      assert.equal(warned.length, 1, JSON.stringify(warned.map((w) => w.msg)));
      assert.match(warned[0]!.msg, /live-feed frame could not be built/);
      assert.match(String((warned[0]!.obj as { err: unknown }).err), /cache stats unavailable/);
      const sent = dashboard.stats().sent;
      failing = false;
      await waitFor(() => dashboard.stats().sent > sent, 'a frame sent again');
      assert.ok((await reader.read()).value);
      await reader.cancel();
      await dashboard.close();
      await monitor.close();
    });
  });

  test('createDashboard without a logger: a throwing source is one process warning per streak, and the process stays up', async () => {
    await assertNoLeakedHandles(async () => {
      const monitor = createMemoryMonitor({ sampler: fakeMemory().sampler, autoStart: false, rssLimit: null });
      const warnings: Error[] = [];
      const onWarning = (w: Error): void => void warnings.push(w);
      process.on('warning', onWarning);
      let failing = false;
      const proxy = {
        stats: () => {
          if (failing) throw new Error('proxy stats unavailable');
          return { inFlight: 0, queued: 0, shed: 0, requests: 0, latencyMs: { p50: 0, p99: 0 } };
        },
      };
      const dashboard = createDashboard({ monitor, proxy: proxy as never, interval: 250 });
      const reader = dashboard.feed().live.web().getReader();
      try {
        assert.ok((await reader.read()).value, 'the first frame');
        failing = true;
        await waitFor(() => dashboard.stats().failed >= 3, 'frames to fail');
        await waitFor(() => warnings.length > 0, 'the process warning');
        assert.equal(warnings.length, 1, warnings.map((w) => w.message).join('; '));
        assert.match(warnings[0]!.message, /dashboard: a live-feed frame could not be built .*: proxy stats unavailable/);
        assert.equal(dashboard.stats().viewers, 1);
      } finally {
        process.off('warning', onWarning);
        await reader.cancel();
        await dashboard.close();
        await monitor.close();
      }
    });
  });

  test('createDashboard: a logger without warn() is refused, naming what is accepted', () => {
    const monitor = createMemoryMonitor({ sampler: fakeMemory().sampler, autoStart: false, rssLimit: null });
    assert.throws(() => createDashboard({ monitor, logger: {} as never }), {
      code: 'HEADROOM_CONFIG_INVALID',
      message: /createDashboard: logger=.*: must be a logger such as pino \(an object with warn\(\)\)/,
    });
    void monitor.close();
  });

  test('a body nobody attaches gives its slot back after the stall timeout', async () => {
    await assertNoLeakedHandles(async () => {
      const feed = createLiveFeed({ maxViewers: 1, interval: 20, stallTimeout: 200, viewTimeout: 600_000, frame: () => '{}' });
      feed.open();
      assert.throws(() => feed.open(), { code: 'HEADROOM_DASHBOARD_FULL' });
      await waitFor(() => feed.stats().viewers === 0, 'the unattached slot to be freed', 2_000);
      await feed.close();
    });
  });

  test('a viewer whose kernel takes every small frame but who never reads loses its slot after the view timeout', async () => {
    await assertNoLeakedHandles(async () => {
      // Frames the size of the real ones: the socket buffers take hours of them, so the viewer never looks stalled.
      const feed = createLiveFeed({
        maxViewers: 1,
        interval: 20,
        stallTimeout: 60_000,
        viewTimeout: 500,
        frame: () => JSON.stringify({ pad: 'z'.repeat(700) }),
      });
      const served = await serveFeed(feed);
      const socket = neverReading(served.port);
      try {
        await waitFor(() => feed.stats().sent > 5, 'frames to be sent');
        assert.throws(() => feed.open(), { code: 'HEADROOM_DASHBOARD_FULL' });
        await waitFor(() => feed.stats().expired === 1, 'the feed to end at the view timeout', 10_000);
        const stats = feed.stats();
        assert.deepEqual([stats.viewers, stats.stalled, stats.dropped], [0, 0, 0], JSON.stringify(stats));
        // Ended cleanly (the kernel had room), and the slot is free for the next viewer.
        await waitFor(() => served.responses[0]!.writableFinished, 'the response to be finished');
        feed.open().cancel();
      } finally {
        socket.destroy();
        await served.close();
      }
    });
  });

  test("the page's feed reader reopens a feed the server ended on schedule at once, without showing it as reconnecting", async () => {
    await assertNoLeakedHandles(async () => {
      // The page's own module (plain JavaScript for the browser; Node has fetch and TextDecoderStream too).
      const page = new URL('../../../src/observe/dashboard/static/feed.js', import.meta.url).href;
      const { follow } = (await import(page)) as {
        follow: (url: string, token: string, handlers: Record<string, unknown>) => Promise<void>;
      };
      const feed = createLiveFeed({ maxViewers: 1, interval: 20, stallTimeout: 1_000, viewTimeout: 150, frame: () => '{"n":1}' });
      const served = await serveFeed(feed);
      const controller = new AbortController();
      const states: string[] = [];
      let frames = 0;
      const following = follow(`http://127.0.0.1:${served.port}/feed`, 'token', {
        signal: controller.signal,
        onFrame: () => frames++,
        onState: (state: string) => states.push(state),
        onFatal: (err: unknown) => assert.fail(String(err)),
      });
      try {
        await waitFor(() => served.responses.length >= 3, 'the feed to be reopened twice', 10_000);
        assert.ok(feed.stats().expired >= 2, JSON.stringify(feed.stats()));
        assert.ok(frames >= 3);
        assert.ok(
          states.every((s) => s === 'live'),
          states.join(', '),
        );
      } finally {
        controller.abort();
        await following;
        await served.close();
      }
    });
  });
});
