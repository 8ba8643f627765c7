// Location headers that point into the upstream come back in the client's view: the rewriter's
// rules, then through real servers (the proxy's Node path at its prefix and under an Express mount,
// proxy.fetch, the response cache, and PROXY_REWRITE_LOCATION=false).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { createLocationRewriter } from '../../src/proxy/location.js';
import { createProxy, type ProxyOptions } from '../../src/proxy/proxy.js';
import { headroom as expressHeadroom } from '../../src/adapters/express/index.js';
import { listenLocal } from '../helpers/net.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';
import { mapCache, startUpstream } from './helpers.js';

describe('the rewriter', () => {
  const up = new URL('http://127.0.0.1:8055/base');
  const one = (location: string, clientUrl = '/api/z', upstreamPath = '/base/z', prefix = '/api', strip = true, upstream = up): string => {
    const headers = ['content-type', 'text/plain', 'location', location];
    createLocationRewriter(upstream, prefix, strip).rewrite(headers, { clientUrl: () => clientUrl }, upstreamPath);
    return headers[3]!;
  };

  test("the upstream's own origin or a path under its base path: the client's prefix in its place", () => {
    assert.equal(one('http://127.0.0.1:8055/base/x?y=1#f'), '/api/x?y=1#f');
    assert.equal(one('HTTP://127.0.0.1:8055/base'), '/api');
    assert.equal(one('http://127.0.0.1:8055/base?next=/a'), '/api?next=/a');
    assert.equal(one('//127.0.0.1:8055/base/x'), '/api/x', 'a network-path reference');
    assert.equal(one('/base/x/'), '/api/x/');
    assert.equal(one('/base'), '/api');
  });

  test('anything else is left as sent', () => {
    for (const location of [
      'http://other.test/base/x', // another origin
      'https://127.0.0.1:8055/base/x', // another scheme
      'http://127.0.0.1:8056/base/x', // another port
      'http://127.0.0.1:8055/basement', // not at a segment boundary
      '/basement',
      '/other/x', // outside the base path
      'login', // relative references resolve against the client's URL already
      '../x',
      '?page=2',
      'mailto:a@b.test',
      'http://[::1', // not a URL
    ])
      assert.equal(one(location), location, location);
  });

  test('a path that climbs or is odd is left as sent: under a mount at the root it would name another host', () => {
    const atRoot = (location: string): string => one(location, '/z', '/base/z');
    for (const location of [
      '/base//evil.test', // would become //evil.test
      'http://127.0.0.1:8055/base//evil.test',
      '//127.0.0.1:8055/base//evil.test',
      '/base/\\evil.test', // /\evil.test
      '/base/\t/evil.test', // browsers drop the tab: //evil.test
      '/base/../admin',
      '/base/%2e%2e/admin',
      'http://127.0.0.1:8055/base/\u00c3\u00a9', // UTF-8 bytes as undici hands them over (Latin-1)
      '/base/a b',
    ])
      assert.equal(atRoot(location), location, JSON.stringify(location));
    assert.equal(atRoot('/base/ok/x?next=//elsewhere'), '/ok/x?next=//elsewhere', 'a query is not a path');
  });

  test("the client's prefix is what its URL has in front of the path both share: a mount, the root, an encoded prefix", () => {
    assert.equal(one('/base/x', '/v2/z?q=1', '/base/z?q=1'), '/v2/x', 'an Express mount at /v2');
    assert.equal(one('/base/x', '/API/z', '/base/z'), '/API/x', 'a mount matched in another case');
    assert.equal(one('/base/x', '/z', '/base/z'), '/x', 'a mount at the root');
    assert.equal(one('/base', '/z', '/base/z'), '/', 'never an empty Location');
    assert.equal(one('/base/x', '/%61pi/z', '/base/z'), '/%61pi/x', "an encoded prefix: the client's spelling");
    assert.equal(one('/base/x', '/%61pi/%7a', '/base/z'), '/api/x', 'no shared path (the mapper decoded the rest): the prefix');
    assert.equal(one('/base/x', '/api', '/base'), '/api/x', 'a request to the prefix itself');
  });

  test('an upstream at its root, and a prefix that is not stripped', () => {
    const root = new URL('http://127.0.0.1:8055');
    assert.equal(one('/login', '/api/z', '/z', '/api', true, root), '/api/login');
    assert.equal(one('/', '/api/z', '/z', '/api', true, root), '/api/');
    // Not stripped: the upstream's paths carry the prefix; one outside it is not the proxy's.
    assert.equal(one('/api/login', '/api/z', '/api/z', '/api', false, root), '/api/login');
    assert.equal(one('/api/login', '/v2/z', '/api/z', '/api', false, root), '/v2/login');
    assert.equal(one('/other', '/api/z', '/api/z', '/api', false, root), '/other');
  });
});

describe('through real servers', () => {
  /** An upstream that redirects to the Location named in its query (?to=…), and records nothing else. */
  const redirecting = () =>
    startUpstream((req, res) => {
      const to = new URL(req.url ?? '/', 'http://x').searchParams.get('to') ?? '/';
      res.writeHead(302, { location: to.replace('ORIGIN', `http://127.0.0.1:${(req.socket.address() as AddressInfo).port}`) });
      res.end();
    });

  async function serveProxy(
    options: Omit<ProxyOptions, 'upstreamUrl'>,
    upstreamUrl: string,
    use: (url: string) => Promise<void>,
  ): Promise<void> {
    const proxy = createProxy({ upstreamUrl, ...options });
    const gw = await listenLocal(http.createServer((req, res) => proxy.handle(req, res)));
    try {
      await use(gw.url);
    } finally {
      await gw.close();
      await proxy.close();
    }
  }

  const locationOf = async (url: string): Promise<string | null> => {
    const r = await fetch(url, { redirect: 'manual' });
    await r.arrayBuffer();
    assert.equal(r.status, 302);
    return r.headers.get('location');
  };

  test('at the prefix: the Node path and proxy.fetch rewrite; PROXY_REWRITE_LOCATION=false passes it on', async () => {
    await assertNoLeakedHandles(async () => {
      const upstream = await redirecting();
      try {
        await serveProxy({}, `${upstream.url}/base`, async (gw) => {
          assert.equal(await locationOf(`${gw}/api/a?to=ORIGIN/base/b%3Fc=1`), '/api/b?c=1');
          assert.equal(await locationOf(`${gw}/api/a?to=/base/login`), '/api/login');
          assert.equal(await locationOf(`${gw}/api/a?to=https://elsewhere.test/x`), 'https://elsewhere.test/x');
        });
        await serveProxy({ rewriteLocation: false }, `${upstream.url}/base`, async (gw) => {
          assert.equal(await locationOf(`${gw}/api/a?to=/base/login`), '/base/login');
        });
        const proxy = createProxy({ upstreamUrl: `${upstream.url}/base` });
        try {
          const r = await proxy.fetch(new Request('http://gw.test/api/a?to=ORIGIN/base/next'));
          assert.equal(r.status, 302);
          assert.equal(r.headers.get('location'), '/api/next');
        } finally {
          await proxy.close();
        }
      } finally {
        await upstream.close();
      }
    });
  });

  test('a cached redirect is served with the rewritten Location', async () => {
    const upstream = await startUpstream((_req, res) => {
      res.writeHead(301, { location: '/moved', 'cache-control': 'public, max-age=60' });
      res.end();
    });
    try {
      await serveProxy({ cache: mapCache() }, upstream.url, async (gw) => {
        for (let i = 0; i < 2; i++) {
          const r = await fetch(`${gw}/api/old`, { redirect: 'manual' });
          await r.arrayBuffer();
          assert.equal(r.status, 301);
          assert.equal(r.headers.get('location'), '/api/moved', `request ${i}`);
        }
        assert.equal(upstream.received.length, 1, 'the second came from the cache');
      });
    } finally {
      await upstream.close();
    }
  });

  test('a cached redirect under one Express mount is not served to another mount of the same proxy', async () => {
    const upstream = await startUpstream((_req, res) => {
      res.writeHead(301, { location: '/login', 'cache-control': 'public, max-age=60' });
      res.end();
    });
    const hr = expressHeadroom({ proxy: { upstreamUrl: upstream.url }, cache: {} });
    const app = express();
    const proxy = hr.proxy();
    app.use('/v2', proxy);
    app.use('/v3', proxy);
    const gw = await listenLocal(app);
    try {
      for (const [mount, expected] of [
        ['/v2', '/v2/login'],
        ['/v3', '/v3/login'],
        ['/v2', '/v2/login'],
      ]) {
        const r = await fetch(`${gw.url}${mount}/cd`, { redirect: 'manual' });
        await r.arrayBuffer();
        assert.equal(r.headers.get('location'), expected, mount);
      }
      assert.equal(upstream.received.length, 2, 'one upstream request per mount; the third came from the cache');
    } finally {
      await gw.close();
      await hr.headroom.close();
      await upstream.close();
    }
  });

  test("under an Express mount the client's mount comes back, not the proxy's prefix", async () => {
    const upstream = await redirecting();
    const hr = expressHeadroom({ proxy: { upstreamUrl: upstream.url } });
    const app = express();
    app.use('/v2', hr.proxy());
    const gw = await listenLocal(app);
    try {
      assert.equal(await locationOf(`${gw.url}/v2/a?to=/login`), '/v2/login');
      assert.equal(await locationOf(`${gw.url}/v2/a?to=ORIGIN/x/y`), '/v2/x/y');
    } finally {
      await gw.close();
      await hr.headroom.close();
      await upstream.close();
    }
  });
});
