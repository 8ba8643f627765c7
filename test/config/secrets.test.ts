import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { allOptions, ConfigError, loadConfig, type LoadConfigInput } from '../../src/config/index.js';

function problems(input: LoadConfigInput): string[] {
  try {
    loadConfig(input);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    // The message is what the CLI prints; it must agree with the list.
    assert.equal(err.message, `invalid configuration:\n${err.problems.map((p) => `  ${p}`).join('\n')}`);
    return err.problems;
  }
  assert.fail('expected a ConfigError');
}

function withFile(content: string, use: (file: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'headroom-secrets-'));
  try {
    const file = join(dir, 'c.json');
    writeFileSync(file, content);
    use(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('UPSTREAM_URL with user:password@ is refused without echoing the password, and says why', () => {
  const p = problems({ env: { UPSTREAM_URL: 'http://svc:S3cretPw@upstream.internal:8080/base' } });
  assert.deepEqual(p, [
    'UPSTREAM_URL=http://svc:<hidden>@upstream.internal:8080/base: must be an absolute http or https URL without user:password@ ' +
      '(the proxy would not send those credentials; give a bearer token as the upstream token instead)',
  ]);
});

test('credentials stay hidden in URL values that are invalid for another reason, from any source', () => {
  const cases: [LoadConfigInput, string][] = [
    [{ env: { UPSTREAM_URL: 'http://svc:S3cretPw@upstream.internal:99999' } }, 'UPSTREAM_URL=http://svc:<hidden>@upstream.internal:99999'],
    [{ env: { UPSTREAM_URL: 'ftp://svc:S3cretPw@files' } }, 'UPSTREAM_URL=ftp://svc:<hidden>@files'],
    // A password with '/' or '@' in it, or no scheme at all, is not a URL; still hidden.
    [{ env: { UPSTREAM_URL: 'http://svc:S3cret/Pw@x@upstream' } }, 'UPSTREAM_URL=http://svc:<hidden>@upstream'],
    [{ env: { UPSTREAM_URL: 'svc:S3cretPw@upstream:8080' } }, 'UPSTREAM_URL=svc:<hidden>@upstream:8080'],
    [{ env: {}, flags: { 'upstream-url': 'gopher://x/?token=S3cretPw&page=2' } }, 'UPSTREAM_URL=gopher://x/?token=<hidden>&page=2'],
    [{ env: { PROXY_PREFIX: '/api?api_key=S3cretPw' } }, 'PROXY_PREFIX=/api?api_key=<hidden>'],
  ];
  for (const [input, shown] of cases) {
    const p = problems(input);
    assert.equal(p.length, 1, p.join('\n'));
    assert.ok(p[0]!.startsWith(`${shown}: `), p[0]);
    assert.ok(!p[0]!.includes('S3cret'), p[0]);
  }
  withFile(JSON.stringify({ IMAGE_ALLOWED_ORIGINS: ['https://img.example.com', 'https://u:S3cretPw@cdn.example.com'] }), (file) => {
    const p = problems({ configFile: file });
    assert.equal(p.length, 1);
    assert.ok(p[0]!.startsWith('IMAGE_ALLOWED_ORIGINS=["https://img.example.com","https://u:<hidden>@cdn.example.com"]: '), p[0]);
  });
});

test('no secret option is ever echoed, whatever is wrong with it and wherever it comes from', () => {
  const secrets = allOptions.filter((o) => o.option.secret);
  assert.deepEqual(secrets.map((o) => o.option.env).sort(), [
    'ALERT_WEBHOOK_SECRET',
    'ALERT_WEBHOOK_URL',
    'HEADROOM_ADMIN_TOKEN',
    'LOG_SHIP_AUTHORIZATION',
    'LOG_SHIP_URL',
    'METRICS_TOKEN',
    'REDIS_PASSWORD',
    'REDIS_URL',
    'UPSTREAM_TOKEN',
  ]);
  const MARK = 'MARK3R';
  const bad: unknown[] = [
    `short${MARK}`,
    `${'x'.repeat(5000)}${MARK}`,
    `http://u:${MARK}@h`,
    `redis://:${MARK}@h:99999`,
    [MARK],
    { t: MARK },
  ];
  const check = (env: string, input: LoadConfigInput): void => {
    try {
      loadConfig(input);
      return; // a valid value (e.g. a short UPSTREAM_TOKEN) is fine
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      assert.ok(err.message.includes(`${env}=<hidden>: `), err.message);
      assert.ok(!err.message.includes(MARK), `${env}: ${err.message}`);
    }
  };
  for (const { option } of secrets) {
    for (const value of bad) {
      if (typeof value === 'string') {
        check(option.env, { env: { [option.env]: value } });
        check(option.env, { env: {}, flags: { [option.flag]: value } });
      }
      withFile(JSON.stringify({ [option.env]: value }), (file) => check(option.env, { configFile: file }));
    }
  }
});

test('a config file that is not JSON is reported by position, never by quoting the secret next to the error', () => {
  withFile('{\n  "HEADROOM_ADMIN_TOKEN": s3cret-admin-token-123456\n}', (file) => {
    const p = problems({ configFile: file });
    assert.equal(p.length, 1);
    assert.match(p[0]!, /not valid JSON \(unexpected character/);
    assert.ok(!p[0]!.includes('s3cret'), p[0]);
  });
  withFile('{\n  "HEADROOM_ADMIN_TOKEN": "s3cret-admin-token-123456",\n}', (file) => {
    const p = problems({ configFile: file });
    assert.match(p[0]!, /not valid JSON \(Expected double-quoted property name at line 3, column 1\)$/);
  });
});

test('"did you mean" warnings name variables, never their values', () => {
  const { warnings } = loadConfig({ env: { HEADROOM_ADMIN_TOKN: 's3cret-admin-token-123456', UPSTREAM_URLL: 'http://svc:S3cretPw@x' } });
  assert.equal(warnings.length, 2);
  assert.ok(!warnings.join('\n').includes('s3cret') && !warnings.join('\n').includes('S3cret'), warnings.join('\n'));
});
