import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { request } from '../helpers/http.js';

test('a real heap growth turns /health to warning, then critical with 503 and readiness 503', { timeout: 60_000 }, async () => {
  const child = spawn(process.execPath, ['--max-old-space-size=96', '--import', 'tsx', 'test/server/fixtures/growing-gateway.ts'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (c: Buffer) => {
        out += c;
        const m = /\{"url":"([^"]+)"\}/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.once('exit', (code) => reject(new Error(`fixture exited early (${code})`)));
    });
    const seen: string[] = [];
    let readyWhenCritical: number | undefined;
    const deadline = Date.now() + 45_000;
    while (Date.now() < deadline && !seen.includes('critical')) {
      const res = await request(`${url}/health`);
      const { status } = res.json();
      if (seen.at(-1) !== status) seen.push(status);
      if (status === 'critical') {
        assert.equal(res.status, 503);
        readyWhenCritical = (await request(`${url}/health/ready`)).status;
      } else {
        assert.equal(res.status, 200);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(seen, ['healthy', 'warning', 'critical']);
    assert.equal(readyWhenCritical, 503);
  } finally {
    child.kill('SIGKILL');
  }
});
