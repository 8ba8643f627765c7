import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { request } from '../helpers/http.js';
import { ADMIN_TOKEN } from '../helpers/gateway.js';
import { redisOrSkip, startRedis } from '../helpers/redis.js';
import { startCli, type CliChild } from './child.js';

const start = (args: string[], env: Record<string, string>): CliChild => startCli(args, { env });

test('bad configuration exits 2 without printing a password, a token or a secret from the config file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'headroom-cli-secrets-'));
  try {
    const file = join(dir, 'c.json');
    writeFileSync(file, '{ "UPSTREAM_TOKEN": filetoken-S3CRET }');
    const runs = [
      start(['serve'], { UPSTREAM_URL: 'http://svc:S3cretPw@upstream.internal:8080', PORT: '-1' }),
      start(['serve', '--upstream-url', 'http://svc:S3cretPw@upstream.internal:99999'], {}),
      start(['serve'], { HEADROOM_ADMIN_TOKEN: 'short-S3CRET', REDIS_URL: 'http://:S3cretPw@localhost' }),
      start(['serve', '--config', file], {}),
      // A secret split off its flag by a stray space is a positional argument.
      start(['serve', '--headroom-admin-token=', 'stray-S3cret-admin-token'], {}),
      // A key in the upstream's query (refused: the proxy would drop it) is hidden in the refusal.
      start(['serve'], { UPSTREAM_URL: 'http://127.0.0.1:9/base?key=S3cretKey&v=2' }),
    ];
    for (const r of runs) assert.equal((await r.exited).code, 2, r.output());
    const [upstream, flag, secrets, configFile] = runs.map((r) => r.output());
    assert.match(upstream!, /^ {2}UPSTREAM_URL=http:\/\/svc:<hidden>@upstream\.internal:8080: .*upstream token/m);
    assert.match(flag!, /^ {2}UPSTREAM_URL=http:\/\/svc:<hidden>@upstream\.internal:99999: .*\(from --upstream-url\)$/m);
    assert.match(secrets!, /^ {2}HEADROOM_ADMIN_TOKEN=<hidden>: /m);
    assert.match(secrets!, /^ {2}REDIS_URL=<hidden>: /m);
    assert.match(configFile!, /not valid JSON/);
    assert.match(runs[4]!.output(), /unexpected argument '<hidden>': serve takes only flags/);
    assert.match(runs[5]!.output(), /^ {2}UPSTREAM_URL=http:\/\/127\.0\.0\.1:9\/base\?key=<hidden>&v=2: .*without a \?query/m);
    for (const text of runs.map((r) => r.output())) assert.ok(!/S3cret/i.test(text), text);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the start-up log and request logs of headroom serve hide URL credentials and the Redis password', async (t) => {
  if (!redisOrSkip('cli secrets')) return t.skip('redis-server missing');
  const redis = await startRedis();
  const dir = mkdtempSync(join(tmpdir(), 'headroom-cli-secrets-'));
  const gw = start(['serve', '--port', '0'], {
    HEADROOM_ADMIN_TOKEN: ADMIN_TOKEN,
    CACHE_DIR: join(dir, 'c'),
    // Not reached in this test; only how it is logged matters.
    UPSTREAM_URL: 'http://127.0.0.1:9/base',
    REDIS_URL: `redis://:REDISPW42@127.0.0.1:${redis.port}`,
  });
  try {
    const [, url] = await gw.waitForOutput(/"url":"(http:\/\/127\.0\.0\.1:\d+)"/);
    assert.match(gw.output(), /"upstream":"http:\/\/127\.0\.0\.1:9\/base"/);
    // The access line keeps parameter names only (ACCESS_LOG_QUERY=false).
    const logged = gw.waitForOutput(/"path":"\/admin\/cache-stats\?token="/);
    assert.equal((await request(`${url}/admin/cache-stats?token=QTOKEN123`)).status, 401);
    await logged;
    gw.child.kill('SIGTERM');
    assert.equal((await gw.exited).code, 0, gw.output());
    for (const s of ['REDISPW42', 'QTOKEN123', ADMIN_TOKEN]) assert.ok(!gw.output().includes(s), `${s} printed:\n${gw.output()}`);
  } finally {
    gw.kill();
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
