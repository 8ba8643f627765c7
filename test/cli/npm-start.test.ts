// `npm start` runs its script through `sh -c` and forwards SIGTERM to that shell: without `exec`
// the shell dies and leaves the gateway running, orphaned, on its port.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { waitFor } from '../helpers/wait.js';
import { alive } from '../helpers/process.js';
import { exitWithin, portClosed, spawnWatched } from './child.js';

const { scripts } = JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: { start: string } };

test('SIGTERM to `npm start` stops the gateway: exit 0, port free, no orphan', async () => {
  // A project with this package's start script, whose dist/cli/main.js runs the CLI from source.
  const dir = mkdtempSync(join(tmpdir(), 'headroom-npm-start-'));
  mkdirSync(join(dir, 'dist/cli'), { recursive: true });
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'start-check', private: true, type: 'module', scripts: { start: scripts.start } }),
  );
  writeFileSync(
    join(dir, 'dist/cli/main.js'),
    `import { register } from ${JSON.stringify(import.meta.resolve('tsx/esm/api'))};\nregister();\n` +
      `await import(${JSON.stringify(pathToFileURL(resolve('src/cli/main.ts')).href)});\n`,
  );
  const npm = spawnWatched('npm', ['start', '--silent', '--', '--port', '0'], { cwd: dir, env: { CACHE_DIR: join(dir, 'cache') } });
  let gatewayPid: number | undefined;
  try {
    const [, url, pid] = await npm.waitForOutput(/"url":"(http:\/\/127\.0\.0\.1:\d+)","pid":(\d+)/);
    gatewayPid = Number(pid);
    npm.child.kill('SIGTERM');
    assert.deepEqual(await exitWithin(npm, 15_000, 'npm start after SIGTERM'), { code: 0, signal: null }, npm.output());
    await waitFor(() => portClosed(url!), 'the gateway to free its port');
    assert.equal(alive(gatewayPid), false, 'the gateway process is gone');
    assert.match(npm.output(), /"msg":"shutdown complete"/);
  } finally {
    npm.kill();
    if (gatewayPid !== undefined && alive(gatewayPid)) process.kill(gatewayPid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
