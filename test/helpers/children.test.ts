// dieWithFile: a test file's process terminated by the runner (SIGTERM at its timeout) takes the
// process groups it started with it, grandchildren included, and still ends by that signal.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { alive } from './process.js';
import { waitFor } from './wait.js';

const file = `
import { spawn } from 'node:child_process';
import { dieWithFile } from ${JSON.stringify(new URL('./children.ts', import.meta.url).href)};
// A shell (the child, leading its group) with a grandchild, as npm runs its scripts.
const child = dieWithFile(spawn('sh', ['-c', 'sleep 300 & echo $!; wait'], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] }));
child.stdout.once('data', (c) => console.log(JSON.stringify({ child: child.pid, grandchild: Number(String(c).trim()) })));
setInterval(() => {}, 1000);
`;

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal} to a test file kills its children's groups and ends the file by ${signal}`, { timeout: 30_000 }, async () => {
    const fileProcess = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', file], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const [line] = (await once(fileProcess.stdout, 'data')) as [Buffer];
    const { child, grandchild } = JSON.parse(line.toString()) as { child: number; grandchild: number };
    try {
      assert.ok(alive(child) && alive(grandchild));
      fileProcess.kill(signal);
      const [code, by] = (await once(fileProcess, 'exit')) as [number | null, NodeJS.Signals | null];
      assert.deepEqual({ code, by }, { code: null, by: signal });
      await waitFor(() => !alive(child) && !alive(grandchild), 'the child and the grandchild to be killed');
    } finally {
      for (const pid of [grandchild, child]) if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
  });
}
