// The live feed against viewers that misbehave: one that never reads gets frames dropped while its
// response buffer stays under one high-water mark plus one frame, and is disconnected after the
// stall timeout; the Web-stream side drops the same way; every timer goes with the last viewer.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { createLiveFeed } from '../../../src/observe/dashboard/feed.js';
import { assertNoLeakedHandles } from '../../helpers/resources.js';
import { waitFor } from '../../helpers/wait.js';

const FRAME_BYTES = 256 * 1024;
const bigFrame = (): string => JSON.stringify({ pad: 'x'.repeat(FRAME_BYTES) });

describe('live feed', () => {
  test(
    'a viewer that never reads: frames dropped, buffered bytes bounded, disconnected after the stall timeout',
    { timeout: 60_000 },
    async () => {
      await assertNoLeakedHandles(async () => {
        const feed = createLiveFeed({ maxViewers: 2, interval: 20, stallTimeout: 1_500, frame: bigFrame });
        let response: ServerResponse | undefined;
        let maxBuffered = 0;
        const server = createServer((_req, res) => {
          response = res;
          res.writeHead(200, { 'content-type': 'application/x-ndjson' });
          feed.open().pipe(res);
        });
        server.listen(0, '127.0.0.1');
        await once(server, 'listening');
        const { port } = server.address() as AddressInfo;
        // A client that sends its request and then never reads a byte.
        const socket = connect(port, '127.0.0.1');
        socket.pause();
        socket.write(`GET /feed HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\n\r\n`);
        socket.on('error', () => undefined);
        const watch = setInterval(() => (maxBuffered = Math.max(maxBuffered, response?.writableLength ?? 0)), 5);
        try {
          await waitFor(() => feed.stats().dropped > 0, 'frames to be dropped', 20_000);
          await waitFor(() => feed.stats().stalled === 1, 'the stalled viewer to be disconnected', 20_000);
          assert.ok(response!.destroyed, 'the server side of the stalled viewer is gone');
          const stats = feed.stats();
          const hwm = response!.writableHighWaterMark;
          console.log(
            `slow viewer: ${stats.sent} frames written, ${stats.dropped} dropped, at most ${maxBuffered} bytes buffered (high-water mark ${hwm}, frame ${FRAME_BYTES + 12})`,
          );
          assert.ok(maxBuffered <= hwm + FRAME_BYTES + 64, `buffered ${maxBuffered} bytes`);
          assert.equal(stats.viewers, 0);
        } finally {
          clearInterval(watch);
          socket.destroy();
          await feed.close();
          server.close();
          await once(server, 'close');
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

  test('a body nobody attaches gives its slot back after the stall timeout', async () => {
    await assertNoLeakedHandles(async () => {
      const feed = createLiveFeed({ maxViewers: 1, interval: 20, stallTimeout: 200, frame: () => '{}' });
      feed.open();
      assert.throws(() => feed.open(), { code: 'HEADROOM_DASHBOARD_FULL' });
      await waitFor(() => feed.stats().viewers === 0, 'the unattached slot to be freed', 2_000);
      await feed.close();
    });
  });
});
