import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requestBypassesCache, sharedTtl } from '../../src/proxy/cache-policy.js';

const facts = (cacheControl: string | undefined, extra: Partial<Parameters<typeof sharedTtl>[0]> = {}) => ({
  status: 200,
  cacheControl,
  vary: undefined,
  setCookie: false,
  age: 0,
  ...extra,
});

test('shared freshness follows RFC 9111: s-maxage over max-age, minus Age', () => {
  assert.equal(sharedTtl(facts('max-age=60'), false, false), 60);
  assert.equal(sharedTtl(facts('max-age=60, s-maxage=10'), false, false), 10);
  assert.equal(sharedTtl(facts('max-age=60', { age: 15 }), false, false), 45);
  assert.equal(sharedTtl(facts(undefined), false, false), 0);
  for (const cc of ['private, max-age=60', 'no-store, max-age=60', 'no-cache, max-age=60', 'max-age=abc'])
    assert.equal(sharedTtl(facts(cc), false, false), 0, cc);
  assert.equal(sharedTtl(facts('max-age=60', { status: 500 }), false, false), 0);
  assert.equal(sharedTtl(facts('max-age=60', { setCookie: true }), false, false), 0);
  assert.equal(sharedTtl(facts('max-age=60', { vary: 'accept, *' }), false, false), 0);
});

test('requests with Authorization: only public/s-maxage/must-revalidate, or when configured', () => {
  assert.equal(sharedTtl(facts('max-age=60'), true, false), 0);
  assert.equal(sharedTtl(facts('public, max-age=60'), true, false), 60);
  assert.equal(sharedTtl(facts('s-maxage=30'), true, false), 30);
  assert.equal(sharedTtl(facts('max-age=60'), true, true), 60);
});

test('request directives', () => {
  assert.equal(requestBypassesCache('no-cache'), true);
  assert.equal(requestBypassesCache('max-age=0'), true);
  assert.equal(requestBypassesCache('max-stale=5'), false);
});
