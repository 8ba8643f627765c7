// IMAGE_ALLOWED_ORIGINS / IMAGE_ALLOW_PRIVATE_ORIGINS: IPv6 literal origins in brackets are
// accepted; a bad entry is reported by itself with what is accepted; the configured entries mean
// to the origin policy what they mean to WHATWG URL (same normalisation).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../../src/config/index.js';
import { createOriginPolicy } from '../../src/image/origin-policy.js';

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig({ env });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  assert.fail('expected a ConfigError');
}

test('bracketed IPv6 origins are accepted in both lists', () => {
  const list = 'http://[::1]:8080,https://[2001:DB8::1],[fe80::1]:8443,http://img.example.com';
  const { config } = loadConfig({ env: { IMAGE_ALLOWED_ORIGINS: list, IMAGE_ALLOW_PRIVATE_ORIGINS: 'http://[::1]:8080' } });
  assert.deepEqual(config.image.allowedOrigins, list.split(','));
  assert.deepEqual(config.image.allowPrivateOrigins, ['http://[::1]:8080']);
});

test('each bad entry is named by itself, with what is accepted', () => {
  const good = 'https://ok.example.com';
  for (const [env, bad, hint] of [
    ['IMAGE_ALLOWED_ORIGINS', 'http://[::1:8080', /no closing \]/],
    ['IMAGE_ALLOWED_ORIGINS', 'http://[::g]:8080', /\[::g\] is not an IPv6 address/],
    ['IMAGE_ALLOWED_ORIGINS', 'http://::1:8080', /IPv6 address goes in brackets/],
    ['IMAGE_ALLOW_PRIVATE_ORIGINS', 'ftp://files.example.com', /./],
    ['IMAGE_ALLOW_PRIVATE_ORIGINS', 'https://x.example.com/path', /./],
    ['IMAGE_ALLOWED_ORIGINS', '*.[::1]', /needs a domain name/],
    ['IMAGE_ALLOWED_ORIGINS', 'http://[127.0.0.1]', /not an IPv6 address/],
  ] as const) {
    const value = `${good},${bad}`;
    const p = problems({ [env]: value });
    assert.equal(p.length, 1, p.join('\n'));
    const prefix = `${env}=${value}: `;
    assert.ok(p[0]!.startsWith(prefix), p[0]);
    const message = p[0]!.slice(prefix.length);
    assert.ok(message.includes(`"${bad}"`), message);
    assert.ok(!message.includes(good), `only the bad entry is quoted: ${message}`);
    assert.match(message, /scheme:\/\/host\[:port\]/);
    assert.match(message, /http:\/\/\[::1\]:8080/, 'says how to write an IPv6 origin');
    assert.match(message, hint);
  }
});

test('every bad entry is reported, not only the first, each with its own reason', () => {
  const value = 'http://[zz::1],https://ok.example.com,http://a.example.com:99999';
  const p = problems({ IMAGE_ALLOWED_ORIGINS: value });
  assert.equal(p.length, 1, p.join('\n'));
  const message = p[0]!.slice(`IMAGE_ALLOWED_ORIGINS=${value}: `.length);
  assert.match(
    message,
    /^entry "http:\/\/\[zz::1\]" is not an origin \(\[zz::1\] is not an IPv6 address\); entry "http:\/\/a\.example\.com:99999" is not an origin \(the port must be 1 to 65535\); use scheme/,
  );
  assert.ok(!message.includes('ok.example.com'), message);
});

test('entries are normalised as WHATWG URL does, and an allowed IPv6 loopback still needs IMAGE_ALLOW_PRIVATE_ORIGINS', () => {
  const env = { IMAGE_ALLOWED_ORIGINS: 'http://[0:0:0:0:0:0:0:1]:8080,http://[2606:4700:0::1111]' };
  const guarded = createOriginPolicy(loadConfig({ env }).config.image);
  assert.equal(guarded.check('http://[2606:4700::1111]/a.png').hostname, '[2606:4700::1111]');
  assert.throws(
    () => guarded.check('http://[::1]:8080/a.png'),
    (e: Error & { code: string }) => e.code === 'HEADROOM_IMAGE_ORIGIN_FORBIDDEN' && /address ::1 is private/.test(e.message),
  );
  assert.throws(() => guarded.check('http://[::1]:8081/a.png'), /not in IMAGE_ALLOWED_ORIGINS/);
  const open = createOriginPolicy(loadConfig({ env: { ...env, IMAGE_ALLOW_PRIVATE_ORIGINS: 'http://[::0:1]:8080' } }).config.image);
  const url = open.check('http://[::1]:8080/a.png');
  assert.equal(open.allowsPrivate(url), true);
  assert.equal(open.allowsPrivate(new URL('http://[2606:4700::1111]/a.png')), false);
});

test('a password in a bad entry is never printed: the whole problem hides it, with or without a scheme', () => {
  for (const value of [
    'https://user:secretpw@img.example.com',
    'user:secretpw@img.example.com',
    'https://secretpw@img.example.com/x',
    'https://user:se/cretpw+ef@img.example.com', // base64 passwords hold '/' and '+'
    'user:se#cretpw@img.example.com',
    'user:se//cretpw@img.example.com',
  ]) {
    const p = problems({ IMAGE_ALLOWED_ORIGINS: value });
    assert.equal(p.length, 1, p.join('\n'));
    assert.ok(!p[0]!.includes('cretpw'), p[0]);
    assert.match(p[0]!, /is not an origin/);
    assert.match(p[0]!, /<hidden>@img\.example\.com/);
  }
  assert.throws(
    () => createOriginPolicy({ ...loadConfig({ env: {} }).config.image, allowedOrigins: ['https://user:secretpw@img.example.com'] }),
    (e: Error) => /user:<hidden>@img\.example\.com" is not an origin/.test(e.message) && !e.message.includes('secretpw'),
  );
});
