import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { request } from '../helpers/http.js';
import { ADMIN_TOKEN } from '../helpers/gateway.js';

const CLI = ['--import', 'tsx', 'src/cli/main.ts'];

function run(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [...CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c));
  child.stderr.on('data', (c: Buffer) => (stderr += c));
  return once(child, 'exit').then(([code]) => ({ code: code as number | null, stdout, stderr }));
}

test('bad configuration exits 2 with one line per problem', async () => {
  const r = await run(['serve'], { MEMORY_WARNING_THRESHOLD: '170', PORT: '-1' });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^ {2}MEMORY_WARNING_THRESHOLD=170: must be a fraction from 0 to 1 or a percent up to 100 /m);
  assert.match(r.stderr, /^ {2}PORT=-1: must be an integer between 0 and 65535$/m);
});

test('a CACHE_DIR holding someone else\'s files is refused with exit 2, and the files survive', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'headroom-foreign-'));
  try {
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    const r = await run(['serve', '--port', '0'], { CACHE_DIR: dir });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /invalid configuration/);
    assert.match(r.stderr, new RegExp(dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    assert.equal(readFileSync(join(dir, 'notes.txt'), 'utf8'), 'mine');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an unknown flag exits 2 with a suggestion', async () => {
  const r = await run(['serve', '--prot', '8080'], {});
  assert.equal(r.code, 2);
  assert.match(r.stderr, /did you mean --port\?/);
});

test('headroom serve starts, announces the demo origin, serves, and exits 0 on SIGTERM', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'headroom-cli-'));
  const child = spawn(process.execPath, [...CLI, 'serve', '--port', '0'], {
    env: { PATH: process.env.PATH ?? '', HEADROOM_ADMIN_TOKEN: ADMIN_TOKEN, CACHE_DIR: join(dir, 'c'), MEMORY_WARNING_TRESHOLD: '0.5' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    let out = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (c: Buffer) => {
        out += c;
        const m = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.once('exit', () => reject(new Error(`exited early: ${out}`)));
    });
    const lines = out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg: string });
    assert.ok(lines.slice(0, 3).some((l) => /demo origin/.test(l.msg)), 'first log lines mention the demo origin');
    assert.ok(lines.some((l) => /did you mean MEMORY_WARNING_THRESHOLD/.test(l.msg)), 'typo warning logged');
    assert.equal((await request(`${url}/health`)).status, 200);
    // Without --expose-gc the GC endpoint says what is needed.
    const gc = await request(`${url}/admin/gc`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(gc.status, 501);
    assert.match(gc.json().error.message, /--expose-gc/);
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    assert.equal(code, 0);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
