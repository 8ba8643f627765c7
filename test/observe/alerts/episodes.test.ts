// Episodes: one firing and one resolved notification per episode, whatever the signal does in
// between. Status changes come from a real memory monitor (its own hysteresis); the other
// thresholds are checked with check() on a clock the test moves, so nothing races a timer.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertNoLeakedHandles } from '../../helpers/resources.js';
import { waitFor } from '../../helpers/wait.js';
import { createMemoryMonitor } from '../../../src/monitor/index.js';
import { createAlerter, type AlertEvent } from '../../../src/observe/alerts/index.js';
import { fakeMemory } from '../../monitor/helpers.js';
import { closeAllReceivers, startReceiver } from './receiver.js';
import { rig, seen } from './setup.js';

after(closeAllReceivers);

const MIB = 1024 * 1024;

describe('alerts: memory status', () => {
  test('warning and critical each fire once and resolve once; flapping inside the hysteresis sends nothing', async () => {
    await assertNoLeakedHandles(async () => {
      const r = await rig();
      r.heap(0.5);
      r.heap(0.76); // healthy -> warning
      await waitFor(() => r.receiver.delivered().length === 1, 'the warning notification');
      // Flapping around the warning threshold (75 %, hysteresis 5 points): the status stays warning.
      for (let i = 0; i < 50; i++) r.heap(i % 2 ? 0.74 : 0.76);
      r.heap(0.86); // -> critical
      for (let i = 0; i < 50; i++) r.heap(i % 2 ? 0.84 : 0.86); // stays critical
      r.heap(0.79); // -> warning: critical resolves
      r.heap(0.5); // -> healthy: warning resolves
      await r.alerter.flush();
      assert.deepEqual(seen(r.receiver), [
        ['memory_warning:firing'],
        ['memory_critical:firing'],
        ['memory_critical:resolved'],
        ['memory_warning:resolved'],
      ]);
      const [fired, , , resolved] = r.receiver.delivered();
      assert.equal(fired!.json.alerts[0].severity, 'warning');
      assert.equal(fired!.json.alerts[0].value, 76);
      assert.equal(fired!.json.alerts[0].threshold, 75);
      assert.match(fired!.json.alerts[0].summary, /memory status warning: heap 76 % of the V8 limit/);
      assert.equal(resolved!.json.alerts[0].startsAt, fired!.json.alerts[0].startsAt, 'the resolve names the episode it ends');
      assert.ok(resolved!.json.alerts[0].endsAt);
      assert.deepEqual(r.alerter.firing(), []);
      const s = r.alerter.stats();
      assert.equal(s.sent, 4);
      assert.equal(s.failed, 0);
      await r.close();
    });
  });

  test('without a hysteresis band (MEMORY_HYSTERESIS=0) the time hold stands in: flapping at the threshold is one episode', async () => {
    await assertNoLeakedHandles(async () => {
      const r = await rig({ resolveAfter: 60_000 }, undefined, { hysteresis: 0 });
      r.heap(0.5);
      for (let i = 0; i < 50; i++) {
        r.heap(i % 2 ? 0.76 : 0.74); // every crossing changes the status; the last one is up
        r.clock.now += 1_000;
      }
      r.heap(0.5);
      r.clock.now += 59_000;
      assert.deepEqual(r.alerter.check(), [], 'clear for 59 of the 60 s');
      r.clock.now += 1_000;
      const [resolved] = r.alerter.check();
      assert.equal(resolved?.name, 'memory_warning');
      assert.equal(resolved.status, 'resolved');
      await r.alerter.flush();
      assert.deepEqual(seen(r.receiver), [['memory_warning:firing'], ['memory_warning:resolved']]);
      await r.close();
    });
  });

  test('a jump from healthy to critical is one notification carrying both alerts, and so is the way back', async () => {
    await assertNoLeakedHandles(async () => {
      const r = await rig();
      r.heap(0.95);
      r.heap(0.1);
      await r.alerter.flush();
      assert.deepEqual(seen(r.receiver), [
        ['memory_warning:firing', 'memory_critical:firing'],
        ['memory_warning:resolved', 'memory_critical:resolved'],
      ]);
      await r.close();
    });
  });

  test('created while critical: fires at once, before any status change', async () => {
    await assertNoLeakedHandles(async () => {
      const mem = fakeMemory();
      mem.setHeapRatio(0.9);
      const monitor = createMemoryMonitor({ sampler: mem.sampler, autoStart: false, rssLimit: null, historyInterval: 0 });
      const receiver = await startReceiver();
      const alerter = createAlerter({ webhookUrls: [receiver.url], monitor });
      await waitFor(() => receiver.delivered().length === 1, 'the notification sent at start');
      assert.deepEqual(seen(receiver), [['memory_warning:firing', 'memory_critical:firing']]);
      await alerter.close();
      await monitor.close();
      await receiver.close();
    });
  });
});

test('alerts still firing when the alerter closes are resolved then, saying the instance is shutting down', async () => {
  await assertNoLeakedHandles(async () => {
    const r = await rig();
    r.heap(0.9); // critical (and warning)
    await r.alerter.flush();
    r.clock.now += 60_000;
    await r.alerter.close();
    assert.deepEqual(seen(r.receiver), [
      ['memory_warning:firing', 'memory_critical:firing'],
      ['memory_warning:resolved', 'memory_critical:resolved'],
    ]);
    const [fired, ended] = r.receiver.delivered().map((q) => q.json.alerts[1]);
    assert.equal(ended.startsAt, fired.startsAt, 'the resolve names the episode it ends');
    assert.equal(ended.endsAt, new Date(r.clock.now).toISOString());
    assert.equal(ended.value, null, 'the condition was not seen to clear');
    assert.match(ended.summary, /^memory status critical: .*\(no longer watched: this instance is shutting down\)$/);
    assert.deepEqual(r.alerter.firing(), []);
    assert.equal(r.alerter.stats().sent, 2);
    await r.close(); // closing again sends nothing more
    assert.equal(r.receiver.delivered().length, 2);
  });
});

describe('alerts: thresholds with a hold before resolving', () => {
  test('heap forecast: fires when the post-GC trend reaches the limit within ALERT_HEAP_FORECAST, resolves after the hold', async () => {
    await assertNoLeakedHandles(async () => {
      const r = await rig({ heapForecast: '1h', resolveAfter: '5m' });
      // 1 GiB limit, 100 MiB post-GC: +512 MiB/h reaches the limit in 1.8 h: no alert.
      r.trend.bytesPerHour = 512 * MIB;
      assert.deepEqual(r.alerter.check(), []);
      // +1 GiB/h: 54 min.
      r.trend.bytesPerHour = 1024 * MIB;
      const [fired] = r.alerter.check();
      assert.equal(fired?.name, 'heap_forecast');
      assert.equal(fired.severity, 'critical');
      assert.ok(Math.abs(fired.value! - (924 / 1024) * 3_600_000) < 1000, String(fired.value));
      assert.match(fired.summary, /heap reaches its V8 limit in 54m \d+s at the post-GC trend \(\+1\.00 GiB\/h/);
      // The trend flattens, comes back within the hold, flattens again: still one episode.
      r.trend.bytesPerHour = 0;
      r.clock.now += 60_000;
      assert.deepEqual(r.alerter.check(), []);
      r.trend.bytesPerHour = 1024 * MIB;
      r.clock.now += 60_000;
      assert.deepEqual(r.alerter.check(), []);
      r.trend.bytesPerHour = null;
      r.clock.now += 60_000;
      assert.deepEqual(r.alerter.check(), []);
      r.clock.now += 4 * 60_000;
      assert.deepEqual(r.alerter.check(), [], 'clear for 4 of the 5 minutes');
      r.clock.now += 60_000;
      const [resolved] = r.alerter.check();
      assert.equal(resolved?.status, 'resolved');
      await r.alerter.flush();
      assert.deepEqual(seen(r.receiver), [['heap_forecast:firing'], ['heap_forecast:resolved']]);
      await r.close();
    });
  });

  test('event-loop p99: the median of the samples since the last check decides; one stall does not fire', async () => {
    await assertNoLeakedHandles(async () => {
      const r = await rig({ eventLoopP99: 200, resolveAfter: 0 });
      const samples = (p99s: number[]): void => {
        for (const p of p99s) r.monitor.sampleNow().eventLoop.delayP99 = p;
      };
      samples([5, 900, 4, 6, 3]);
      assert.deepEqual(r.alerter.check(), [], 'one stall among five samples');
      samples([250, 300, 5, 400]);
      const fired = r.alerter.check();
      assert.deepEqual(
        fired.map((e) => [e.name, e.status, e.value]),
        [['event_loop_delay', 'firing', 250]], // the lower median of 5, 250, 300, 400,
      );
      samples([500, 600, 700]);
      assert.deepEqual(r.alerter.check(), [], 'still firing: nothing new');
      samples([1, 2, 3]);
      assert.deepEqual(
        r.alerter.check().map((e) => `${e.name}:${e.status}`),
        ['event_loop_delay:resolved'],
      );
      // No new sample since the last check: the latest one is read again.
      assert.deepEqual(r.alerter.check(), []);
      await r.close();
    });
  });

  test('event-loop p99: one stall does not fire when a check sees one new sample or none (short ALERT_CHECK_INTERVAL)', async () => {
    await assertNoLeakedHandles(async () => {
      // A history entry at most once an hour: every check sees the monitor's latest sample only, as
      // a 500-ms check interval does with the default 1-s history interval.
      const monitor = createMemoryMonitor({ sampler: fakeMemory().sampler, autoStart: false, rssLimit: null, historyInterval: 3_600_000 });
      const r = await rig({ eventLoopP99: 200, resolveAfter: 0, monitor });
      try {
        const sample = (p99: number): void => {
          monitor.sampleNow().eventLoop.delayP99 = p99;
        };
        for (const p of [5, 4, 6]) {
          sample(p);
          assert.deepEqual(r.alerter.check(), []);
        }
        sample(900); // one long GC pause
        assert.deepEqual(r.alerter.check(), [], 'one stall among the last three samples');
        assert.deepEqual(r.alerter.check(), [], 'no new sample: the same three');
        sample(700); // slow again: most of the last three samples
        const fired = r.alerter.check();
        assert.deepEqual(
          fired.map((e) => [e.name, e.status, e.value]),
          [['event_loop_delay', 'firing', 700]],
        );
        assert.match(fired[0]!.summary, /median over 3 samples/);
        // A new alerter whose first check sees one slow sample: one is not "most samples" either.
        const late = await rig({ eventLoopP99: 200, resolveAfter: 0, monitor });
        sample(900);
        assert.deepEqual(late.alerter.check(), [], 'a stall in the first check, the only sample so far');
        await late.close();
      } finally {
        await r.close();
        await monitor.close();
      }
    });
  });

  test('shedding rate: requests shed per second over the check interval, against ALERT_SHED_RATE', async () => {
    await assertNoLeakedHandles(async () => {
      let shed = 1000; // counted before the alerter started: the baseline, not a burst
      const r = await rig({ shedRate: 2, resolveAfter: '30s', shedCount: () => shed });
      r.clock.now += 10_000;
      shed += 15; // 1.5/s
      assert.deepEqual(r.alerter.check(), []);
      r.clock.now += 10_000;
      shed += 25; // 2.5/s
      const [fired] = r.alerter.check();
      assert.equal(fired?.name, 'shedding');
      assert.equal(fired.value, 2.5);
      assert.match(fired.summary, /25 requests shed or refused in 10 s \(2\.5\/s; bound 2\/s\)/);
      for (let i = 0; i < 2; i++) {
        r.clock.now += 10_000;
        assert.deepEqual(r.alerter.check(), [], 'clear, within the 30 s hold');
      }
      r.clock.now += 10_000;
      shed += 100; // back above the bound before the hold ends: same episode
      assert.deepEqual(r.alerter.check(), []);
      for (let i = 0; i < 3; i++) {
        r.clock.now += 10_000;
        assert.deepEqual(r.alerter.check(), []);
      }
      r.clock.now += 10_000;
      assert.deepEqual(
        r.alerter.check().map((e) => `${e.name}:${e.status}`),
        ['shedding:resolved'],
      );
      await r.alerter.flush();
      assert.equal(r.receiver.delivered().length, 2);
      await r.close();
    });
  });

  test('L2 unavailable: a flapping Redis is one episode; no L2 at all is no alert', async () => {
    await assertNoLeakedHandles(async () => {
      let l2: boolean | null = true;
      const r = await rig({ resolveAfter: '1m', l2Available: () => l2 });
      assert.deepEqual(r.alerter.check(), []);
      l2 = false;
      assert.deepEqual(
        r.alerter.check().map((e) => `${e.name}:${e.status}:${e.severity}`),
        ['l2_unavailable:firing:warning'],
      );
      for (let i = 0; i < 20; i++) {
        l2 = i % 2 === 0;
        r.clock.now += 5_000;
        assert.deepEqual(r.alerter.check(), [], `flap ${i}`);
      }
      l2 = true;
      r.clock.now += 5_000;
      assert.deepEqual(r.alerter.check(), []);
      r.clock.now += 59_000;
      assert.deepEqual(r.alerter.check(), [], 'clear for 59 s of the 60');
      r.clock.now += 1_000;
      assert.deepEqual(
        r.alerter.check().map((e) => `${e.name}:${e.status}`),
        ['l2_unavailable:resolved'],
      );
      assert.deepEqual(r.alerter.stats().firing.l2_unavailable, 0);
      l2 = null;
      r.clock.now += 60_000;
      assert.deepEqual(r.alerter.check(), []);
      await r.close();
    });
  });

  test('an alert set to 0 is off', async () => {
    await assertNoLeakedHandles(async () => {
      const r = await rig({ heapForecast: 0, eventLoopP99: 0, shedRate: 0, shedCount: () => 1e9 });
      r.trend.bytesPerHour = 1024 ** 4;
      r.monitor.sampleNow().eventLoop.delayP99 = 60_000;
      r.clock.now += 10_000;
      assert.deepEqual(r.alerter.check(), []);
      await r.close();
    });
  });
});

test('alerts: a callback that throws is no reading; the other alerts are checked, the timer goes on, one log per failure streak', async () => {
  await assertNoLeakedHandles(async () => {
    let fail = true;
    const warned: string[] = [];
    const r = await rig({
      checkInterval: 100,
      resolveAfter: 0,
      logger: { warn: (_o: unknown, msg?: string) => void warned.push(String(msg)), info: () => {} },
      l2Available: () => {
        if (fail) throw new Error('stats failed');
        return false;
      },
    });
    try {
      const line = 'alert reading l2Available() failed: its alerts are not checked until it works again';
      assert.deepEqual(r.alerter.check(), [], 'a direct call does not throw');
      assert.deepEqual(r.alerter.check(), [], 'nor does the next');
      assert.deepEqual(warned, [line], 'one line for the streak (timed checks in it included)');
      assert.equal(r.alerter.stats().readingsFailing, 1, 'counted for the metrics while it fails');
      fail = false;
      await waitFor(() => r.alerter.firing().includes('l2_unavailable'), 'a later timed check fired');
      assert.deepEqual(warned, [line]);
      assert.equal(r.alerter.stats().readingsFailing, 0);
      fail = true;
      r.alerter.check();
      assert.deepEqual(warned, [line, line], 'a new streak is logged again');
    } finally {
      await r.close();
    }
  });
});

test('alerts: a reading that throws does not lose the notifications of the alerts already stepped in that check', async () => {
  await assertNoLeakedHandles(async () => {
    let fail = false;
    const r = await rig({
      resolveAfter: 0,
      l2Available: () => {
        if (fail) throw new Error('cache stats failed');
        return true;
      },
    });
    assert.deepEqual(r.alerter.check(), []);
    // heap_forecast starts firing in the very check in which l2Available throws.
    try {
      r.trend.bytesPerHour = 1024 ** 4;
      fail = true;
      let events: AlertEvent[] | Error;
      try {
        events = r.alerter.check();
      } catch (err) {
        events = err as Error;
      }
      await r.alerter.flush();
      assert.deepEqual(r.alerter.firing(), ['heap_forecast']);
      assert.equal(r.alerter.stats().firing.heap_forecast, 1);
      assert.deepEqual(seen(r.receiver), [['heap_forecast:firing']], 'firing, so its firing notification was sent');
      assert.deepEqual(
        Array.isArray(events) ? events.map((e) => `${e.name}:${e.status}`) : events,
        ['heap_forecast:firing'],
        'check() returns what it sent',
      );
      r.trend.bytesPerHour = null;
      r.alerter.check();
      await r.alerter.flush();
      assert.deepEqual(seen(r.receiver), [['heap_forecast:firing'], ['heap_forecast:resolved']]);
    } finally {
      await r.close();
    }
  });
});
