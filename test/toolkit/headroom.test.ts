// The toolkit every adapter is built on: one shared monitor per process, shedding with the
// monitor's hysteresis, health and admin answers, in-flight tracking and close().
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import http, { type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { createHeadroom } from '../../src/toolkit/headroom.js';
import { acquireSharedMonitor, sharedMonitor } from '../../src/toolkit/shared-monitor.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';
import { refuses } from '../helpers/options.js';
import { waitFor } from '../helpers/wait.js';
import { fakeMemory } from '../monitor/helpers.js';

const TOKEN = 'a-long-admin-token-0123456789';
const admin = (path: string, method = 'GET', authorization: string | undefined = `Bearer ${TOKEN}`, client = 'c1') => ({
  method,
  path,
  query: new URLSearchParams(path.split('?')[1] ?? ''),
  authorization,
  client,
});

describe('createHeadroom', () => {
  it('shares one monitor per process and closes it with the last user, leaving no handle', async () => {
    await assertNoLeakedHandles(async () => {
      const warnings: string[] = [];
      const onWarning = (w: Error): void => void warnings.push(w.message);
      process.on('warning', onWarning);
      try {
        const a = createHeadroom({ monitor: { sampleInterval: 50 } });
        const b = createHeadroom({ monitor: { sampleInterval: 75 } });
        assert.equal(a.monitor, b.monitor);
        assert.equal(sharedMonitor(), a.monitor);
        await a.close();
        await a.close(); // idempotent
        assert.equal(sharedMonitor(), b.monitor, 'still used by b');
        await b.close();
        assert.equal(sharedMonitor(), undefined);
        await new Promise((resolve) => setImmediate(resolve));
        assert.equal(warnings.filter((w) => w.includes('already has a memory monitor')).length, 1, 'one warning for differing options');
      } finally {
        process.off('warning', onWarning);
      }
    });
  });

  it('survives a second copy of the module: the slot is a Symbol.for key on globalThis', async () => {
    const a = acquireSharedMonitor({});
    const slot = (globalThis as Record<symbol, unknown>)[Symbol.for('headroom-memory.shared-monitor')] as { monitor: unknown };
    assert.equal(slot.monitor, a.monitor);
    await a.release();
    assert.equal((globalThis as Record<symbol, unknown>)[Symbol.for('headroom-memory.shared-monitor')], undefined);
  });

  it('sheds with 503 + Retry-After while critical, recovers only below the hysteresis band, and never sheds exempt paths', async () => {
    const mem = fakeMemory();
    const hr = createHeadroom({
      monitor: { sampler: mem.sampler, warningThreshold: 0.7, criticalThreshold: 0.85, hysteresis: 0.05, autoStart: false },
      shedExempt: ['/webhooks'],
      retryAfter: 7,
    });
    try {
      mem.setHeapRatio(0.5);
      hr.monitor.sampleNow();
      assert.equal(hr.shed('/app'), undefined);
      mem.setHeapRatio(0.9);
      hr.monitor.sampleNow();
      const r = hr.shed('/app');
      assert.equal(r?.status, 503);
      assert.equal(r?.headers['retry-after'], '7');
      assert.equal(JSON.parse(r!.body).error.code, 'HEADROOM_MEMORY_PRESSURE');
      assert.equal(hr.shed('/webhooks/stripe'), undefined);
      assert.equal(hr.shed('/webhooksx')?.status, 503, 'a prefix matches whole segments only');
      assert.equal(hr.shed('/WebHooks/stripe')?.status, 503, 'case-sensitive by default');
      assert.equal(hr.shed('/WebHooks/stripe', true), undefined, 'in any case for an app that routes in any case');
      assert.equal(hr.wouldShed('/WEBHOOKS', true), false);
      assert.equal(hr.ready().status, 503);
      assert.equal(hr.health().status, 503);
      mem.setHeapRatio(0.82); // below critical but inside the band
      hr.monitor.sampleNow();
      assert.equal(hr.shed('/app')?.status, 503, 'still critical inside the hysteresis band');
      mem.setHeapRatio(0.79);
      hr.monitor.sampleNow();
      assert.equal(hr.shed('/app'), undefined);
      assert.equal(hr.ready().status, 200);
      assert.equal(hr.requests().shed, 4);
    } finally {
      await hr.close();
    }
  });

  it('a process at 97 % heapUsed/heapTotal but 10 % of the heap limit is healthy', async () => {
    const mem = fakeMemory();
    const hr = createHeadroom({ monitor: { sampler: mem.sampler, autoStart: false } });
    try {
      mem.heapUsed = 0.1 * mem.heapLimit;
      mem.heapTotal = mem.heapUsed / 0.97;
      hr.monitor.sampleNow();
      assert.equal(hr.shed('/app'), undefined);
      assert.equal(hr.monitor.status(), 'healthy');
    } finally {
      await hr.close();
    }
  });

  it('answers the admin API: 403 without a token, 401 with a wrong one, 404, 405 with Allow, 429', async () => {
    const off = createHeadroom();
    const on = createHeadroom({ adminToken: TOKEN, adminRateLimit: 5, cache: {} });
    try {
      const disabled = await off.admin(admin('/memory-stats'));
      assert.equal(disabled.status, 403);
      assert.match(JSON.parse(disabled.body).error.message, /adminToken/);
      const wrong = await on.admin(admin('/memory-stats', 'GET', 'Bearer nope'));
      assert.equal(wrong.status, 401);
      assert.equal(wrong.headers['www-authenticate'], 'Bearer realm="headroom-admin"');
      const ok = await on.admin(admin('/memory-stats'));
      assert.equal(ok.status, 200);
      assert.equal(typeof JSON.parse(ok.body).memory.heapLimit, 'number');
      assert.equal((await on.admin(admin('/nope'))).status, 404);
      const method = await on.admin(admin('/cache/clear'));
      assert.equal(method.status, 405);
      assert.equal(method.headers.allow, 'POST');
      assert.equal((await on.admin(admin('/cache/invalidate?tag=', 'POST'))).status, 400);
      const limited = await on.admin(admin('/memory-stats'));
      assert.equal(limited.status, 429);
      assert.ok(Number(limited.headers['retry-after']) >= 1);
      assert.equal((await on.admin(admin('/memory-stats', 'GET', undefined, 'other'))).status, 200, 'per client');
    } finally {
      await off.close();
      await on.close();
    }
  });

  it('tracks requests in flight; idle() waits for them; drain() turns readiness 503 and sheds with Connection: close', async () => {
    const hr = createHeadroom();
    try {
      const release = hr.track();
      hr.track()(); // one that ended
      assert.equal(hr.requests().inFlight, 1);
      hr.drain();
      assert.equal(hr.ready().status, 503);
      const refused = hr.shed('/app');
      assert.equal(JSON.parse(refused!.body).error.code, 'HEADROOM_DRAINING');
      assert.equal(refused!.headers.connection, 'close');
      assert.equal(await hr.idle(10), false);
      const idle = hr.idle(5_000);
      release();
      release();
      assert.equal(await idle, true);
      assert.equal(hr.requests().inFlight, 0);
    } finally {
      await hr.close();
    }
  });

  it('trackResponse() counts a Node response until its close, through one shared listener', async () => {
    const hr = createHeadroom();
    try {
      const a = new EventEmitter();
      const b = new EventEmitter();
      hr.trackResponse(a as unknown as ServerResponse);
      hr.trackResponse(b as unknown as ServerResponse);
      assert.equal(hr.requests().inFlight, 2);
      assert.equal(a.listeners('close')[0], b.listeners('close')[0], 'the same function, nothing allocated per response');
      const idle = hr.idle(5_000);
      a.emit('close');
      assert.equal(hr.requests().inFlight, 1);
      b.emit('close');
      assert.equal(await idle, true);
      assert.equal(hr.requests().inFlight, 0);
    } finally {
      await hr.close();
    }
  });

  it("countRequest() counts a Node server's requests until they finish; idle() sees them; HTTP/2 responses until their close", async () => {
    const hr = createHeadroom();
    const server = http.createServer();
    let release: () => void = () => undefined;
    server.on('request', (req: http.IncomingMessage, res: ServerResponse) => {
      hr.countRequest(req, res);
      release = () => res.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const answered = fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`).then((r) => r.text());
      await waitFor(() => hr.requests().inFlight === 1, 'the request to be counted');
      const idle = hr.idle(5_000);
      release();
      assert.equal(await answered, 'ok');
      assert.equal(await idle, true);
      assert.equal(hr.requests().inFlight, 0);
      // Not Node's HTTP/1 response (an HTTP/2 compatibility one, a test double): counted until its 'close'.
      const h2 = new EventEmitter();
      hr.countRequest({ socket: {} } as http.IncomingMessage, h2 as unknown as ServerResponse);
      assert.equal(hr.requests().inFlight, 1);
      h2.emit('close');
      assert.equal(hr.requests().inFlight, 0);
    } finally {
      await hr.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('scrapes headroom_* and default metrics', async () => {
    const hr = createHeadroom();
    try {
      const m = await hr.metrics();
      assert.equal(m.status, 200);
      assert.match(m.body, /^headroom_heap_used_ratio /m);
      assert.match(m.body, /^headroom_app_requests_in_flight 0$/m);
      assert.match(m.body, /^process_cpu_user_seconds_total /m);
    } finally {
      await hr.close();
    }
  });

  it('refuses bad options naming the library option', () => {
    refuses(
      () => createHeadroom({ adminToken: 'short' }),
      "createHeadroom: adminToken=<hidden>: must be 16 to 512 visible ASCII characters without spaces (such as RFC 6750's token68: letters, digits, - . _ ~ + / =)",
    );
    refuses(
      () => createHeadroom({ shedExempt: ['webhooks'] }),
      'createHeadroom: shedExempt=["webhooks"]: must be an array of at most 100 paths starting with /',
    );
    // Checked though no proxy or image uses them yet: the mistake fails where it is written.
    refuses(
      () => createHeadroom({ limits: { memoryThresholdPercent: 500 } }),
      'createHeadroom: limits.memoryThresholdPercent=500: must be a percent from 1 to 100 (80 or 80%)',
    );
    refuses(
      () => createHeadroom({ registry: {} as never }),
      'createHeadroom: registry={}: must be a prom-client Registry (an object with registerMetric(), getSingleMetric(), metrics())',
    );
    refuses(
      () => createHeadroom({ logger: 5 as never }),
      'createHeadroom: logger=5: must be a logger such as pino (an object with info(), warn(), error())',
    );
    // What createHeadroom supplies to its parts itself would be ignored there: refused, saying where it goes.
    refuses(
      () => createHeadroom({ proxy: { upstreamUrl: 'http://127.0.0.1:9', limits: { maxConcurrent: 1 } } as never }),
      'createHeadroom: proxy.limits is not taken there: pass limits at the top level (shared by the proxy and image fetches)',
    );
    refuses(
      () => createHeadroom({ image: { allowedOrigins: ['http://127.0.0.1:9'], cache: {}, monitor: {} } as never }),
      "createHeadroom: image.monitor and image.cache are not taken there: the process's shared monitor is used (the top-level monitor sets it); the image route uses the cache of the top-level cache option",
    );
    assert.equal(sharedMonitor(), undefined, 'a refused call starts nothing');
  });

  it('refuses misspelt options, nested ones by their path, with a "did you mean"', async () => {
    refuses(
      () => createHeadroom({ adminTokn: 'x'.repeat(20), shedExcempt: ['/hook'] } as never),
      'createHeadroom: adminTokn: unknown option; did you mean adminToken?; shedExcempt: unknown option; did you mean shedExempt?',
    );
    refuses(
      () => createHeadroom({ monitor: { critical: 0.9 } as never }),
      'createHeadroom: monitor.critical: unknown option; did you mean criticalThreshold?',
    );
    refuses(
      () => createHeadroom({ monitor: { warningThreshold: 0.9, criticalThreshold: 0.8 } }),
      'createHeadroom: monitor.criticalThreshold=0.8 (read as 80%): must be above monitor.warningThreshold (90%)',
    );
    refuses(
      () => createHeadroom({ proxy: {} as never }),
      'createHeadroom: proxy.upstreamUrl is required: must be an absolute http or https URL without user:password@',
    );
    refuses(
      () => createHeadroom({ proxy: { upstreamUrl: 'http://127.0.0.1:9', prefx: '/v1' } as never }),
      'createHeadroom: proxy.prefx: unknown option; did you mean prefix?',
    );
    refuses(
      () => createHeadroom({ cache: { defaultTTL: 5, l1: { maxByte: 5 } } as never }),
      'createHeadroom: cache.defaultTTL: unknown option; did you mean defaultTtl?; cache.l1.maxByte: unknown option; did you mean maxBytes?',
    );
    refuses(
      () => createHeadroom({ cache: { l1: { maxBytes: 100, maxEntryBytes: 200 } } }),
      'createHeadroom: cache.l1.maxEntryBytes=200: must not exceed cache.l1.maxBytes (100 bytes)',
    );
    refuses(
      () => createHeadroom({ image: { allowedOrigins: [], maxSourceByte: 5 } as never }),
      'createHeadroom: image.maxSourceByte: unknown option; did you mean maxSourceBytes?',
    );
    refuses(
      () => createHeadroom({ proxy: { upstreamUrl: 'http://127.0.0.1:9' }, limits: { maxConcurent: 2 } as never }),
      'createHeadroom: limits.maxConcurent: unknown option; did you mean maxConcurrent?',
    );
    refuses(
      () => createHeadroom({ proxy: 5 as never }),
      "createHeadroom: proxy=5: must be an options object (createProxy's, with upstreamUrl)",
    );
    refuses(() => createHeadroom({ monitor: 5 as never }), 'createHeadroom: monitor must be an options object');
    // A part refused after the monitor started gives it back (the parts close asynchronously).
    await waitFor(() => sharedMonitor() === undefined, 'the refused calls to give the shared monitor back');
  });

  it('checks the monitor options of a later caller too, though the shared monitor is already running', async () => {
    const first = createHeadroom();
    try {
      refuses(
        () => createHeadroom({ monitor: { criticalTreshold: 0.9 } as never }),
        'createHeadroom: monitor.criticalTreshold: unknown option; did you mean criticalThreshold?',
      );
    } finally {
      await first.close();
    }
  });
});
