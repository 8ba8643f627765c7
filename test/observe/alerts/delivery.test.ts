// Delivery against a real receiver on 127.0.0.1 that is slow, refuses (closed port, 503, 400) and
// recovers: bounded queue and drop counter, retries, a bounded timeout, HMAC signatures, the Slack
// and Alertmanager shapes, several webhooks, close() within its bound and without a handle left.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Registry } from 'prom-client';
import { verifySignature, type AlertStats } from '../../../src/observe/alerts/index.js';
import { registerAlertMetrics } from '../../../src/metrics/alerts.js';
import { assertNoLeakedHandles } from '../../helpers/resources.js';
import { waitFor } from '../../helpers/wait.js';
import { closeAllReceivers, startReceiver } from './receiver.js';
import { rig, seen } from './setup.js';

after(closeAllReceivers);

const SECRET = 'a-test-secret-of-enough-length';

/** Every notification is sent, failed, dropped or pending: nothing disappears unaccounted. */
function total(s: AlertStats): number {
  return s.sent + s.failed + s.dropped.queue_full + s.dropped.close + s.pending;
}

/** One L2 outage episode a call (resolveAfter 0): each call queues one notification. */
function flapper(): { l2Available: () => boolean; next(check: () => unknown): void } {
  let up = true;
  return {
    l2Available: () => up,
    next(check) {
      up = !up;
      check();
    },
  };
}

describe('alerts: delivery', () => {
  test('HMAC: the signature verifies over the raw body and timestamp; a changed body, secret or an old timestamp does not', async () => {
    await assertNoLeakedHandles(async () => {
      const r = await rig({ hmacSecret: SECRET });
      r.heap(0.8);
      await r.alerter.flush();
      const [q] = r.receiver.delivered();
      assert.ok(q);
      const ts = q.headers['x-headroom-timestamp'] as string;
      const sig = q.headers['x-headroom-signature'] as string;
      assert.match(sig, /^sha256=[0-9a-f]{64}$/);
      assert.equal(Number(ts), Math.floor(r.clock.now / 1000), 'the timestamp is the send time in Unix seconds');
      const nowSeconds = Number(ts) + 10;
      assert.equal(verifySignature(SECRET, q.body, ts, sig, { nowSeconds }), true);
      assert.equal(verifySignature(SECRET, Buffer.concat([q.body, Buffer.from(' ')]), ts, sig, { nowSeconds }), false, 'body changed');
      assert.equal(verifySignature(`${SECRET}x`, q.body, ts, sig, { nowSeconds }), false, 'another secret');
      assert.equal(verifySignature(SECRET, q.body, String(Number(ts) + 1), sig, { nowSeconds }), false, 'another timestamp');
      assert.equal(verifySignature(SECRET, q.body, ts, sig, { nowSeconds: Number(ts) + 301 }), false, 'replayed after 5 minutes');
      assert.equal(verifySignature(SECRET, q.body, ts, undefined), false);
      await r.close();
    });
  });

  test('without a secret there are no signature headers', async () => {
    await assertNoLeakedHandles(async () => {
      const r = await rig();
      r.heap(0.8);
      await r.alerter.flush();
      const [q] = r.receiver.delivered();
      assert.equal(q!.headers['x-headroom-signature'], undefined);
      assert.equal(q!.headers['content-type'], 'application/json');
      await r.close();
    });
  });

  test('generic JSON shape', async () => {
    await assertNoLeakedHandles(async () => {
      const r = await rig({ instance: 'gw-1' });
      r.heap(0.8);
      await r.alerter.flush();
      const body = r.receiver.delivered()[0]!.json;
      assert.deepEqual(Object.keys(body), ['version', 'source', 'instance', 'status', 'alerts']);
      assert.equal(body.instance, 'gw-1');
      assert.equal(body.status, 'firing');
      assert.deepEqual(Object.keys(body.alerts[0]).sort(), [
        'name',
        'severity',
        'startsAt',
        'status',
        'summary',
        'threshold',
        'unit',
        'value',
      ]);
      assert.equal(body.alerts[0].startsAt, new Date(r.clock.now).toISOString());
      await r.close();
    });
  });

  test('Slack format: a body with `text` only, one line per alert', async () => {
    await assertNoLeakedHandles(async () => {
      const r = await rig({ format: 'slack', instance: 'gw-1' });
      r.heap(0.9);
      r.clock.now += 125_000;
      r.heap(0.1);
      await r.alerter.flush();
      const [fired, resolved] = r.receiver.delivered().map((q) => q.json);
      assert.deepEqual(Object.keys(fired), ['text']);
      const lines = (fired.text as string).split('\n');
      assert.equal(lines.length, 2);
      assert.match(lines[0]!, /^:large_orange_circle: \*FIRING\* `memory_warning` \(warning\) on gw-1: memory status critical: heap 90 %/);
      assert.match(lines[1]!, /^:red_circle: \*FIRING\* `memory_critical` \(critical\) on gw-1: /);
      assert.match(
        resolved.text,
        /^:large_green_circle: \*RESOLVED\* `memory_warning` \(warning\) on gw-1 after 2m 5s: memory status healthy/,
      );
      await r.close();
    });
  });

  test('Alertmanager format: the webhook payload version 4', async () => {
    await assertNoLeakedHandles(async () => {
      const r = await rig({ format: 'alertmanager', instance: 'gw-1' });
      r.heap(0.8);
      r.clock.now += 60_000;
      r.heap(0.1);
      await r.alerter.flush();
      const [fired, resolved] = r.receiver.delivered().map((q) => q.json);
      assert.equal(fired.version, '4');
      assert.equal(fired.status, 'firing');
      assert.equal(fired.receiver, 'headroom');
      assert.equal(fired.truncatedAlerts, 0);
      assert.equal(typeof fired.groupKey, 'string');
      assert.deepEqual(fired.groupLabels, { instance: 'gw-1' });
      assert.deepEqual(fired.commonLabels, { alertname: 'memory_warning', instance: 'gw-1', service: 'headroom', severity: 'warning' });
      const [a] = fired.alerts;
      assert.equal(a.status, 'firing');
      assert.equal(a.endsAt, '0001-01-01T00:00:00Z', 'a firing alert has the zero time as its end');
      assert.match(a.fingerprint, /^[0-9a-f]{16}$/);
      assert.match(a.annotations.summary, /memory status warning/);
      assert.equal(a.annotations.threshold, '75');
      assert.equal(resolved.status, 'resolved');
      const [b] = resolved.alerts;
      assert.equal(b.fingerprint, a.fingerprint, 'the same alert: the same fingerprint');
      assert.equal(b.startsAt, a.startsAt);
      assert.equal(b.endsAt, new Date(r.clock.now).toISOString());
      await r.close();
    });
  });

  test('several webhooks each get every notification', async () => {
    await assertNoLeakedHandles(async () => {
      const other = await startReceiver();
      const first = await startReceiver();
      const r = await rig({ webhookUrls: `${first.url}, ${other.url}` });
      r.heap(0.8);
      await r.alerter.flush();
      assert.deepEqual(seen(first), [['memory_warning:firing']]);
      assert.deepEqual(seen(other), [['memory_warning:firing']]);
      assert.equal(r.receiver.requests.length, 0, 'the rig receiver is not among the webhooks');
      assert.equal(r.alerter.stats().sent, 2);
      await r.close();
      await first.close();
      await other.close();
    });
  });

  test('user:password@ in the URL is sent as Basic authorization, not in the request line', async () => {
    await assertNoLeakedHandles(async () => {
      const rec = await startReceiver();
      const r = await rig({ webhookUrls: rec.url.replace('http://', 'http://alice:s%40cret@') });
      r.heap(0.8);
      await r.alerter.flush();
      assert.equal(rec.delivered()[0]!.headers.authorization, `Basic ${Buffer.from('alice:s@cret').toString('base64')}`);
      await r.close();
      await rec.close();
    });
  });
});

describe('alerts: a receiver that fails', () => {
  test('refusing (port closed), then back: retried with backoff and delivered once', async () => {
    await assertNoLeakedHandles(async () => {
      const r = await rig({ retries: 20, retryDelay: 20, maxRetryDelay: 100 });
      await r.receiver.stop();
      r.heap(0.8);
      // Three refused attempts, then the receiver comes back on the same port.
      await waitFor(() => r.alerter.stats().attempts >= 3, 'three refused attempts');
      assert.equal(r.alerter.stats().pending, 1);
      await r.receiver.start();
      await r.alerter.flush();
      const s = r.alerter.stats();
      assert.deepEqual([s.sent, s.failed, s.pending], [1, 0, 0]);
      assert.deepEqual(seen(r.receiver), [['memory_warning:firing']]);
      await r.close();
    });
  });

  test('503 then 200: retried until accepted; 503 forever: failed after ALERT_RETRIES; 400: failed at once', async () => {
    await assertNoLeakedHandles(async () => {
      const warned: { webhook: number; why: string }[] = [];
      const r = await rig({ retries: 2, logger: { warn: (o: unknown) => void warned.push(o as (typeof warned)[number]), info: () => {} } });
      r.receiver.script.push(503, 503);
      r.heap(0.8);
      await r.alerter.flush();
      assert.deepEqual(
        r.receiver.requests.map((q) => q.status),
        [503, 503, 204],
      );
      assert.deepEqual([r.alerter.stats().sent, r.alerter.stats().failed], [1, 0]);

      r.receiver.mode = { kind: 'status', status: 503 };
      r.heap(0.1);
      await r.alerter.flush();
      assert.equal(r.receiver.requests.length, 3 + 3, 'one attempt and two retries');
      assert.deepEqual([r.alerter.stats().sent, r.alerter.stats().failed], [1, 1]);

      r.receiver.mode = { kind: 'status', status: 400 };
      r.heap(0.8);
      await r.alerter.flush();
      assert.equal(r.receiver.requests.length, 7, 'a 4xx is not retried');
      assert.deepEqual([r.alerter.stats().sent, r.alerter.stats().failed], [1, 2]);
      assert.deepEqual(warned, [
        { webhook: 1, why: 'still failing after 3 attempts (last: status 503)' },
        { webhook: 1, why: 'refused with status 400' },
      ]);
      await r.close();
    });
  });

  test("429 with Retry-After (Slack's rate limit): the retry waits what the receiver asked, not the shorter backoff", async () => {
    await assertNoLeakedHandles(async () => {
      const r = await rig({ retries: 2, retryDelay: 10, maxRetryDelay: 20 });
      r.receiver.script.push([429, { 'retry-after': '1' }]);
      r.heap(0.8);
      await r.alerter.flush();
      const [limited, retried] = r.receiver.requests;
      assert.deepEqual(
        r.receiver.requests.map((q) => q.status),
        [429, 204],
      );
      // A lower bound only: the retry can never come sooner than asked (the backoff alone is ≤ 20 ms).
      assert.ok(retried!.at - limited!.at >= 990, `retried after ${Math.round(retried!.at - limited!.at)} ms`);
      assert.deepEqual([r.alerter.stats().sent, r.alerter.stats().failed], [1, 0]);
      await r.close();
    });
  });

  test('a receiver that never answers costs ALERT_TIMEOUT per attempt; a slow one within it is fine', async () => {
    await assertNoLeakedHandles(async () => {
      const r = await rig({ timeout: 200, retries: 1 }, { kind: 'blackhole' });
      const started = performance.now();
      r.heap(0.8);
      await r.alerter.flush();
      const took = performance.now() - started;
      assert.equal(r.receiver.requests.length, 2);
      assert.deepEqual([r.alerter.stats().sent, r.alerter.stats().failed], [0, 1]);
      assert.ok(took >= 2 * 200 - 20 && took < 2 * 200 + 1000, `two attempts of 200 ms: ${took} ms`);

      r.receiver.mode = { kind: 'slow', ms: 100 };
      r.heap(0.1);
      await r.alerter.flush();
      assert.deepEqual([r.alerter.stats().sent, r.alerter.stats().failed], [1, 1]);
      await r.close();
    });
  });

  test('queue cap: a stuck receiver makes the oldest waiting notifications drop, counted; the loop is never blocked', async () => {
    await assertNoLeakedHandles(async () => {
      const f = flapper();
      const r = await rig({ resolveAfter: 0, l2Available: f.l2Available, queueSize: 4, timeout: 60_000 }, { kind: 'blackhole' });
      const loop = monitorEventLoopDelay({ resolution: 10 });
      loop.enable();
      for (let i = 0; i < 1000; i++) f.next(r.alerter.check);
      loop.disable();
      await waitFor(() => r.receiver.requests.length === 1, 'the first notification is in flight');
      const s = r.alerter.stats();
      assert.equal(s.pending, 4, 'the one in flight and three waiting');
      assert.equal(s.dropped.queue_full, 996);
      assert.equal(total(s), 1000);
      assert.ok(loop.max < 200e6, `event loop delay max ${loop.max / 1e6} ms`);
      const registry = new Registry();
      registerAlertMetrics(registry, r.alerter);
      const text = await registry.metrics();
      assert.match(text, /^headroom_alerts_dropped_total\{reason="queue_full"\} 996$/m);
      assert.match(text, /^headroom_alerts_pending 4$/m);
      // close() gives the in-flight request up to ALERT_TIMEOUT (60 s here): it is aborted sooner
      // only by that bound, so use a short-timeout alerter for the close bound (next test).
      r.receiver.mode = { kind: 'ok' };
      await r.receiver.stop(); // the stuck request's connection is reset: it fails, the rest go in one attempt each
      await r.receiver.start();
      await r.alerter.close();
      const c = r.alerter.stats();
      assert.equal(total(c), 1000);
      assert.equal(c.pending, 0);
      await r.close();
    });
  });

  test('a notification waiting for its retry is the oldest: it is dropped first, and the next one goes at once', async () => {
    await assertNoLeakedHandles(async () => {
      const f = flapper();
      const r = await rig({ resolveAfter: 0, l2Available: f.l2Available, queueSize: 2, retryDelay: 60_000, maxRetryDelay: 60_000 });
      r.receiver.script.push(503);
      f.next(r.alerter.check); // fires: refused with 503, waits a minute for its retry
      // The alerter's own state, not the receiver's: the receiver has answered before the alerter has read the 503.
      await waitFor(() => r.alerter.stats().retrying === 1, 'the first attempt refused, its retry waiting');
      assert.equal(r.receiver.requests[0]!.status, 503);
      f.next(r.alerter.check); // resolves: queued behind the retry
      assert.equal(r.alerter.stats().pending, 2);
      f.next(r.alerter.check); // fires again: the queue is full, the waiting retry goes
      assert.equal(r.alerter.stats().retrying, 0, 'the dropped notification was the one waiting for its retry');
      await r.alerter.flush();
      const s = r.alerter.stats();
      assert.deepEqual([s.sent, s.failed, s.dropped.queue_full, s.pending], [2, 0, 1, 0]);
      assert.deepEqual(seen(r.receiver), [['l2_unavailable:resolved'], ['l2_unavailable:firing']]);
      await r.close();
    });
  });

  test('the byte cap drops too: ALERT_QUEUE_BYTES', async () => {
    await assertNoLeakedHandles(async () => {
      const f = flapper();
      const r = await rig({ resolveAfter: 0, l2Available: f.l2Available, queueBytes: '4KiB', timeout: 60_000 }, { kind: 'blackhole' });
      for (let i = 0; i < 200; i++) f.next(r.alerter.check);
      const s = r.alerter.stats();
      assert.ok(s.pendingBytes <= 4096, `${s.pendingBytes} bytes pending`);
      assert.ok(s.dropped.queue_full > 150, `${s.dropped.queue_full} dropped`);
      assert.equal(total(s), 200);
      await r.receiver.stop();
      await r.close();
    });
  });

  test('close() is bounded by ALERT_TIMEOUT with a black-holed receiver, counts the rest as dropped, and is idempotent', async () => {
    await assertNoLeakedHandles(async () => {
      const f = flapper();
      const warned: { fields: Record<string, unknown>; msg: string }[] = [];
      const logger = { warn: (fields: Record<string, unknown>, msg: string) => warned.push({ fields, msg }), info() {}, error() {} };
      const r = await rig({ resolveAfter: 0, l2Available: f.l2Available, timeout: 300, logger: logger as never }, { kind: 'blackhole' });
      for (let i = 0; i < 5; i++) f.next(r.alerter.check);
      await waitFor(() => r.receiver.requests.length === 1, 'in flight');
      const started = performance.now();
      const closing = r.alerter.close();
      assert.equal(r.alerter.close(), closing, 'a second close() is the same close');
      await closing;
      const took = performance.now() - started;
      assert.ok(took < 300 + 500, `close took ${took} ms`);
      const s = r.alerter.stats();
      assert.equal(s.sent, 0);
      // The five flaps, and the resolve of the fifth (still firing) made by close().
      assert.equal(total(s), 6);
      assert.ok(s.dropped.close + s.failed === 6, JSON.stringify(s));
      // The counters die with the process: the log says what was never delivered.
      const word = warned.find((w) => w.msg.startsWith('alerts: '));
      assert.ok(word, JSON.stringify(warned));
      assert.match(
        word.msg,
        new RegExp(
          `^alerts: ${s.dropped.close} notifications were never delivered \\(${s.dropped.close} still queued or in flight at shutdown, 0 dropped for a full queue\\)`,
        ),
      );
      assert.deepEqual(word.fields.dropped, { close: s.dropped.close, queue_full: 0 });
      // After close nothing is queued or checked.
      f.next(r.alerter.check);
      r.heap(0.9);
      assert.equal(total(r.alerter.stats()), 6);
      await r.close();
    });
  });
});
