// The inspector probe's bound on every reply: a target that stops answering (here: SIGSTOP) ends
// the command with an error naming it, instead of hanging the soak. And a target connected to
// while it boots: its pid is read once bootstrap has set it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { connectInspector } from '../../src/soak/inspector.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';

/** Starts `node --inspect -e script` and resolves its inspector URL as soon as it is announced. */
function startInspected(script: string): { child: ReturnType<typeof spawn>; url: Promise<string> } {
  const child = spawn(process.execPath, ['--inspect=127.0.0.1:0', '-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
  let text = '';
  const url = new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (c: Buffer) => {
      text += c.toString();
      const m = /Debugger listening on (ws:\/\/\S+)/.exec(text);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`child exited (${code}): ${text}`)));
  });
  return { child, url };
}

async function stop(child: ReturnType<typeof spawn>): Promise<void> {
  child.kill('SIGKILL');
  if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
}

test('a target connected to the moment its inspector is announced: the probe waits out its bootstrap', { timeout: 60_000 }, async () => {
  // An evaluation can run in the middle of Node's bootstrap, where process.pid is still unset (about
  // one connection in ten here): the probe came back with no pid, or loading v8 threw.
  await assertNoLeakedHandles(async () => {
    for (let i = 0; i < 30; i++) {
      const { child, url } = startInspected(`require('node:http').createServer().listen(0); setInterval(() => {}, 1000)`);
      try {
        const probe = await connectInspector(await url);
        try {
          assert.equal(probe.pid, child.pid, `connection ${i}`);
          assert.ok((await probe.measure()).heapUsed > 0);
        } finally {
          await probe.close();
        }
      } finally {
        await stop(child);
      }
    }
  });
});

test('a target that stops answering: measure() rejects after the reply timeout, naming the command', { timeout: 30_000 }, async () => {
  await assertNoLeakedHandles(async () => {
    const { child, url } = startInspected('setInterval(() => {}, 1000)');
    try {
      const probe = await connectInspector(await url, 10_000, 500);
      try {
        const first = await probe.measure(); // answering: a real reading
        assert.ok(first.heapUsed > 0);
        child.kill('SIGSTOP');
        const t0 = performance.now();
        await assert.rejects(probe.measure(), /no reply to HeapProfiler\.collectGarbage within 500 ms/);
        const waited = performance.now() - t0;
        assert.ok(waited >= 450 && waited < 10_000, `waited ${waited} ms`);
      } finally {
        child.kill('SIGCONT');
        await probe.close();
      }
    } finally {
      await stop(child);
    }
  });
});
