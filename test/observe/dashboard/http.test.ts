// The dashboard over HTTP on the gateway's own plugins: what needs the token and what does not, the
// security headers, the viewer cap, the history endpoint, and that closing leaves nothing behind.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CONTENT_SECURITY_POLICY } from '../../../src/observe/dashboard/index.js';
import { request } from '../../helpers/http.js';
import { rawRequest } from '../../helpers/raw-http.js';
import { assertNoLeakedHandles } from '../../helpers/resources.js';
import { waitFor } from '../../helpers/wait.js';
import { auth, openFeed, startDashboardApp, TOKEN } from './helpers.js';

describe('dashboard over HTTP', () => {
  test('the page and its files need no token; history and feed do (401 without, 401 wrong, 403 when the admin API is off)', async () => {
    await assertNoLeakedHandles(async () => {
      const d = await startDashboardApp();
      try {
        const page = await request(`${d.url}/dashboard`);
        assert.equal(page.status, 200);
        assert.match(page.text, /data-api="admin\/"/);
        for (const path of ['/admin/memory-history', '/admin/dashboard/feed']) {
          const none = await request(`${d.url}${path}`);
          assert.equal(none.status, 401, path);
          assert.equal(none.json().error.code, 'HEADROOM_UNAUTHORIZED');
          const wrong = await request(`${d.url}${path}`, { headers: { authorization: 'Bearer not-the-token-at-all' } });
          assert.equal(wrong.status, 401, path);
        }
        // The token in a URL is not a credential.
        assert.equal((await request(`${d.url}/admin/memory-history?token=${TOKEN}`)).status, 401);
      } finally {
        await d.close();
      }
      const off = await startDashboardApp({}, { HEADROOM_ADMIN_TOKEN: '' });
      try {
        assert.equal((await request(`${off.url}/dashboard`)).status, 200, 'the page says itself that the admin API is off');
        const h = await request(`${off.url}/admin/memory-history`, { headers: auth });
        assert.equal(h.status, 403);
        assert.equal(h.json().error.code, 'HEADROOM_ADMIN_DISABLED');
      } finally {
        await off.close();
      }
    });
  });

  test('strict CSP and the usual headers on every file; no inline script or style in the page; ETag revalidation', async () => {
    const d = await startDashboardApp();
    try {
      const page = await request(`${d.url}/dashboard`, { headers: { 'accept-encoding': 'gzip' } });
      assert.equal(page.headers['content-security-policy'], CONTENT_SECURITY_POLICY);
      assert.match(CONTENT_SECURITY_POLICY, /default-src 'none'/);
      assert.match(CONTENT_SECURITY_POLICY, /script-src 'self';/);
      assert.doesNotMatch(CONTENT_SECURITY_POLICY, /unsafe-inline|unsafe-eval|https?:/);
      assert.equal(page.headers['x-content-type-options'], 'nosniff');
      assert.equal(page.headers['x-frame-options'], 'DENY');
      assert.equal(page.headers['referrer-policy'], 'no-referrer');
      assert.equal(page.headers['content-encoding'], 'gzip');
      // Every script has a src, no <style> element, no style or on… attribute.
      assert.deepEqual(
        [...page.text.matchAll(/<script\b[^>]*>/g)].filter((m) => !/\bsrc="/.test(m[0])),
        [],
      );
      assert.doesNotMatch(page.text, /<style|\sstyle=|\son[a-z]+=/i);
      for (const file of ['app.js', 'charts.js', 'feed.js', 'format.js', 'dashboard.css', 'uPlot.iife.min.js', 'uPlot.min.css']) {
        const r = await request(`${d.url}/dashboard/${file}`);
        assert.equal(r.status, 200, file);
        assert.equal(r.headers['content-security-policy'], CONTENT_SECURITY_POLICY, file);
        assert.equal(r.headers['x-content-type-options'], 'nosniff', file);
        assert.match(String(r.headers['content-type']), file.endsWith('.css') ? /^text\/css/ : /^text\/javascript/, file);
        assert.equal(r.headers['content-encoding'], undefined, `${file}: sent plain to a client that does not take gzip`);
        const again = await request(`${d.url}/dashboard/${file}`, { headers: { 'if-none-match': String(r.headers.etag) } });
        assert.equal(again.status, 304, file);
        // The gzip bytes are another representation: their own ETag, and the plain one's does not validate them.
        const packed = await request(`${d.url}/dashboard/${file}`, { headers: { 'accept-encoding': 'gzip' } });
        assert.notEqual(packed.headers.etag, r.headers.etag, `${file}: one ETag per encoding`);
        const stale = { 'accept-encoding': 'gzip', 'if-none-match': String(r.headers.etag) };
        assert.equal((await request(`${d.url}/dashboard/${file}`, { headers: stale })).status, 200, file);
        const listed = { 'accept-encoding': 'gzip', 'if-none-match': `"x", W/${String(packed.headers.etag)}` };
        assert.equal((await request(`${d.url}/dashboard/${file}`, { headers: listed })).status, 304, `${file}: a list, weakly compared`);
      }
      // Raw paths (a URL would be normalised by the client before it is sent).
      for (const path of ['/dashboard/..%2Fpackage.json', '/dashboard/%2e%2e%2Fpackage.json', '/dashboard/..%5Cpackage.json']) {
        const raw = await rawRequest(d.url, `GET ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n`);
        assert.ok(raw.status === 404 || raw.status === 400, `${path}: ${raw.status}`);
        assert.doesNotMatch(raw.text, /"name":\s*"headroom-memory"/, `${path} served package.json`);
      }
      const unknown = await request(`${d.url}/dashboard/index.html`);
      assert.equal(unknown.status, 404, 'only the listed names');
      const slash = await request(`${d.url}/dashboard/`);
      assert.equal(slash.status, 308);
      assert.equal(slash.headers.location, '../dashboard');
      for (const r of [unknown, slash])
        assert.equal(r.headers['content-security-policy'], CONTENT_SECURITY_POLICY, 'errors and redirects too');
      const feed = await openFeed(`${d.url}/admin/dashboard/feed`);
      assert.equal(feed.headers['content-security-policy'], CONTENT_SECURITY_POLICY);
      assert.equal(feed.headers['cache-control'], 'no-store');
      assert.match(String(feed.headers['content-type']), /^application\/x-ndjson/);
      feed.close();
    } finally {
      await d.close();
    }
  });

  test('the feed answers with X-Request-Id like every other route: the client id kept, a fresh one otherwise, the 503 too', async () => {
    await assertNoLeakedHandles(async () => {
      const d = await startDashboardApp({ maxViewers: 1 });
      try {
        const feed = await openFeed(`${d.url}/admin/dashboard/feed`, { ...auth, 'x-request-id': 'feed-id-1' });
        assert.equal(feed.status, 200);
        assert.equal(feed.headers['x-request-id'], 'feed-id-1');
        assert.equal(feed.headers['content-security-policy'], CONTENT_SECURITY_POLICY);
        const full = await openFeed(`${d.url}/admin/dashboard/feed`);
        assert.equal(full.status, 503);
        assert.match(String(full.headers['x-request-id']), /^[0-9a-f-]{36}$/, 'a generated id on the refusal');
        feed.close();
        await waitFor(() => d.dashboard.stats().viewers === 0, 'the viewer to leave');
        const fresh = await openFeed(`${d.url}/admin/dashboard/feed`);
        assert.equal(fresh.status, 200);
        assert.match(String(fresh.headers['x-request-id']), /^[0-9a-f-]{36}$/, 'a generated id on the feed');
        fresh.close();
        await waitFor(() => d.dashboard.stats().viewers === 0, 'the viewer to leave');
      } finally {
        await d.close();
      }
    });
  });

  test('the feed sends a frame at once, then one per interval, with the monitor status', async () => {
    await assertNoLeakedHandles(async () => {
      const d = await startDashboardApp({ interval: 250 });
      try {
        const feed = await openFeed(`${d.url}/admin/dashboard/feed`);
        await waitFor(() => feed.frames.length >= 1, 'the first frame', 1_000);
        const first = feed.frames[0]!;
        assert.equal(first.status, 'healthy');
        assert.equal(first.heap.limit, 512 * 1024 * 1024);
        assert.ok(Math.abs(first.heap.percent - 10) < 0.01, String(first.heap.percent));
        assert.deepEqual([first.cache, first.proxy, first.image], [null, null, null], 'parts the app lacks are null');
        d.mem.setHeapRatio(0.95);
        await waitFor(() => feed.frames.at(-1)?.status === 'critical', 'a critical frame', 2_000);
        assert.ok(feed.frames.length >= 2);
        feed.close();
        await waitFor(() => d.dashboard.stats().viewers === 0, 'the viewer to leave');
      } finally {
        await d.close();
      }
    });
  });

  test('at most DASHBOARD_MAX_VIEWERS feeds: one more is 503 HEADROOM_DASHBOARD_FULL, a freed slot is taken again', async () => {
    await assertNoLeakedHandles(async () => {
      const d = await startDashboardApp({ maxViewers: 2 });
      try {
        const a = await openFeed(`${d.url}/admin/dashboard/feed`);
        const b = await openFeed(`${d.url}/admin/dashboard/feed`);
        assert.deepEqual([a.status, b.status], [200, 200]);
        const c = await openFeed(`${d.url}/admin/dashboard/feed`);
        assert.equal(c.status, 503);
        assert.equal(JSON.parse(c.body).error.code, 'HEADROOM_DASHBOARD_FULL');
        assert.match(JSON.parse(c.body).error.message, /2 viewers/);
        assert.ok(Number(c.headers['retry-after']) > 0);
        assert.equal(c.headers['content-security-policy'], CONTENT_SECURITY_POLICY, 'the refusal carries the security headers too');
        a.close();
        await waitFor(() => d.dashboard.stats().viewers === 1, 'the slot to be given back');
        const e = await openFeed(`${d.url}/admin/dashboard/feed`);
        assert.equal(e.status, 200);
        b.close();
        e.close();
      } finally {
        await d.close();
      }
    });
  });

  test('GET /admin/memory-history: the monitor history as columns; ?since= filters; a bad since is 400', async () => {
    const d = await startDashboardApp();
    try {
      // Only the samples taken here: a timed one between the request and history() would race the counts.
      d.monitor.stop();
      for (let i = 0; i < 5; i++) {
        d.mem.setHeapRatio(0.1 + i * 0.01);
        d.monitor.sampleNow();
      }
      const h = (await request(`${d.url}/admin/memory-history`, { headers: auth })).json();
      assert.equal(h.heapLimit, 512 * 1024 * 1024);
      assert.deepEqual(h.thresholds, { warningPercent: 75, criticalPercent: 85 });
      assert.equal(h.count, d.monitor.history().length);
      for (const [name, column] of Object.entries(h.series)) assert.equal((column as unknown[]).length, h.count, name);
      assert.deepEqual(
        h.series.heapUsed.slice(-5),
        d.monitor
          .history()
          .slice(-5)
          .map((s) => s.v8.usedHeapSize),
      );
      const since = h.series.timestamp.at(-3);
      const later = (await request(`${d.url}/admin/memory-history?since=${since}`, { headers: auth })).json();
      assert.ok(later.series.timestamp.every((t: number) => t > since));
      assert.ok(later.count < h.count);
      for (const bad of ['yesterday', '-1', '1.5', '1&since=2']) {
        const r = await request(`${d.url}/admin/memory-history?since=${bad}`, { headers: auth });
        assert.equal(r.status, 400, bad);
        assert.match(r.json().error.message, /"since" must be given once, as epoch milliseconds/);
      }
    } finally {
      await d.close();
    }
  });

  test('DASHBOARD_ENABLED=false: no page and no feed; the history stays for scripts', async () => {
    const d = await startDashboardApp({ enabled: false });
    try {
      const page = await request(`${d.url}/dashboard`);
      assert.equal(page.status, 404);
      assert.match(page.text, /the dashboard is turned off \(DASHBOARD_ENABLED=false\)/);
      assert.equal((await request(`${d.url}/admin/dashboard/feed`, { headers: auth })).status, 404);
      assert.equal((await request(`${d.url}/admin/memory-history`, { headers: auth })).status, 200);
    } finally {
      await d.close();
    }
  });

  test('closing the app with viewers open ends their feeds at once and leaves no handle', async () => {
    await assertNoLeakedHandles(async () => {
      const d = await startDashboardApp();
      const feeds = await Promise.all([openFeed(`${d.url}/admin/dashboard/feed`), openFeed(`${d.url}/admin/dashboard/feed`)]);
      await waitFor(() => feeds.every((f) => f.frames.length > 0), 'a frame on each feed');
      const started = performance.now();
      await d.close();
      assert.ok(performance.now() - started < 1_000, 'open feeds do not hold the close');
      assert.equal(d.dashboard.stats().viewers, 0);
      for (const f of feeds) f.close();
    });
  });
});
