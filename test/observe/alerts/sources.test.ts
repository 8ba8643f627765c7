// The L2 and shedding callbacks on headroom's real parts: a cache whose Redis L2 (a real
// redis-server) goes away and comes back, a disk L2, no L2, and an admission controller that refuses.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAdmission } from '../../../src/admission/index.js';
import { createCache } from '../../../src/cache/index.js';
import { l2AvailableFrom, shedCountFrom } from '../../../src/observe/alerts/index.js';
import { redisOrSkip, startRedis, type RedisServer } from '../../helpers/redis.js';
import { assertNoLeakedHandles } from '../../helpers/resources.js';
import { waitFor } from '../../helpers/wait.js';
import { closeAllReceivers } from './receiver.js';
import { rig, seen } from './setup.js';

after(closeAllReceivers);

describe('l2AvailableFrom: a real Redis L2 that stops and comes back', { skip: !redisOrSkip('alerts: L2 from a real Redis') }, () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis.stop();
  });

  test('one l2_unavailable episode: fired while Redis is down, resolved once it is back', async () => {
    const cache = createCache({ redis: { url: redis.url, keyPrefix: 'alerts:' }, breakDuration: 100 });
    const l2Available = l2AvailableFrom(cache);
    const r = await rig({ resolveAfter: 0, l2Available });
    try {
      await waitFor(() => l2Available() === true, 'Redis connected');
      assert.deepEqual(r.alerter.check(), []);
      await redis.stop();
      await waitFor(() => r.alerter.check().length > 0, 'the alert fired');
      assert.deepEqual(r.alerter.firing(), ['l2_unavailable']);
      await redis.start();
      await waitFor(() => r.alerter.check().length > 0, 'the alert resolved');
      await r.alerter.flush();
      assert.deepEqual(seen(r.receiver), [['l2_unavailable:firing'], ['l2_unavailable:resolved']]);
    } finally {
      await r.close();
      await cache.close();
    }
  });
});

test('l2AvailableFrom: no L2 is null (no alert); a disk L2 is available until closed', async () => {
  await assertNoLeakedHandles(async () => {
    const none = createCache({});
    assert.equal(l2AvailableFrom(none)(), null);
    await none.close();
    const dir = mkdtempSync(join(tmpdir(), 'headroom-alerts-disk-'));
    try {
      const disk = createCache({ disk: { dir } });
      assert.equal(l2AvailableFrom(disk)(), true);
      await disk.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('shedCountFrom: refusals of a real admission controller count; the shedding alert reads them', async () => {
  await assertNoLeakedHandles(async () => {
    const admission = createAdmission({ maxConcurrent: 1, queueSize: 0 });
    const shedCount = shedCountFrom(admission);
    const r = await rig({ shedRate: 1, resolveAfter: 0, shedCount });
    const release = await admission.acquire();
    for (let i = 0; i < 30; i++) await assert.rejects(admission.acquire(), { code: 'HEADROOM_OVERLOADED' });
    assert.equal(shedCount(), 30);
    r.clock.now += 10_000; // 30 in 10 s: 3/s
    assert.deepEqual(
      r.alerter.check().map((e) => [e.name, e.value]),
      [['shedding', 3]],
    );
    release();
    await r.close();
    await admission.close();
  });
});
