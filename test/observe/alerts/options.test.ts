// createAlerter's options and the ALERT_* configuration: one home per option, every problem in
// one error naming the option and what is accepted, webhook URLs and the secret never echoed.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { ConfigError, loadConfig } from '../../../src/config/index.js';
import { alerterOptions } from '../../../src/config/sections/alerts.js';
import { createMemoryMonitor } from '../../../src/monitor/index.js';
import { createLogger } from '../../../src/server/logger.js';
import { createAlerter, resolveAlerterOptions, type AlertMonitor } from '../../../src/observe/alerts/index.js';
import { fakeMemory } from '../../monitor/helpers.js';

const monitor = createMemoryMonitor({ sampler: fakeMemory().sampler, autoStart: false, rssLimit: null });
after(() => monitor.close());

function thrown(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.equal((err as { code?: string }).code, 'HEADROOM_CONFIG_INVALID', String(err));
    return (err as Error).message;
  }
  assert.fail('expected HEADROOM_CONFIG_INVALID');
}

test('createAlerter: webhookUrls and monitor are required; every problem at once', () => {
  assert.match(
    thrown(() => createAlerter({ monitor })),
    /^createAlerter: webhookUrls is required: must be a list of at most 8 absolute http or https URLs/,
  );
  assert.match(
    thrown(() => createAlerter({ webhookUrls: 'http://127.0.0.1:9/' })),
    /createAlerter: monitor is required: must be a memory monitor/,
  );
  const m = thrown(() =>
    resolveAlerterOptions({ monitor, webhookUrls: 'http://127.0.0.1:9/', format: 'teams' as never, retries: -1, queueSize: 0 }),
  );
  assert.match(m, /format="teams": must be one of generic, slack, alertmanager/);
  assert.match(m, /retries=-1: must be an integer between 0 and 20/);
  assert.match(m, /queueSize=0: must be an integer between 1 and 10000/);
  assert.match(
    thrown(() => resolveAlerterOptions({ monitor, webhookUrls: 'http://127.0.0.1:9/', webhookUrl: 'x' } as never)),
    /webhookUrl: unknown option; did you mean webhookUrls\?/,
  );
  assert.match(
    thrown(() =>
      resolveAlerterOptions({
        monitor: { status: () => 'healthy', onPressure: () => () => {} } as never,
        webhookUrls: 'http://127.0.0.1:9/',
      }),
    ),
    /monitor=.*: must be a memory monitor \(an object with status\(\), onStatus\(\), current\(\), history\(\), trend\(\), gc\(\), thresholds\(\)\)/,
  );
});

test('createAlerter: a monitor with exactly the AlertMonitor methods is enough (no onPressure())', async () => {
  const methods = ['status', 'onStatus', 'current', 'history', 'trend', 'gc', 'thresholds'] as const;
  const custom: AlertMonitor = {
    status: () => monitor.status(),
    onStatus: (listener) => monitor.onStatus(listener),
    current: () => monitor.current(),
    history: () => monitor.history(),
    trend: () => monitor.trend(),
    gc: () => monitor.gc(),
    thresholds: () => monitor.thresholds(),
  };
  assert.deepEqual(Object.keys(custom).sort(), [...methods].sort());
  const alerter = createAlerter({ monitor: custom, webhookUrls: 'http://127.0.0.1:9/' });
  await alerter.close();
  for (const m of methods) {
    const { [m]: _missing, ...rest } = custom;
    assert.match(
      thrown(() => createAlerter({ monitor: rest as never, webhookUrls: 'http://127.0.0.1:9/' })),
      /^createAlerter: monitor=.*: must be a memory monitor \(an object with status\(\), onStatus\(\), current\(\), history\(\), trend\(\), gc\(\), thresholds\(\)\)$/,
      `without ${m}()`,
    );
  }
});

test('a bad webhook URL is named by its position, never shown', () => {
  const m = thrown(() =>
    resolveAlerterOptions({ monitor, webhookUrls: ['https://hooks.example.com/services/T0/B0/S3CRET', 'ftp://x/S3CRET'] }),
  );
  assert.match(m, /webhookUrls=<hidden>: .*entry 2 must be an absolute http or https URL/);
  assert.ok(!m.includes('S3CRET'), m);
});

test('options resolve: URLs from a string, an array or a URL; Basic auth from user:password@; defaults', () => {
  const o = resolveAlerterOptions({ monitor, webhookUrls: 'http://a.example/x, https://u:p%40ss@b.example/y?z=1' });
  assert.deepEqual(
    o.targets.map((t) => [t.url.href, t.authorization]),
    [
      ['http://a.example/x', undefined],
      ['https://b.example/y?z=1', `Basic ${Buffer.from('u:p@ss').toString('base64')}`],
    ],
  );
  assert.equal(resolveAlerterOptions({ monitor, webhookUrls: new URL('http://c.example/') }).targets.length, 1);
  assert.deepEqual(
    [
      o.format,
      o.checkInterval,
      o.resolveAfter,
      o.heapForecast,
      o.eventLoopP99,
      o.shedRate,
      o.timeout,
      o.retries,
      o.queueSize,
      o.queueBytes,
    ],
    ['generic', 10_000, 60_000, 3_600_000, 500, 1, 5000, 3, 64, 1024 * 1024],
  );
  assert.ok(o.instance.length > 0, 'the host name by default');
});

test('ALERT_* configuration: unset means no alerter; values parse; secrets stay hidden in errors', () => {
  const base = { UPSTREAM_URL: 'http://127.0.0.1:9/' };
  assert.equal(alerterOptions(loadConfig({ env: base }).config.alerts), undefined);
  const { config } = loadConfig({
    env: {
      ...base,
      ALERT_WEBHOOK_URL: 'https://hooks.example.com/a,https://am.example.com/hook',
      ALERT_WEBHOOK_FORMAT: 'alertmanager',
      ALERT_HEAP_FORECAST: '30m',
      ALERT_EVENT_LOOP_P99: '250ms',
      ALERT_QUEUE_BYTES: '256KiB',
    },
  });
  const o = alerterOptions(config.alerts);
  assert.deepEqual(o?.webhookUrls, ['https://hooks.example.com/a', 'https://am.example.com/hook']);
  assert.equal(o?.format, 'alertmanager');
  assert.equal(o?.heapForecast, 1_800_000);
  assert.equal(o?.eventLoopP99, 250);
  assert.equal(o?.queueBytes, 256 * 1024);

  let problems: string[] = [];
  try {
    loadConfig({
      env: { ...base, ALERT_WEBHOOK_URL: 'https://hooks.slack.com/services/T0/B0/S3CRET,nope', ALERT_WEBHOOK_SECRET: 'S3CRET' },
    });
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    problems = err.problems;
  }
  assert.equal(problems.length, 2, problems.join('\n'));
  assert.match(problems[0]!, /^ALERT_WEBHOOK_URL=<hidden>: must be a list of at most 8 .*; entry 2 must be an absolute http or https URL$/);
  assert.match(problems[1]!, /^ALERT_WEBHOOK_SECRET=<hidden>: must be a string of 16 to 4096 characters$/);
  assert.ok(!problems.join('\n').includes('S3CRET'));
  const { warnings } = loadConfig({ env: { ...base, ALERT_WEBHOOK_URLS: 'http://x/' } });
  assert.deepEqual(warnings, ['unknown variable ALERT_WEBHOOK_URLS is ignored (did you mean ALERT_WEBHOOK_URL?)']);
});

test('the gateway logger hides the webhook URLs and the secret, under the config and under their keys', async () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString('utf8'));
      cb();
    },
  });
  const { config } = loadConfig({
    env: {
      UPSTREAM_URL: 'http://127.0.0.1:9/',
      ALERT_WEBHOOK_URL: 'https://hooks.example.com/T0/B0/S3CRET',
      ALERT_WEBHOOK_SECRET: 'S3CRET-0123456789abcdef',
    },
  });
  const logger = createLogger('info', sink);
  logger.info({ config }, 'config');
  logger.info({ webhookUrls: config.alerts.webhookUrls, hmacSecret: config.alerts.hmacSecret }, 'keys');
  logger.info({ ALERT_WEBHOOK_URL: 'https://hooks.example.com/T0/B0/S3CRET' }, 'env');
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(lines.length, 3);
  assert.ok(!lines.join('').includes('S3CRET'), lines.join(''));
});
