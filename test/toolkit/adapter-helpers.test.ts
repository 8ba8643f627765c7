// The small helpers every adapter shares: mount → proxy prefix, the admin request from a URL, and
// the route-path option rule.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pathOrOff } from '../../src/options/spec.js';
import { afterMount, mountToPrefix } from '../../src/proxy/mount.js';
import { adminRequestFromUrl } from '../../src/toolkit/admin-request.js';

describe('adapter helpers', () => {
  test('afterMount cuts the mount at a segment boundary and keeps the rest byte for byte', () => {
    assert.equal(afterMount('/v1/api/x?q=%41', '/v1'), '/api/x?q=%41');
    assert.equal(afterMount('/v1', '/v1'), '');
    assert.equal(afterMount('/v1?x', '/v1'), '?x');
    assert.equal(afterMount('/v10/x', '/v1'), undefined);
    assert.equal(afterMount('/other', '/v1'), undefined);
    assert.equal(afterMount('/any?x', ''), '/any?x');
    // The router matched /%761/api as /v1/api: the encoded mount counts, the rest stays encoded.
    assert.equal(afterMount('/%761/api/%61?b=%62', '/v1'), '/api/%61?b=%62');
    assert.equal(afterMount('/%2f1/x', '//1'), undefined, 'only unreserved characters are equivalent');
    // caseInsensitive: ASCII letters of the mount in either case, encoded or not; nothing else folds.
    assert.equal(afterMount('/API/x?Q=1', '/api'), undefined);
    assert.equal(afterMount('/API/x?Q=1', '/api', true), '/x?Q=1');
    assert.equal(afterMount('/%41pI-2/x', '/api-2', true), '/x');
    assert.equal(afterMount('/api/x', '/apj', true), undefined);
    assert.equal(afterMount('/a@i/x', '/a`i', true), undefined, 'only letters fold (@ and ` differ by bit 5 too)');
  });

  test('mountToPrefix puts the proxy prefix where the mount was', () => {
    assert.equal(mountToPrefix('/gw/a/b?c=1', '/gw', '/api'), '/api/a/b?c=1');
    assert.equal(mountToPrefix('/gw', '/gw', '/api'), '/api');
    assert.equal(mountToPrefix('/gw?c', '/gw', '/api'), '/api?c');
    assert.equal(mountToPrefix('/x', '', '/api'), '/api/x');
    assert.equal(mountToPrefix('/nope', '/gw', '/api'), undefined);
  });

  test('adminRequestFromUrl splits what follows the admin mount', () => {
    const r = adminRequestFromUrl('POST', '/cache/invalidate?tag=a%20b', 'Bearer t', '10.0.0.1');
    assert.equal(r.path, '/cache/invalidate');
    assert.equal(r.query.get('tag'), 'a b');
    assert.equal(r.client, '10.0.0.1');
    assert.equal(adminRequestFromUrl('GET', '', undefined, 'c').path, '/');
    assert.equal(adminRequestFromUrl('GET', '?x=1', undefined, 'c').query.get('x'), '1');
  });

  test('pathOrOff: one rule for every route path', () => {
    const s = pathOrOff({ doc: 'd', default: '/health' });
    assert.equal(s.parse('/health/v2'), '/health/v2');
    assert.equal(s.parse(false), false);
    for (const bad of ['health', '/health/', '/a/*', '/:id', '', true, 3]) assert.equal(s.parse(bad), undefined, String(bad));
    assert.match(s.accepted, /must be a path like \/health/);
    assert.equal(pathOrOff({ doc: 'd', default: false, example: '/image' }).defaultText, 'off');
  });
});
