// createLogShipper's options: the gateway's LOG_SHIP_* configuration wraps the very specs it
// validates with, and a bad argument is one HEADROOM_CONFIG_INVALID naming the option, the value
// and what is accepted (the URL, a secret, never echoed).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig, ConfigError } from '../../src/config/index.js';
import { logOptions as section } from '../../src/config/sections/log.js';
import { createLogShipper, logShipSpecs, resolveLogShipperOptions } from '../../src/log/index.js';
import { refuses } from '../helpers/options.js';

describe('log shipping options', () => {
  test('the configuration wraps these specs (one home); library-only ones have no variable', () => {
    const { config } = loadConfig({ env: {} });
    const specKey = (key: string): keyof typeof logShipSpecs =>
      (key === 'shipUrl' ? 'url' : key === 'shipAuthorization' ? 'authorization' : key) as keyof typeof logShipSpecs;
    for (const [key, option] of Object.entries(section)) {
      const spec = logShipSpecs[specKey(key)];
      assert.equal(option.parse, spec.parse, `${option.env} is built from logShipSpecs.${key}`);
      assert.deepEqual((config.log as Record<string, unknown>)[key], spec.default);
    }
    for (const key of ['retryDelay', 'maxRetryDelay', 'breakerThreshold', 'maxResponseBytes'] as const) {
      assert.equal(logShipSpecs[key].env, undefined);
    }
    assert.equal(config.log.shipUrl, undefined, 'no shipping by default');
    assert.equal(config.log.maxAge, 3_600_000);
    assert.equal(config.log.batch, 100);
    assert.equal(config.log.timeout, 5000);
    assert.equal(config.log.concurrency, 4);
  });

  test('LOG_SHIP_* variables are parsed with units; bad ones stop start-up naming the variable', () => {
    const { config } = loadConfig({
      env: { LOG_SHIP_URL: 'http://es:9200/_bulk', LOG_SHIP_FORMAT: 'elasticsearch', LOG_SHIP_MAX_BYTES: '8MiB', LOG_SHIP_MAX_AGE: '10m' },
    });
    assert.equal(config.log.maxBytes, 8 * 1024 ** 2);
    assert.equal(config.log.maxAge, 600_000);
    assert.equal(loadConfig({ env: { LOG_SHIP_CONCURRENCY: '1' } }).config.log.concurrency, 1);
    assert.throws(
      () => loadConfig({ env: { LOG_SHIP_CONCURRENCY: '32' } }),
      (err: unknown) =>
        err instanceof ConfigError && err.problems.some((p) => p.includes('LOG_SHIP_CONCURRENCY') && p.includes('between 1 and 16')),
    );
    assert.throws(
      () => loadConfig({ env: { LOG_SHIP_FORMAT: 'splunk', LOG_SHIP_MAX_BYTES: '1KB', LOG_SHIP_URL: 'http://u:secret@x/' + 'y' } }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.ok(
          err.problems.some((p) => p.includes('LOG_SHIP_FORMAT') && p.includes('elasticsearch, loki, jsonl')),
          err.message,
        );
        assert.ok(
          err.problems.some((p) => p.includes('LOG_SHIP_MAX_BYTES') && p.includes('16 KiB')),
          err.message,
        );
        return true;
      },
    );
    const typo = loadConfig({ env: { LOG_SHIP_MAXBYTES: '1MiB' } });
    assert.ok(
      typo.warnings.some((w) => w.includes('LOG_SHIP_MAX_BYTES')),
      typo.warnings.join('\n'),
    );
  });

  test('createLogShipper refuses bad options, all at once, naming the library option', () => {
    refuses(() => createLogShipper({}), /createLogShipper: url is required: must be an absolute http or https URL/);
    refuses(
      () => createLogShipper({ url: 'http://127.0.0.1:9/x', maxBytes: '1KB', batch: 0, format: 'gelf' as 'loki' }),
      /maxBytes="1KB": must be a byte size between 16 KiB and 1 GiB.*; batch=0: must be an integer between 1 and 10000|format="gelf"/,
    );
    refuses(() => createLogShipper({ url: 'http://x/', concurrency: 0 }), /concurrency=0: must be an integer between 1 and 16/);
    refuses(() => createLogShipper({ url: 'ftp://x/' }), /url=<hidden>: must be an absolute http or https URL/);
    refuses(
      () => createLogShipper({ url: 'http://x/', retryDelay: 1000, maxRetryDelay: 10 }),
      /maxRetryDelay=10: must not be below retryDelay/,
    );
    refuses(() => createLogShipper({ url: 'http://x/', labels: ['bad label'] }), /labels=\["bad label"\]: must be a list of at most 16/);
    // A value too long says so (it has no comma, quote or backslash to blame).
    refuses(() => createLogShipper({ url: 'http://x/', labels: [`service_name=${'x'.repeat(300)}`] }), /a value of 1 to 256 characters/);
  });

  test('user:password@ in the URL becomes a Basic Authorization header and leaves the URL', () => {
    const o = resolveLogShipperOptions({ url: 'https://elastic:p%40ss@es.example:9200/_bulk', labels: { job: 'api' } });
    assert.equal(o.url.href, 'https://es.example:9200/_bulk');
    assert.equal(o.authorization, `Basic ${Buffer.from('elastic:p@ss').toString('base64')}`);
    const explicit = resolveLogShipperOptions({ url: 'https://u:p@es/_bulk', authorization: 'ApiKey abc' });
    assert.equal(explicit.authorization, 'ApiKey abc');
    for (const authorization of ['ApiKey ключ', 'Bearer a\nX-Injected: 1', 'ApiKey\tabc'])
      assert.throws(
        () => resolveLogShipperOptions({ url: 'https://es/_bulk', authorization }),
        (err: Error) =>
          err.message.includes(
            'authorization=<hidden>: must be a header value of 1 to 8192 visible ASCII characters, spaces only between words',
          ),
        JSON.stringify(authorization),
      );
  });
});
