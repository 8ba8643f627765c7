import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { request } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';

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
    await waitFor(
      async () => {
        const res = await request(`${url}/health`);
        const { status } = res.json();
        if (seen.at(-1) !== status) seen.push(status);
        assert.equal(res.status, status === 'critical' ? 503 : 200);
        if (status === 'critical') readyWhenCritical = (await request(`${url}/health/ready`)).status;
        return status === 'critical';
      },
      'the status to reach critical',
      45_000,
      50,
    );
    assert.deepEqual(seen, ['healthy', 'warning', 'critical']);
    assert.equal(readyWhenCritical, 503);
  } finally {
    child.kill('SIGKILL');
  }
});
