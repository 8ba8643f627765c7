// If-None-Match's weak comparison, shared by the proxy's cache, the image service and the dashboard.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { etagMatches } from '../../src/cache/etag.js';

test('If-None-Match: *, a list, W/ ignored on both sides; nothing to compare is no match', () => {
  assert.equal(etagMatches('"a", W/"b"', '"b"'), true);
  assert.equal(etagMatches('"b"', 'W/"b"'), true, "an upstream's weak tag matches the client's copy of it");
  assert.equal(etagMatches(' * ', '"x"'), true);
  assert.equal(etagMatches('"a"', '"b"'), false);
  assert.equal(etagMatches('"a"', undefined), false);
  assert.equal(etagMatches('"a"', null), false);
  assert.equal(etagMatches(undefined, '"a"'), false);
  assert.equal(etagMatches('', '"a"'), false);
  assert.equal(etagMatches('*', undefined), false, 'no representation to match');
});
