import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { ConfigError, loadConfig } from '../../src/config/index.js';
import { ADMIN_TOKEN_ACCEPTED } from '../../src/options/admin-token.js';

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  assert.fail('expected a ConfigError');
}

test('defaults are safe and keep the documented variable defaults', () => {
  const { config } = loadConfig({ env: {} });
  assert.equal(config.server.port, 3000);
  assert.equal(config.server.host, '127.0.0.1');
  assert.equal(config.server.adminToken, undefined);
  assert.equal(config.monitor.warningThreshold, 0.75);
  assert.equal(config.monitor.criticalThreshold, 0.85);
  assert.equal(config.proxy.maxBufferSize, 10 * 1024 * 1024);
  assert.equal(config.proxy.memoryThresholdPercent, 80);
  assert.equal(config.proxy.maxConcurrent, 20);
  assert.equal(config.proxy.streamTimeout, 30_000);
  assert.equal(config.proxy.enabled, true);
  assert.equal(config.monitor.logging, false);
  assert.equal(config.server.compressionLevel, 6);
  assert.equal(config.server.compressionThreshold, 1024);
});

test('precedence: flag > env > file > default', () => {
  const dir = mkdtempSync(join(tmpdir(), 'headroom-config-'));
  try {
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ PORT: 4000, HOST: '0.0.0.0', LOG_LEVEL: 'warn' }));
    const { config } = loadConfig({ configFile: file, env: { PORT: '5000', HOST: '::1' }, flags: { port: '6000' } });
    assert.equal(config.server.port, 6000);
    assert.equal(config.server.host, '::1');
    assert.equal(config.server.logLevel, 'warn');
    const viaEnv = loadConfig({ env: { HEADROOM_CONFIG: file } }).config;
    assert.equal(viaEnv.server.port, 4000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--upstream-url is the flag of UPSTREAM_URL', () => {
  const { config } = loadConfig({ env: { UPSTREAM_URL: 'http://a.example' }, flags: { 'upstream-url': 'http://b.example:8080' } });
  assert.equal(config.proxy.upstreamUrl, 'http://b.example:8080');
});

test('a bad value names the variable, the value and what is accepted; all problems are listed', () => {
  const p = problems(() => loadConfig({ env: { MEMORY_WARNING_THRESHOLD: '170', PORT: 'eighty', CACHE_MAX_BYTES: '12 parsecs' } }));
  assert.ok(
    p.some((l) => l.startsWith('MEMORY_WARNING_THRESHOLD=170: must be a fraction from 0 to 1 or a percent up to 100')),
    p.join('\n'),
  );
  assert.ok(p.includes('PORT=eighty: must be an integer between 0 and 65535'), p.join('\n'));
  assert.ok(
    p.some((l) => l.startsWith('CACHE_MAX_BYTES=12 parsecs: must be a byte size')),
    p.join('\n'),
  );
  assert.equal(p.length, 3);
});

test('a value is shown on one bounded line: control characters escaped, long values cut, deep nesting named', () => {
  const p = problems(() => loadConfig({ env: { LOG_LEVEL: 'x\n  PORT=1: forged\u001b[31m', PORT: '9'.repeat(900_000) } }));
  assert.ok(
    p.includes('LOG_LEVEL=x\\u000a  PORT=1: forged\\u001b[31m: must be one of fatal, error, warn, info, debug, trace, silent'),
    p.join('\n'),
  );
  assert.ok(p.includes(`PORT=${'9'.repeat(200)}… (900000 characters): must be an integer between 0 and 65535`), p.join('\n').slice(0, 500));
  const dir = mkdtempSync(join(tmpdir(), 'headroom-config-shown-'));
  try {
    const file = join(dir, 'deep.json');
    // Nested past what JSON.stringify can print (it crashed the start with a RangeError), and a
    // key of 700 000 characters (its "did you mean" took seconds).
    writeFileSync(file, `{"PORT": ${'['.repeat(100_000)}${']'.repeat(100_000)}, "${'A'.repeat(700_000)}\\nX": 1}`);
    const started = performance.now();
    const q = problems(() => loadConfig({ configFile: file }));
    assert.ok(performance.now() - started < 5_000, 'no edit distance over the long key');
    assert.ok(
      q.some((l) => l.startsWith('PORT=an array too deeply nested to show: must be an integer')),
      q.join('\n'),
    );
    assert.ok(
      q.some((l) => new RegExp(`unknown key A{200}… \\(7000\\d\\d characters\\)`).test(l)),
      q.join('\n').slice(0, 800),
    );
    assert.ok(
      q.every((l) => !l.includes('\n') && l.length < 600),
      'one bounded line per problem',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a misspelt variable is noted with the problems it may have caused (its warning would never be printed)', () => {
  assert.throws(
    () => loadConfig({ env: { PORT: 'x', LOG_SHIP_CONCURENCY: '2' } }),
    (err: Error & { problems?: string[] }) => {
      assert.deepEqual(err.problems, ['PORT=x: must be an integer between 0 and 65535']);
      assert.match(err.message, /\n {2}note: unknown variable LOG_SHIP_CONCURENCY is ignored \(did you mean LOG_SHIP_CONCURRENCY\?\)$/);
      return true;
    },
  );
});

test('flags are named as flags in errors', () => {
  const p = problems(() => loadConfig({ env: {}, flags: { port: '70000' } }));
  assert.deepEqual(p, ['PORT=70000: must be an integer between 0 and 65535 (from --port)']);
});

test('secrets are never echoed', () => {
  const p = problems(() => loadConfig({ env: { HEADROOM_ADMIN_TOKEN: 'short' } }));
  assert.deepEqual(p, [`HEADROOM_ADMIN_TOKEN=<hidden>: ${ADMIN_TOKEN_ACCEPTED}`]);
  // A token no Authorization header could carry (a space ends the Bearer token) is refused at start-up too.
  const spaced = problems(() => loadConfig({ env: { HEADROOM_ADMIN_TOKEN: 'correct horse battery staple' } }));
  assert.deepEqual(spaced, [`HEADROOM_ADMIN_TOKEN=<hidden>: ${ADMIN_TOKEN_ACCEPTED}`]);
  assert.deepEqual(
    problems(() => loadConfig({ env: { METRICS_TOKEN: 'short' } })),
    [`METRICS_TOKEN=<hidden>: ${ADMIN_TOKEN_ACCEPTED}`],
  );
});

test('the same value for METRICS_TOKEN and HEADROOM_ADMIN_TOKEN is warned about, without the value', () => {
  const token = 'same-t0ken-for-both-0123';
  const { warnings } = loadConfig({ env: { HEADROOM_ADMIN_TOKEN: token, METRICS_TOKEN: token } });
  assert.deepEqual(warnings, [
    'METRICS_TOKEN is the same as HEADROOM_ADMIN_TOKEN: whatever scrapes /metrics could then use the admin API (heap snapshots, cache clears); give it a token of its own',
  ]);
  assert.deepEqual(loadConfig({ env: { HEADROOM_ADMIN_TOKEN: token, METRICS_TOKEN: `${token}x` } }).warnings, []);
});

test('cross-option rules: critical must be above warning', () => {
  const p = problems(() => loadConfig({ env: { MEMORY_WARNING_THRESHOLD: '0.9', MEMORY_CRITICAL_THRESHOLD: '0.8' } }));
  assert.deepEqual(p, ['MEMORY_CRITICAL_THRESHOLD=0.8: must be above MEMORY_WARNING_THRESHOLD (90%)']);
  // Only the warning given: the rule is broken by it, not by the critical default nobody set.
  const onlyWarning = problems(() => loadConfig({ env: { MEMORY_WARNING_THRESHOLD: '1' } }));
  assert.deepEqual(onlyWarning, ['MEMORY_WARNING_THRESHOLD=1: must be below MEMORY_CRITICAL_THRESHOLD (85%, its default)']);
});

test('cross-option rules: the dashboard stall and view timeouts span two frames', () => {
  const p = problems(() =>
    loadConfig({ env: { DASHBOARD_INTERVAL: '10s', DASHBOARD_STALL_TIMEOUT: '15s', DASHBOARD_VIEW_TIMEOUT: '12s' } }),
  );
  assert.deepEqual(p, [
    'DASHBOARD_STALL_TIMEOUT=15s: must be at least twice DASHBOARD_INTERVAL (20000 ms)',
    'DASHBOARD_VIEW_TIMEOUT=12s: must be at least twice DASHBOARD_INTERVAL (20000 ms)',
  ]);
  assert.equal(loadConfig({ env: {} }).config.dashboard.viewTimeout, 300_000);
  // Only the interval given: it is the one named.
  assert.deepEqual(
    problems(() => loadConfig({ env: { DASHBOARD_INTERVAL: '20s' } })),
    ['DASHBOARD_INTERVAL=20s: must be at most half of DASHBOARD_STALL_TIMEOUT (30000 ms, its default)'],
  );
});

test('units for bytes and durations; booleans in several spellings; empty env counts as unset', () => {
  const { config } = loadConfig({
    env: { CACHE_MAX_BYTES: '128MiB', STREAM_TIMEOUT: '45s', ENABLE_STREAMING_PROXY: 'off', REDIS_URL: '', MAX_BUFFER_SIZE: '1048576' },
  });
  assert.equal(config.cache.maxBytes, 128 * 1024 * 1024);
  assert.equal(config.proxy.streamTimeout, 45_000);
  assert.equal(config.proxy.enabled, false);
  assert.equal(config.cache.redisUrl, undefined);
  assert.equal(config.proxy.maxBufferSize, 1024 * 1024);
});

test('URLs: only absolute http(s) for the upstream, redis(s) for Redis, no userinfo', () => {
  const p = problems(() => loadConfig({ env: { UPSTREAM_URL: 'ftp://x', REDIS_URL: 'http://localhost' } }));
  assert.equal(p.length, 2);
  assert.ok(p.includes('UPSTREAM_URL=ftp://x: must be an absolute http or https URL without user:password@'), p.join('\n'));
  // REDIS_URL may carry a password, so it is a secret and never echoed.
  assert.ok(p.includes('REDIS_URL=<hidden>: must be an absolute redis or rediss URL'), p.join('\n'));
  assert.equal(loadConfig({ env: { REDIS_URL: 'redis://:pw@127.0.0.1:6379/0' } }).config.cache.redisUrl, 'redis://:pw@127.0.0.1:6379/0');
});

test('config file problems: unreadable, not JSON, not an object, unknown keys with a suggestion', () => {
  const dir = mkdtempSync(join(tmpdir(), 'headroom-config-'));
  try {
    assert.match(problems(() => loadConfig({ configFile: join(dir, 'missing.json') }))[0]!, /cannot read the file \(no such file\)/);
    // Refused before anything is read: a directory, a device that never ends, a file over 1 MiB.
    assert.match(problems(() => loadConfig({ configFile: dir }))[0]!, /: not a regular file \(a directory\); give a JSON file$/);
    assert.match(
      problems(() => loadConfig({ configFile: '/dev/zero' }))[0]!,
      /^--config \/dev\/zero: not a regular file \(a device, pipe or socket\)/,
    );
    writeFileSync(join(dir, 'big.json'), Buffer.alloc(1024 * 1024 + 1, 0x20));
    assert.match(problems(() => loadConfig({ configFile: join(dir, 'big.json') }))[0]!, /the file is larger than 1 MiB/);
    writeFileSync(join(dir, 'edge.json'), `{"PORT": 8080}${' '.repeat(1024 * 1024 - 14)}`);
    assert.equal(loadConfig({ configFile: join(dir, 'edge.json') }).config.server.port, 8080, 'exactly 1 MiB is read whole');
    writeFileSync(join(dir, 'bad.json'), '{ nope');
    assert.match(problems(() => loadConfig({ configFile: join(dir, 'bad.json') }))[0]!, /not valid JSON/);
    // Where the error is, also when V8 does not say ("Unexpected token"); never what is there.
    writeFileSync(join(dir, 'token.json'), '{\n  "PORT": abc}');
    assert.match(
      problems(() => loadConfig({ configFile: join(dir, 'token.json') }))[0]!,
      /not valid JSON \(unexpected character at line 2, column 11\)$/,
    );
    // A byte-order mark is skipped; a file that is not JSON at all (YAML) says what is read.
    writeFileSync(join(dir, 'bom.json'), '\uFEFF{"PORT": 8081}');
    assert.equal(loadConfig({ configFile: join(dir, 'bom.json') }).config.server.port, 8081);
    writeFileSync(join(dir, 'c.yaml'), 'PORT: 8080\n');
    assert.match(
      problems(() => loadConfig({ configFile: join(dir, 'c.yaml') }))[0]!,
      /not valid JSON \(unexpected character at line 1, column 1\); a config file is one JSON object, \{"PORT": 8080\} — YAML and \.env files are not read$/,
    );
    // A key given twice (JSON.parse would keep the last) is refused; the same name inside a value is not a key.
    writeFileSync(join(dir, 'dup.json'), '{"PORT": 1, "LOG_LEVEL": "info", "UPSTREAM_URL": "http://x/\\"PORT\\": 2", "PORT": 8080}');
    assert.deepEqual(
      problems(() => loadConfig({ configFile: join(dir, 'dup.json') })),
      [`--config ${join(dir, 'dup.json')}: PORT is given more than once: give it once`],
    );
    writeFileSync(join(dir, 'arr.json'), '[1]');
    assert.match(problems(() => loadConfig({ configFile: join(dir, 'arr.json') }))[0]!, /must be a JSON object/);
    writeFileSync(join(dir, 'typo.json'), '{"PROT": 1}');
    assert.match(problems(() => loadConfig({ configFile: join(dir, 'typo.json') }))[0]!, /unknown key PROT \(did you mean PORT\?\)/);
    // Each message names the file the way it was given.
    assert.match(problems(() => loadConfig({ configFile: join(dir, 'bad.json') }))[0]!, /^--config \S+bad\.json: /);
    assert.match(
      problems(() => loadConfig({ env: { HEADROOM_CONFIG: join(dir, 'bad.json') } }))[0]!,
      /^HEADROOM_CONFIG=\S+bad\.json: not valid JSON/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('typos of our variables get a "did you mean" warning, other variables are left alone', () => {
  const { warnings } = loadConfig({
    env: { MEMORY_WARNING_TRESHOLD: '0.7', HEADROOM_ADMIN_TOKN: 'x', HEADROOM_METRICS_TOKEN: 'x', PATH: '/bin', MAX_SOMETHING: '1' },
  });
  assert.deepEqual(warnings.sort(), [
    'unknown variable HEADROOM_ADMIN_TOKN is ignored (did you mean HEADROOM_ADMIN_TOKEN?)',
    // Our prefix put before one of our names (HEADROOM_ADMIN_TOKEN has it, METRICS_TOKEN has not).
    'unknown variable HEADROOM_METRICS_TOKEN is ignored (did you mean METRICS_TOKEN?)',
    'unknown variable MEMORY_WARNING_TRESHOLD is ignored (did you mean MEMORY_WARNING_THRESHOLD?)',
  ]);
});

test('a long name one or two edits from one of ours is a typo too, whatever its prefix; unrelated names are left alone', () => {
  const env = {
    MAX_CONCURRENT_PER_CLIENTS: '1',
    CLIENT_TIMEOU: '5s',
    TRUST_PROXIES: '1',
    DASHBOARD_MAX_VIEWER: '1',
    // Other programs' variables, some sharing a first word with ours.
    HOSTNAME: 'x',
    CLIENT_SECRET: 'x',
    TRUST_STORE_PATH: '/x',
    ENABLE_FEATURE_X: '1',
    KUBERNETES_SERVICE_HOST: '10.0.0.1',
    KUBERNETES_SERVICE_PORT: '443',
    NODE_OPTIONS: '--x',
    npm_config_user_agent: 'npm',
    SHLVL: '1',
  };
  assert.deepEqual(loadConfig({ env }).warnings.sort(), [
    'unknown variable CLIENT_TIMEOU is ignored (did you mean CLIENT_TIMEOUT?)',
    'unknown variable DASHBOARD_MAX_VIEWER is ignored (did you mean DASHBOARD_MAX_VIEWERS?)',
    'unknown variable MAX_CONCURRENT_PER_CLIENTS is ignored (did you mean MAX_CONCURRENT_PER_CLIENT?)',
    'unknown variable TRUST_PROXIES is ignored (did you mean TRUST_PROXY?)',
  ]);
  // This machine's own environment raises nothing (CI's HEADROOM_REQUIRE_* switches aside: our prefix).
  const machine = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('HEADROOM_')));
  assert.deepEqual(
    loadConfig({ env: machine }).warnings.filter((w) => w.startsWith('unknown variable')),
    [],
  );
});

test('LOG_SHIP_* settings without LOG_SHIP_URL get a warning: they have no effect', () => {
  assert.deepEqual(loadConfig({ env: { LOG_SHIP_MAX_BYTES: '1MiB', LOG_SHIP_FORMAT: 'loki' } }).warnings, [
    'LOG_SHIP_FORMAT, LOG_SHIP_MAX_BYTES have no effect without LOG_SHIP_URL (log shipping is off)',
  ]);
  assert.deepEqual(loadConfig({ env: { LOG_SHIP_URL: 'http://127.0.0.1:9/x', LOG_SHIP_MAX_BYTES: '1MiB' } }).warnings, []);
});

test('REQUEST_ACCOUNTING_WARN_BYTES without REQUEST_ACCOUNTING gets a warning: it has no effect', () => {
  assert.deepEqual(loadConfig({ env: { REQUEST_ACCOUNTING_WARN_BYTES: '1MiB' } }).warnings, [
    'REQUEST_ACCOUNTING_WARN_BYTES has no effect without REQUEST_ACCOUNTING=true (request accounting is off)',
  ]);
  assert.deepEqual(loadConfig({ env: { REQUEST_ACCOUNTING: 'true', REQUEST_ACCOUNTING_WARN_BYTES: '1MiB' } }).warnings, []);
});

test('Loki labels and concurrency that leave LOG_SHIP_MAX_BYTES no room for lines are refused naming the variables', () => {
  const labels = Array.from({ length: 16 }, (_, i) => `l${i}=${'v'.repeat(256)}`).join(',');
  const env = { LOG_SHIP_URL: 'http://127.0.0.1:9/loki/api/v1/push', LOG_SHIP_FORMAT: 'loki', LOG_SHIP_LABELS: labels };
  const p = problems(() => loadConfig({ env: { ...env, LOG_SHIP_MAX_BYTES: '64KiB' } }));
  assert.equal(p.length, 1, p.join('\n'));
  assert.match(
    p[0]!,
    /^LOG_SHIP_MAX_BYTES=64KiB: leaves less than 8192 bytes for lines: each batch's Loki stream headers \(LOG_SHIP_LABELS, once per level\) take \d+ bytes, and LOG_SHIP_CONCURRENCY=4 batches may exist at once; shorten or drop labels, lower LOG_SHIP_CONCURRENCY, or raise LOG_SHIP_MAX_BYTES$/,
  );
  assert.doesNotMatch(p[0]!, /maxBytes|concurrency=/, 'no library option names');
  // The same labels with room enough, or shipping off: no problem.
  assert.doesNotThrow(() => loadConfig({ env: { ...env, LOG_SHIP_MAX_BYTES: '16MiB' } }));
  assert.doesNotThrow(() => loadConfig({ env: { LOG_SHIP_FORMAT: 'loki', LOG_SHIP_LABELS: labels, LOG_SHIP_MAX_BYTES: '64KiB' } }));
});

test('a flag given an empty value is refused (an unset shell variable), while an empty environment variable counts as unset', () => {
  assert.deepEqual(
    problems(() => loadConfig({ flags: { 'upstream-url': '', port: '' }, configFile: '' })),
    [
      '--config: given an empty value; give a value, or leave the flag out for the default',
      '--port: given an empty value; give a value, or leave the flag out for the default',
      '--upstream-url: given an empty value; give a value, or leave the flag out for the default',
    ],
  );
  assert.equal(loadConfig({ env: { PORT: '', UPSTREAM_URL: '' } }).config.server.port, 3000);
});

test('an option a rule needs but that is missing is named without a value', () => {
  assert.deepEqual(
    problems(() => loadConfig({ env: { REDIS_SENTINELS: '127.0.0.1:26379' } })),
    ["REDIS_SENTINEL_NAME is required with REDIS_SENTINELS (the master set's name in the sentinels' configuration)"],
  );
});

test('a rule between options shows the value as it was given, and where from', () => {
  assert.deepEqual(
    problems(() => loadConfig({ env: { CACHE_MAX_BYTES: '64MiB' }, flags: { 'cache-max-entry-bytes': '128MiB' } })),
    ['CACHE_MAX_ENTRY_BYTES=128MiB: must not exceed CACHE_MAX_BYTES (64 MiB) (from --cache-max-entry-bytes)'],
  );
  assert.deepEqual(
    problems(() => loadConfig({ env: { MAX_CONCURRENT_CONNECTIONS: '8', MAX_CONCURRENT_PER_CLIENT: '9' } })),
    ['MAX_CONCURRENT_PER_CLIENT=9: must be at most MAX_CONCURRENT_CONNECTIONS (8), or it never applies; 0 turns it off'],
  );
  assert.deepEqual(
    problems(() =>
      loadConfig({ env: { REDIS_URL: 'redis://127.0.0.1:6379', REDIS_SENTINELS: '127.0.0.1:1,127.0.0.1:2', REDIS_SENTINEL_NAME: 'm' } }),
    ),
    [
      'REDIS_SENTINELS=127.0.0.1:1,127.0.0.1:2: set one Redis topology only: REDIS_URL and REDIS_SENTINELS are both set (a server, a cluster or Sentinel)',
    ],
  );
});

test('UPSTREAM_URL with a query or fragment is refused: they would be dropped silently', () => {
  for (const url of ['http://127.0.0.1:4000/base?x=1', 'http://127.0.0.1:4000/base#f']) {
    const p = problems(() => loadConfig({ env: { UPSTREAM_URL: url } }));
    assert.deepEqual(p, [
      `UPSTREAM_URL=${url}: must be an absolute http or https URL without user:password@ and without a ?query or #fragment (the request's own query is sent)`,
    ]);
  }
  assert.equal(loadConfig({ env: { UPSTREAM_URL: 'http://127.0.0.1:4000/base' } }).config.proxy.upstreamUrl, 'http://127.0.0.1:4000/base');
});

test('TRUST_PROXY: false, a hop count or addresses; true is refused with the reason', () => {
  assert.equal(loadConfig({ env: {} }).config.server.trustProxy, false);
  assert.equal(loadConfig({ env: { TRUST_PROXY: '2' } }).config.server.trustProxy, 2);
  assert.deepEqual(loadConfig({ env: { TRUST_PROXY: '10.0.0.0/8, ::1' } }).config.server.trustProxy, ['10.0.0.0/8', '::1']);
  // What proxy-addr would throw on at start-up: a prefix too long for the family, not an address.
  for (const bad of ['10.0.0.0/33', '::1/129', '999.1.1.1', ':::::', '10.0.0.1/8/1'])
    assert.equal(problems(() => loadConfig({ env: { TRUST_PROXY: bad } })).length, 1, bad);
  const p = problems(() => loadConfig({ env: { TRUST_PROXY: 'true' } }));
  assert.equal(p.length, 1);
  assert.match(
    p[0]!,
    /^TRUST_PROXY=true: must be false, a hop count .* \(true is refused: it would let any client choose its own address\)$/,
  );
});
