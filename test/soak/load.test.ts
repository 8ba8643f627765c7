// The load driver's pacing: `rate` is requests per second over all connections, also across the
// pauses each sample makes (a forced GC in the target while no request is in flight).
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startLoad } from '../../src/soak/load.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';

/** Requests sent at `rate` while the load is paused every 250 ms, as the soak samples, for 3 s. */
async function sentAcrossPauses(rate: number, connections: number): Promise<{ sent: number; seconds: number }> {
  let result = { sent: 0, seconds: 0 };
  await assertNoLeakedHandles(async () => {
    const server = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const load = startLoad({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        connections,
        rate,
        requests: [{ method: 'GET', path: '/', weight: 1 }],
      });
      const t0 = performance.now();
      // A sample every 250 ms (the soak's default interval), each a short pause.
      for (let i = 0; i < 12; i++) {
        await sleep(240);
        await load.pause(1000);
        await sleep(10);
        load.resume();
      }
      const seconds = (performance.now() - t0) / 1000;
      await load.close();
      result = { sent: load.stats().requests, seconds };
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
  return result;
}

test('a paced load does not exceed its rate across pauses: a send time reserved before a pause is given up', async () => {
  const { sent, seconds } = await sentAcrossPauses(10, 8);
  // At most the rate over the time, plus the first slot of each of the 8 workers.
  assert.ok(sent <= 10 * seconds + 8, `${sent} requests in ${seconds.toFixed(1)} s at --rate 10`);
});

test('a rate below one request per sample is kept across pauses: a resume does not send at once', async () => {
  const { sent, seconds } = await sentAcrossPauses(1, 4);
  // One at the start, then one a second (before: one more after each of the 12 pauses).
  assert.ok(sent <= Math.floor(seconds) + 1, `${sent} requests in ${seconds.toFixed(1)} s at --rate 1`);
});
