// A live gateway's /metrics, after traffic that gives every headroom_* family samples, passes
// Prometheus' own checker (`promtool check metrics`, from Debian's prometheus package).
import assert from 'node:assert/strict';
import { promtoolCheckMetrics, promtoolOrSkip } from '../helpers/promtool.js';
import { test } from 'node:test';
import { ADMIN_TOKEN, startGateway } from '../helpers/gateway.js';
import { request } from '../helpers/http.js';
import { redisAvailable, startRedis, type RedisServer } from '../helpers/redis.js';
import { parsePrometheus } from './prometheus.js';

test('promtool check metrics finds nothing in headroom_* on a live /metrics', async (t) => {
  if (!promtoolOrSkip('metrics-promtool')) return t.skip('promtool not installed');
  // With Redis the cache has its invalidation bus too, so those families get samples as well.
  const redis: RedisServer | undefined = redisAvailable() ? await startRedis() : undefined;
  // headroom serve passes its stdout's drop count (here a stand-in that dropped 3 lines).
  const gw = await startGateway({ HEADROOM_ADMIN_TOKEN: ADMIN_TOKEN, ...(redis ? { REDIS_URL: redis.url } : {}) }, undefined, {
    logOutput: { dropped: () => ({ lines: 3 }) },
  });
  try {
    assert.equal((await request(`${gw.url}/api/items`)).status, 200);
    assert.equal((await request(`${gw.url}/api/items`)).status, 200); // cache hit
    const src = encodeURIComponent(`${gw.gw.upstreamUrl}/images/demo.jpg`);
    assert.equal((await request(`${gw.url}/image?url=${src}&w=120&format=webp`)).status, 200);
    const refused = await request(`${gw.url}/image?url=${encodeURIComponent('https://not-allowed.example/a.jpg')}`);
    assert.equal(refused.status, 403, refused.text);

    const text = (await request(`${gw.url}/metrics`)).text;
    const families = [...parsePrometheus(text)].filter(([name]) => name.startsWith('headroom_'));
    // Every family has at least one sample (a histogram's are name_bucket, _sum, _count).
    const empty = families.filter(
      ([name, type]) => !new RegExp(`^${name}${type === 'histogram' ? '_(bucket|sum|count)' : ''}[ {]`, 'm').test(text),
    );
    assert.deepEqual(
      empty.map(([name]) => name),
      redis ? [] : ['headroom_cache_bus_messages_total'],
    );
    assert.match(text, /^headroom_proxy_upstream_latency_seconds_count [1-9]/m);
    assert.match(text, /^headroom_log_stdout_dropped_lines_total 3$/m);
    assert.match(text, /^headroom_heap_growth_bytes_per_second NaN$/m, 'an unknown value is written NaN');

    const findings = await promtoolCheckMetrics(text);
    // prom-client's own default metrics have known findings (nodejs_active_*_total are gauges).
    const ours = findings.filter((l) => !/^(nodejs|process)_\w+ /.test(l));
    assert.deepEqual(ours, [], `promtool check metrics:\n${findings.join('\n')}`);
  } finally {
    await gw.close();
    await redis?.stop();
  }
});
