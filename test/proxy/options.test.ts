// One home per option: the gateway's configuration wraps the very specs createProxy and
// createAdmission validate with, and every bad argument to the proxy part's factories is one
// HEADROOM_CONFIG_INVALID naming the library option, the value and what is accepted.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';
import { loadConfig } from '../../src/config/load.js';
import { option } from '../../src/config/options.js';
import type { OptionSpec } from '../../src/options/spec.js';
import { proxyOptions as section } from '../../src/config/sections/proxy.js';
import { serverOptions } from '../../src/config/sections/server.js';
import { HeadroomError } from '../../src/errors.js';
import { admissionLibrarySpecs, admissionSpecs } from '../../src/admission/options.js';
import { proxyLibrarySpecs, proxyRouteSpecs, proxySpecs, upstreamClientSpecs } from '../../src/proxy/options.js';
import { createAdmission, createProxy, createUpstreamClient, proxyRoutes } from '../../src/proxy/index.js';
import { refuses } from '../helpers/options.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';

const partSpecs = { ...proxySpecs, ...admissionSpecs };

describe('proxy options: one home', () => {
  test('every proxy option of the configuration is the spec the part declares, with the same default', () => {
    const { config } = loadConfig({ env: {} });
    const used = new Set<unknown>();
    for (const [key, opt] of Object.entries(section)) {
      if (key === 'cacheEnabled') continue; // gateway-only: a library proxy caches when given a cache
      const spec = Object.values(partSpecs).find((s) => s.parse === opt.parse);
      assert.ok(spec, `${opt.env} is not built from a spec of src/proxy or src/admission`);
      used.add(spec);
      for (const field of ['env', 'doc', 'accepted', 'default', 'defaultText', 'secret'] as const) {
        // The gateway adds what its own routes make of the prefix and the client timeout; the part's text comes first.
        if (field === 'doc' && (key === 'prefix' || key === 'clientReadTimeout'))
          assert.ok(opt.doc.startsWith(spec.doc) && opt.doc.length > spec.doc.length, `${opt.env}.doc`);
        else assert.equal(opt[field], spec[field], `${opt.env}.${field}`);
      }
      assert.deepEqual((config.proxy as Record<string, unknown>)[key], spec.default, `${opt.env}: config default`);
    }
    assert.equal(used.size, Object.keys(partSpecs).length, 'every spec with an env var is in the configuration');
    for (const s of [...Object.values(proxyLibrarySpecs), ...Object.values(upstreamClientSpecs)]) {
      assert.equal(s.env, undefined, `library-only: ${s.doc}`);
      assert.throws(() => option(s as OptionSpec<unknown>), /library-only option \(no env\) cannot be configured/);
    }
  });

  test("the factories use the configuration's defaults", async () => {
    const { config } = loadConfig({ env: {} });
    await assertNoLeakedHandles(async () => {
      await using proxy = createProxy({ upstreamUrl: 'http://127.0.0.1:9' });
      const s = proxy.stats();
      assert.deepEqual(
        [
          s.prefix,
          s.enabled,
          s.admission.maxConcurrent,
          s.admission.queueSize,
          (s.admission as { thresholdPercent?: number }).thresholdPercent,
        ],
        [
          config.proxy.prefix,
          config.proxy.enabled,
          config.proxy.maxConcurrent,
          config.proxy.queueSize,
          config.proxy.memoryThresholdPercent,
        ],
      );
      assert.ok(proxy.matches(`${config.proxy.prefix}/x`));
    });
  });

  test('docs/proxy.md lists every option as declared', () => {
    const doc = readFileSync(new URL('../../docs/proxy.md', import.meta.url), 'utf8');
    const shared = [
      ...Object.entries(proxySpecs).map(([k, s]) => [k, s, 'createProxy'] as const),
      ...Object.entries(admissionSpecs).map(([k, s]) => [k, s, 'createAdmission'] as const),
    ];
    for (const [key, s, factory] of shared) assert.ok(doc.includes(`| \`${s.env}\` | \`${factory}({ ${key} })\``), `${s.env} → ${key}`);
    const libraryOnly = {
      createProxy: proxyLibrarySpecs,
      createAdmission: admissionLibrarySpecs,
      createUpstreamClient: upstreamClientSpecs,
      proxyRoutes: proxyRouteSpecs,
    };
    for (const [factory, specs] of Object.entries(libraryOnly)) {
      for (const [key, s] of Object.entries(specs)) {
        const row = `| ${factory} | \`${key}\` | ${s.defaultText} | ${s.doc} |`;
        assert.ok(doc.includes(row), `missing or stale row: ${row}`);
      }
    }
  });

  test('closeTimeout takes every SHUTDOWN_TIMEOUT the gateway passes to it', () => {
    assert.equal(proxyLibrarySpecs.closeTimeout.accepted, serverOptions.shutdownTimeout.accepted);
  });
});

describe('createProxy refuses bad options up front', () => {
  test("the issue's example: a URL without a scheme", async () => {
    await assertNoLeakedHandles(async () => {
      refuses(
        () => createProxy({ upstreamUrl: 'api.internal' }),
        'createProxy: upstreamUrl="api.internal": must be an absolute http or https URL without user:password@',
      );
    });
  });

  test('each option is named with its value and what is accepted; all problems in one error', async () => {
    await assertNoLeakedHandles(async () => {
      const url = 'http://127.0.0.1:9';
      refuses(
        () => createProxy(undefined as never),
        'createProxy: upstreamUrl is required: must be an absolute http or https URL without user:password@',
      );
      refuses(
        () => createProxy({ upstreamUrl: 'ftp://x' }),
        /^createProxy: upstreamUrl="ftp:\/\/x": must be an absolute http or https URL/,
      );
      refuses(
        () => createProxy({ upstreamUrl: 'http://svc:S3cret@api.internal' }),
        'createProxy: upstreamUrl="http://svc:<hidden>@api.internal": must be an absolute http or https URL without user:password@ (the proxy would not send those credentials; give a bearer token as the upstream token instead)',
      );
      refuses(
        () => createProxy({ upstreamUrl: url, prefix: 'api/' }),
        'createProxy: prefix="api/": must be a path like /api (letters, digits, . _ ~ -; no trailing slash)',
      );
      // A token a header cannot carry is refused here, not at every proxied request (502).
      for (const upstreamToken of ['', ' ', 'tok€n', 'a\u0001b', 'two words'])
        refuses(
          () => createProxy({ upstreamUrl: url, upstreamToken }),
          "createProxy: upstreamToken=<hidden>: must be 1 to 4096 visible ASCII characters without spaces (a bearer token, such as RFC 6750's token68: letters, digits, - . _ ~ + / =)",
        );
      refuses(
        () => createProxy({ upstreamUrl: url, streamTimeout: 0 }),
        'createProxy: streamTimeout=0: must be a duration between 100ms and 1h (milliseconds, or a number with ms, s, m or h)',
      );
      refuses(
        () => createProxy({ upstreamUrl: url, clientTimeout: -1 }),
        /^createProxy: clientTimeout=-1: must be a duration between 100ms and 10m/,
      );
      refuses(
        () => createProxy({ upstreamUrl: url, maxBufferSize: 2 * 1024 ** 3 }),
        /^createProxy: maxBufferSize=2147483648: must be a byte size between 0 bytes and 1 GiB/,
      );
      refuses(() => createProxy({ upstreamUrl: url, gcAssistBytes: -1 }), /^createProxy: gcAssistBytes=-1: must be a byte size/);
      refuses(
        () => createProxy({ upstreamUrl: url, enabled: 'maybe' as never }),
        'createProxy: enabled="maybe": must be true or false (also accepted: 1/0, yes/no, on/off)',
      );
      refuses(
        () => createProxy({ upstreamUrl: url, connections: 0 }),
        'createProxy: connections=0: must be an integer between 1 and 100000',
      );
      refuses(
        () => createProxy({ upstreamUrl: url, closeTimeout: 700_000 }),
        /^createProxy: closeTimeout=700000: must be a duration between 0ms and 10m/,
      );
      refuses(
        () => createProxy({ upstreamUrl: url, monitor: {} as never }),
        'createProxy: monitor={}: must be a memory monitor (an object with status(), onPressure())',
      );
      refuses(
        () => createProxy({ upstreamUrl: url, cache: { get: () => undefined } as never }),
        /^createProxy: cache=\{\}: must be a cache from createCache\(\) \(an object with get\(\), set\(\)\)$/,
      );
      refuses(
        () => createProxy({ upstreamUrl: url, logger: console.log as never }),
        /^createProxy: logger=.*: must be a logger \(an object with warn\(\)\)$/,
      );
      refuses(
        () => createProxy({ upstreamUrl: url, admission: { acquire: async () => () => {} } as never }),
        /^createProxy: admission=\{\}: must be a controller from createAdmission\(\)/,
      );
      refuses(
        () => createProxy({ upstreamUrl: 'api.internal', prefix: '/', streamTimeout: 10 }),
        /^createProxy: upstreamUrl="api.internal": .+; prefix="\/": .+; streamTimeout=10: must be a duration/,
      );
    });
  });

  test('limits are checked with the admission specs and named as limits', async () => {
    await assertNoLeakedHandles(async () => {
      refuses(
        () => createProxy({ upstreamUrl: 'http://127.0.0.1:9', limits: { maxConcurrent: 0 } }),
        'createProxy: limits.maxConcurrent=0: must be an integer between 1 and 100000',
      );
      refuses(
        () =>
          createProxy({ upstreamUrl: 'http://127.0.0.1:9', limits: { queueSize: 5, hysteresisPercent: 90, memoryThresholdPercent: 80 } }),
        'createProxy: limits.hysteresisPercent=90: must be below limits.memoryThresholdPercent (80), or the breaker never closes',
      );
      refuses(
        () => createProxy({ upstreamUrl: 'http://127.0.0.1:9', limits: { maxConcurent: 2 } as never }),
        'createProxy: limits.maxConcurent: unknown option; did you mean maxConcurrent?',
      );
      refuses(
        () => createProxy({ upstreamUrl: 'http://127.0.0.1:9', limits: 5 as never }),
        'createProxy: limits=5: must be an object of createAdmission options',
      );
    });
  });
});

describe('createUpstreamClient refuses bad options up front', () => {
  test('base URL, timeouts, body limit, connections, headers, objects', async () => {
    await assertNoLeakedHandles(async () => {
      const baseUrl = 'http://127.0.0.1:9';
      refuses(
        () => createUpstreamClient({} as never),
        'createUpstreamClient: baseUrl is required: must be an absolute http or https URL without user:password@',
      );
      refuses(
        () => createUpstreamClient({ baseUrl: '/items' }),
        'createUpstreamClient: baseUrl="/items": must be an absolute http or https URL without user:password@',
      );
      refuses(
        () => createUpstreamClient({ baseUrl: new URL('http://u:pw@cms.internal/') }),
        /^createUpstreamClient: baseUrl="http:\/\/u:<hidden>@cms.internal\/": .*give a bearer token in token instead\)$/,
      );
      refuses(
        () => createUpstreamClient({ baseUrl, timeout: 0 }),
        /^createUpstreamClient: timeout=0: must be a duration between 1ms and 1h/,
      );
      refuses(
        () => createUpstreamClient({ baseUrl, maxBodyBytes: 1.5 }),
        /^createUpstreamClient: maxBodyBytes=1.5: must be a byte size between 0 bytes and 1 GiB/,
      );
      refuses(() => createUpstreamClient({ baseUrl, cacheTtl: -5 }), /^createUpstreamClient: cacheTtl=-5: must be a duration/);
      refuses(
        () => createUpstreamClient({ baseUrl, connections: 0 }),
        'createUpstreamClient: connections=0: must be an integer between 1 and 100000',
      );
      refuses(
        () => createUpstreamClient({ baseUrl, headers: { authorization: 5 } as never }),
        'createUpstreamClient: headers=<hidden>: must be an object of header names to string values',
      );
      refuses(
        () => createUpstreamClient({ baseUrl, token: '' }),
        'createUpstreamClient: token=<hidden>: must be a string of 1 to 4096 characters',
      );
      refuses(
        () => createUpstreamClient({ baseUrl, cache: { get: () => undefined } as never }),
        /^createUpstreamClient: cache=\{\}: must be a cache from createCache\(\)/,
      );
      refuses(
        () => createUpstreamClient({ baseUrl, timout: 5 } as never),
        'createUpstreamClient: timout: unknown option; did you mean timeout?',
      );
    });
  });
});

describe('proxyRoutes refuses bad options', () => {
  test('a proxy that is not one, and raw that is not a boolean', async () => {
    for (const [options, message] of [
      [{}, 'proxyRoutes: proxy is required: must be a proxy from createProxy() (an object with handle(), matches(), drain())'],
      [
        { proxy: { prefix: '/api' } },
        'proxyRoutes: proxy={"prefix":"/api"}: must be a proxy from createProxy() (an object with handle(), matches(), drain())',
      ],
      [
        { proxy: { handle() {}, matches() {}, drain() {}, prefix: '/api' }, raw: 'no way' },
        'proxyRoutes: raw="no way": must be true or false (also accepted: 1/0, yes/no, on/off)',
      ],
      [
        { proxy: { handle() {}, matches() {}, drain() {}, prefix: '/api' }, rawPath: true },
        'proxyRoutes: rawPath: unknown option; did you mean raw?',
      ],
    ] as const) {
      const app = Fastify();
      await assert.rejects(
        async () => {
          await app.register(proxyRoutes, options as never);
          await app.ready();
        },
        (err: unknown) => err instanceof HeadroomError && err.code === 'HEADROOM_CONFIG_INVALID' && err.message === message,
      );
      await app.close();
    }
  });
});

describe("proxyRoutes takes Fastify's own register options", () => {
  test('prefix and logLevel are not refused', async () => {
    const app = Fastify();
    const proxy = createProxy({ upstreamUrl: 'http://127.0.0.1:9' });
    try {
      await app.register(proxyRoutes, { proxy, prefix: '/v1', logLevel: 'warn' } as never);
      await app.ready();
    } finally {
      await app.close();
      await proxy.close();
    }
  });
});

describe('createAdmission re-exported from headroom-memory/proxy', () => {
  test('is the validating factory', () => {
    refuses(() => createAdmission({ maxConcurrent: 0 }), 'createAdmission: maxConcurrent=0: must be an integer between 1 and 100000');
  });
});
