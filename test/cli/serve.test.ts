import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { allOptions } from '../../src/config/index.js';
import { request } from '../helpers/http.js';
import { ADMIN_TOKEN } from '../helpers/gateway.js';
import { runCli, startCli } from './child.js';

test('bad configuration exits 2 with one line per problem', async () => {
  const r = await runCli(['serve'], { MEMORY_WARNING_THRESHOLD: '170', PORT: '-1' });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^ {2}MEMORY_WARNING_THRESHOLD=170: must be a fraction from 0 to 1 or a percent up to 100 /m);
  assert.match(r.stderr, /^ {2}PORT=-1: must be an integer between 0 and 65535$/m);
});

test("a CACHE_DIR holding someone else's files is refused with exit 2, and the files survive", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'headroom-foreign-'));
  try {
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    const r = await runCli(['serve', '--port', '0'], { CACHE_DIR: dir });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /invalid configuration/);
    assert.match(r.stderr, new RegExp(dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    assert.equal(readFileSync(join(dir, 'notes.txt'), 'utf8'), 'mine');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('values only the machine or the routes can refuse exit 2 with their line, not a crash with a stack', async () => {
  // TRUST_PROXY addresses proxy-addr would throw on; a proxy prefix over the gateway's own routes.
  for (const [env, line] of [
    [{ TRUST_PROXY: '10.0.0.0/33,999.1.1.1' }, /^ {2}TRUST_PROXY=10\.0\.0\.0\/33,999\.1\.1\.1: must be false, a hop count/m],
    [{ TRUST_PROXY: '::1/129' }, /^ {2}TRUST_PROXY=::1\/129: must be false/m],
    [{ PROXY_PREFIX: '/admin' }, /^ {2}PROXY_PREFIX=\/admin: must not be or lie under one of the gateway's own routes/m],
    [{ PROXY_PREFIX: '/image/x' }, /^ {2}PROXY_PREFIX=\/image\/x: must not be/m],
    // Under /proc a recursive mkdir would retry for ever: refused at once.
    [
      { CACHE_DIR: '/proc/headroom-cache' },
      /^ {2}disk cache directory \/proc\/headroom-cache \(CACHE_DIR \/ disk\.dir\): cannot be created in \/proc \(a file system that holds no files of ours/m,
    ],
    [{ HOST: '999.1.1.1' }, /^ {2}HOST=999\.1\.1\.1: must be an IP address \(0\.0\.0\.0, ::, 127\.0\.0\.1\) or a host name/m],
  ] as const) {
    const r = await runCli(['serve', '--port', '0'], env);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, line);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
  // A spill directory that cannot exist (under a file): refused when the log shipper is made.
  const dir = mkdtempSync(join(tmpdir(), 'headroom-spill-'));
  try {
    writeFileSync(join(dir, 'file'), 'x');
    const spill = await runCli(['serve', '--port', '0'], {
      LOG_SHIP_URL: 'http://127.0.0.1:9/ingest',
      LOG_SHIP_SPILL_DIR: join(dir, 'file', 'spill'),
    });
    assert.equal(spill.code, 2, spill.stderr);
    // Named as the variable the operator set (not the library's spillDir), the reason in words.
    assert.match(
      spill.stderr,
      /invalid configuration:\n {2}LOG_SHIP_SPILL_DIR=\S+\/file\/spill: it, or a folder on its path, is a file, not a directory: no spill file can be made there/,
    );
    assert.doesNotMatch(spill.stderr, /\n\s+at /, 'no stack trace');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a port in use or an address not of this machine: exit 2 with one line saying which and what to change', async () => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const { port } = blocker.address() as AddressInfo;
  try {
    const taken = await runCli(['serve', '--port', String(port)], { HEADROOM_RUN: 'off' });
    assert.equal(taken.code, 2, taken.stderr);
    assert.match(
      taken.stderr,
      new RegExp(
        `^headroom: could not listen on 127\\.0\\.0\\.1:${port}: another process listens on port ${port} .*set another PORT$`,
        'm',
      ),
    );
    assert.doesNotMatch(taken.stderr, /\n\s+at /, 'no stack trace');
    // Its log says it could not listen, once, without a stack trace, and no drain or shutdown of a
    // gateway that never started.
    assert.match(taken.stdout, /"code":"EADDRINUSE".*"msg":"could not listen on 127\.0\.0\.1:\d+: another process listens/);
    assert.doesNotMatch(taken.stdout, /"stack"|shutting down|shutdown complete/);
  } finally {
    await new Promise((resolve) => blocker.close(resolve));
  }
  // 192.0.2.1 (TEST-NET-1) is no machine's address.
  const foreign = await runCli(['serve', '--port', '0', '--host', '192.0.2.1'], { HEADROOM_RUN: 'off' });
  assert.equal(foreign.code, 2, foreign.stderr);
  assert.match(foreign.stderr, /^headroom: could not listen on 192\.0\.2\.1:0: 192\.0\.2\.1 is not an address of this machine: set HOST/m);
});

test('an unknown flag exits 2 with a suggestion', async () => {
  const typo = await runCli(['serve', '--prot', '8080']);
  assert.equal(typo.code, 2);
  assert.match(typo.stderr, /did you mean --port\?/);
  // A flag is its variable's name in kebab-case: --upstream is not a flag, --upstream-url is.
  const short = await runCli(['serve', '--upstream', 'http://127.0.0.1:9']);
  assert.equal(short.code, 2);
  assert.match(short.stderr, /^headroom: unknown option --upstream \(did you mean --upstream-url\?\)$/m);
  // One dash: parseArgs would name only its first letter ("Unknown option '-m'").
  const oneDash = await runCli(['serve', '-metrics-token', 'x']);
  assert.equal(oneDash.code, 2);
  assert.match(oneDash.stderr, /^headroom: unknown option -metrics-token: flags take two dashes \(did you mean --metrics-token\?\)$/m);
  // A one-dash word that is no flag may be a token split off its flag: not echoed.
  const secret = await runCli(['serve', '--headroom-admin-token=', '-Qx9secretTOKEN']);
  assert.equal(secret.code, 2);
  assert.match(secret.stderr, /^headroom: unknown option '<hidden>' \(an argument starting with one dash\)/m);
  assert.doesNotMatch(secret.stderr, /secretTOKEN/);
  // A flag without its value, in the words the other commands use.
  for (const args of [
    ['serve', '--port'],
    ['serve', '--port', '-5'],
  ]) {
    const missing = await runCli(args);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^headroom: --port needs a value \(one that starts with a dash is given as --port=VALUE\)$/m);
  }
  // A repeated flag is refused (parseArgs would keep the last, whichever the user meant).
  const twice = await runCli(['serve', '--port', '0', '--port=8080']);
  assert.equal(twice.code, 2);
  assert.match(twice.stderr, /^headroom: --port is given more than once: give it once$/m);
});

test('--version prints the version, before or after serve', async () => {
  const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  for (const args of [['--version'], ['-v'], ['serve', '--version'], ['serve', '--port', '0', '-v']]) {
    const r = await runCli(args);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${version}\n`, args.join(' '));
  }
});

test('every flag is its variable name in kebab-case', () => {
  for (const { option } of allOptions) assert.equal(option.flag, option.env.toLowerCase().replaceAll('_', '-'), option.env);
});

test('--help prints the usage and exits 0, for every command; serve lists every flag with its variable', async () => {
  const [serveHelp, serveH, helpServe, main, helpHelp] = await Promise.all([
    runCli(['serve', '--help']),
    runCli(['serve', '--port', '0', '-h']),
    runCli(['help', 'serve']),
    runCli(['--help']),
    runCli(['help', '--help']),
  ]);
  for (const r of [serveHelp, serveH, helpServe, main, helpHelp]) assert.equal(r.code, 0, r.stderr);
  assert.equal(serveH.stdout, serveHelp.stdout);
  assert.equal(helpServe.stdout, serveHelp.stdout);
  assert.match(serveHelp.stdout, /^Usage: headroom serve/);
  for (const { option } of allOptions) {
    assert.match(serveHelp.stdout, new RegExp(`^ {2}--${option.flag} +${option.env} \\(default: `, 'm'), option.env);
  }
  assert.match(main.stdout, /^Usage: headroom <command>/);
  assert.equal(helpHelp.stdout, main.stdout);
  // A description is its doc's first sentence, not cut at an "e.g." inside it.
  const flat = serveHelp.stdout.replace(/\n\s+/g, ' ');
  assert.match(
    flat,
    /TRUST_PROXY \(default: false\) Proxies whose X-Forwarded-For .*\(e\.g\. 1 behind one load balancer\) or their addresses\/CIDRs\./,
  );
  assert.doesNotMatch(flat, /\(e\.g\.\s+--/);
});

test('demo origin off in production: NODE_ENV=production or HEADROOM_DEMO=false without UPSTREAM_URL exits 2 naming it', async () => {
  const [production, off] = await Promise.all([
    runCli(['serve', '--port', '0'], { NODE_ENV: 'production' }),
    runCli(['serve', '--port', '0', '--headroom-demo', 'false']),
  ]);
  assert.equal(production.code, 2, production.stderr);
  assert.match(production.stderr, /^ {2}UPSTREAM_URL is not set: it is required when NODE_ENV=production.*HEADROOM_DEMO=true/m);
  assert.equal(off.code, 2, off.stderr);
  assert.match(off.stderr, /^ {2}UPSTREAM_URL is not set: it is required with HEADROOM_DEMO=false/m);
});

test('headroom serve starts, announces the demo origin, serves, runs a full GC, and exits 0 on SIGTERM', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'headroom-cli-'));
  // No --expose-gc: POST /admin/gc works anyway.
  const gw = startCli(['serve', '--port', '0'], {
    env: { HEADROOM_ADMIN_TOKEN: ADMIN_TOKEN, CACHE_DIR: join(dir, 'c'), MEMORY_WARNING_TRESHOLD: '0.5' },
  });
  try {
    const [, url] = await gw.waitForOutput(/"url":"(http:\/\/127\.0\.0\.1:\d+)"/);
    const lines = gw
      .output()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { msg: string });
    assert.ok(
      lines.slice(0, 3).some((l) => /demo origin/.test(l.msg)),
      'first log lines mention the demo origin',
    );
    assert.ok(
      lines.some((l) => /did you mean MEMORY_WARNING_THRESHOLD/.test(l.msg)),
      'typo warning logged',
    );
    assert.equal((await request(`${url}/health`)).status, 200);
    const gc = await request(`${url}/admin/gc`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(gc.status, 200, gc.text);
    const { before, after, freed, durationMs } = gc.json();
    for (const n of [before, after, durationMs]) assert.ok(typeof n === 'number' && n >= 0);
    assert.equal(freed, before - after);
    gw.child.kill('SIGTERM');
    assert.deepEqual(await gw.exited, { code: 0, signal: null });
  } finally {
    gw.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('NODE_ENV=production with HEADROOM_DEMO=true still serves the demo origin', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'headroom-cli-'));
  const gw = startCli(['serve', '--port', '0'], { env: { NODE_ENV: 'production', HEADROOM_DEMO: 'true', CACHE_DIR: join(dir, 'c') } });
  try {
    await gw.waitForOutput(/"url":"http:\/\/127\.0\.0\.1:\d+"/);
    assert.match(gw.output(), /"demoOrigin":"http:\/\/127\.0\.0\.1:\d+"/);
    gw.child.kill('SIGTERM');
    assert.deepEqual(await gw.exited, { code: 0, signal: null });
  } finally {
    gw.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});
