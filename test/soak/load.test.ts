// The load driver's pacing: `rate` is requests per second over all connections, also across the
// pauses each sample makes (a forced GC in the target while no request is in flight).
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startLoad } from '../../src/soak/load.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';

test('a paced load does not exceed its rate across pauses: a send time reserved before a pause is given up', async () => {
  await assertNoLeakedHandles(async () => {
    const server = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const rate = 10;
      const load = startLoad({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        connections: 8,
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
      const sent = load.stats().requests;
      // At most the rate over the time, plus the first slot of each of the 8 workers.
      assert.ok(sent <= rate * seconds + 8, `${sent} requests in ${seconds.toFixed(1)} s at --rate ${rate}`);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
