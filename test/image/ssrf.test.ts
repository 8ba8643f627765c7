// SSRF: names that resolve to private addresses, IP literals (0.0.0.0, ::ffff:127.0.0.1), redirects
// from an allowed origin to a private one, userinfo tricks. The resolver is injected (no real DNS);
// every connection that does happen goes to the test origin on 127.0.0.1.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { createImageService, isBlockedAddress, type ImageService } from '../../src/image/index.js';
import { createImageAgent } from '../../src/image/guarded-agent.js';
import { createOriginPolicy, matchesRules, parseOriginRules } from '../../src/image/origin-policy.js';
import { buildImageApp, fakeLookup, testCache, startOrigin, type Origin } from './fixtures.js';

describe('address and origin rules', () => {
  test('non-public addresses are blocked, public ones pass', () => {
    const blocked = [
      '127.0.0.1',
      '127.8.9.10',
      '10.1.2.3',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '0.1.2.3',
      '224.0.0.1',
      '255.255.255.255',
      '198.18.0.1',
      '::',
      '::1',
      '::ffff:127.0.0.1',
      '::ffff:7f00:1',
      '::ffff:10.0.0.1',
      '::127.0.0.1',
      'fe80::1',
      'fc00::1',
      'fd12:3456::1',
      'ff02::1',
      '64:ff9b::a00:1',
      '2002:7f00:1::',
      '[::1]',
      'not-an-ip',
    ];
    for (const a of blocked) assert.equal(isBlockedAddress(a), true, a);
    for (const a of ['93.184.216.34', '8.8.8.8', '172.32.0.1', '2606:4700::1111', '2a00:1450:4001::1'])
      assert.equal(isBlockedAddress(a), false, a);
  });

  test('allow-list: exact scheme+host+port, *.domain patterns, no apex or suffix tricks', () => {
    const rules = parseOriginRules(['https://img.example.com', '*.cdn.example.org', 'http://local.test:8080']);
    const ok = (u: string) => matchesRules(new URL(u), rules);
    assert.ok(ok('https://img.example.com/a.png'));
    assert.ok(!ok('http://img.example.com/a.png'), 'scheme is part of the origin');
    assert.ok(!ok('https://img.example.com:8443/a.png'), 'port is part of the origin');
    assert.ok(!ok('https://img.example.com.evil.com/a.png'));
    assert.ok(ok('https://a.cdn.example.org/x') && ok('http://a.b.cdn.example.org/x'));
    assert.ok(!ok('https://cdn.example.org/x'), 'the pattern does not match the apex');
    assert.ok(!ok('https://evilcdn.example.org/x'));
    assert.ok(ok('http://local.test:8080/x') && !ok('http://local.test/x'));
    assert.throws(() => parseOriginRules(['https://x.com/path']), /"https:\/\/x.com\/path" is not an origin/);
    // A pattern over a whole top-level domain, or port 0, is a mistake, not a policy.
    assert.throws(() => parseOriginRules(['*.com']), /"\*\.com" is not an origin \(a \*\. pattern needs a domain of at least two labels/);
    assert.throws(() => parseOriginRules(['https://a.com:0']), /"https:\/\/a.com:0" is not an origin \(the port must be 1 to 65535\)/);
  });

  test('userinfo and non-http schemes are refused before any request', () => {
    const policy = createOriginPolicy({
      allowedOrigins: ['http://good.com', 'http://evil.com'],
      allowPrivateNetworks: false,
      allowPrivateOrigins: [],
    });
    assert.throws(() => policy.check('http://good.com@evil.com/x.png'), { code: 'HEADROOM_IMAGE_ORIGIN_FORBIDDEN' });
    assert.throws(() => policy.check('http://user:pw@good.com/x.png'), { code: 'HEADROOM_IMAGE_ORIGIN_FORBIDDEN' });
    assert.throws(() => policy.check('ftp://good.com/x.png'), { code: 'HEADROOM_BAD_REQUEST' });
    assert.equal(policy.check('http://good.com/x.png').hostname, 'good.com');
  });

  test('the guarded agent checks the socket it actually connected to (IP literals skip DNS)', async () => {
    const origin = await startOrigin();
    const agent = createImageAgent({ guard: true, connectTimeout: 1000, bodyTimeout: 1000, headersTimeout: 1000 });
    try {
      await assert.rejects(request(`${origin.url}/img/png`, { dispatcher: agent }), { code: 'HEADROOM_IMAGE_ORIGIN_FORBIDDEN' });
      assert.equal(origin.hits.get('/img/png'), undefined, 'no HTTP request was sent');
    } finally {
      await agent.destroy();
      await origin.close();
    }
  });
});

describe('through GET /image', () => {
  let origin: Origin;
  let app: FastifyInstance;
  let image: ImageService;
  const p = () => origin.port;
  /** What the service logged about refused addresses. */
  const logged: unknown[] = [];

  before(async () => {
    origin = await startOrigin();
    const names = ['loop', 'ten', 'meta', 'v6', 'mapped', 'good', 'evil', 'public'];
    image = createImageService({
      cache: testCache(),
      allowedOrigins: [
        ...names.map((n) => `http://${n}.test:${origin.port}`),
        `http://0.0.0.0:${origin.port}`,
        `http://127.0.0.1:${origin.port}`,
        `http://[::ffff:127.0.0.1]:${origin.port}`,
      ],
      // Only good.test may be on a private address (as the demo origin is in demo mode).
      allowPrivateOrigins: [`http://good.test:${origin.port}`],
      lookup: fakeLookup({
        'loop.test': '127.0.0.1',
        'ten.test': '10.0.0.7',
        'meta.test': '169.254.169.254',
        'v6.test': '::1',
        'mapped.test': '::ffff:127.0.0.1',
        'good.test': '127.0.0.1',
        'evil.test': '127.0.0.1',
      }),
      timeout: 2000,
      logger: { warn: (obj: unknown) => logged.push(obj) } as unknown as Logger,
    });
    app = await buildImageApp(image);
  });
  after(async () => {
    await app.close();
    await image.close();
    await origin.close();
  });

  const get = (url: string) => app.inject({ method: 'GET', url: `/image?url=${encodeURIComponent(url)}` });
  const forbidden = async (url: string) => {
    const r = await get(url);
    assert.equal(r.statusCode, 403, `${url}: ${r.body}`);
    assert.equal(r.json().error.code, 'HEADROOM_IMAGE_ORIGIN_FORBIDDEN');
    return r.json().error.message as string;
  };

  test('names resolving to loopback, 10/8, metadata, ::1 and ::ffff:127.0.0.1 are refused', async () => {
    const before = origin.hits.get('/img/png') ?? 0;
    for (const n of ['loop', 'ten', 'meta', 'v6', 'mapped']) {
      assert.match(await forbidden(`http://${n}.test:${p()}/img/png`), /resolves to a private, loopback/);
    }
    assert.equal(origin.hits.get('/img/png') ?? 0, before, 'nothing reached the origin');
  });

  test('IP literals: 0.0.0.0, 127.0.0.1 and [::ffff:127.0.0.1] refused even when allow-listed', async () => {
    // Refused for their address, not for a mismatch with the list ([::ffff:127.0.0.1] is [::ffff:7f00:1] to URL).
    for (const host of ['0.0.0.0', '127.0.0.1', '[::ffff:127.0.0.1]'])
      assert.match(await forbidden(`http://${host}:${p()}/img/png`), /is private/);
  });

  test('origins outside the allow-list and userinfo tricks are refused', async () => {
    assert.match(await forbidden(`http://other.test:${p()}/img/png`), /not in IMAGE_ALLOWED_ORIGINS/);
    assert.match(await forbidden(`http://good.test:${p()}@evil.example/img/png`), /user:password@/);
  });

  test('allowPrivateOrigins lets exactly that origin reach a private address', async () => {
    const r = await get(`http://good.test:${p()}/img/png`);
    assert.equal(r.statusCode, 200);
    await forbidden(`http://evil.test:${p()}/img/png`);
  });

  test('a redirect from an allowed origin to a private address is re-checked and refused', async () => {
    const via = (to: string) => `http://good.test:${p()}/redirect-to?to=${encodeURIComponent(to)}`;
    await forbidden(via(`http://evil.test:${p()}/img/png`));
    // The refusal names the origin that redirected and the rule, never the target (the client did not name it).
    assert.equal(
      await forbidden(via(`http://0.0.0.0:${p()}/img/png`)),
      `image origin http://good.test:${p()} redirected to a private, loopback or otherwise reserved address, refused unless IMAGE_ALLOW_PRIVATE_ORIGINS lists it`,
    );
    assert.doesNotMatch(await forbidden(via(`http://169.254.169.254/latest/meta-data/`)), /169\.254/);
    const notListed = await forbidden(via('http://not-listed.example/x.png'));
    assert.equal(notListed, `image origin http://good.test:${p()} redirected to an origin that is not in IMAGE_ALLOWED_ORIGINS`);
    assert.match(
      await forbidden(via(`http://good.test:${p()}@evil.test:${p()}/img/png`)),
      /redirected to a URL with user:password@, refused/,
    );
    // Relative redirects stay on the allowed origin and work.
    assert.equal((await get(via('/img/png'))).statusCode, 200);
  });

  test("a refusal for a name's address keeps the address from the client and logs it", async () => {
    logged.length = 0;
    const message = await forbidden(`http://ten.test:${p()}/img/png`);
    assert.equal(
      message,
      'image origin resolves to a private, loopback or otherwise reserved address, refused unless IMAGE_ALLOW_PRIVATE_ORIGINS lists the origin',
    );
    // Nor the address of a redirect target the client never named.
    const redirected = await forbidden(`http://good.test:${p()}/redirect-to?to=${encodeURIComponent(`http://evil.test:${p()}/img/png`)}`);
    assert.doesNotMatch(redirected, /127\.0\.0\.1/);
    assert.deepEqual(logged, [
      { host: 'ten.test', address: '10.0.0.7' },
      { host: 'evil.test', address: '127.0.0.1' },
    ]);
  });

  test('rejections are counted by reason', () => {
    assert.ok((image.stats().rejections.origin_forbidden ?? 0) >= 10);
  });
});

describe('IPv6 literal origins', () => {
  let origin: Origin | undefined;
  before(async () => {
    try {
      origin = await startOrigin('::1');
    } catch (err) {
      console.error(`SKIP IPv6 origin tests: cannot listen on [::1] (${(err as Error).message})`);
    }
  });
  after(() => origin?.close());

  const serve = async (options: { allowPrivateOrigins?: string[] }, url: string) => {
    const image = createImageService({
      cache: testCache(),
      allowedOrigins: [`http://[0:0::1]:${origin!.port}`],
      timeout: 2000,
      ...options,
    });
    const app = await buildImageApp(image);
    try {
      return await app.inject({ method: 'GET', url: `/image?url=${encodeURIComponent(url)}` });
    } finally {
      await app.close();
      await image.close();
    }
  };

  test('an allow-listed IPv6 loopback origin is still refused for its address', async (t) => {
    if (!origin) return t.skip('no IPv6 loopback');
    const r = await serve({}, `${origin.url}/img/png`);
    assert.equal(r.statusCode, 403, r.body);
    assert.match(r.json().error.message, /address ::1 is private/);
    assert.equal(origin.hits.get('/img/png'), undefined, 'nothing reached the origin');
  });

  test('with IMAGE_ALLOW_PRIVATE_ORIGINS naming it (in any notation) it is fetched over [::1]', async (t) => {
    if (!origin) return t.skip('no IPv6 loopback');
    const r = await serve({ allowPrivateOrigins: [`http://[::0:1]:${origin.port}`] }, `${origin.url}/img/png`);
    assert.equal(r.statusCode, 200, r.body);
    assert.equal(r.headers['content-type'], 'image/png');
    assert.equal(origin.hits.get('/img/png'), 1);
  });

  test('a name that resolves to ::1 is refused by the guarded agent', async (t) => {
    if (!origin) return t.skip('no IPv6 loopback');
    // A name that resolves to ::1 skips the literal check; the guarded agent still refuses it.
    const image = createImageService({
      cache: testCache(),
      allowedOrigins: [`http://six.test:${origin.port}`],
      lookup: fakeLookup({ 'six.test': '::1' }),
      timeout: 2000,
    });
    const app = await buildImageApp(image);
    try {
      const r = await app.inject({ method: 'GET', url: `/image?url=${encodeURIComponent(`http://six.test:${origin.port}/img/png`)}` });
      assert.equal(r.statusCode, 403, r.body);
      assert.match(r.json().error.message, /resolves to a private, loopback or otherwise reserved address/);
    } finally {
      await app.close();
      await image.close();
    }
  });
});
