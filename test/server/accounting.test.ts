// REQUEST_ACCOUNTING in the gateway, through real HTTP: every request — proxied on the raw fast
// path or routed by Fastify (image, health) — runs in its own ledger, ended when its response
// closes; the headroom_request_* metrics appear only with the option on, and bad values stop start-up
// naming the variable.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { Writable } from 'node:stream';
import { request } from 'node:http';
import { ConfigError, loadConfig } from '../../src/config/index.js';
import { gatewayAccounting } from '../../src/server/accounting.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';
import { startGateway } from '../helpers/gateway.js';

const value = (scrape: string, series: string): number | undefined => {
  const line = scrape.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

test(
  'REQUEST_ACCOUNTING=true: proxied, image and own routes are accounted by route template; held back to 0',
  { timeout: 60_000 },
  async () => {
    await assertNoLeakedHandles(async () => {
      const gw = await startGateway({ REQUEST_ACCOUNTING: 'true', REQUEST_ACCOUNTING_WARN_BYTES: '64KiB' });
      try {
        for (let i = 0; i < 3; i++) {
          const r = await fetch(`${gw.url}/api/items?page=${i}`);
          assert.equal(r.status, 200);
          await r.arrayBuffer();
        }
        // An absolute-form target is routed by Fastify (not the raw path): one ledger all the same.
        const absolute = await new Promise<number>((resolve, reject) => {
          const u = new URL(gw.url);
          request({ host: u.hostname, port: u.port, path: `${gw.url}/api/items?page=9` }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode!));
          })
            .on('error', reject)
            .end();
        });
        assert.equal(absolute, 200);
        const image = `${gw.gw.upstreamUrl}/images/demo.png`;
        const img = await fetch(`${gw.url}/image?url=${encodeURIComponent(image)}&w=64`);
        assert.equal(img.status, 200);
        await img.arrayBuffer();
        assert.equal((await fetch(`${gw.url}/health/ready`)).status, 200);
        const scrape = await (await fetch(`${gw.url}/metrics`)).text();
        assert.equal(value(scrape, 'headroom_requests_accounted_total{route="/api/*"}'), 4);
        assert.equal(value(scrape, 'headroom_requests_accounted_total{route="/image"}'), 1);
        assert.equal(value(scrape, 'headroom_requests_accounted_total{route="/health/ready"}'), 1);
        assert.equal(value(scrape, 'headroom_request_bytes_held'), 0, 'every ended request gave back what it held');
        // The proxy charges what it queues toward the client (and its cache tee), the image service its decode reservation.
        assert.ok((value(scrape, 'headroom_request_bytes_charged_total{route="/api/*"}') ?? 0) > 0, 'proxied bytes charged');
        assert.ok((value(scrape, 'headroom_request_bytes_charged_total{route="/image"}') ?? 0) > 0, 'image reservation charged');
      } finally {
        await gw.close();
      }
    });
  },
);

test('REQUEST_ACCOUNTING off (the default): no ledger, no headroom_request_* metric', { timeout: 30_000 }, async () => {
  await assertNoLeakedHandles(async () => {
    const gw = await startGateway();
    try {
      assert.equal((await fetch(`${gw.url}/api/items`)).status, 200);
      const scrape = await (await fetch(`${gw.url}/metrics`)).text();
      assert.doesNotMatch(scrape, /^headroom_request(s_accounted|_bytes)/m);
    } finally {
      await gw.close();
    }
  });
});

test('bad REQUEST_ACCOUNTING values stop start-up naming the variable and what is accepted', () => {
  const problems = (env: Record<string, string>): string[] => {
    try {
      loadConfig({ env });
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return err.problems;
    }
    return [];
  };
  assert.match(problems({ REQUEST_ACCOUNTING: 'sometimes' }).join('\n'), /REQUEST_ACCOUNTING=.*sometimes/);
  assert.match(problems({ REQUEST_ACCOUNTING_WARN_BYTES: '5' }).join('\n'), /REQUEST_ACCOUNTING_WARN_BYTES=.*5.*between 1 KiB and 1 GiB/);
  const { config } = loadConfig({ env: { REQUEST_ACCOUNTING: 'true', REQUEST_ACCOUNTING_WARN_BYTES: '2MiB' } });
  assert.equal(config.server.requestAccounting, true);
  assert.equal(config.server.requestAccountingWarnBytes, 2 * 1024 ** 2);
});

test('a request above REQUEST_ACCOUNTING_WARN_BYTES at its peak is logged at warn with its route, peak and charge', async () => {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  const accounting = gatewayAccounting(1024, pino(sink));
  const light = accounting.open();
  light.charge(1024);
  light.end('/api/*');
  const heavy = accounting.open();
  heavy.charge(3000);
  heavy.charge(-1000);
  heavy.end('/image');
  await accounting.close();
  assert.equal(lines.length, 1, JSON.stringify(lines));
  assert.equal(lines[0]!.level, 40);
  assert.equal(lines[0]!.msg, 'request held 3000 bytes at its peak (above 1024)');
  assert.deepEqual([lines[0]!.route, lines[0]!.peak, lines[0]!.charged], ['/image', 3000, 3000]);
});
