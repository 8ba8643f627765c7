// The L2 contract against a real redis-server (skips loudly without the binary; CI must not skip).
import { after, before, describe } from 'node:test';
import { RedisStore } from '../../src/cache/stores/redis.js';
import { redisOrSkip, startRedis, type RedisServer } from '../helpers/redis.js';
import { storeContract } from './store-contract.js';

const enabled = redisOrSkip('cache redis store contract');

describe('redis store contract', { skip: !enabled }, () => {
  let redis: RedisServer;
  let n = 0;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis.stop();
  });
  storeContract('redis', async () => {
    // Small chunk size so the multi-chunk path is exercised; a fresh prefix isolates each test.
    const s = new RedisStore({ url: redis.url, keyPrefix: `c${++n}:`, chunkSize: 256 * 1024 });
    await new Promise<void>((resolve, reject) => {
      s.client.once('ready', () => resolve());
      s.client.once('error', reject);
    });
    return s;
  });
});
