// headroom_dashboard_*: who holds the live feed's viewer slots, on the gateway's /metrics and in a
// toolkit Headroom's metrics.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHeadroom } from '../../src/toolkit/headroom.js';
import { ADMIN_TOKEN, startGateway } from '../helpers/gateway.js';
import { request } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';
import { openFeed } from '../observe/dashboard/helpers.js';

const value = (text: string, name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);

test('the gateway exports its dashboard viewers and frames', async () => {
  const t = await startGateway({ HEADROOM_ADMIN_TOKEN: ADMIN_TOKEN });
  try {
    const scrape = async (): Promise<string> => (await request(`${t.url}/metrics`)).text;
    assert.equal(value(await scrape(), 'headroom_dashboard_viewers'), 0);
    const feed = await openFeed(`${t.url}/admin/dashboard/feed`, { authorization: `Bearer ${ADMIN_TOKEN}` });
    assert.equal(feed.status, 200);
    const text = await scrape();
    assert.equal(value(text, 'headroom_dashboard_viewers'), 1);
    assert.ok(value(text, 'headroom_dashboard_frames_sent_total') >= 1, 'the first frame goes out at once');
    for (const name of ['frames_dropped_total', 'frames_failed_total', 'viewers_stalled_total', 'viewers_expired_total'])
      assert.equal(value(text, `headroom_dashboard_${name}`), 0, name);
    feed.close();
    await waitFor(async () => value(await scrape(), 'headroom_dashboard_viewers') === 0, 'the viewer gone from the gauge');
  } finally {
    await t.close();
  }
});

test("a toolkit Headroom's metrics have the dashboard's too", async () => {
  const h = createHeadroom({});
  try {
    assert.equal(value((await h.metrics()).body as string, 'headroom_dashboard_viewers'), 0);
  } finally {
    await h.close();
  }
});
