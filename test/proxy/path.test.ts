import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPathMapper, decodeUnreserved, pathEscapes } from '../../src/proxy/path.js';

test('paths that could escape the base path are refused', () => {
  for (const p of [
    '/..',
    '/a/../b',
    '/a/..',
    '/%2e%2e/x',
    '/%2E%2e/x',
    '/a/%252e%252e/b',
    '//x',
    '/a//b',
    '/a\\b',
    '/a%5c..%5cb',
    '/a/%2f%2e%2e',
    '/.',
    '/a/./b',
    '/%zz',
    '/a%00',
    // Ended by ';', '#' or '?' (also encoded): path-parameter servers and URL parsers resolve these as '..'.
    '/..;/admin',
    '/a/..;x/b',
    '/..#',
    '/a/..#/b',
    '/%2e%2e;/admin',
    '/%2e%2e%3b/admin',
    '/..%3b/admin',
    '/%2e%2e%23',
    '/..%3f',
    '/.;/x',
    // A request target never holds a fragment.
    '/a#b',
  ]) {
    assert.equal(pathEscapes(p), true, p);
  }
  for (const p of ['/', '/a', '/a/b.c', '/a..b', '/..a', '/a/b%20c', '/v1/items/42', '/file.tar.gz', '/a%23b', '/a;v=1/b', '/...;/x'])
    assert.equal(pathEscapes(p), false, p);
});

test('mapper strips or keeps the prefix, joins the base path and keeps the query', () => {
  const m = createPathMapper('/api', true, '/base/');
  assert.equal(m.matches('/api'), true);
  assert.equal(m.matches('/api/x?y=1'), true);
  assert.equal(m.matches('/api?y=1'), true);
  assert.equal(m.matches('/apix'), false);
  assert.equal(m.matches('/other'), false);
  assert.equal(m.map('/api/x?y=../..'), '/base/x?y=../..');
  assert.equal(m.map('/api'), '/base');
  assert.equal(m.map('/api/../etc'), null);
  assert.equal(m.map('/api/..;/etc'), null);
  assert.equal(m.map('/api/x?y=1#frag'), null, 'a fragment in the query is not forwarded');
  assert.equal(createPathMapper('/api', false, '/').map('/api/x'), '/api/x');
  assert.equal(createPathMapper('/api', true, '').map('/api?q=1'), '/?q=1');
});

test('a prefix spelled with percent-encoded unreserved characters maps like the plain one', () => {
  const m = createPathMapper('/api', true, '/base');
  assert.equal(decodeUnreserved('/%61%50i/%7Ex%2Fy'), '/aPi/~x%2Fy');
  assert.equal(m.map('/%61pi/secret?q=%61'), '/base/secret?q=a');
  assert.equal(m.map('/ap%69/secret'), '/base/secret');
  assert.equal(m.map('/%61pix/secret'), null, 'a different first segment is refused, not cut');
  assert.equal(m.map('/%61pi/%2e%2e/x'), null);
});
