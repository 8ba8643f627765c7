// scripts/run-tests.mjs (npm run test:unit): a file that never exits — its failed test left a
// server open — ends the run at the limit with a message saying so, and none of its processes stays.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { waitFor } from '../helpers/wait.js';

const root = resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'headroom-run-tests-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test(
  'a test file that never exits ends the run at TEST_RUN_LIMIT_MINUTES, saying why; its process is killed',
  { timeout: 60_000 },
  async () => {
    mkdirSync(join(dir, 'test'));
    symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
    writeFileSync(
      join(dir, 'test', 'hang.test.ts'),
      `import { test } from 'node:test';
import { createServer } from 'node:http';
import { writeFileSync } from 'node:fs';
test('fails with a server open', async () => {
  writeFileSync('hang.pid', String(process.pid));
  await new Promise<void>((r) => createServer().listen(0, '127.0.0.1', r));
  throw new Error('failed before closing its server');
});
`,
    );
    // Without the runner's NODE_TEST_CONTEXT, which would make the inner run skip its files.
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    const child = spawn(process.execPath, [join(root, 'scripts', 'run-tests.mjs')], {
      cwd: dir,
      env: { ...env, TEST_RUN_LIMIT_MINUTES: '0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const code = await new Promise<number | null>((r) => child.once('close', r));
    assert.equal(code, 1, out);
    assert.match(out, /run-tests: the run did not end within 0\.1 minutes: a test file is still running/);
    const pid = Number(readFileSync(join(dir, 'hang.pid'), 'utf8'));
    // SIGKILLed with its group; gone once reaped.
    await waitFor(() => !alive(pid), 'the hung file to be killed with the run', 5_000);
  },
);
