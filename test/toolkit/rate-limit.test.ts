import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRateLimiter } from '../../src/toolkit/rate-limit.js';

test('the admin rate limit: a window per client, at most maxClients windows, each key short', () => {
  const limiter = createRateLimiter({ limit: 2, windowMs: 60_000, maxClients: 3 });
  assert.deepEqual([limiter.hit('a', 0), limiter.hit('a', 1), limiter.hit('a', 2)], [0, 0, 60]);
  assert.equal(limiter.hit('a', 60_000), 0, 'a new window');
  for (const c of ['b', 'c', 'd']) limiter.hit(c, 60_001);
  assert.equal(limiter.size(), 3, "the oldest window ('a') dropped");
  // Names past 64 characters are one key: a made-up header value per request is no new window.
  const long = createRateLimiter({ limit: 1, windowMs: 60_000 });
  const base = 'x'.repeat(64);
  assert.equal(long.hit(`${base}1`, 0), 0);
  assert.equal(long.hit(`${base}2`, 0), 60);
  assert.equal(long.size(), 1);
});
